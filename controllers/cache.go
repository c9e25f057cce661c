package controllers

import (
	"sync"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
)

// lastApplied is kubectl's copy of the whole object, often the largest annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// CacheTransforms trims the objects the reconciler watches to what it reads
// (state.go, live.go, apply.go, and the period's repair through them) before they enter the
// manager's cache, which holds every profile and every Deployment,
// StatefulSet and HPA of the watched namespaces. The trimming lives here,
// next to the code that reads the objects, so a new read and its field are
// changed together (cache_test.go compares what the reconciler reads from a
// trimmed and from a full object). Writes are server-side applies built from
// scratch and status patches computed between two cached copies, so a
// trimmed field is never written back.
func CacheTransforms() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&tuningv1alpha1.PerformanceProfile{}:     {Transform: trimProfile},
		&appsv1.Deployment{}:                     {Transform: trimDeployment},
		&appsv1.StatefulSet{}:                    {Transform: trimStatefulSet},
		&autoscalingv2.HorizontalPodAutoscaler{}: {Transform: trimHPA},
	}
}

// trimProfile drops the profile's managedFields (nothing reads who wrote
// a profile) and kubectl's copy of it, and shares the strings that repeat
// from profile to profile (interned).
func trimProfile(obj any) (any, error) {
	p, ok := obj.(*tuningv1alpha1.PerformanceProfile)
	if !ok {
		return obj, nil
	}
	p.ManagedFields = nil
	delete(p.Annotations, lastApplied)
	internMeta(&p.ObjectMeta)
	p.Spec.TargetRef.Name, p.Spec.TargetRef.Container = intern(p.Spec.TargetRef.Name), intern(p.Spec.TargetRef.Container)
	p.Spec.Metrics.Prometheus.URL = intern(p.Spec.Metrics.Prometheus.URL)
	for k, v := range p.Spec.Metrics.Labels {
		p.Spec.Metrics.Labels[k] = intern(v)
	}
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
	internStatus(&p.Status)
	return p, nil
}

// internStatus shares the status strings that repeat from profile to
// profile: the readiness of each family (its name, knobs and signals), the
// env names and values of the current knobs, and the family and knob names
// of the decisions, which each decoded profile otherwise holds copies of.
func internStatus(st *tuningv1alpha1.PerformanceProfileStatus) {
	for i := range st.Readiness {
		r := &st.Readiness[i]
		r.Family = intern(r.Family)
		internEach(r.Knobs)
		internEach(r.Found)
		internEach(r.Missing)
	}
	if c := st.Current; c != nil && c.Env != nil {
		env := make(map[string]string, len(c.Env))
		for k, v := range c.Env {
			env[intern(k)] = intern(v)
		}
		c.Env = env
	}
	internSLIs(st.SLIs)
	internDecision := func(d *tuningv1alpha1.Decision) {
		d.Family, d.Diagnosis = intern(d.Family), intern(d.Diagnosis)
		for j := range d.Changes {
			d.Changes[j].Knob = intern(d.Changes[j].Knob)
		}
		internSLIs(d.Baseline)
	}
	for i := range st.History {
		internDecision(&st.History[i])
	}
	if st.LastAdjustment != nil {
		internDecision(st.LastAdjustment)
	}
}

// internSLIs shares the SLI strings that repeat from profile to profile:
// why each missing signal is missing (the same few sentences for every
// profile of a shape: about 700 of the 4,600 bytes a profile of the scale
// run held in the cache), the worst objective and the rounded percentages.
func internSLIs(s *tuningv1alpha1.SLIs) {
	if s == nil {
		return
	}
	internEach(s.Missing)
	s.WorstObjective = intern(s.WorstObjective)
	s.ErrorRate, s.PoolUtilization = tuningv1alpha1.Percent(intern(string(s.ErrorRate))), tuningv1alpha1.Percent(intern(string(s.PoolUtilization)))
	s.MemoryHitRatio, s.RedisHitRatio = tuningv1alpha1.Percent(intern(string(s.MemoryHitRatio))), tuningv1alpha1.Percent(intern(string(s.RedisHitRatio)))
	s.CPUUtilization = tuningv1alpha1.Utilization(intern(string(s.CPUUtilization)))
}

func internEach(ss []string) {
	for i := range ss {
		ss[i] = intern(ss[i])
	}
}

// intern returns one shared copy of a string that many cached objects hold
// (a namespace, a container or env name, a condition's reason): each
// decoded object brings its own copy otherwise. The copies are weak
// (package unique): one no object holds any more is freed.
func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// internMeta interns the object's namespace and name (a profile, its
// Deployment and its HPA share them) and the strings of its managedFields.
func internMeta(m *metav1.ObjectMeta) {
	m.Namespace, m.Name = intern(m.Namespace), intern(m.Name)
	for i := range m.ManagedFields {
		f := &m.ManagedFields[i]
		f.Manager, f.APIVersion, f.Subresource = intern(f.Manager), intern(f.APIVersion), intern(f.Subresource)
		f.Operation, f.FieldsType = metav1.ManagedFieldsOperationType(intern(string(f.Operation))), intern(f.FieldsType)
	}
}

