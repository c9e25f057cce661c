package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// clusterState is what one read of the cluster says about the profile's objects.
type clusterState struct {
	// objects locate every knob (actuate's table).
	objects actuate.Objects
	// container is the target's tuned container.
	container *corev1.Container

	hpaName    string
	hpaManaged bool

	redisRef *tuningv1alpha1.WorkloadRef

	state     tuning.State
	conflicts []conditions.Conflict
	// rolloutFailure is set when the target's rollout exceeded its progress deadline.
	rolloutFailure *rolloutFailure
	// delivery names the progressive-delivery controller of the target, "" when none.
	delivery string
	// envFrom is what the container's envFrom gives the tuned env names
	// (objects.Env holds its values under the literal values: a literal env
	// entry overrides them, so navius-tuner tunes such a knob with one);
	// envFromRemembered says it was remembered from an earlier read, not
	// read by this one (envFromMemory).
	envFrom           envFromRead
	envFromRemembered bool
	// unknown are the knobs whose current value cannot be read, with why.
	unknown map[tuning.Knob]string
	// claimed are the knobs on an object another profile claims, with which.
	claimed map[tuning.Knob]string
}

// world is what the period code reads of this read of the cluster.
func (cs *clusterState) world() period.World {
	return period.World{Objects: &cs.objects, Values: cs.state.Values}
}

// readCluster reads the target, the HPA and the Redis workload through rd
// into tuning.State (without the conflicts: see block). live says rd reads
// from the API server: the envFrom ConfigMaps are then read there too,
// otherwise they may be remembered (readEnvFrom).
func (r *PerformanceProfileReconciler) readCluster(ctx context.Context, rd client.Reader, p *tuningv1alpha1.PerformanceProfile,
	claimed map[tuning.Knob]string, now time.Time, live bool) (*clusterState, error) {
	cs := &clusterState{state: tuning.State{Values: tuning.Values{}, Blocked: map[tuning.Knob]string{}},
		unknown: map[tuning.Knob]string{}, claimed: claimed}
	if err := r.readTarget(ctx, rd, p, cs, live); err != nil {
		return nil, err
	}
	if err := r.readHPA(ctx, rd, p, cs); err != nil {
		return nil, err
	}
	if err := r.readRedis(ctx, rd, p, cs); err != nil {
		return nil, err
	}
	if err := r.readScalers(ctx, rd, p, cs); err != nil {
		return nil, err
	}
	cs.state.PodsWarmSince = podsWarmSince(cs.objects.Target, now)
	return cs, nil
}

// block keeps the engine off the knobs another manager took over.
func (cs *clusterState) block(conflicts []conditions.Conflict) {
	cs.conflicts = conflicts
	for _, c := range conflicts {
		cs.state.Blocked[tuning.Knob(c.Knob)] = c.String()
	}
}

