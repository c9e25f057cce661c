package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// cacheReader answers Get from a fixed set of objects, as the manager's cache does.
type cacheReader struct {
	client.Client
	objs []client.Object
}

func (c cacheReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	for _, o := range c.objs {
		if reflect.TypeOf(o) == reflect.TypeOf(obj) && o.GetNamespace() == key.Namespace && o.GetName() == key.Name {
			reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(o.DeepCopyObject()).Elem())
			return nil
		}
	}
	return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
}

func (c cacheReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	hpas, ok := list.(*autoscalingv2.HorizontalPodAutoscalerList)
	if !ok {
		return fmt.Errorf("cacheReader lists HPAs only, not %T", list)
	}
	for _, o := range c.objs {
		if h, ok := o.(*autoscalingv2.HorizontalPodAutoscaler); ok {
			hpas.Items = append(hpas.Items, *h.DeepCopy())
		}
	}
	return nil
}

// readOf is everything the reconciler derives from the cached objects.
type readOf struct {
	State      tuning.State
	Conflicts  []conditions.Conflict
	Current    *tuningv1alpha1.KnobValues
	Unrecorded []tuningv1alpha1.Decision
	OwnedEnv   []string
	HPAApply   any
	Failure    *rolloutFailure
	Delivery   string
	Unapplied  *tuningv1alpha1.Decision
}

func readAll(t *testing.T, p *tuningv1alpha1.PerformanceProfile, now time.Time, objs ...client.Object) readOf {
	t.Helper()
	r := &PerformanceProfileReconciler{}
	cs, err := r.readCluster(context.Background(), cacheReader{objs: objs}, p, nil, now, false)
	if err != nil {
		t.Fatalf("readCluster: %v", err)
	}
	// The repair of the ledger, as readState runs it on a read it trusts.
	repaired := period.Repair(p.DeepCopy(), cs.world(), now, true)
	cs.block(repaired.Conflicts)
	hpaApply, err := actuate.HPAFields(cs.objects.HPA, actuate.HPASettings{TargetCPUUtilization: ptr.To[int32](60)})
	if err != nil {
		t.Fatal(err)
	}
	return readOf{State: cs.state, Conflicts: cs.conflicts, Current: cs.objects.Current(cs.state.Values),
		Unrecorded: repaired.Recorded, OwnedEnv: cs.objects.TargetOwn.OwnedEnv(tuningv1alpha1.FieldManager, "app"),
		HPAApply: hpaApply, Failure: cs.rolloutFailure, Delivery: cs.delivery, Unapplied: repaired.Dropped}
}

