package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

func pod(name string, phase corev1.PodPhase, ready corev1.ConditionStatus, deleting bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(100, 0))},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "sidecar"},
			{Name: "app", Env: []corev1.EnvVar{
				{Name: sim.EnvPoolMax, Value: "24"},
				{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{}},
			}, Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			}},
		}},
		Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
	}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestPodSpecs(t *testing.T) {
	pods := []*corev1.Pod{
		pod("b", corev1.PodRunning, corev1.ConditionTrue, false),
		pod("a", corev1.PodRunning, corev1.ConditionTrue, false),
		pod("pending", corev1.PodPending, corev1.ConditionFalse, false),
		pod("unready", corev1.PodRunning, corev1.ConditionFalse, false),
		pod("terminating", corev1.PodRunning, corev1.ConditionTrue, true),
	}
	got := PodSpecs(pods, "app", nil)
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("got %+v", got)
	}
	s := got[0]
	if s.Env[sim.EnvPoolMax] != "24" || len(s.Env) != 1 || s.CPURequestMillis != 500 || s.CPULimitMillis != 2000 ||
		!s.StartTime.Equal(time.Unix(100, 0)) {
		t.Errorf("spec %+v", s)
	}
	if got := PodSpecs(pods, "missing", nil); len(got) != 0 {
		t.Errorf("unknown container: %+v", got)
	}
	if got := PodSpecs(pods, "", nil); len(got) != 2 || got[0].CPULimitMillis != 0 {
		t.Errorf("first container: %+v", got)
	}
}

// The env is built as the kubelet builds it: envFrom ConfigMaps in order,
// with their prefix, and literal entries over them.
func TestContainerEnvResolvesConfigMapsUnderLiterals(t *testing.T) {
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
			{Prefix: "X_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
		},
		Env: []corev1.EnvVar{{Name: "POOL", Value: "12"}, {Name: "REF", ValueFrom: &corev1.EnvVarSource{}}},
	}
	maps := func(name string) (map[string]string, bool) {
		if name == "settings" {
			return map[string]string{"POOL": "50", "TTL": "60"}, true
		}
		return nil, false
	}
	got := ContainerEnv(c, maps)
	want := map[string]string{"POOL": "12", "TTL": "60", "X_POOL": "50", "X_TTL": "60"}
	if len(got) != len(want) {
		t.Fatalf("env %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q (env %v)", k, got[k], v, got)
		}
	}
}
