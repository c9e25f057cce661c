package tuning

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// longHistory is n kept decisions one settle time apart, the newest settled
// at now, that a rule looking back could read: CPU-target and floor trims,
// back-downs of the window and their restores, pool raises rolled back
// (a floor raised for a breach is left out: its return, from the memory,
// would answer every situation; cache changes are left out: the L1 model fits every operating
// point the history holds, as far as it goes, by design).
//
// kinds picks the kind of the i-th decision (0–4 below), so that a kind
// may be found only in the part the status drops.
func longHistory(n int, settle time.Duration, now time.Time, kinds func(i int) int) []v1.Decision {
	var h []v1.Decision
	for i := range n {
		at := now.Add(-time.Duration(n-i) * settle)
		var d v1.Decision
		switch kinds(i) {
		case 0:
			d = decision(at, FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false, change(KnobHPATargetCPU, "65", "70"))
		case 1:
			d = decision(at, FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false, change(KnobHPAMinReplicas, "9", "8"))
		case 2:
			d = decision(at, FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false, change(KnobHPAScaleDownWindowS, "300", "0"))
		case 3:
			d = decision(at, FamilyAutoscaling, DiagnosisLoadSettled, v1.OutcomeKept, false, change(KnobHPAScaleDownWindowS, "0", "300"))
		default:
			d = decision(at, FamilyPool, DiagnosisPoolSaturated, v1.OutcomeRolledBack, true, change(poolMaxEnv, "10", "14"))
		}
		d.Baseline = SLIsOf(healthy(at))
		h = append(h, d)
	}
	return h
}

// Every rule that reads status.history finds what it reads for as long as
// it looks: the status keeps the newest MaxHistoryItems decisions, which
// are sure to cover no more than that many settle times (a decision waits
// for the previous one to settle). Derived from the code, not from a list
// of the rules: on a history twice that long, whatever the situation, the
// engine decides the same with the whole history as with the part the
// status keeps (and the memory of the whole, which the status keeps
// apart). A rule that reads further back makes the two differ.
func TestNoRuleReadsTheHistoryFurtherThanTheStatusKeeps(t *testing.T) {
	situations := map[string]func(in *Input){
		"comfortable, savings due": comfortable,
		"a starved pool":           starvedPool,
		"CPU saturated": func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.95})
		},
		"a load drop held by the window": func(in *Input) {
			comfortable(in)
			in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
			in.State.Replicas, in.State.HPAHeldByWindow = 12, true
			in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.2, signals.ThroughputNoise: 0})
		},
	}
	for _, guardrails := range []v1.Guardrails{{}, {SettleTime: metav1.Duration{Duration: 5 * time.Second}, MaxRolloutsPerHour: 60}} {
		for name, situation := range situations {
			for _, pattern := range []struct {
				name  string
				kinds func(i int) int
			}{
				{"mixed", func(i int) int { return i % 5 }},
				{"autoscaling only in the dropped part", func(i int) int {
					if i < v1.MaxHistoryItems {
						return i % 4
					}
					return 4
				}},
				{"pool only in the dropped part", func(i int) int {
					if i < v1.MaxHistoryItems {
						return 4
					}
					return i % 4
				}},
			} {
				for _, age := range []time.Duration{0, time.Minute, 20 * time.Minute} {
					t.Run(fmt.Sprintf("%s, settle %s, %s, newest decision %s old", name, guardrails.SettleTime.Duration, pattern.name, age), func(t *testing.T) {
						in := baseInput()
						in.Spec.Guardrails = guardrails
						situation(&in)
						s := SettingsOf(in.Spec)
						full := longHistory(2*v1.MaxHistoryItems, s.SettleFor, in.Now.Add(-age), pattern.kinds)
						m := MemoryFrom(full, 0)
						in.Memory = &m
						in.History = full
						whole := Decide(in)
						in.History = full[len(full)-v1.MaxHistoryItems:]
						kept := Decide(in)
						if !reflect.DeepEqual(whole, kept) {
							t.Fatalf("the plan read the history further back than the status keeps:\nwhole history: %+v\nkept part:     %+v", whole, kept)
						}
					})
				}
			}
		}
	}
}