func (r *PerformanceProfileReconciler) readTarget(ctx context.Context, rd client.Reader, p *tuningv1alpha1.PerformanceProfile, cs *clusterState, live bool) error {
	ref := p.Spec.TargetRef
	d := &appsv1.Deployment{}
	if err := rd.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			return waitFor(tuningv1alpha1.ReasonTargetNotFound, fmt.Sprintf("Deployment %s/%s not found", p.Namespace, ref.Name))
		}
		return err
	}
	cs.objects.Target = d
	containers := d.Spec.Template.Spec.Containers
	if ref.Container == "" && len(containers) > 1 {
		names := make([]string, len(containers))
		for i, c := range containers {
			names[i] = c.Name
		}
		return stall(tuningv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"Deployment %s has %d containers (%s): name the one to tune in spec.targetRef.container (navius-tuner never guesses: a sidecar listed first would receive the changes)",
			ref.Name, len(containers), strings.Join(names, ", ")))
	}
	for i := range containers {
		c := &containers[i]
		if ref.Container == "" || c.Name == ref.Container {
			cs.container = c
			break
		}
	}
	if cs.container == nil {
		return stall(tuningv1alpha1.ReasonInvalidSpec, fmt.Sprintf("Deployment %s has no container %q (spec.targetRef.container)", ref.Name, ref.Container))
	}
	own, err := actuate.OwnershipOf(d)
	if err != nil {
		return err
	}
	cs.objects.TargetOwn, cs.objects.Container = own, cs.container.Name
	env, fromRef := actuate.EnvValues(cs.container)
	cs.objects.Env = env
	// A profile that shares its database's budget publishes its worst
	// moment (status.peakConnections) for the others to budget on, every
	// period: that figure must come from the ConfigMaps as they are, not
	// as they were remembered.
	sharesBudget := tuning.SharedDatabase(p.Spec) != ""
	if cs.envFrom, cs.envFromRemembered, err = r.readEnvFrom(ctx, p, d, cs.container, live || sharesBudget); err != nil {
		return err
	}
	for name, v := range cs.envFrom.values {
		if _, literal := env[name]; !literal && !fromRef[name] {
			env[name] = v // a literal entry navius-tuner writes will override it
		}
	}
	st := &cs.state
	for _, info := range tuning.Knobs(p.Spec) {
		if info.Place != tuning.PlaceEnv {
			continue
		}
		k, name := info.Knob, string(info.Knob)
		if fromRef[name] {
			why := fmt.Sprintf("env %s is set through valueFrom; navius-tuner only sets literal values", name)
			st.Blocked[k], cs.unknown[k] = why, why
			continue
		}
		v, ok := env[name]
		if !ok {
			if why := cs.envFrom.unreadable; why != "" {
				cs.unknown[k] = why
			}
			continue
		}
		if n, ok := info.Parse(v); ok {
			st.Values[k] = n
		} else {
			st.Blocked[k] = fmt.Sprintf("env %s=%q is not a number", name, v)
		}
	}
	st.RolloutInProgress = rollingOut(d)
	cs.rolloutFailure = failedRollout(d)
	primary := &appsv1.Deployment{}
	if err := primaryReader(rd).Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name + "-primary"}, primary); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		primary = nil
	}
	cs.delivery = progressiveDelivery(d, primary)
	st.Replicas = d.Status.ReadyReplicas
	st.PodsCeiling = max(ptr.Deref(d.Spec.Replicas, 1), d.Status.Replicas)
	st.Terminating = ptr.Deref(d.Status.TerminatingReplicas, 0)
	st.GraceSeconds = ptr.Deref(d.Spec.Template.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)
	st.StepSeconds = int64(d.Spec.MinReadySeconds)
	if rp := cs.container.ReadinessProbe; rp != nil {
		st.StepSeconds += int64(rp.InitialDelaySeconds)
	}
	if d.Spec.Replicas != nil {
		st.SpecReplicas = *d.Spec.Replicas
	}
	st.CPULimitMillis = cpuMillis(cs.container)
	if q, ok := cs.container.Resources.Requests[corev1.ResourceCPU]; ok {
		st.CPURequestMillis = q.MilliValue()
	}
	st.Strategy = strategy(d)
	return nil
}

// rollingOut reports whether the Deployment is rolling out a new pod
// template: the controller has not seen the latest spec yet, or pods are not
// all on the latest template (too few updated, or old ones left). A scale-up
// is not a rollout: its new pods are created from the current template, so
// updatedReplicas = replicas while they start (their warm-up is reported by
// podsWarmSince instead).
func rollingOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration < d.Generation || st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas
}

// podsWarmSince is when the Deployment's newest pod became ready: now while a
// pod is not available yet; otherwise the lastUpdateTime of the Progressing
// condition with reason NewReplicaSetAvailable, which the Deployment
// controller sets when the Deployment becomes fully available again; zero
// when unknown.
func podsWarmSince(d *appsv1.Deployment, now time.Time) time.Time {
	st := d.Status
	if st.ObservedGeneration >= d.Generation && st.AvailableReplicas < st.Replicas {
		return now
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionTrue &&
			c.Reason == deploymentAvailableReason && !c.LastUpdateTime.IsZero() {
			return c.LastUpdateTime.Time
		}
	}
	return time.Time{}
}

// deploymentAvailableReason is the Progressing reason of a complete Deployment
// (k8s.io/kubernetes/pkg/controller/deployment/util.NewRSAvailableReason).
const deploymentAvailableReason = "NewReplicaSetAvailable"

func cpuMillis(c *corev1.Container) int64 {
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		return q.MilliValue()
	}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		return q.MilliValue()
	}
	return 0
}

// strategy is the Deployment's update strategy as its spec gives it: the
// engine resolves the surge and the unavailable pods at the replica count it
// checks the connection budget for (maxReplicas), not at today's count.
func strategy(d *appsv1.Deployment) tuning.RolloutStrategy {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return tuning.RolloutStrategy{Recreate: true}
	}
	var st tuning.RolloutStrategy
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		st.MaxSurge, st.MaxUnavailable = ru.MaxSurge, ru.MaxUnavailable
	}
	return st
}

// HPAName is the HPA the profile tunes: hpaRef, or the managed one (named after the target by default).
func HPAName(spec tuningv1alpha1.PerformanceProfileSpec) (name string, managed bool) {
	a := spec.Autoscaling
	switch {
	case a == nil:
		return "", false
	case a.HPARef != nil:
		return a.HPARef.Name, false
	case a.Managed != nil && a.Managed.Name != "":
		return a.Managed.Name, true
	case a.Managed != nil:
		return spec.TargetRef.Name, true
	}
	return "", false
}

