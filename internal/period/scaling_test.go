package period

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// Each period's summary follows the HPA's desired replicas as the period
// read them into status.memory.scaling once an autoscaling write is in the
// history: the reconciler and tier A count the reversals the same way.
func TestSummarizeWatchesTheHPAAfterAnAutoscalingWrite(t *testing.T) {
	p := &v1.PerformanceProfile{}
	summarize := func(at time.Duration, replicas int32) {
		Summarize(p, Summary{Now: now.Add(at), Mode: v1.ModeAuto, Cluster: &Read{HPADesiredReplicas: replicas}})
	}
	summarize(0, 8)
	if p.Status.Memory != nil && p.Status.Memory.Scaling != nil {
		t.Fatalf("watching without an autoscaling write: %+v", p.Status.Memory.Scaling)
	}
	Record(&p.Status, v1.Decision{Time: metav1.NewTime(now.Add(time.Minute)), Family: "autoscaling", Diagnosis: "OverProvisioned",
		Outcome: v1.OutcomePending, Changes: []v1.Change{{Knob: "hpa.targetCPUUtilization", From: "70", To: "85"}}})
	for i, r := range []int32{8, 9, 7, 8, 6} {
		summarize(time.Duration(i+1)*time.Minute, r)
	}
	s := p.Status.Memory.Scaling
	if s == nil || len(s.Reversals) != 3 || s.Replicas != 6 || s.Direction != v1.ScaleDown {
		t.Fatalf("scaling %+v, want 3 reversals, at 6 replicas going down", s)
	}
}
