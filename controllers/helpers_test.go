package controllers

// Table tests of the reconciler's pure helpers: no API server.

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	"k8s.io/utils/ptr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
)

var helperT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func slis(p99 time.Duration, at time.Time, missing ...string) *tuningv1alpha1.SLIs {
	return &tuningv1alpha1.SLIs{P99: &metav1.Duration{Duration: p99}, ObservedAt: ptr.To(metav1.NewTime(at)), Missing: missing}
}

func TestStatusChanged(t *testing.T) {
	base := tuningv1alpha1.PerformanceProfileStatus{ObservedGeneration: 1, SLIs: slis(80*time.Millisecond, helperT0)}
	with := func(f func(*tuningv1alpha1.PerformanceProfileStatus)) tuningv1alpha1.PerformanceProfileStatus {
		st := *base.DeepCopy()
		f(&st)
		return st
	}
	soon, later := helperT0.Add(time.Minute), helperT0.Add(slisRefresh)
	for _, tc := range []struct {
		name string
		cur  tuningv1alpha1.PerformanceProfileStatus
		now  time.Time
		want bool
	}{
		{"the same", base, soon, false},
		{"SLIs read again, same values", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = slis(80*time.Millisecond, soon) }), soon, false},
		{"SLIs moved, within the refresh", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = slis(85*time.Millisecond, soon) }), soon, false},
		{"SLIs moved, refresh due", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = slis(85*time.Millisecond, later) }), later, true},
		{"a signal went missing", with(func(s *tuningv1alpha1.PerformanceProfileStatus) {
			s.SLIs = slis(80*time.Millisecond, soon, "p95: no samples")
		}), soon, true},
		{"SLIs moved with another change", with(func(s *tuningv1alpha1.PerformanceProfileStatus) {
			s.SLIs, s.ObservedGeneration = slis(85*time.Millisecond, soon), 2
		}), soon, true},
		{"first SLIs", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = nil }), soon, true},
		{"a condition changed", with(func(s *tuningv1alpha1.PerformanceProfileStatus) {
			s.Conditions = []metav1.Condition{{Type: tuningv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
		}), soon, true},
	} {
		old := base
		if tc.name == "first SLIs" {
			old, tc.cur = tc.cur, base
		}
		if got := statusChanged(old, tc.cur, tc.now); got != tc.want {
			t.Errorf("%s: statusChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// hpaCluster is the cluster state of an HPA with min 2, max 10, CPU 70 %,
// whose minReplicas navius-tuner owns (unless managed: then it owns all).
func hpaCluster(t *testing.T, managed, exists bool) *clusterState {
	t.Helper()
	target := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: targetName}}
	cs := &clusterState{objects: actuate.Objects{Target: target}, hpaName: targetName, hpaManaged: managed}
	if !exists {
		return cs
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: targetName, ManagedFields: []metav1.ManagedFieldsEntry{{
		Manager: tuningv1alpha1.FieldManager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "autoscaling/v2", FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:minReplicas":{}}}`)}}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}}}}
	own, err := actuate.OwnershipOf(hpa)
	if err != nil {
		t.Fatal(err)
	}
	cs.objects.HPA, cs.objects.HPAOwn = hpa, own
	return cs
}

func TestHPAWrite(t *testing.T) {
	p := poolProfile("ns", tuningv1alpha1.ModeAuto)
	p.UID = "uid"
	settings := func(min, max, cpu *int32) actuate.HPASettings {
		return actuate.HPASettings{MinReplicas: min, MaxReplicas: max, TargetCPUUtilization: cpu}
	}
	i32 := ptr.To[int32]
	for _, tc := range []struct {
		name            string
		cs              *clusterState
		changed         actuate.HPASettings
		wantNil         bool
		wantMin         *int32
		wantMax         *int32
		wantMetrics     bool
		wantScaleTarget bool
	}{
		{"managed, not there yet: created whole", hpaCluster(t, true, false), settings(i32(3), i32(6), i32(70)),
			false, i32(3), i32(6), true, true},
		{"managed, no change", hpaCluster(t, true, true), settings(i32(2), nil, nil), true, nil, nil, false, false},
		{"managed, a change: the whole HPA again", hpaCluster(t, true, true), settings(nil, i32(12), nil),
			false, i32(2), i32(12), true, true},
		{"not managed, no change", hpaCluster(t, false, true), settings(nil, i32(10), nil), true, nil, nil, false, false},
		{"not managed: the change plus the fields navius-tuner owns", hpaCluster(t, false, true), settings(nil, i32(12), nil),
			false, i32(2), i32(12), false, false},
		{"not managed: a field it owns", hpaCluster(t, false, true), settings(i32(4), nil, nil),
			false, i32(4), nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := hpaWrite(p, tc.cs, tc.changed)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNil {
				if w != nil {
					t.Errorf("wrote %+v, want no write", w)
				}
				return
			}
			ac, ok := w.(*autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration)
			if !ok || ac.Spec == nil {
				t.Fatalf("write %T %+v", w, w)
			}
			s := ac.Spec
			if fmt.Sprint(deref(s.MinReplicas)) != fmt.Sprint(deref(tc.wantMin)) || fmt.Sprint(deref(s.MaxReplicas)) != fmt.Sprint(deref(tc.wantMax)) {
				t.Errorf("min %v max %v, want %v %v", deref(s.MinReplicas), deref(s.MaxReplicas), deref(tc.wantMin), deref(tc.wantMax))
			}
			if (len(s.Metrics) > 0) != tc.wantMetrics || (s.ScaleTargetRef != nil) != tc.wantScaleTarget {
				t.Errorf("metrics %d scaleTargetRef %v, want metrics %v scaleTargetRef %v", len(s.Metrics), s.ScaleTargetRef != nil, tc.wantMetrics, tc.wantScaleTarget)
			}
		})
	}
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}
