package tuning

import (
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// The CPU-target trim restarts nothing and the HPA adds back within a sync
// what it takes: it waits one settle time (the SLO window) of SLOs held with
// margin and of unchanged capacity, not the savings' long hold (3 windows),
// which the floor, Redis and the pool keep.
func TestCPUTargetTrimWaitsOneSettleTime(t *testing.T) {
	window := func(in *Input, held time.Duration) {
		in.Spec.SLO.Window = dur(5 * time.Minute) // settle 5 min, the long hold 15 min
		in.SLOMetSince = t0.Add(-held)
	}
	runRules(t, []ruleCase{
		{"held for one SLO window, the HPA above its floor: the target is trimmed", func(in *Input) {
			scaledAboveFloor(in)
			window(in, 6*time.Minute)
		}, func(t *testing.T, p Plan) {
			c, ok := changeOf(p, KnobHPATargetCPU)
			if !ok || c.To <= c.From {
				t.Fatalf("no target trim after one window with margin: %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
			}
			if p.Diagnosis != DiagnosisOverProvisioned {
				t.Fatalf("diagnosis %s, want OverProvisioned", p.Diagnosis)
			}
		}},
		{"held for less than one SLO window: nothing", func(in *Input) {
			scaledAboveFloor(in)
			window(in, 4*time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "saving waits until the SLOs have held for 15m0s")
		}},
		{"held for one SLO window, the HPA on its floor: the floor waits the long hold", func(in *Input) {
			comfortable(in)
			window(in, 6*time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "saving waits until the SLOs have held for 15m0s")
		}},
		{"held for one SLO window, the target at its bound: nothing else is saved before the long hold", func(in *Input) {
			scaledAboveFloor(in)
			in.State.Values[KnobHPATargetCPU] = 200
			window(in, 6*time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "saving waits until the SLOs have held for 15m0s")
		}},
		{"capacity changed less than one settle time ago: nothing", func(in *Input) {
			scaledAboveFloor(in)
			window(in, time.Hour)
			in.History = []v1.Decision{decision(t0.Add(-4*time.Minute), FamilyRedis, DiagnosisOverProvisioned,
				v1.OutcomeKept, false, change(KnobRedisReplicas, "3", "2"))}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
		}},
		{"capacity changed one settle time ago: the target is trimmed", func(in *Input) {
			scaledAboveFloor(in)
			window(in, time.Hour)
			in.History = []v1.Decision{decision(t0.Add(-6*time.Minute), FamilyRedis, DiagnosisOverProvisioned,
				v1.OutcomeKept, false, change(KnobRedisReplicas, "3", "2"))}
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, KnobHPATargetCPU); !ok || c.To <= c.From {
				t.Fatalf("no target trim one settle time after a change: %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
			}
		}},
	})
}

// Before the long hold the early trim stops at the CPU request: above it a
// pod runs on CPU it did not reserve, on a load whose noise one SLO window
// measured; after the long hold it goes on to the model's answer.
func TestEarlyCPUTargetTrimStopsAtTheRequest(t *testing.T) {
	above := func(in *Input, held time.Duration) {
		scaledAboveFloor(in)
		in.Spec.SLO.Window = dur(5 * time.Minute)
		in.Spec.Autoscaling.TargetCPUUtilization = &v1.Int32Range{Min: 50, Max: 200}
		in.State.CPURequestMillis, in.State.CPULimitMillis = 1000, 2000
		in.set(map[signals.Signal]float64{signals.LatencyP99: 0.025, signals.LatencyP95: 0.020})
		in.SLOMetSince = t0.Add(-held)
	}
	runRules(t, []ruleCase{
		{"held for one SLO window: up to 100 %", func(in *Input) { above(in, 6*time.Minute) }, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPATargetCPU, 70, 100)
		}},
		{"held for one SLO window, already at the request: nothing", func(in *Input) {
			above(in, 6*time.Minute)
			in.State.Values[KnobHPATargetCPU] = 100
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "saving waits until the SLOs have held for 15m0s")
		}},
		{"held for the long hold: beyond the request, to the model's answer", func(in *Input) {
			above(in, time.Hour)
			in.State.Values[KnobHPATargetCPU] = 100
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, KnobHPATargetCPU); !ok || c.To <= 100 {
				t.Fatalf("no trim beyond the request after the long hold: %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
			}
		}},
	})
}
