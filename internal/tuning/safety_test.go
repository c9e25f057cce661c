package tuning

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

func intOrString(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }

// The connection budget is what the database sees at the worst moment: a
// rollout at maxReplicas, its surge counted at maxReplicas, and the old pods
// that still hold their connections while they terminate.
func TestBudgetAtTheWorstMoment(t *testing.T) {
	budget := func(in *Input, limit int32) {
		in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: limit + 20, Reserved: 20}
	}
	runRules(t, []ruleCase{
		{"the surge is counted at maxReplicas, not at the pods running now", func(in *Input) {
			budget(in, 250)
			starvedPool(in) // 4 pods now; 25 % of them would be 1 surge pod, of maxReplicas 12 it is 3
		}, func(t *testing.T, p Plan) {
			// 12 + 3 surge running, 3 + 3 terminating: 21 pods; 250 / 21 = 11.
			wantChange(t, p, poolMaxEnv, 10, 11)
		}},
		{"terminating pods hold connections: maxUnavailable counts", func(in *Input) {
			budget(in, 180)
			starvedPool(in)
			in.State.Strategy = RolloutStrategy{MaxSurge: intOrString("0"), MaxUnavailable: intOrString("3")}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 12) // 12 running + 3 terminating: 15 pods; 180 / 15 = 12
		}},
		{"Recreate stops the old pods first", func(in *Input) {
			budget(in, 180)
			starvedPool(in)
			in.State.Strategy = RolloutStrategy{Recreate: true}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 14) // 12 pods × 14 = 168: the model's 14 fits
		}},
		{"a maxReplicas raise counts the surge at the new maxReplicas", func(in *Input) {
			budget(in, 300)
			in.State.Values[poolMaxEnv] = 12
			in.State.HPAAtMax, in.State.Replicas = true, 10
			in.State.Values[KnobHPAMaxReplicas] = 10
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.9,
				signals.Pods: 10, signals.Throughput: 2000})
		}, func(t *testing.T, p Plan) {
			// At 14: 14 + 4 running, 4 + 3 terminating = 25 pods × 12 = 300; at 15, 27 × 12.
			wantChange(t, p, KnobHPAMaxReplicas, 10, 14)
		}},
		{"someone else raised maxReplicas past the budget: reported, not repaired, not grown", func(in *Input) {
			starvedPool(in)
			in.State.Values[KnobHPAMaxReplicas] = 30 // 30 + 8 running, 8 + 7 terminating = 53 pods × 10 = 530 of 380
		}, func(t *testing.T, p Plan) {
			if !strings.Contains(p.BudgetExceeded, "= 530 of 380") || !strings.Contains(p.BudgetExceeded, "150 connections over") {
				t.Fatalf("the overshoot is not named: %q", p.BudgetExceeded)
			}
			for _, c := range p.Changes {
				if c.Knob == poolMaxEnv || c.Knob == KnobHPAMaxReplicas {
					t.Fatalf("a budget knob changed while the budget is exceeded: %+v", c)
				}
			}
		}},
		{"someone else raised the pool past the budget", func(in *Input) {
			in.State.Values[poolMaxEnv] = 20 // 21 pods × 20 = 420 of 380
			in.set(map[signals.Signal]float64{signals.PoolMax: 20})
		}, func(t *testing.T, p Plan) {
			if !strings.Contains(p.BudgetExceeded, "40 connections over") {
				t.Fatalf("the overshoot is not named: %q", p.BudgetExceeded)
			}
		}},
		{"within the budget nothing is reported", func(*Input) {}, func(t *testing.T, p Plan) {
			if p.BudgetExceeded != "" {
				t.Fatalf("reported %q", p.BudgetExceeded)
			}
		}},
	})
}