// TestCacheTransformsKeepWhatTheReconcilerReads builds the profile's objects
// on the real API server, written by several field managers (a GitOps tool,
// navius-tuner, a person with kubectl, the status writers), so their
// managedFields are real. What the reconciler reads from them (state,
// conflicts, status.current, unrecorded changes, owned env, the HPA apply)
// must be the same from the trimmed objects the cache holds as from the
// full ones, and the trimmed ones must be smaller. The Deployment's pod
// template carries a Flagger annotation (progressiveDelivery reads it).
func TestCacheTransformsKeepWhatTheReconcilerReads(t *testing.T) {
	h := newHarness(t)
	g, ctx := h.g, h.ctx
	gitops, edit := client.FieldOwner("gitops"), client.FieldOwner("kubectl-edit")
	labels := map[string]string{"app": targetName}
	warm := metav1.NewTime(time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC))

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: targetName, Labels: labels,
			Annotations: map[string]string{lastApplied: `{"kind":"Deployment","spec":"..."}`}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"prometheus.io/scrape": "true", "flagger.app/config-tracking": "disabled"}},
				Spec: corev1.PodSpec{
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					Containers: []corev1.Container{{
						Name: "app", Image: "orders:1", Command: []string{"/orders", "--serve"},
						Env: []corev1.EnvVar{{Name: poolEnv, Value: "10"}, {Name: "LOG_LEVEL", Value: "info"},
							{Name: "WORKER_THREADS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
						VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/orders"}},
					}, {Name: "proxy", Image: "envoy:1", Env: []corev1.EnvVar{{Name: "ADMIN_PORT", Value: "9901"}}}},
				},
			},
		},
	}
	g.Expect(env.Client.Create(ctx, d, gitops)).To(Succeed())
	// navius-tuner applied 12 connections, then a person set 20 with kubectl edit.
	g.Expect(actuate.Apply(ctx, env.Client, actuate.DeploymentEnv(h.ns, targetName, "app", map[string]string{poolEnv: "12"}))).To(Succeed())
	g.Expect(env.Client.Get(ctx, h.key(targetName), d)).To(Succeed())
	for i, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == poolEnv {
			d.Spec.Template.Spec.Containers[0].Env[i].Value = "20"
		}
	}
	g.Expect(env.Client.Update(ctx, d, edit)).To(Succeed())
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability.", LastUpdateTime: warm, LastTransitionTime: warm},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: deploymentAvailableReason, Message: `ReplicaSet "orders-api-7d9f" has successfully progressed.`, LastUpdateTime: warm, LastTransitionTime: warm},
		}}
	g.Expect(env.Client.Status().Update(ctx, d, client.FieldOwner("kube-controller-manager"))).To(Succeed())

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: targetName},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}},
		},
	}
	g.Expect(env.Client.Create(ctx, hpa, gitops)).To(Succeed())
	hpaApply, err := actuate.HPAFields(hpa, actuate.HPASettings{MinReplicas: ptr.To[int32](3)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(actuate.Apply(ctx, env.Client, hpaApply)).To(Succeed())
	g.Expect(env.Client.Get(ctx, h.key(targetName), hpa)).To(Succeed())
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 4, DesiredReplicas: 10,
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas", LastTransitionTime: warm}}}
	g.Expect(env.Client.Status().Update(ctx, hpa, client.FieldOwner("kube-controller-manager"))).To(Succeed())

	redis := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "redis"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), ServiceName: "redis",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "redis"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}}}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}},
	}
	g.Expect(env.Client.Create(ctx, redis, gitops)).To(Succeed())
	redis.Status = appsv1.StatefulSetStatus{ObservedGeneration: redis.Generation, Replicas: 3, ReadyReplicas: 3}
	g.Expect(env.Client.Status().Update(ctx, redis)).To(Succeed())

	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Annotations = map[string]string{lastApplied: `{"kind":"PerformanceProfile"}`}
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{HPARef: &corev1.LocalObjectReference{Name: targetName},
		MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 6}}
	p.Spec.Cache = &tuningv1alpha1.Cache{Redis: &tuningv1alpha1.RedisCache{Replicas: &tuningv1alpha1.RedisReplicas{
		TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: "redis"}, Min: 1, Max: 5}}}
	p.Spec.WorkerThreads = &tuningv1alpha1.IntEnvKnob{Env: "WORKER_THREADS", Min: 1, Max: 16}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	created := p.CreationTimestamp.Add(-time.Hour) // the applies above came after the profile

	deadline := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: progressDeadlineExceeded,
		Message: `ReplicaSet "orders-api-8c2d" has timed out progressing.`, LastUpdateTime: warm, LastTransitionTime: warm}}
	for _, tc := range []struct {
		name   string
		status tuningv1alpha1.PerformanceProfileStatus
		// conditions replace the Deployment's, when set.
		conditions []appsv1.DeploymentCondition
	}{
		{"after an applied change a person overwrote (conflict)", tuningv1alpha1.PerformanceProfileStatus{
			History: []tuningv1alpha1.Decision{{Time: metav1.NewTime(t0), Family: string(tuning.FamilyPool), Outcome: tuningv1alpha1.OutcomeKept,
				Changes: []tuningv1alpha1.Change{{Knob: poolEnv, From: "10", To: "12"}}}}}, nil},
		{"before any status was written (unrecorded applies)", tuningv1alpha1.PerformanceProfileStatus{}, nil},
		{"with status.current (unrecorded HPA change)", tuningv1alpha1.PerformanceProfileStatus{
			Current: &tuningv1alpha1.KnobValues{HPA: &tuningv1alpha1.HPAValues{MinReplicas: ptr.To[int32](2), MaxReplicas: 10}}}, nil},
		{"a pending change whose rollout failed", tuningv1alpha1.PerformanceProfileStatus{
			History: []tuningv1alpha1.Decision{{Time: metav1.NewTime(t0), Family: string(tuning.FamilyPool), Outcome: tuningv1alpha1.OutcomePending,
				Changes: []tuningv1alpha1.Change{{Knob: poolEnv, From: "10", To: "16"}}}}}, deadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			full := []client.Object{}
			for _, o := range []client.Object{&appsv1.Deployment{}, &autoscalingv2.HorizontalPodAutoscaler{}, &appsv1.StatefulSet{}} {
				name := targetName
				if _, ok := o.(*appsv1.StatefulSet); ok {
					name = "redis"
				}
				g.Expect(env.Client.Get(ctx, h.key(name), o)).To(Succeed())
				if d, ok := o.(*appsv1.Deployment); ok && tc.conditions != nil {
					d.Status.Conditions = tc.conditions
				}
				full = append(full, o)
			}
			fullP := &tuningv1alpha1.PerformanceProfile{}
			g.Expect(env.Client.Get(ctx, h.key("orders"), fullP)).To(Succeed())
			fullP.CreationTimestamp = metav1.NewTime(created)
			fullP.Status = tc.status

			var trimmed []client.Object
			for _, o := range full {
				out, err := transformOf(o)(o.DeepCopyObject())
				g.Expect(err).NotTo(HaveOccurred())
				trimmed = append(trimmed, out.(client.Object))
			}
			out, err := trimProfile(fullP.DeepCopy())
			g.Expect(err).NotTo(HaveOccurred())
			trimmedP := out.(*tuningv1alpha1.PerformanceProfile)

			now := t0.Add(time.Hour)
			want := readAll(t, fullP, now, full...)
			got := readAll(t, trimmedP, now, trimmed...)
			g.Expect(got).To(Equal(want))

			// The case reads what it is meant to: otherwise equality proves little.
			if tc.conditions == nil {
				g.Expect(want.State.PodsWarmSince).To(BeTemporally("==", warm.Time))
			} else {
				g.Expect(want.Failure).NotTo(BeNil())
			}
			g.Expect(want.Delivery).To(ContainSubstring("Flagger"))
			g.Expect(want.State.Blocked).To(HaveKey(tuning.Knob("WORKER_THREADS")))
			g.Expect(want.State.HPAAtMax).To(BeTrue())
			g.Expect(want.OwnedEnv).To(BeEmpty()) // kubectl-edit took the value over
			if len(tc.status.History) > 0 && tc.conditions == nil {
				g.Expect(want.Conflicts).To(HaveLen(1))
				g.Expect(want.Conflicts[0].Manager).To(Equal("kubectl-edit"))
			} else if tc.conditions == nil {
				g.Expect(want.Unrecorded).NotTo(BeEmpty())
			}
			for i := range full {
				t.Logf("%T: %d bytes as JSON, %d trimmed", full[i], size(full[i]), size(trimmed[i]))
				g.Expect(size(trimmed[i])).To(BeNumerically("<", size(full[i])), "%T trimmed", full[i])
			}
			g.Expect(trimmedP.ManagedFields).To(BeNil())
			g.Expect(trimmedP.Annotations).NotTo(HaveKey(lastApplied))
		})
	}
}

