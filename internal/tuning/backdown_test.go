package tuning

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// afterABreach: the floor was raised 3 -> 10 for a breach 20 minutes ago,
// the SLOs have held since 5 minutes (one settle time), 12 pods run at 20 %
// CPU, the HPA's scale-down window (tunable 0 s–10 min) is 300 s and holds
// them; the load is steady (its one-minute rates moved one way at most).
func afterABreach(in *Input) {
	in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
	in.SLOMetSince = t0.Add(-5 * time.Minute)
	in.State.Values[KnobHPAMinReplicas] = 10
	in.State.Values[KnobHPAScaleDownWindowS] = 300
	in.State.Replicas = 12
	in.State.HPAHeldByWindow = true
	in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.2, signals.Throughput: 800, signals.ThroughputWindow: 800,
		signals.ThroughputNoise: 0})
	in.History = []v1.Decision{decision(t0.Add(-20*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
		v1.OutcomeKept, false, change(KnobHPAMinReplicas, "3", "10"))}
}

func windowUntouched(t *testing.T, p Plan) {
	t.Helper()
	if c, ok := changeOf(p, KnobHPAScaleDownWindowS); ok {
		t.Fatalf("the window was changed: %+v (reason %q)", c, p.Reason)
	}
}

// The back-down follows a load drop measured over the SLO window, with an
// absolute excess of pods, and only shortens the scale-down window while
// that window is what holds the pods; never below 120 s on a noisy load.
func TestBackDownOnAMeasuredLoadDrop(t *testing.T) {
	runRules(t, []ruleCase{
		{"a one-minute dip of a noisy load under the window's load is no load drop: neither floor nor window move", func(in *Input) {
			afterABreach(in)
			// 12 pods are what the window's load needs; the minute rates came back 400/s within the window
			in.set(map[signals.Signal]float64{signals.ThroughputWindow: 2400, signals.ThroughputNoise: 400})
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPAMinReplicas); ok {
				t.Fatalf("the floor moved on a minute's dip: %+v (reason %q)", p.Changes, p.Reason)
			}
			windowUntouched(t, p)
		}},
		{"a step down measured in the last minute (the minute rates went one way) backs down at once, at the minute's load", func(in *Input) {
			afterABreach(in)
			in.set(map[signals.Signal]float64{signals.ThroughputWindow: 2400, signals.ThroughputNoise: 0})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 10, 3)
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 0)
		}},
		{"a steady drop: floor back and the window to the profile's minimum", afterABreach, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 10, 3)
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 0)
		}},
		{"the window is left alone when the HPA itself keeps the pods (not its stabilization window)", func(in *Input) {
			afterABreach(in)
			in.State.HPAHeldByWindow = false
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 10, 3)
			windowUntouched(t, p)
		}},
		{"pods on a raised floor that returns: the window, which holds them once the floor goes, shortens in the same plan", func(in *Input) {
			afterABreach(in)
			in.State.HPAHeldByWindow = false // the floor holds them now, not the window
			in.State.Replicas = 10
			in.set(map[signals.Signal]float64{signals.Pods: 10, signals.CPUUtilization: 0.24})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 10, 3)
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 0)
		}},
		{"an excess of one pod is no load drop", func(in *Input) {
			afterABreach(in)
			in.History = nil
			in.State.Values[KnobHPAMinReplicas] = 1
			in.State.Replicas = 2
			in.set(map[signals.Signal]float64{signals.Pods: 2, signals.CPUUtilization: 0.1, signals.Throughput: 100, signals.ThroughputWindow: 100})
		}, func(t *testing.T, p Plan) {
			windowUntouched(t, p)
		}},
		{"on a noisy load the window is shortened to 120 s, not below", func(in *Input) {
			afterABreach(in)
			in.set(map[signals.Signal]float64{signals.ThroughputNoise: 90}) // came back 90/s: 11 % of 800/s
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 120)
			if !strings.Contains(p.Reason, "noisy") || !strings.Contains(p.Reason, "came back 90/s") {
				t.Fatalf("reason %q does not say why 120 s", p.Reason)
			}
		}},
		{"within the HPA's tolerance a load is not noisy", func(in *Input) {
			afterABreach(in)
			in.set(map[signals.Signal]float64{signals.ThroughputNoise: 70}) // 9 % of 800/s
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 0)
		}},
		{"a load whose noise is not measured is taken as noisy", func(in *Input) {
			afterABreach(in)
			delete(in.Observation.Values, signals.ThroughputNoise)
			in.Observation.SetMissing(signals.ThroughputNoise, signals.ReasonNotConfigured, "too few one-minute rates")
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 120)
			if !strings.Contains(p.Reason, "too few one-minute rates") {
				t.Fatalf("reason %q does not say why 120 s", p.Reason)
			}
		}},
		{"on a noisy load a profile minimum above 120 s is kept", func(in *Input) {
			afterABreach(in)
			in.Spec.Autoscaling.Behavior.ScaleDownStabilizationWindow.Min = dur(3 * time.Minute)
			in.set(map[signals.Signal]float64{signals.ThroughputNoise: 200})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 180)
		}},
		{"an HPA without behaviour is backed down from the upstream 300 s, recorded so it can be restored", func(in *Input) {
			afterABreach(in)
			delete(in.State.Values, KnobHPAScaleDownWindowS)
		}, func(t *testing.T, p Plan) {
			c, ok := changeOf(p, KnobHPAScaleDownWindowS)
			if !ok || !c.HasFrom || c.From != defaultDownWindowS || c.To != 0 {
				t.Fatalf("want the window 300 -> 0 with its upstream value recorded, got %+v", p.Changes)
			}
			if d := p.Decision(t0); d == nil || !strings.Contains(d.Changes[len(d.Changes)-1].From, "300") {
				t.Fatalf("the recorded change cannot be restored: %+v", d)
			}
		}},
	})
}

