package actuate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Apply writes one apply configuration with server-side apply as the
// navius-tuner field manager. Conflicts are forced: navius-tuner only applies
// a field when it decided to change it or already owns it, and the reconciler
// detects another manager that keeps reverting it (FieldConflict) and stops.
func Apply(ctx context.Context, c client.Client, ac runtime.ApplyConfiguration) error {
	return c.Apply(ctx, ac, client.FieldOwner(tuningv1alpha1.FieldManager), client.ForceOwnership)
}

// DeploymentEnv returns the apply configuration that sets the given env
// variables of one container of a Deployment, and nothing else. The env list
// is a map keyed by name, so server-side apply merges these entries with the
// others. env must hold every variable navius-tuner owns in that container:
// server-side apply removes an owned entry that an apply leaves out.
func DeploymentEnv(namespace, name, container string, env map[string]string) *appsv1ac.DeploymentApplyConfiguration {
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	sort.Strings(names)
	c := corev1ac.Container().WithName(container)
	for _, n := range names {
		c.WithEnv(corev1ac.EnvVar().WithName(n).WithValue(env[n]))
	}
	return appsv1ac.Deployment(name, namespace).WithSpec(appsv1ac.DeploymentSpec().
		WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(c))))
}

// ChangeCauseAnnotation is the Deployment annotation that the Deployment
// controller copies to the ReplicaSet of a rollout and `kubectl rollout
// history` shows as its cause.
const ChangeCauseAnnotation = "kubernetes.io/change-cause"

// WithChangeCause adds the change-cause of the rollout an env write
// starts (ChangeCause). It is written for people only: navius-tuner never
// reads it back.
func WithChangeCause(ac *appsv1ac.DeploymentApplyConfiguration, profileNamespace, profileName string, changes []tuning.Change) *appsv1ac.DeploymentApplyConfiguration {
	return ac.WithAnnotations(map[string]string{ChangeCauseAnnotation: ChangeCause(profileNamespace, profileName, changes)})
}

// ChangeCause says why navius-tuner restarts the pods: its env changes
// (the others are not written to the Deployment). The annotation stays on
// the Deployment until someone changes it, and a later rollout by someone
// else (kubectl set image) inherits it, so it names navius-tuner, the
// profile and the change, never a bare reason.
func ChangeCause(profileNamespace, profileName string, changes []tuning.Change) string {
	var parts []string
	for _, c := range changes {
		if tuning.PlaceOf(c.Knob) != tuning.PlaceEnv {
			continue
		}
		from := "unset"
		if c.HasFrom {
			from = strconv.FormatInt(c.From, 10)
		}
		parts = append(parts, fmt.Sprintf("%s %s→%d", c.Knob, from, c.To))
	}
	sort.Strings(parts)
	return fmt.Sprintf("navius-tuner, PerformanceProfile %s/%s: %s", profileNamespace, profileName, strings.Join(parts, ", "))
}

// EnvValues reads the literal env values of a container; variables set
// through valueFrom are listed in fromRef instead, since navius-tuner cannot
// read or own them.
func EnvValues(c *corev1.Container) (values map[string]string, fromRef map[string]bool) {
	values, fromRef = map[string]string{}, map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			fromRef[e.Name] = true
			continue
		}
		values[e.Name] = e.Value
	}
	return values, fromRef
}

// Replicas returns the apply configuration that sets spec.replicas of a
// StatefulSet or Deployment (the Redis workload), and nothing else.
func Replicas(kind, namespace, name string, replicas int32) (runtime.ApplyConfiguration, error) {
	switch kind {
	case "StatefulSet":
		return appsv1ac.StatefulSet(name, namespace).WithSpec(appsv1ac.StatefulSetSpec().WithReplicas(replicas)), nil
	case "Deployment":
		return appsv1ac.Deployment(name, namespace).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(replicas)), nil
	}
	return nil, fmt.Errorf("kind %q is neither StatefulSet nor Deployment", kind)
}

// HPASettings are the HPA fields navius-tuner tunes. A nil field is left
// out of the apply configuration (and so left to its other owners).
type HPASettings struct {
	MinReplicas *int32
	MaxReplicas *int32
	// TargetCPUUtilization is the average CPU utilization target, in percent.
	TargetCPUUtilization *int32
	// ScaleDownWindowSeconds is behavior.scaleDown.stabilizationWindowSeconds.
	ScaleDownWindowSeconds *int32
}

// cpuMetric finds the CPU utilization metric in an HPA's metrics.
func cpuMetric(ms []autoscalingv2.MetricSpec) *autoscalingv2.MetricSpec {
	for i := range ms {
		m := &ms[i]
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
			m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			return m
		}
	}
	return nil
}

