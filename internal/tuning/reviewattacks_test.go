package tuning

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// scaledAboveFloor: SLOs held for hours, the HPA scales 8 pods above its floor of 3.
func scaledAboveFloor(in *Input) {
	loadMeasured(in)
	in.SLOMetSince = t0.Add(-6 * time.Hour)
	in.State.Values[KnobHPAMinReplicas] = 3
	in.State.Values[KnobHPATargetCPU] = 70
	in.State.Replicas = 8
	in.State.CPURequestMillis = 1000
	in.set(map[signals.Signal]float64{signals.Pods: 8, signals.CPUUtilization: 0.5, signals.Throughput: 800})
}

// A CPU-target trim that made the HPA flap and was rolled back for it is
// not made again on the same load: the rollback is a verdict on it.
func TestFlappingRollbackBacksOffTheSaving(t *testing.T) {
	runRules(t, []ruleCase{
		{"control: the trim is proposed without history", scaledAboveFloor, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPATargetCPU); !ok {
				t.Fatalf("no target trim: %q %q", p.Reason, p.Holds)
			}
		}},
		{"after a flapping rollback on the same load", func(in *Input) {
			scaledAboveFloor(in)
			trim := decision(t0.Add(-3*time.Hour), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false,
				change(KnobHPATargetCPU, "70", "85"))
			thr := int64(800)
			trim.Baseline = &v1.SLIs{Throughput: &thr}
			undo := decision(t0.Add(-2*time.Hour), FamilyAutoscaling, DiagnosisFlapping, v1.OutcomeKept, false,
				change(KnobHPATargetCPU, "85", "70"))
			rememberAll(in, []v1.Decision{trim, undo})
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, KnobHPATargetCPU); ok && c.To >= 85 {
				t.Fatalf("the flapping trim is made again on the same load: %+v (%q)", c, p.Reason)
			}
		}},
	})
}

// A flapping rollback that was never applied leaves no back-off behind.
func TestForgetTakesBackAFlappingBackOff(t *testing.T) {
	undo := decision(t0, FamilyAutoscaling, DiagnosisFlapping, v1.OutcomePending, false, change(KnobHPATargetCPU, "85", "70"))
	var m v1.Memory
	Remember(&m, undo)
	if k := findKnob(&m, string(KnobHPATargetCPU)); k == nil || k.Up == nil || k.Up.Bound != "85" {
		t.Fatalf("no back-off of the raise at 85 after the flapping rollback: %+v", m.Knobs)
	}
	Forget(&m, undo, nil)
	if k := findKnob(&m, string(KnobHPATargetCPU)); k != nil && k.Up != nil {
		t.Fatalf("back-off kept after Forget: %+v", k.Up)
	}
}

// A watch that starts on a reconcile that could not read the HPA has no
// replicas to compare with: the first replicas read are its start, not a
// move from zero, so one way up and back is one reversal, not two.
func TestWatchScalingStartsOnTheFirstKnownReplicas(t *testing.T) {
	trim := decision(t0, FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false, change(KnobHPATargetCPU, "70", "85"))
	var m v1.Memory
	WatchScaling(&m, []v1.Decision{trim}, 0, false, t0)
	for i, r := range []int32{8, 7, 8} {
		WatchScaling(&m, []v1.Decision{trim}, r, true, t0.Add(time.Duration(i+1)*time.Minute))
	}
	if m.Scaling == nil || len(m.Scaling.Reversals) != 1 {
		t.Fatalf("watch %+v: want one reversal (8, 7, 8)", m.Scaling)
	}
}

// A window restore that was recorded but never applied is forgotten: the
// window is still the back-down's, so the value it returns to is kept, or
// the HPA's scale-down window stays short for good.
func TestForgetAnUnappliedRestoreKeepsTheWindowToReturnTo(t *testing.T) {
	back := decision(t0.Add(-10*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false,
		change(KnobHPAScaleDownWindowS, "300", "0"))
	restore := decision(t0, FamilyAutoscaling, DiagnosisLoadSettled, v1.OutcomePending, false,
		change(KnobHPAScaleDownWindowS, "0", "300"))
	var m v1.Memory
	Remember(&m, back)
	Remember(&m, restore)
	Forget(&m, restore, []v1.Decision{back})
	if k := findKnob(&m, string(KnobHPAScaleDownWindowS)); k == nil || k.ReturnTo != "300" {
		t.Fatalf("memory %+v: the window to return to was lost with the unapplied restore", m.Knobs)
	}
}

// An experiment's floor raise never goes above the HPA's maxReplicas,
// whether the profile tunes the maximum or not (minReplicas above it is an
// invalid HPA).
func TestExperimentFloorStaysWithinAnUntunedMaximum(t *testing.T) {
	runRules(t, []ruleCase{{"maxReplicas 4 not tuned, 4 pods, floor 3", func(in *Input) {
		undiagnosed(in)
		in.Spec.Autoscaling.MaxReplicas = nil
		in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 100000}
		in.State.Values[poolMaxEnv] = 100
		in.State.Values[itemsEnv], in.State.Values[l1TTLEnv], in.State.Values[l2TTLEnv] = 200000, 600, 3600
		in.State.Values[KnobRedisReplicas] = 5
		in.State.Values[KnobHPAMinReplicas], in.State.Values[KnobHPAMaxReplicas] = 3, 4
	}, func(t *testing.T, p Plan) {
		if c, ok := changeOf(p, KnobHPAMinReplicas); ok && c.To > 4 {
			t.Fatalf("floor raised to %d above maxReplicas 4 (%q)", c.To, p.Reason)
		}
	}}})
}