// backedDownWindow: a back-down took the window 300 -> 0 15 minutes ago.
func backedDownWindow(in *Input) {
	in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
	in.State.Values[KnobHPAScaleDownWindowS] = 0
	in.SLOMetSince = t0.Add(-time.Hour)
	rememberAll(in, []v1.Decision{decision(t0.Add(-15*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned,
		v1.OutcomeKept, false, change(KnobHPAScaleDownWindowS, "300", "0"))})
	in.set(map[signals.Signal]float64{signals.Pods: 4, signals.CPUUtilization: 0.5, signals.Throughput: 800, signals.ThroughputWindow: 800,
		signals.ThroughputNoise: 0})
}

// The window's restore is an undo: it goes alone, is never backed off, and
// its verdict never rolls it back.
func TestScaleDownWindowRestoreIsAnUndo(t *testing.T) {
	runRules(t, []ruleCase{
		{"restored alone even when a CPU-target trim is due", func(in *Input) {
			backedDownWindow(in)
			in.Spec.Autoscaling.TargetCPUUtilization = &v1.Int32Range{Min: 50, Max: 300}
			in.State.CPURequestMillis, in.State.CPULimitMillis = 1000, 2000
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 0, 300)
			if len(p.Changes) != 1 || !IsUndo(string(p.Diagnosis)) {
				t.Fatalf("want the restore alone, as an undo: %+v (%s)", p.Changes, p.Diagnosis)
			}
		}},
		{"restored past a learned bound on raising the window", func(in *Input) {
			backedDownWindow(in)
			k := knobMemory(in.Memory, string(KnobHPAScaleDownWindowS))
			k.Up = &v1.BackOff{Level: 3, Since: metav1.NewTime(t0.Add(-10 * time.Minute)), Bound: "60"}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 0, 300)
		}},
		{"a restore's verdict never rolls it back", func(in *Input) {
			backedDownWindow(in)
			in.State.Values[KnobHPAScaleDownWindowS] = 300
			d := decision(t0.Add(-4*time.Minute), FamilyAutoscaling, DiagnosisLoadSettled, v1.OutcomePending, false,
				change(KnobHPAScaleDownWindowS, "0", "300"))
			d.Baseline = SLIsOf(healthy(t0.Add(-4 * time.Minute)))
			in.History = append(in.History, d)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.150})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			windowUntouched(t, p)
		}},
	})
}

// A saving is judged on its margin alone: the verdict on a back-down does
// not wait for the load to come back to the baseline's (which would hold
// the window's restore and every later saving for up to two settle times).
func TestSavingVerdictDoesNotWaitForTheLoad(t *testing.T) {
	runRules(t, []ruleCase{
		{"a back-down settled under 17 % more load is kept at once", func(in *Input) {
			backedDownWindow(in)
			in.History = nil
			d := decision(t0.Add(-5*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomePending, false,
				change(KnobHPAScaleDownWindowS, "300", "0"))
			d.Baseline = SLIsOf(healthy(t0.Add(-5 * time.Minute)))
			rememberAll(in, []v1.Decision{d})
			base, _ := healthy(t0).Get(signals.Throughput)
			in.set(map[signals.Signal]float64{signals.Throughput: base * 1.17, signals.ThroughputWindow: base * 1.17})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if len(p.Holds) > 0 {
				t.Fatalf("holds %q", p.Holds)
			}
		}},
	})
}

// restoredWindow: the window a back-down shortened was restored 30 s ago
// (an undo, pending), the SLOs held with margin for an hour.
func restoredWindow(in *Input) {
	backedDownWindow(in)
	loadMeasured(in)
	in.State.Values[KnobHPAScaleDownWindowS] = 300
	in.Spec.Autoscaling.TargetCPUUtilization = &v1.Int32Range{Min: 50, Max: 300}
	in.State.CPURequestMillis, in.State.CPULimitMillis = 1000, 2000
	in.History = append(in.History, decision(t0.Add(-30*time.Second), FamilyAutoscaling, DiagnosisLoadSettled, v1.OutcomePending, false,
		change(KnobHPAScaleDownWindowS, "0", "300")))
}

// Nothing waits for a window's restore to settle (it is never judged and
// only keeps pods longer), but a new back-down does: the two would
// otherwise take turns every period.
func TestAWindowRestoreNeedsNoSettling(t *testing.T) {
	runRules(t, []ruleCase{
		{"a CPU-target trim due follows the restore in the next period", restoredWindow, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPATargetCPU); !ok {
				t.Fatalf("no trim after the restore: %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
			}
		}},
		{"a back-down waits for the restore to settle", func(in *Input) {
			restoredWindow(in)
			in.State.Replicas = 12
			in.State.HPAHeldByWindow = true
			in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.2})
		}, func(t *testing.T, p Plan) {
			windowUntouched(t, p)
		}},
	})
}