// transformOf is the cache transform of o's type.
func transformOf(o client.Object) func(any) (any, error) {
	for k, by := range CacheTransforms() {
		if reflect.TypeOf(k) == reflect.TypeOf(o) {
			return by.Transform
		}
	}
	return func(o any) (any, error) { return o, nil }
}

// size is the object's size as JSON, a proxy for what it costs in the cache.
func size(o client.Object) int {
	b, err := json.Marshal(o)
	if err != nil {
		return 0
	}
	return len(b)
}

// TestCPUOnlyKeepsWhatCPUMillisReads: the CPU limit and request the engine
// sees are the same from the trimmed resources, with a limit, with only a
// request, or neither.
func TestCPUOnlyKeepsWhatCPUMillisReads(t *testing.T) {
	cpu, mem := corev1.ResourceCPU, corev1.ResourceMemory
	q := resource.MustParse
	for _, tc := range []struct {
		name string
		r    corev1.ResourceRequirements
		want int64
	}{
		{"limit and request", corev1.ResourceRequirements{Limits: corev1.ResourceList{cpu: q("2"), mem: q("1Gi")}, Requests: corev1.ResourceList{cpu: q("500m")}}, 2000},
		{"request only", corev1.ResourceRequirements{Limits: corev1.ResourceList{mem: q("1Gi")}, Requests: corev1.ResourceList{cpu: q("500m"), mem: q("1Gi")}}, 500},
		{"none", corev1.ResourceRequirements{Limits: corev1.ResourceList{mem: q("1Gi")}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := &corev1.Container{Resources: tc.r}
			trimmed := &corev1.Container{Resources: cpuOnly(tc.r)}
			if got, want := cpuMillis(trimmed), cpuMillis(full); got != want || want != tc.want {
				t.Errorf("cpuMillis: trimmed %d, full %d, want %d", got, want, tc.want)
			}
			// the request too: the learned CPU per request reads it
			if got, want := trimmed.Resources.Requests.Cpu().MilliValue(), full.Resources.Requests.Cpu().MilliValue(); got != want {
				t.Errorf("CPU request: trimmed %d, full %d", got, want)
			}
		})
	}
}