// The managed HPA comes from the engine, as a recorded change.
func TestManagedHPAIsCreatedByTheEngine(t *testing.T) {
	managed := func(in *Input) {
		in.Spec.Autoscaling.Managed = &v1.ManagedHPA{}
		in.State.HasHPA = false
		for _, k := range []Knob{KnobHPAMinReplicas, KnobHPAMaxReplicas, KnobHPATargetCPU} {
			delete(in.State.Values, k)
		}
		in.State.Replicas = 6
	}
	runRules(t, []ruleCase{
		{"minReplicas at the pods ready now, the default target within bounds", managed, func(t *testing.T, p Plan) {
			if p.Family != FamilyAutoscaling || p.Rollout {
				t.Fatalf("family %s rollout %v", p.Family, p.Rollout)
			}
			want := map[Knob]int64{KnobHPAMinReplicas: 6, KnobHPAMaxReplicas: 6, KnobHPATargetCPU: 80}
			for k, v := range want {
				if c, ok := changeOf(p, k); !ok || c.HasFrom || c.To != v {
					t.Fatalf("%s: want unset -> %d, got %+v", k, v, p.Changes)
				}
			}
			if d := p.Decision(t0); d == nil || len(d.Changes) != 3 || d.Outcome != v1.OutcomePending {
				t.Fatalf("the creation is not recorded like any change: %+v", d)
			}
		}},
		{"the CPU target stays inside the profile's bounds", func(in *Input) {
			managed(in)
			in.Spec.Autoscaling.TargetCPUUtilization = &v1.Int32Range{Min: 50, Max: 70}
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, KnobHPATargetCPU); !ok || c.To != 70 {
				t.Fatalf("want the target at 70, got %+v", p.Changes)
			}
		}},
		{"not created past the connection budget", func(in *Input) {
			managed(in)
			in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 120, Reserved: 20}
			// 6 pods: 6 + 2 running, 2 + 1 terminating = 11 × 10 = 110 of 100.
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "managed HPA not created")
		}},
		{"minReplicas never below the Deployment's spec.replicas while some pods are not ready", func(in *Input) {
			managed(in)
			in.State.SpecReplicas = 10
		}, func(t *testing.T, p Plan) {
			minR, _ := changeOf(p, KnobHPAMinReplicas)
			maxR, _ := changeOf(p, KnobHPAMaxReplicas)
			if minR.To < 10 || maxR.To < 10 {
				t.Fatalf("minReplicas %d, maxReplicas %d: the Deployment's 10 replicas would be scaled down to the 6 ready", minR.To, maxR.To)
			}
			if !strings.Contains(p.Reason, "10 replicas") {
				t.Fatalf("reason %q does not say what minReplicas starts from", p.Reason)
			}
		}},
		{"an existing HPA is not created again", func(in *Input) {
			in.Spec.Autoscaling.Managed = &v1.ManagedHPA{}
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPATargetCPU); ok && p.Diagnosis == DiagnosisStartingPoint {
				t.Fatalf("created again: %+v", p.Changes)
			}
		}},
	})
}

// rememberAll is the memory of a full history; the input keeps only its last 10 decisions, as status does.
func rememberAll(in *Input, h []v1.Decision) {
	m := MemoryFrom(h, 0)
	in.Memory = &m
	in.History = h[max(len(h)-10, 0):]
}

