package tuning

import (
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// learned gives the input a learned CPU time per request.
func learned(in *Input, per time.Duration, samples int32) {
	in.Memory = &v1.Memory{CPU: &v1.LearnedCPU{PerRequest: dur(per), Samples: samples}}
}

// stepUp: the load stepped up; 3000/s are offered (errors and timeouts
// counted), p99 and errors breach, and the pods sit at their limit (= request).
func stepUp(in *Input) {
	in.State.CPURequestMillis, in.State.CPULimitMillis = 1000, 1000
	in.Spec.Autoscaling.MinReplicas.Max = 30
	learned(in, 2500*time.Microsecond, 20)
	in.set(map[signals.Signal]float64{signals.LatencyP99: 2, signals.LatencyP95: 1, signals.ErrorRate: 0.2,
		signals.Throughput: 3000, signals.CPUUtilization: 1.0})
}

func TestLearnCPUPerRequest(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*Input)
		want  time.Duration // 0: nothing learned
		n     int32
	}{
		{"CPU ÷ throughput while CPU is below the target", func(*Input) {}, 2500 * time.Microsecond, 1},
		{"a running mean with what was learned", func(in *Input) { learned(in, 3*time.Millisecond, 3) }, 2875 * time.Microsecond, 4},
		{"past MaxCPUSamples an exponential average", func(in *Input) { learned(in, 3*time.Millisecond, MaxCPUSamples) }, 2975 * time.Microsecond, MaxCPUSamples},
		{"not at or above the target (a saturated pod hides demand)", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.CPUUtilization: 0.65})
		}, 0, 0},
		{"not while the SLO is breached", func(in *Input) { in.set(map[signals.Signal]float64{signals.LatencyP99: 0.18}) }, 0, 0},
		{"not while a pod starts (its request counts, its use not yet)", func(in *Input) { in.State.PodsWarmSince = t0 }, 0, 0},
		{"not without the CPU request", func(in *Input) { in.State.CPURequestMillis = 0 }, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			in.State.CPURequestMillis = 1000 // 4 pods × 50 % × 1 core ÷ 800/s = 2.5 ms
			tc.setup(&in)
			p := Decide(in)
			switch {
			case tc.want == 0 && p.CPU != nil:
				t.Fatalf("learned %+v, want nothing", *p.CPU)
			case tc.want != 0 && (p.CPU == nil || p.CPU.PerRequest.Duration != tc.want || p.CPU.Samples != tc.n):
				t.Fatalf("learned %+v, want %s over %d samples", p.CPU, tc.want, tc.n)
			}
		})
	}
}