func (r *PerformanceProfileReconciler) readHPA(ctx context.Context, rd client.Reader, p *tuningv1alpha1.PerformanceProfile, cs *clusterState) error {
	name, managed := HPAName(p.Spec)
	if name == "" {
		return nil
	}
	cs.hpaName, cs.hpaManaged = name, managed
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := rd.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: name}, hpa); err != nil {
		if apierrors.IsNotFound(err) && managed {
			return nil // created by the apply phase
		}
		if apierrors.IsNotFound(err) {
			return waitFor(tuningv1alpha1.ReasonHPANotFound, fmt.Sprintf("HorizontalPodAutoscaler %s/%s (spec.autoscaling.hpaRef) not found", p.Namespace, name))
		}
		return err
	}
	if so := kedaScaledObject(hpa); so != "" && !managed {
		return stall(tuningv1alpha1.ReasonHPAOwnedByKEDA, fmt.Sprintf(
			"HorizontalPodAutoscaler %s (spec.autoscaling.hpaRef) is owned by KEDA ScaledObject %s, which writes it back on every loop: KEDA would revert every change navius-tuner made. Set the bounds on the ScaledObject instead and remove spec.autoscaling from this profile",
			name, so))
	}
	if managed && !actuate.ControlledBy(hpa, p) {
		return stall(tuningv1alpha1.ReasonInvalidSpec, fmt.Sprintf("HorizontalPodAutoscaler %s exists and is not controlled by this profile: set spec.autoscaling.managed.name to another name, or use hpaRef", name))
	}
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != p.Spec.TargetRef.Name {
		return stall(tuningv1alpha1.ReasonInvalidSpec, fmt.Sprintf("HorizontalPodAutoscaler %s scales %s %s, not the target Deployment %s", name, ref.Kind, ref.Name, p.Spec.TargetRef.Name))
	}
	own, err := actuate.OwnershipOf(hpa)
	if err != nil {
		return err
	}
	st := &cs.state
	st.HasHPA = true
	if _, taken := cs.claimed[tuning.KnobHPAMaxReplicas]; taken {
		return nil // another profile tunes it: its maximum counts as another scaler's (readScalers)
	}
	cs.objects.HPA, cs.objects.HPAOwn = hpa, own
	set := actuate.SettingsOf(hpa)
	for _, k := range tuning.HPAKnobs() {
		if v := set.Get(k); v != nil {
			st.Values[k] = int64(*v)
		}
	}
	st.HPAAtMax = hpa.Status.DesiredReplicas >= hpa.Spec.MaxReplicas
	st.HPAHeldByWindow = heldByWindow(hpa)
	st.HPADesiredReplicas = hpa.Status.DesiredReplicas
	return nil
}

func (r *PerformanceProfileReconciler) readRedis(ctx context.Context, rd client.Reader, p *tuningv1alpha1.PerformanceProfile, cs *clusterState) error {
	c := p.Spec.Cache
	if c == nil || c.Redis == nil || c.Redis.Replicas == nil {
		return nil
	}
	ref := c.Redis.Replicas.TargetRef
	if _, taken := cs.claimed[tuning.KnobRedisReplicas]; taken {
		return nil // another profile tunes it: neither read as this profile's nor written
	}
	var obj client.Object = &appsv1.Deployment{}
	if ref.Kind == "StatefulSet" {
		obj = &appsv1.StatefulSet{}
	}
	if err := rd.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return waitFor(tuningv1alpha1.ReasonRedisNotFound, fmt.Sprintf("Redis %s %s/%s (spec.cache.redis.replicas.targetRef) not found", ref.Kind, p.Namespace, ref.Name))
		}
		return err
	}
	own, err := actuate.OwnershipOf(obj)
	if err != nil {
		return err
	}
	cs.objects.Redis, cs.objects.RedisKind, cs.objects.RedisOwn, cs.redisRef = obj, ref.Kind, own, &ref
	replicas, ready := actuate.RedisReplicas(obj)
	cs.state.Values[tuning.KnobRedisReplicas] = int64(replicas)
	cs.state.RedisReady = ready
	return nil
}