// Cached Deployments with the same CPU share one ResourceList, and the
// strings they repeat one copy; a deep copy read from the cache is the
// reader's own.
func TestCachedObjectsShareWhatRepeats(t *testing.T) {
	mk := func(name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: string([]byte("shop")), Name: name},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: string([]byte("app")), Env: []corev1.EnvVar{{Name: string([]byte("DB_POOL_MAX_CONNECTIONS")), Value: "10"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}}}
	}
	trim := func(d *appsv1.Deployment) *appsv1.Deployment {
		out, err := trimDeployment(d)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*appsv1.Deployment)
	}
	a, b := trim(mk("orders")), trim(mk("payments"))
	ca, cb := a.Spec.Template.Spec.Containers[0], b.Spec.Template.Spec.Containers[0]
	if reflect.ValueOf(ca.Resources.Limits).Pointer() != reflect.ValueOf(cb.Resources.Limits).Pointer() ||
		reflect.ValueOf(ca.Resources.Requests).Pointer() != reflect.ValueOf(cb.Resources.Requests).Pointer() {
		t.Error("two Deployments with the same CPU hold a ResourceList each")
	}
	if reflect.ValueOf(ca.Resources.Limits).Pointer() == reflect.ValueOf(ca.Resources.Requests).Pointer() {
		t.Error("the limit and the request (different quantities) share a list")
	}
	if unsafe.StringData(a.Namespace) != unsafe.StringData(b.Namespace) || unsafe.StringData(ca.Env[0].Name) != unsafe.StringData(cb.Env[0].Name) {
		t.Error("the namespace or the env name is held twice")
	}
	c := a.DeepCopy()
	c.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("3")
	if q := b.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; q.String() != "2" {
		t.Errorf("changing a copy changed the shared limit: %s", q.String())
	}
}

