package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func deploymentWith(spec int32, gen int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(spec)}, Status: st}
	d.Generation = gen
	return d
}

// TestRollingOutCountsTemplateChangesNotScaleUps: a scale-up (new pods on the
// current template, not yet available) is not a rollout; pods on an old
// template, or a spec the controller has not observed, are.
func TestRollingOutCountsTemplateChangesNotScaleUps(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"steady", deploymentWith(4, 3, appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4}), false},
		{"HPA scale-up 4 -> 14, new pods starting", deploymentWith(14, 4, appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 14, UpdatedReplicas: 14, ReadyReplicas: 4, AvailableReplicas: 4}), false},
		{"scale-down", deploymentWith(4, 5, appsv1.DeploymentStatus{ObservedGeneration: 5, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4}), false},
		{"spec not observed yet", deploymentWith(4, 6, appsv1.DeploymentStatus{ObservedGeneration: 5, Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 4}), true},
		{"new template, surge pod created", deploymentWith(4, 6, appsv1.DeploymentStatus{ObservedGeneration: 6, Replicas: 5, UpdatedReplicas: 1, AvailableReplicas: 4}), true},
		{"new template, old pods left", deploymentWith(4, 6, appsv1.DeploymentStatus{ObservedGeneration: 6, Replicas: 5, UpdatedReplicas: 4, AvailableReplicas: 4}), true},
		{"new template, too few updated", deploymentWith(4, 6, appsv1.DeploymentStatus{ObservedGeneration: 6, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rollingOut(tc.d); got != tc.want {
				t.Errorf("rollingOut = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPodsWarmSince: now while a pod starts; the time the Deployment became
// fully available (Progressing/NewReplicaSetAvailable) once all are; zero when unknown.
func TestPodsWarmSince(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	done := now.Add(-2 * time.Minute)
	available := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
		Reason: deploymentAvailableReason, LastUpdateTime: metav1.NewTime(done)}
	updating := available
	updating.Reason = "ReplicaSetUpdated"
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want time.Time
	}{
		{"pods starting", deploymentWith(14, 4, appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 14, UpdatedReplicas: 14, AvailableReplicas: 4,
			Conditions: []appsv1.DeploymentCondition{available}}), now},
		{"all available", deploymentWith(14, 4, appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 14, UpdatedReplicas: 14, AvailableReplicas: 14,
			Conditions: []appsv1.DeploymentCondition{available}}), done},
		{"progressing, not complete", deploymentWith(14, 4, appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 14, UpdatedReplicas: 14, AvailableReplicas: 14,
			Conditions: []appsv1.DeploymentCondition{updating}}), time.Time{}},
		{"no conditions", deploymentWith(4, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 4}), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podsWarmSince(tc.d, now); !got.Equal(tc.want) {
				t.Errorf("podsWarmSince = %v, want %v", got, tc.want)
			}
		})
	}
}

// The HPA's scale-down stabilization window holds the pods when the HPA
// says so (AbleToScale: ScaleDownStabilized) or desires fewer than it runs.
func TestHeldByWindow(t *testing.T) {
	hpa := func(desired, current int32, reason string) *autoscalingv2.HorizontalPodAutoscaler {
		h := &autoscalingv2.HorizontalPodAutoscaler{Status: autoscalingv2.HorizontalPodAutoscalerStatus{DesiredReplicas: desired, CurrentReplicas: current}}
		if reason != "" {
			h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: reason}}
		}
		return h
	}
	for _, tc := range []struct {
		name string
		hpa  *autoscalingv2.HorizontalPodAutoscaler
		want bool
	}{
		{"steady", hpa(8, 8, "ReadyForNewScale"), false},
		{"the window keeps the highest recent recommendation", hpa(8, 8, "ScaleDownStabilized"), true},
		{"desired below current", hpa(5, 8, "SucceededRescale"), true},
		{"scaling up", hpa(10, 8, "SucceededRescale"), false},
		{"no status yet", hpa(0, 0, ""), false},
	} {
		if got := heldByWindow(tc.hpa); got != tc.want {
			t.Errorf("%s: heldByWindow = %v, want %v", tc.name, got, tc.want)
		}
	}
}