// A floor raised for CPU saturation stays within an untuned maxReplicas too.
func TestFloorRaiseStaysWithinAnUntunedMaximum(t *testing.T) {
	runRules(t, []ruleCase{{"maxReplicas 5 not tuned, CPU saturated", func(in *Input) {
		in.Spec.Autoscaling.MaxReplicas = nil
		in.State.Values[KnobHPAMaxReplicas] = 5
		in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.95})
	}, func(t *testing.T, p Plan) {
		if c, ok := changeOf(p, KnobHPAMinReplicas); !ok || c.To > 5 {
			t.Fatalf("floor %+v (ok %v): want a raise to at most maxReplicas 5 (%q)", c, ok, p.Reason)
		}
	}}})
}

// A noisy load whose SLO window's load is not measured cannot tell a
// minute's dip from a drop: the minute alone does not return the floor.
func TestNoisyBackDownWithoutTheWindowsLoadHolds(t *testing.T) {
	runRules(t, []ruleCase{{"minute 800/s, window's load missing, the minute rates came back 400/s", func(in *Input) {
		afterABreach(in)
		in.set(map[signals.Signal]float64{signals.ThroughputNoise: 400})
		in.Observation.SetMissing(signals.ThroughputWindow, signals.ReasonEmpty, "no series")
	}, func(t *testing.T, p Plan) {
		if c, ok := changeOf(p, KnobHPAMinReplicas); ok {
			t.Fatalf("the floor moved on a minute's load of a noisy load: %+v (reason %q)", c, p.Reason)
		}
		windowUntouched(t, p)
	}}})
}

// A floor lowered as a saving (minReplicas 8 -> 3) makes the HPA flap; a
// person has meanwhile lowered maxReplicas, which the profile does not
// tune, to 5. The rollback restores the floor within that maximum:
// minReplicas 8 above maxReplicas 5 is an HPA the API server refuses, so
// the restore would fail at every period while the HPA goes on flapping.
func TestFlappingRestoreStaysWithinAMaximumLoweredSince(t *testing.T) {
	runRules(t, []ruleCase{{"floor 8 -> 3 saved, maxReplicas 20 -> 5 by hand, three reversals", func(in *Input) {
		comfortable(in)
		in.Spec.Autoscaling.MaxReplicas = nil
		in.State.Values[KnobHPAMinReplicas], in.State.Values[KnobHPAMaxReplicas] = 3, 5
		in.State.Replicas = 5
		in.set(map[signals.Signal]float64{signals.Pods: 5})
		saving := decision(t0.Add(-40*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false,
			change(KnobHPAMinReplicas, "8", "3"))
		rememberAll(in, []v1.Decision{saving})
		in.Memory.Scaling = &v1.ScalingWatch{Write: saving.Time, Replicas: 5, Direction: v1.ScaleUp}
		for i := range 3 {
			in.Memory.Scaling.Reversals = append(in.Memory.Scaling.Reversals, metav1.NewTime(t0.Add(-time.Duration(1+5*(2-i))*time.Minute)))
		}
	}, func(t *testing.T, p Plan) {
		if p.Diagnosis != DiagnosisFlapping {
			t.Fatalf("diagnosis %s (%q, holds %q), want the saving rolled back for flapping", p.Diagnosis, p.Reason, p.Holds)
		}
		if c, ok := changeOf(p, KnobHPAMinReplicas); !ok || c.To > 5 {
			t.Fatalf("floor restored as %+v (ok %v): above maxReplicas 5", c, ok)
		}
	}}})
}

// A CPU-target trim on a load whose variation over the SLO window is not
// measured (a new service, too few one-minute rates in the window) kept only
// the HPA's 10 % tolerance as headroom for the load's noise: a saving on
// missing data. It waits, and says why; measured, the trim is made.
func TestCPUTargetTrimWaitsForTheLoadsVariation(t *testing.T) {
	runRules(t, []ruleCase{
		{"the load's noise not measured", func(in *Input) {
			scaledAboveFloor(in)
			in.Observation.SetMissing(signals.ThroughputNoise, signals.ReasonNotConfigured, "too few one-minute rates in the SLO window")
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, KnobHPATargetCPU); ok {
				t.Fatalf("target trimmed %+v without the load's variation (%q)", c, p.Predicted)
			}
		}},
		{"the load's noise not measured, nothing else to save", func(in *Input) {
			scaledAboveFloor(in)
			in.State.Values[poolMaxEnv], in.State.Values[KnobRedisReplicas] = 5, 1
			in.Observation.SetMissing(signals.ThroughputNoise, signals.ReasonNotConfigured, "too few one-minute rates in the SLO window")
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, KnobHPATargetCPU); ok {
				t.Fatalf("target trimmed %+v without the load's variation (%q)", c, p.Predicted)
			}
			if all := p.Reason + " " + strings.Join(p.Holds, "; "); !strings.Contains(all, "variation over the SLO window is not measured") {
				t.Fatalf("reason %q, holds %q: want why the trim waits", p.Reason, p.Holds)
			}
		}},
		{"measured", scaledAboveFloor, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPATargetCPU); !ok {
				t.Fatalf("no target trim: %q %q", p.Reason, p.Holds)
			}
		}},
	})
}