// Two cached profiles decoded apart hold one copy of the status strings
// that repeat from profile to profile (readiness, current env, decisions,
// SLIs), with their values unchanged.
func TestCachedProfilesShareTheirStatusStrings(t *testing.T) {
	own := func(s string) string { return string([]byte(s)) } // as each decoded object has its own
	slis := func() *tuningv1alpha1.SLIs {
		return &tuningv1alpha1.SLIs{Missing: []string{own("redisCPU: NotConfigured: no Redis workload given")}, WorstObjective: own("p99<=100ms"),
			ErrorRate: tuningv1alpha1.Percent(own("0.1%")), PoolUtilization: tuningv1alpha1.Percent(own("100%")),
			MemoryHitRatio: tuningv1alpha1.Percent(own("92%")), RedisHitRatio: tuningv1alpha1.Percent(own("80%")),
			CPUUtilization: tuningv1alpha1.Utilization(own("50%"))}
	}
	mk := func() *tuningv1alpha1.PerformanceProfile {
		return &tuningv1alpha1.PerformanceProfile{Status: tuningv1alpha1.PerformanceProfileStatus{
			Conditions: []metav1.Condition{{Type: own("Ready"), Status: metav1.ConditionStatus(own("True")),
				Reason: own("Succeeded"), Message: own("Tuning within the declared bounds")}},
			Readiness: []tuningv1alpha1.FamilyReadiness{{Family: own("pool"), Knobs: []string{own("poolSize")},
				Found: []string{own("poolInUse")}, Missing: []string{own("poolWait")}}},
			Current: &tuningv1alpha1.KnobValues{Env: map[string]string{own(poolEnv): own("10")}},
			SLIs:    slis(),
			History: []tuningv1alpha1.Decision{{Family: own("pool"), Changes: []tuningv1alpha1.Change{{Knob: own("poolSize")}},
				Diagnosis: own("PoolSaturated"), Baseline: slis()}},
			LastAdjustment: &tuningv1alpha1.Decision{Family: own("pool"), Baseline: slis()},
		}}
	}
	want := mk()
	trim := func(p *tuningv1alpha1.PerformanceProfile) *tuningv1alpha1.PerformanceProfile {
		out, err := trimProfile(p)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*tuningv1alpha1.PerformanceProfile)
	}
	a, b := trim(mk()), trim(mk())
	if !reflect.DeepEqual(a.Status, want.Status) {
		t.Fatalf("interning changed the status: %+v, want %+v", a.Status, want.Status)
	}
	same := func(what, x, y string) {
		if unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s is held twice", what)
		}
	}
	ca, cb := a.Status.Conditions[0], b.Status.Conditions[0]
	same("a condition's type", ca.Type, cb.Type)
	same("a condition's status", string(ca.Status), string(cb.Status))
	same("a condition's reason", ca.Reason, cb.Reason)
	same("a condition's message", ca.Message, cb.Message)
	ra, rb := a.Status.Readiness[0], b.Status.Readiness[0]
	same("a readiness family", ra.Family, rb.Family)
	same("a readiness knob", ra.Knobs[0], rb.Knobs[0])
	same("a found signal", ra.Found[0], rb.Found[0])
	same("a missing signal", ra.Missing[0], rb.Missing[0])
	same("an env value", a.Status.Current.Env[poolEnv], b.Status.Current.Env[poolEnv])
	for ka := range a.Status.Current.Env {
		for kb := range b.Status.Current.Env {
			same("an env name", ka, kb)
		}
	}
	same("a decision's family", a.Status.History[0].Family, b.Status.History[0].Family)
	same("a decision's knob", a.Status.History[0].Changes[0].Knob, b.Status.History[0].Changes[0].Knob)
	same("the last adjustment's family", a.Status.LastAdjustment.Family, b.Status.LastAdjustment.Family)
	same("a decision's diagnosis", a.Status.History[0].Diagnosis, b.Status.History[0].Diagnosis)
	for what, pair := range map[string][2]*tuningv1alpha1.SLIs{"the SLIs": {a.Status.SLIs, b.Status.SLIs},
		"a decision's baseline":          {a.Status.History[0].Baseline, b.Status.History[0].Baseline},
		"the last adjustment's baseline": {a.Status.LastAdjustment.Baseline, b.Status.LastAdjustment.Baseline}} {
		x, y := pair[0], pair[1]
		same(what+": why a signal is missing", x.Missing[0], y.Missing[0])
		same(what+": the worst objective", x.WorstObjective, y.WorstObjective)
		same(what+": the error rate", string(x.ErrorRate), string(y.ErrorRate))
		same(what+": the pool's use", string(x.PoolUtilization), string(y.PoolUtilization))
		same(what+": a hit ratio", string(x.MemoryHitRatio), string(y.MemoryHitRatio))
		same(what+": Redis' hit ratio", string(x.RedisHitRatio), string(y.RedisHitRatio))
		same(what+": the CPU use", string(x.CPUUtilization), string(y.CPUUtilization))
	}
}