func TestFeedForwardFloor(t *testing.T) {
	runRules(t, []ruleCase{
		{"the floor jumps to offered × CPU per request ÷ (target × request) in one step", func(in *Input) {
			stepUp(in)
			in.State.Values[KnobHPAMaxReplicas] = 30
		}, func(t *testing.T, p Plan) {
			// 3000/s × 2.5 ms ÷ (65 % × 1 core) = 11.5 -> 12 (the HPA's formula gives 4 × 100 % ÷ 65 % -> 7)
			wantChange(t, p, KnobHPAMinReplicas, 3, 12)
		}},
		{"bounded by maxReplicas", func(in *Input) {
			stepUp(in)
			in.set(map[signals.Signal]float64{signals.Throughput: 6000})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 3, 12)
		}},
		{"not capped by a connection budget of its own below maxReplicas: the worst moment counts the pods at the maximum", func(in *Input) {
			stepUp(in)
			in.State.Values[KnobHPAMaxReplicas] = 30
			in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 100}
		}, func(t *testing.T, p Plan) {
			d := &decider{in: Input{Spec: fullSpec(), State: State{Values: fullValues(), GraceSeconds: 30, StepSeconds: 40}}, ks: knobsOf(fullSpec())}
			d.in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 100}
			if limit := d.maxPodsInBudget(10); limit >= 12 {
				t.Fatalf("the budget allows %d pods at the floor: the case tests nothing", limit)
			}
			wantChange(t, p, KnobHPAMinReplicas, 3, 12)
		}},
		{"bounded by the connection budget when no maxReplicas is read", func(in *Input) {
			stepUp(in)
			delete(in.State.Values, KnobHPAMaxReplicas)
			in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 100}
		}, func(t *testing.T, p Plan) {
			d := &decider{in: Input{Spec: fullSpec(), State: State{Values: fullValues(), GraceSeconds: 30, StepSeconds: 40}}, ks: knobsOf(fullSpec())}
			d.in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 100}
			wantChange(t, p, KnobHPAMinReplicas, 3, d.maxPodsInBudget(10))
		}},
		{"sized on the newest scrape interval's load while the window's rate under-reads the pods being added", func(in *Input) {
			stepUp(in)
			in.State.Values[KnobHPAMaxReplicas] = 30
			// the one-minute rate divides the new pods' first requests by a minute
			in.set(map[signals.Signal]float64{signals.Throughput: 1500, signals.ThroughputNow: 3000})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 3, 12)
			if !strings.Contains(p.Predicted, "3000/s") {
				t.Fatalf("prediction %q does not give the load it sized for", p.Predicted)
			}
		}},
		{"sized on the window's rate when the newest interval reads less (a pod with one sample)", func(in *Input) {
			stepUp(in)
			in.State.Values[KnobHPAMaxReplicas] = 30
			in.set(map[signals.Signal]float64{signals.ThroughputNow: 1500})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 3, 12)
		}},
		{"pods the HPA just added dilute the CPU: the load says it is saturated", func(in *Input) {
			stepUp(in)
			in.State.Values[KnobHPAMaxReplicas] = 30
			in.set(map[signals.Signal]float64{signals.CPUUtilization: 0.5})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCPUSaturated || !strings.Contains(p.Reason, "the load needs") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
			wantChange(t, p, KnobHPAMinReplicas, 3, 12)
		}},
		{"without a learned CPU per request, the HPA's formula", func(in *Input) {
			stepUp(in)
			in.Memory = nil
			in.State.Values[KnobHPAMaxReplicas] = 30
		}, func(t *testing.T, p Plan) {
			// 4 pods × 100 % ÷ 65 % = 6.2 -> 7
			wantChange(t, p, KnobHPAMinReplicas, 3, 7)
		}},
	})
}

// pendingFloorRaise: the floor was raised 3 -> 6 for saturated CPU a minute ago.
func pendingFloorRaise(in *Input) {
	in.State.Values[KnobHPAMinReplicas] = 6
	in.State.Values[KnobHPAMaxReplicas] = 30
	in.History = []v1.Decision{decision(t0.Add(-time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
		v1.OutcomePending, false, change(KnobHPAMinReplicas, "3", "6"))}
}

func TestFloorRaisedAgainInTheSameBreach(t *testing.T) {
	runRules(t, []ruleCase{
		{"a higher floor does not wait for the last raise to settle", func(in *Input) {
			stepUp(in)
			pendingFloorRaise(in)
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 6, 12)
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept || !strings.Contains(p.Judgement.Observed, "superseded") {
				t.Fatalf("judgement %+v, want the last raise kept as superseded", p.Judgement)
			}
		}},
		{"holds when the load needs no more than the floor", func(in *Input) {
			stepUp(in)
			pendingFloorRaise(in)
			in.set(map[signals.Signal]float64{signals.Throughput: 1500}) // 5.8 -> 6 pods
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "settling until")
		}},
		{"holds once the SLO holds again", func(in *Input) {
			stepUp(in)
			pendingFloorRaise(in)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.06, signals.LatencyP95: 0.045, signals.ErrorRate: 0.001})
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "settling until")
		}},
		{"holds after a change of another kind", func(in *Input) {
			stepUp(in)
			pendingFloorRaise(in)
			in.History[0].Family, in.History[0].Diagnosis = string(FamilyPool), string(DiagnosisPoolSaturated)
			in.History[0].Changes = []v1.Change{change(poolMaxEnv, "10", "15")}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "settling until")
		}},
		{"a rollout in progress still holds", func(in *Input) {
			stepUp(in)
			pendingFloorRaise(in)
			in.State.RolloutInProgress = true
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "rollout in progress")
		}},
	})
}