// autoscalingSteps are n kept autoscaling decisions every 3 minutes, the last at end.
func autoscalingSteps(n int, end time.Time) []v1.Decision {
	var h []v1.Decision
	for i := range n {
		h = append(h, decision(end.Add(-time.Duration(3*(n-1-i))*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
			v1.OutcomeKept, false, change(KnobHPATargetCPU, "66", "65")))
	}
	return h
}

// The rules look back further than status.history's 10 decisions; what they
// read outlives them.
func TestRulesRememberBeyondTheHistory(t *testing.T) {
	runRules(t, []ruleCase{
		{"an env saving paces the next for 6 hours after it left the history", func(in *Input) {
			comfortable(in)
			in.SLOMetSince = t0.Add(-3 * time.Hour)
			in.State.Replicas = 9
			in.State.Values[KnobHPATargetCPU] = 85
			in.set(map[signals.Signal]float64{signals.Pods: 9})
			in.State.Values[poolMaxEnv] = 40
			h := []v1.Decision{decision(t0.Add(-2*time.Hour), FamilyPool, DiagnosisOverProvisioned,
				v1.OutcomeKept, true, change(poolMaxEnv, "80", "40"))}
			rememberAll(in, append(h, autoscalingSteps(10, t0.Add(-time.Hour))...))
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !strings.Contains(p.Reason, "one per 6h0m0s") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"restarts that left the history still spend the rollout budget", func(in *Input) {
			starvedPool(in)
			h := []v1.Decision{
				decision(t0.Add(-50*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomeKept, true),
				decision(t0.Add(-45*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomeKept, true),
			}
			rememberAll(in, append(h, autoscalingSteps(10, t0.Add(-10*time.Minute))...))
		}, func(t *testing.T, p Plan) {
			if p.Rollout {
				t.Fatalf("a third restart within the hour: %+v", p.Changes)
			}
			holdsMention(t, p, "rollout budget spent: 2 of 2")
		}},
		{"a floor raised for a breach returns after the raise left the history", func(in *Input) {
			comfortable(in)
			in.SLOMetSince = t0.Add(-5 * time.Minute)
			h := []v1.Decision{decision(t0.Add(-90*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "3", "8"))}
			rememberAll(in, append(h, autoscalingSteps(10, t0.Add(-20*time.Minute))...))
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 8, 3)
		}},
	})
}

// The HPA's scale-down window that a back-down shortened comes back once the
// load has settled.
func TestScaleDownWindowIsRestored(t *testing.T) {
	backedDown := func(in *Input) {
		in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
		in.State.Values[KnobHPAScaleDownWindowS] = 0
		in.SLOMetSince = t0.Add(-20 * time.Minute)
		rememberAll(in, []v1.Decision{decision(t0.Add(-15*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned,
			v1.OutcomeKept, false, change(KnobHPAScaleDownWindowS, "300", "0"))})
	}
	runRules(t, []ruleCase{
		{"restored once the pods no longer far exceed the load", func(in *Input) {
			backedDown(in)
			in.SLOMetSince = t0.Add(-5 * time.Minute) // no saving due: the restore goes alone
			in.set(map[signals.Signal]float64{signals.Pods: 4, signals.CPUUtilization: 0.5, signals.Throughput: 800})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 0, 300)
			if p.Diagnosis != DiagnosisLoadSettled {
				t.Fatalf("diagnosis %s", p.Diagnosis)
			}
		}},
		{"restored within the profile's bounds", func(in *Input) {
			backedDown(in)
			in.Spec.Autoscaling.Behavior.ScaleDownStabilizationWindow.Max = dur(2 * time.Minute)
			in.set(map[signals.Signal]float64{signals.Pods: 4, signals.CPUUtilization: 0.5, signals.Throughput: 800})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 0, 120)
		}},
		{"kept short while the pods still far exceed the load", func(in *Input) {
			backedDown(in)
			in.State.Replicas = 12
			in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.2, signals.Throughput: 800})
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPAScaleDownWindowS); ok {
				t.Fatalf("restored while the load is still low: %+v", p.Changes)
			}
		}},
		{"a window a person set is left alone", func(in *Input) {
			backedDown(in)
			in.Memory, in.History = nil, nil
			in.set(map[signals.Signal]float64{signals.Pods: 4, signals.CPUUtilization: 0.5, signals.Throughput: 800})
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPAScaleDownWindowS); ok {
				t.Fatalf("changed a window navius-tuner did not lower: %+v", p.Changes)
			}
		}},
	})
}

// refused: the database accepts 40 connections; 4 pods × more than 10
// connections are refused, which shows as errors and a slow p99, while the
// pool at 10 looks saturated.
func refused(v Values) map[signals.Signal]float64 {
	pool := float64(v[poolMaxEnv])
	over := math.Max(0, 4*pool-40)
	p99 := 0.150 + over*0.004
	return map[signals.Signal]float64{
		signals.LatencyP99: p99, signals.LatencyP95: 0.5 * p99, signals.PoolWait: 0.030,
		signals.PoolInUse: math.Min(pool, 10), signals.PoolMax: pool, signals.ErrorRate: 0.001 + over*0.002,
		signals.DBCallRate: 4 * 480, signals.DBTime: 0.025, signals.Throughput: 800,
	}
}

// A raise that the database punishes is tried at most twice in 6 hours,
// not every cool-off.
func TestScenarioHarmfulRaiseIsNotRetriedInACycle(t *testing.T) {
	w := newWorld(t, refused)
	w.run(6 * time.Hour)
	var raises []string
	for _, s := range w.trace {
		if c, ok := changeOf(s.plan, poolMaxEnv); ok && c.To > c.From && !IsUndo(string(s.plan.Diagnosis)) {
			raises = append(raises, fmt.Sprintf("%s %d->%d", clock(s.at), c.From, c.To))
		}
	}
	t.Logf("attempts: %v", raises)
	if len(raises) == 0 || len(raises) > 2 {
		t.Fatalf("want 1 or 2 attempts in 6 h, got %d: %v", len(raises), raises)
	}
	if got := w.values[poolMaxEnv]; got != 10 {
		t.Fatalf("pool ended at %d, want 10 (every harmful raise undone)", got)
	}
}