// trimMeta drops kubectl's copy of the object and the managedFields that own
// no tuned field (actuate.TrimManagedFields). managedFields that cannot be
// parsed are kept whole: the reconcile that reads them reports the error,
// where a failing transform would stop the informer.
func trimMeta(m *metav1.ObjectMeta) {
	delete(m.Annotations, lastApplied)
	if mf, err := actuate.TrimManagedFields(m.ManagedFields); err == nil {
		m.ManagedFields = mf
	}
	internMeta(m)
}

// trimDeployment keeps of the pod template its annotations
// (progressiveDelivery), the grace period (the connection budget) and the
// containers' names, env, envFrom and CPU, and of the
// status conditions the Progressing one without its lastTransitionTime
// (podsWarmSince, failedRollout).
func trimDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	trimMeta(&d.ObjectMeta)
	d.Spec.Selector = nil
	d.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: d.Spec.Template.Annotations},
		Spec: corev1.PodSpec{Containers: trimContainers(d.Spec.Template.Spec.Containers),
			TerminationGracePeriodSeconds: d.Spec.Template.Spec.TerminationGracePeriodSeconds}}
	var conds []appsv1.DeploymentCondition
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			c.LastTransitionTime = metav1.Time{}
			conds = append(conds, c)
		}
	}
	d.Status.Conditions = conds
	return d, nil
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		for j := range c.Env {
			c.Env[j].Name, c.Env[j].Value = intern(c.Env[j].Name), intern(c.Env[j].Value)
		}
		out[i] = corev1.Container{Name: intern(c.Name), Env: c.Env, EnvFrom: c.EnvFrom, Resources: cpuOnly(c.Resources)}
		if p := c.ReadinessProbe; p != nil && p.InitialDelaySeconds > 0 { // the least time a rollout step takes
			out[i].ReadinessProbe = &corev1.Probe{InitialDelaySeconds: p.InitialDelaySeconds}
		}
	}
	return out
}

// cpuOnly keeps the CPU quantities the reconciler reads: the limit
// (cpuMillis: the limit, else the request) and the request (the learned CPU
// per request and the feed-forward floor). Each ResourceList is a map that
// costs about 600 bytes however few entries it holds: the resources were the
// largest part of a cached Deployment once its template was trimmed, so the
// memory and everything else are dropped, and the lists are shared between
// the cached objects that have the same CPU (sharedCPU).
func cpuOnly(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	var out corev1.ResourceRequirements
	if q, ok := r.Limits[corev1.ResourceCPU]; ok {
		out.Limits = sharedCPU(q)
	}
	if q, ok := r.Requests[corev1.ResourceCPU]; ok {
		out.Requests = sharedCPU(q)
	}
	return out
}

// cpuLists are the shared one-entry ResourceLists of sharedCPU, by the
// quantity's canonical form. A cluster has few distinct CPU quantities; past
// maxCPULists, a list is no longer shared.
var cpuLists = struct {
	sync.Mutex
	m map[string]corev1.ResourceList
}{m: map[string]corev1.ResourceList{}}

const maxCPULists = 4096

// sharedCPU returns a ResourceList of the CPU quantity q, one for every
// cached object with the same quantity. The cache's objects are never
// changed in place (reads get deep copies), so sharing the map is safe.
func sharedCPU(q resource.Quantity) corev1.ResourceList {
	k := q.String() + "/" + string(q.Format)
	cpuLists.Lock()
	defer cpuLists.Unlock()
	if l, ok := cpuLists.m[k]; ok {
		return l
	}
	l := corev1.ResourceList{corev1.ResourceCPU: q}
	if len(cpuLists.m) < maxCPULists {
		cpuLists.m[k] = l
	}
	return l
}

// trimStatefulSet keeps spec.replicas and the status counts (redisReplicas).
func trimStatefulSet(obj any) (any, error) {
	s, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return obj, nil
	}
	trimMeta(&s.ObjectMeta)
	s.Spec = appsv1.StatefulSetSpec{Replicas: s.Spec.Replicas}
	s.Status.Conditions = nil
	return s, nil
}

// trimHPA keeps the spec (its metrics are copied into an apply of the CPU
// target) and status.desiredReplicas (HPAAtMax).
func trimHPA(obj any) (any, error) {
	h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return obj, nil
	}
	trimMeta(&h.ObjectMeta)
	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{DesiredReplicas: h.Status.DesiredReplicas}
	return h, nil
}