func TestFloorRaisedTwiceReturnsToWhereItWasBeforeTheBreach(t *testing.T) {
	var m v1.Memory
	Remember(&m, decision(t0, FamilyAutoscaling, DiagnosisCPUSaturated, v1.OutcomePending, false, change(KnobHPAMinReplicas, "2", "9")))
	Remember(&m, decision(t0.Add(time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated, v1.OutcomePending, false, change(KnobHPAMinReplicas, "9", "12")))
	if got := knobMemory(&m, string(KnobHPAMinReplicas)).ReturnTo; got != "2" {
		t.Fatalf("returnTo %q, want 2 (the floor before the breach)", got)
	}
}

// loadMeasured: the load's variation over the SLO window is measured, and
// there is none (800/s throughout).
func loadMeasured(in *Input) {
	in.set(map[signals.Signal]float64{signals.ThroughputWindow: 800, signals.ThroughputPeak: 800, signals.ThroughputNoise: 0})
}

func TestCPUTargetTrimJumpsToTheModel(t *testing.T) {
	saving := func(in *Input) {
		loadMeasured(in)
		in.SLOMetSince = t0.Add(-time.Hour)
		in.Spec.Autoscaling.TargetCPUUtilization = &v1.Int32Range{Min: 50, Max: 300}
		in.State.Replicas = 8
		in.State.CPURequestMillis, in.State.CPULimitMillis = 1000, 2000
		in.set(map[signals.Signal]float64{signals.Pods: 8, signals.CPUUtilization: 0.4})
	}
	runRules(t, []ruleCase{
		{"to the largest target predicted under 0.7 × every latency threshold", saving, func(t *testing.T, p Plan) {
			// the learned cost: 8 pods × 40 % × 1 core ÷ 800/s = 4 ms; p95 (45 ms of 80) binds
			p95 := cpuTargetForMargin(0.4, 2, 0.045, 0.7*0.080, 0.004*-math.Log(0.05))
			p99 := cpuTargetForMargin(0.4, 2, 0.060, 0.7*0.100, 0.004*-math.Log(0.01))
			want := int64(math.Floor(min(p95, p99)*100 + 1e-9))
			if want <= 65+7 {
				t.Fatalf("the model's answer %d is no more than a slow step: the case tests nothing", want)
			}
			wantChange(t, p, KnobHPATargetCPU, 65, want)
		}},
		{"with headroom for the load's noise over the SLO window and the HPA's tolerance: within the limits at the noisy peak", func(in *Input) {
			saving(in)
			// the load went 50 % above its mean within the window, and came back more than that
			in.set(map[signals.Signal]float64{signals.ThroughputWindow: 800, signals.ThroughputPeak: 1200, signals.ThroughputNoise: 500})
		}, func(t *testing.T, p Plan) {
			margin := math.Floor(min(cpuTargetForMargin(0.4, 2, 0.045, 0.7*0.080, 0.004*-math.Log(0.05)),
				cpuTargetForMargin(0.4, 2, 0.060, 0.7*0.100, 0.004*-math.Log(0.01)))*100 + 1e-9)
			limits := math.Floor(min(cpuTargetForMargin(0.4, 2, 0.045, 0.080, 0.004*-math.Log(0.05)),
				cpuTargetForMargin(0.4, 2, 0.060, 0.100, 0.004*-math.Log(0.01)))*100 + 1e-9)
			want := int64(math.Floor(limits/(1.1*1.5) + 1e-9))
			if float64(want) >= margin {
				t.Fatalf("the noisy peak's target %d does not bind under the margin's %v: the case tests nothing", want, margin)
			}
			wantChange(t, p, KnobHPATargetCPU, 65, want)
			if !strings.Contains(p.Predicted, "noise, 50% above its mean") {
				t.Fatalf("the prediction %q does not say what the headroom is for", p.Predicted)
			}
		}},
		{"a trend is no noise: the HPA follows it", func(in *Input) {
			saving(in)
			// rising: the newest minute is the window's peak, 40 % above its mean, and it never came back
			in.set(map[signals.Signal]float64{signals.ThroughputWindow: 800, signals.ThroughputPeak: 1120, signals.ThroughputNoise: 0})
		}, func(t *testing.T, p Plan) {
			want := int64(math.Floor(min(cpuTargetForMargin(0.4, 2, 0.045, 0.7*0.080, 0.004*-math.Log(0.05)),
				cpuTargetForMargin(0.4, 2, 0.060, 0.7*0.100, 0.004*-math.Log(0.01)))*100 + 1e-9))
			wantChange(t, p, KnobHPATargetCPU, 65, want)
		}},
		{"never above the profile's bound", func(in *Input) {
			saving(in)
			in.Spec.Autoscaling.TargetCPUUtilization.Max = 80
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPATargetCPU, 65, 80)
		}},
		{"without the CPU request: one slow step, never above 100 % of the request", func(in *Input) {
			saving(in)
			in.State.CPURequestMillis = 0
			in.State.Values[KnobHPATargetCPU] = 95
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPATargetCPU, 95, 100)
		}},
	})
}