// readScalers counts the maximum of every other autoscaler of the target in
// the most pods it can run (tuning.State.PodsCeiling): the HPAs whose scale
// target it is, declared in the profile or not (KEDA's ScaledObjects work
// through such an HPA too). The profile's own HPA is a knob, not a ceiling.
//
// From the cache, only the HPAs of the target are listed (an index), and not
// copied: with one HPA per profile, listing the namespace copied all of them
// for every profile, each period.
func (r *PerformanceProfileReconciler) readScalers(ctx context.Context, rd client.Reader, p *tuningv1alpha1.PerformanceProfile, cs *clusterState) error {
	list := &autoscalingv2.HorizontalPodAutoscalerList{}
	var err error
	if readsIndexedCache(rd) {
		err = listIndexed(ctx, rd, list, p.Namespace, indexScaledDeployment, p.Spec.TargetRef.Name, client.UnsafeDisableDeepCopy)
	} else {
		err = rd.List(ctx, list, client.InNamespace(p.Namespace))
	}
	if err != nil {
		return fmt.Errorf("listing the HorizontalPodAutoscalers of namespace %s: %w", p.Namespace, err)
	}
	for i := range list.Items {
		h := &list.Items[i]
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != p.Spec.TargetRef.Name || (cs.objects.HPA != nil && h.Name == cs.objects.HPA.Name) {
			continue
		}
		cs.state.HasHPA = true
		cs.state.PodsCeiling = max(cs.state.PodsCeiling, h.Spec.MaxReplicas)
	}
	return nil
}

// readsIndexedCache says whether rd reads the manager's cache, where the field
// indexes exist (the API server knows none of them).
func readsIndexedCache(rd client.Reader) bool {
	ir, ok := rd.(interface{ indexed() bool })
	return ok && ir.indexed()
}

// scaledObjects is KEDA's ScaledObject list, read as unstructured: KEDA's
// types are not a dependency, and its CRD may not be installed.
var scaledObjects = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObjectList"}

// readScaledObjects counts the maxReplicaCount of every KEDA ScaledObject
// whose target is the profile's Deployment in the most pods it can run
// (an HPA that KEDA has not created yet, or a paused one, is not seen by
// readScalers). They are read from the API server, only for a candidate
// write: caching them would watch every ScaledObject of the cluster. A
// cluster without KEDA has none.
func (r *PerformanceProfileReconciler) readScaledObjects(ctx context.Context, p *tuningv1alpha1.PerformanceProfile, cs *clusterState) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(scaledObjects)
	reader := r.opts.ScaledObjects
	if reader == nil {
		reader = r.live()
	}
	if err := reader.List(ctx, list, client.InNamespace(p.Namespace)); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("listing the KEDA ScaledObjects of namespace %s: %w", p.Namespace, err)
	}
	for _, so := range list.Items {
		kind, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "kind")
		name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
		if (kind != "" && kind != "Deployment") || name != p.Spec.TargetRef.Name {
			continue
		}
		n, found, _ := unstructured.NestedInt64(so.Object, "spec", "maxReplicaCount")
		if !found {
			n = kedaDefaultMaxReplicas
		}
		cs.state.HasHPA = true
		cs.state.PodsCeiling = max(cs.state.PodsCeiling, int32(n))
	}
	return nil
}

// NewScaledObjectReader returns a reader of KEDA's ScaledObjects from the API
// server that knows their resource without asking discovery. The client's
// usual REST mapper answers a group the cluster does not serve by reading
// discovery again and rebuilding itself, under its lock, at every request:
// in a cluster without KEDA that was every candidate write. With the mapping
// fixed, such a cluster answers each list with a 404 (no ScaledObjects), and a
// KEDA installed at any time is read at the next write, as before.
func NewScaledObjectReader(cfg *rest.Config, scheme *runtime.Scheme) (client.Reader, error) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(scaledObjects.GroupVersion().WithKind("ScaledObject"), meta.RESTScopeNamespace)
	return client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
}

// kedaDefaultMaxReplicas is a ScaledObject's maxReplicaCount when unset.
const kedaDefaultMaxReplicas = 100

// heldByWindow reports whether the HPA's scale-down stabilization window
// holds more pods than it recommends: its AbleToScale condition says
// ScaleDownStabilized (the HPA keeps the highest recommendation of the
// window; its status.desiredReplicas is then the held count), or
// status.desiredReplicas is below status.currentReplicas.
func heldByWindow(hpa *autoscalingv2.HorizontalPodAutoscaler) bool {
	if hpa.Status.DesiredReplicas < hpa.Status.CurrentReplicas {
		return true
	}
	for _, c := range hpa.Status.Conditions {
		if c.Type == autoscalingv2.AbleToScale && c.Status == corev1.ConditionTrue && c.Reason == "ScaleDownStabilized" {
			return true
		}
	}
	return false
}

// ReadState reads the profile's target, HPA and Redis workload through c as
// the reconciler reads them each period, into the engine's tuning.State
// (without the conflicts with other managers, which need the ledger): what
// a replay of recorded history starts from.
func ReadState(ctx context.Context, c client.Client, p *tuningv1alpha1.PerformanceProfile, now time.Time) (tuning.State, error) {
	r := &PerformanceProfileReconciler{client: c}
	cs, err := r.readCluster(ctx, c, p, nil, now, true) // c reads from the API server
	if err != nil {
		return tuning.State{}, err
	}
	return cs.state, nil
}