// HPAFields returns the apply configuration that sets the given fields of an
// existing HPA (spec.autoscaling.hpaRef), and nothing else. spec.metrics is an
// atomic list: to set the CPU target, the whole list is applied, copied from
// the live HPA with the CPU target replaced (or a CPU metric appended).
func HPAFields(live *autoscalingv2.HorizontalPodAutoscaler, s HPASettings) (*autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration, error) {
	spec := autoscalingv2ac.HorizontalPodAutoscalerSpec()
	if s.MinReplicas != nil {
		spec.WithMinReplicas(*s.MinReplicas)
	}
	if s.MaxReplicas != nil {
		spec.WithMaxReplicas(*s.MaxReplicas)
	}
	if s.TargetCPUUtilization != nil {
		metrics, err := metricsWithCPU(live.Spec.Metrics, *s.TargetCPUUtilization)
		if err != nil {
			return nil, err
		}
		spec.WithMetrics(metrics...)
	}
	if s.ScaleDownWindowSeconds != nil {
		spec.WithBehavior(scaleDownWindow(*s.ScaleDownWindowSeconds))
	}
	return autoscalingv2ac.HorizontalPodAutoscaler(live.Name, live.Namespace).WithSpec(spec), nil
}

// metricsWithCPU converts the live metrics into apply configurations (they
// share their JSON form) with the CPU utilization target set to target.
func metricsWithCPU(live []autoscalingv2.MetricSpec, target int32) ([]*autoscalingv2ac.MetricSpecApplyConfiguration, error) {
	ms := make([]autoscalingv2.MetricSpec, len(live))
	for i := range live {
		live[i].DeepCopyInto(&ms[i])
	}
	if m := cpuMetric(ms); m != nil {
		m.Resource.Target.AverageUtilization = &target
	} else {
		ms = append(ms, cpuMetricSpec(target))
	}
	raw, err := json.Marshal(ms)
	if err != nil {
		return nil, err
	}
	var out []*autoscalingv2ac.MetricSpecApplyConfiguration
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("converting HPA metrics: %w", err)
	}
	return out, nil
}

func cpuMetricSpec(target int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
		},
	}
}

func scaleDownWindow(seconds int32) *autoscalingv2ac.HorizontalPodAutoscalerBehaviorApplyConfiguration {
	return autoscalingv2ac.HorizontalPodAutoscalerBehavior().
		WithScaleDown(autoscalingv2ac.HPAScalingRules().WithStabilizationWindowSeconds(seconds))
}

// ManagedHPA returns the full HPA navius-tuner creates and owns for the
// target Deployment (spec.autoscaling.managed). It is controlled by the
// profile, so it is garbage-collected with it; the Deployment keeps the
// replica count the HPA last gave it. MaxReplicas and TargetCPUUtilization
// are required.
func ManagedHPA(profile *tuningv1alpha1.PerformanceProfile, name string, target *appsv1.Deployment, s HPASettings) (*autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration, error) {
	if s.MaxReplicas == nil || s.TargetCPUUtilization == nil {
		return nil, fmt.Errorf("managed HPA %s needs maxReplicas and a CPU target", name)
	}
	gvk := tuningv1alpha1.GroupVersion.WithKind("PerformanceProfile")
	spec := autoscalingv2ac.HorizontalPodAutoscalerSpec().
		WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().
			WithAPIVersion("apps/v1").WithKind("Deployment").WithName(target.Name)).
		WithMaxReplicas(*s.MaxReplicas).
		WithMetrics(autoscalingv2ac.MetricSpec().WithType(autoscalingv2.ResourceMetricSourceType).
			WithResource(autoscalingv2ac.ResourceMetricSource().WithName(corev1.ResourceCPU).
				WithTarget(autoscalingv2ac.MetricTarget().WithType(autoscalingv2.UtilizationMetricType).
					WithAverageUtilization(*s.TargetCPUUtilization))))
	if s.MinReplicas != nil {
		spec.WithMinReplicas(*s.MinReplicas)
	}
	if s.ScaleDownWindowSeconds != nil {
		spec.WithBehavior(scaleDownWindow(*s.ScaleDownWindowSeconds))
	}
	return autoscalingv2ac.HorizontalPodAutoscaler(name, profile.Namespace).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": tuningv1alpha1.FieldManager}).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(gvk.GroupVersion().String()).WithKind(gvk.Kind).
			WithName(profile.Name).WithUID(profile.UID).
			WithController(true).WithBlockOwnerDeletion(true)).
		WithSpec(spec), nil
}

// ControlledBy reports whether the profile is the controller owner of obj.
func ControlledBy(obj client.Object, profile *tuningv1alpha1.PerformanceProfile) bool {
	for _, o := range obj.GetOwnerReferences() {
		if o.Controller != nil && *o.Controller && o.UID == profile.UID {
			return true
		}
	}
	return false
}