func TestTargetForMargin(t *testing.T) {
	cases := []struct {
		name                           string
		cpu, headroom, lat, goal, tail float64
		want                           float64
	}{
		{"whole latency scales (no CPU part known)", 0.5, 2, 0.1, 0.2, 0, (1 - 0.75*0.5) * 2},
		{"only the CPU part scales", 0.5, 2, 0.1, 0.2, 0.05, (1 - 1/(1/0.75+2)) * 2},
		{"never above 90 % of the limit", 0.2, 2, 0.01, 1, 0.001, 0.9 * 2},
		{"limit = request: at most 90 % of the request", 0.2, 1, 0.01, 1, 0.001, 0.9},
		{"latency at the goal: no target", 0.5, 2, 0.2, 0.2, 0.05, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuTargetForMargin(tc.cpu, tc.headroom, tc.lat, tc.goal, tc.tail); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodsForLoad(t *testing.T) {
	cases := []struct {
		load, cost, target, req float64
		want                    int64
	}{
		{500, 0.008, 0.7, 0.5, 12}, // 4 cores ÷ 0.35 = 11.4
		{500, 0.008, 1.6, 0.5, 5},  // a target above the request
		{350, 0.008, 0.8, 0.5, 7},  // exact: 2.8 ÷ 0.4
		{0, 0.008, 0.7, 0.5, 0},
	}
	for _, tc := range cases {
		if got := PodsForLoad(tc.load, tc.cost, tc.target, tc.req); got != tc.want {
			t.Errorf("PodsForLoad(%v, %v, %v, %v) = %d, want %d", tc.load, tc.cost, tc.target, tc.req, got, tc.want)
		}
	}
}

// A window back-down, and its restore, do not hold the savings for
// SustainFor (the restore goes alone: TestScaleDownWindowRestoreIsAnUndo);
// and a target raised under the same load is not mistaken for a load drop.
func TestScaleDownWindowAndTheTargetTrim(t *testing.T) {
	window := func(in *Input) {
		loadMeasured(in)
		in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
		in.Spec.Autoscaling.TargetCPUUtilization = &v1.Int32Range{Min: 50, Max: 300}
		in.State.CPURequestMillis, in.State.CPULimitMillis = 1000, 2000
		in.SLOMetSince = t0.Add(-time.Hour)
	}
	runRules(t, []ruleCase{
		{"a window back-down 6 minutes ago does not hold the target trim", func(in *Input) {
			window(in)
			in.State.Values[KnobHPAScaleDownWindowS] = 0
			in.State.Replicas = 8
			in.set(map[signals.Signal]float64{signals.Pods: 8, signals.CPUUtilization: 0.4})
			in.History = []v1.Decision{decision(t0.Add(-20*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned,
				v1.OutcomeKept, false, change(KnobHPAScaleDownWindowS, "300", "0"))}
			rememberAll(in, in.History)
			in.History[0].Time.Time = t0.Add(-6 * time.Minute)
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPATargetCPU); !ok {
				t.Fatalf("no target trim: %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
			}
		}},
		{"pods above the need after a target raise under the same load: the window stays", func(in *Input) {
			window(in)
			in.State.Values[KnobHPAScaleDownWindowS] = 300
			in.State.Values[KnobHPATargetCPU] = 140
			in.State.Replicas = 12
			in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.5, signals.Throughput: 800})
			d := decision(t0.Add(-10*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned,
				v1.OutcomeKept, false, change(KnobHPATargetCPU, "65", "140"))
			tp := int64(780)
			d.Baseline = &v1.SLIs{Throughput: &tp}
			in.History = []v1.Decision{d}
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPAScaleDownWindowS); ok {
				t.Fatalf("the window was shortened: %+v (reason %q)", p.Changes, p.Reason)
			}
		}},
	})
}
