package main

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestTrimDeploymentKeepsWhatTheReconcilerReads(t *testing.T) {
	mf := []metav1.ManagedFieldsEntry{{Manager: "navius-tuner", Operation: metav1.ManagedFieldsOperationApply}}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Generation: 3, ManagedFields: mf,
			Annotations: map[string]string{lastApplied: "{...}", "keep": "me"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"big": "x"}},
				Spec: corev1.PodSpec{
					Volumes: []corev1.Volume{{Name: "v"}},
					Containers: []corev1.Container{{Name: "app", Image: "i", Command: []string{"run"},
						Env:       []corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "10"}},
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}},
				}},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 4,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable}}},
	}
	out, err := trimDeployment(d)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*appsv1.Deployment)
	c := got.Spec.Template.Spec.Containers[0]
	switch {
	case len(got.ManagedFields) != 1:
		t.Error("managedFields must be kept: the reconciler reads them")
	case c.Name != "app" || c.Env[0].Value != "10" || c.Resources.Limits.Cpu().String() != "2":
		t.Errorf("container name, env and resources must be kept: %+v", c)
	case *got.Spec.Replicas != 4 || got.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || got.Status.AvailableReplicas != 4:
		t.Error("replicas, strategy and rollout status must be kept")
	case got.Annotations["keep"] != "me" || got.Annotations[lastApplied] != "":
		t.Error("only kubectl's last-applied annotation is dropped")
	case c.Image != "" || len(got.Spec.Template.Spec.Volumes) != 0 || got.Status.Conditions != nil:
		t.Error("unread fields must be dropped")
	}
}
