package tuning

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

type ruleCase struct {
	name  string
	setup func(in *Input)
	check func(t *testing.T, p Plan)
}

func runRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.setup(&in)
			tc.check(t, Decide(in))
		})
	}
}

// comfortable: a service far inside its SLOs for an hour, HPA sitting on its floor of 8.
func comfortable(in *Input) {
	in.SLOMetSince = t0.Add(-time.Hour)
	in.State.Values[KnobHPAMinReplicas] = 8
	in.State.Replicas = 8
	in.set(map[signals.Signal]float64{signals.Pods: 8, signals.CPUUtilization: 0.2, signals.Throughput: 800})
}

func TestRule1DiagnoseBeforeActing(t *testing.T) {
	runRules(t, []ruleCase{
		{"pool saturation raises the pool max", starvedPool, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisPoolSaturated || p.Family != FamilyPool {
				t.Fatalf("diagnosis %s family %s, want PoolSaturated/pool", p.Diagnosis, p.Family)
			}
			// Little: 400 calls/s per pod × 25 ms = 10 busy; Erlang C puts the wait under 1.6 ms at 14.
			wantChange(t, p, poolMaxEnv, 10, 14)
		}},
		{"CPU saturation jumps the HPA floor to the replicas the load needs", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.95})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCPUSaturated {
				t.Fatalf("diagnosis %s, want CPUSaturated", p.Diagnosis)
			}
			// 4 pods × 95 % ÷ 65 % = 5.8 -> 6 pods, in one step (not 50 % of 3).
			wantChange(t, p, KnobHPAMinReplicas, 3, 6)
		}},
		{"CPU saturation with the floor at maxReplicas lowers the HPA's CPU target", func(in *Input) {
			in.State.Values[KnobHPAMaxReplicas] = 4
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.95})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPATargetCPU, 65, 55)
		}},
		{"warming pods: no cache diagnosis while the newest pod is younger than the window", func(in *Input) {
			in.Spec.SLO.Window = dur(5 * time.Minute)
			in.State.PodsWarmSince = t0.Add(-30 * time.Second)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.31, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Diagnosis != DiagnosisUnknown || !strings.Contains(p.Reason, "pods warming (newest ready 30s ago, window 5m0s)") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
		}},
		{"warm pods: the cache diagnosis applies once the window is past their start", func(in *Input) {
			in.State.PodsWarmSince = t0.Add(-6 * time.Minute)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.31, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses {
				t.Fatalf("diagnosis %s, want CacheMisses", p.Diagnosis)
			}
		}},
		{"cache misses with a low L2 hit ratio: L2's TTL outlives the L1 TTL the step leaves, not only ×4", func(in *Input) {
			in.State.Values[l1TTLEnv], in.State.Values[l2TTLEnv] = 300, 30
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.2, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			l1 := valueAfter(p, l1TTLEnv, 300)
			c, ok := changeOf(p, l2TTLEnv)
			if p.Diagnosis != DiagnosisCacheMisses || !ok {
				t.Fatalf("diagnosis %s, changes %+v: want L2's TTL raised", p.Diagnosis, p.Changes)
			}
			if c.To < l1 || c.To <= 4*30 {
				t.Fatalf("L2 TTL 30 -> %d under the L1 TTL %d: an L1 entry expired by age is gone from L2 too", c.To, l1)
			}
		}},
		{"cache misses with a saturated pool: the cache goes first", func(in *Input) {
			starvedPool(in)
			in.set(map[signals.Signal]float64{signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.4, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || p.Family != FamilyCache {
				t.Fatalf("diagnosis %s family %s, want CacheMisses/cache", p.Diagnosis, p.Family)
			}
		}},
		{"cache misses with a pool below the guide's starting point: one rollout carries both env remedies", func(in *Input) {
			starvedPool(in)
			in.State.CPULimitMillis = 8000 // starting point 2 × 8 = 16 connections; the pool has 10
			in.set(map[signals.Signal]float64{signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.4, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, itemsEnv); !ok || !p.Rollout {
				t.Fatalf("no cache change in one rollout: %+v", p.Changes)
			}
			if c, ok := changeOf(p, poolMaxEnv); !ok || c.To <= c.From {
				t.Fatalf("the pool raise did not ride along: %+v", p.Changes)
			}
			if !strings.Contains(p.Reason, "; also pool saturated") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"cache misses with a saturated pool at the guide's starting point: the pool waits for the cache's verdict", func(in *Input) {
			starvedPool(in) // pool 10, starting point max(2 × 2 cores, 5) = 5
			in.set(map[signals.Signal]float64{signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.4, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if p.Family != FamilyCache || !p.Rollout {
				t.Fatalf("family %s rollout %v, want the cache in one rollout", p.Family, p.Rollout)
			}
			if _, ok := changeOf(p, poolMaxEnv); ok {
				t.Fatalf("the pool rode along: %+v", p.Changes)
			}
			holdsMention(t, p, "waits for the cache's verdict")
		}},
		{"a switched-off cache is diagnosed even while pods warm", func(in *Input) {
			in.State.PodsWarmSince = t0.Add(-30 * time.Second)
			in.State.Values[itemsEnv], in.State.Values[l1TTLEnv], in.State.Values[l2TTLEnv] = 0, 0, 0
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0, signals.RedisHitRatio: 0, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses {
				t.Fatalf("diagnosis %s, want CacheMisses", p.Diagnosis)
			}
		}},
		{"a cache that is off starts at the guide's values", func(in *Input) {
			in.State.Values[itemsEnv], in.State.Values[l1TTLEnv], in.State.Values[l2TTLEnv] = 0, 0, 0
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0, signals.RedisHitRatio: 0, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, itemsEnv, 0, StartMemoryMaxItems)
			wantChange(t, p, l1TTLEnv, 0, StartMemoryTTLSeconds)
			wantChange(t, p, l2TTLEnv, 0, StartRedisTTLSeconds)
			if !p.Rollout || len(p.Changes) != 3 {
				t.Fatalf("want one rollout with the three cache knobs, got %+v", p.Changes)
			}
		}},
		{"HPA pinned at max raises maxReplicas", func(in *Input) {
			in.State.HPAAtMax, in.State.Replicas = true, 12
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.8,
				signals.Pods: 12, signals.Throughput: 2400})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisHPAAtMax {
				t.Fatalf("diagnosis %s, want HPAAtMax", p.Diagnosis)
			}
			// 2400/s ÷ (200/s per pod × 65/80) = 14.8 -> 15 pods.
			wantChange(t, p, KnobHPAMaxReplicas, 12, 15)
		}},
		{"low hit ratio with a costly miss grows the caches in one jump, not maxStepPercent steps", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.5,
				signals.RedisHitRatio: 0.4, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || p.Family != FamilyCache {
				t.Fatalf("diagnosis %s family %s, want CacheMisses/cache", p.Diagnosis, p.Family)
			}
			if c, ok := changeOf(p, itemsEnv); !ok || c.To <= c.From {
				t.Fatalf("L1 items not raised: %+v", p.Changes)
			}
			wantChange(t, p, l2TTLEnv, 300, 1200) // ×4 per rollout, not bounded by maxStepPercent
		}},
		{"low hit ratio with a cheap miss is not a cache problem", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.5, signals.DBTime: 0.002})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis == DiagnosisCacheMisses || p.Family == FamilyCache {
				t.Fatalf("diagnosis %s family %s, want no cache diagnosis (reason %q)", p.Diagnosis, p.Family, p.Reason)
			}
		}},
		{"Redis saturation adds a replica", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.RedisCPU: 0.9})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisRedisSaturated {
				t.Fatalf("diagnosis %s, want RedisSaturated", p.Diagnosis)
			}
			wantChange(t, p, KnobRedisReplicas, 2, 3)
			if p.Rollout {
				t.Fatal("Redis replicas do not restart the pods")
			}
		}},
		{"no diagnosis: the plan says what was checked, and experiments", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisExperiment || !strings.Contains(p.Reason, "no bottleneck found (pool wait 200µs") ||
				!strings.Contains(p.Reason, "p99 180ms > 100ms") || !strings.Contains(p.Reason, "experiment: one step on") {
				t.Fatalf("diagnosis %s reason %q", p.Diagnosis, p.Reason)
			}
		}},
		{"saturation without a breach changes nothing", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.PoolInUse: 10, signals.PoolWait: 0.003})
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !p.SLOMet || p.Diagnosis != DiagnosisNone {
				t.Fatalf("SLOMet %v diagnosis %s", p.SLOMet, p.Diagnosis)
			}
		}},
	})
}

func TestRule2OneFamilyPerStepBoundedThenSettle(t *testing.T) {
	runRules(t, []ruleCase{
		{"several bottlenecks, one family", func(in *Input) {
			starvedPool(in)
			in.set(map[signals.Signal]float64{signals.CPUUtilization: 0.95, signals.RedisCPU: 0.9})
		}, func(t *testing.T, p Plan) {
			if p.Family != FamilyPool {
				t.Fatalf("family %s, want pool (diagnosed first)", p.Family)
			}
			for _, c := range p.Changes {
				if k, _ := knobsOf(fullSpec()).get(c.Knob); k.family != FamilyPool {
					t.Fatalf("change %s is not in the pool family", c.Knob)
				}
			}
		}},
		{"a step is at most maxStepPercent", func(in *Input) {
			starvedPool(in)
			in.State.Values[poolMaxEnv] = 6
			in.set(map[signals.Signal]float64{signals.PoolInUse: 6})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 6, 9) // the model wants 14; 50 % of 6 is 3
		}},
		{"a step stays within the knob's bounds", func(in *Input) {
			starvedPool(in)
			in.State.Values[poolMaxEnv] = 90
			in.set(map[signals.Signal]float64{signals.PoolInUse: 90, signals.DBCallRate: 16000})
			in.Spec.ConnectionPool.Database = nil // no budget: only the bounds limit
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 90, 100)
		}},
		{"increase fast, decrease slowly", comfortable, func(t *testing.T, p Plan) {
			// the load needs 3 pods; a reduction moves 50/4 = 12 % (at least 1) per step
			wantChange(t, p, KnobHPAMinReplicas, 8, 7)
		}},
		{"nothing changes during a rollout", func(in *Input) {
			starvedPool(in)
			in.State.RolloutInProgress = true
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "rollout in progress")
		}},
		{"nothing changes before settleTime has passed", func(in *Input) {
			starvedPool(in)
			in.History = []v1.Decision{decision(t0.Add(-2*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "2", "3"))}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "settling until 12:01:00")
		}},
		{"settling lasts at least the SLO window, so no verdict uses data from before the change", func(in *Input) {
			starvedPool(in)
			in.Spec.SLO.Window = dur(5 * time.Minute)
			in.History = []v1.Decision{decision(t0.Add(-4*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "2", "3"))}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "settling until 12:01:00")
		}},
		{"acts once settleTime has passed", func(in *Input) {
			starvedPool(in)
			in.History = []v1.Decision{decision(t0.Add(-3*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "2", "3"))}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 14)
		}},
	})
}

// pendingPoolRaise is a pool raise 10 -> 15 made 4 minutes ago with p99 at 150 ms.
func pendingPoolRaise(in *Input, p99After float64) {
	before := healthy(t0.Add(-4 * time.Minute))
	before.Set(signals.LatencyP99, 0.150, before.Time)
	before.Set(signals.LatencyP95, 0.070, before.Time)
	d := decision(t0.Add(-4*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomePending, true,
		change(poolMaxEnv, "10", "15"))
	d.Baseline = SLIsOf(before)
	in.History = []v1.Decision{d}
	in.State.Values[poolMaxEnv] = 15
	in.set(map[signals.Signal]float64{signals.LatencyP99: p99After, signals.LatencyP95: 0.070})
}

// pendingCacheRaise is an L1 raise 10000 -> 40000 (TTL 600 s) made ago, with
// the pods ready 3 minutes ago: L1 hit 50 % -> 65 %, L2 hit 30 %, p95 120 -> 200 ms.
func pendingCacheRaise(in *Input, ago time.Duration) {
	before := healthy(t0.Add(-ago))
	before.Set(signals.LatencyP95, 0.120, before.Time)
	before.Set(signals.MemoryHitRatio, 0.50, before.Time)
	before.Set(signals.RedisHitRatio, 0.30, before.Time)
	before.Set(signals.ErrorRate, 0.01, before.Time)
	d := decision(t0.Add(-ago), FamilyCache, DiagnosisCacheMisses, v1.OutcomePending, true,
		change(itemsEnv, "10000", "40000"), change(l1TTLEnv, "60", "600"))
	d.Baseline = SLIsOf(before)
	in.History = []v1.Decision{d}
	in.State.Values[itemsEnv], in.State.Values[l1TTLEnv] = 40000, 600
	in.State.PodsWarmSince = t0.Add(-3 * time.Minute)
	in.set(map[signals.Signal]float64{signals.LatencyP95: 0.200, signals.MemoryHitRatio: 0.65,
		signals.RedisHitRatio: 0.30, signals.ErrorRate: 0.005})
}

func TestRule3VerifyAndRollBack(t *testing.T) {
	runRules(t, []ruleCase{
		{"a regression restores the previous value", func(in *Input) { pendingPoolRaise(in, 0.200) }, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 15, 10)
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeRolledBack || p.Diagnosis != DiagnosisRegression {
				t.Fatalf("judgement %+v diagnosis %s", p.Judgement, p.Diagnosis)
			}
			if !strings.Contains(p.Judgement.Observed, "p99 150ms -> 200ms") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"a change that helped is kept", func(in *Input) { pendingPoolRaise(in, 0.090) }, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept {
				t.Fatalf("judgement %+v", p.Judgement)
			}
			if _, undone := changeOf(p, poolMaxEnv); undone {
				t.Fatalf("a kept change was touched: %+v", p.Changes)
			}
		}},
		{"a change that did not help and costs more is reverted", func(in *Input) {
			pendingPoolRaise(in, 0.148)
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 15, 10)
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeReverted || p.Diagnosis != DiagnosisNoImprovement {
				t.Fatalf("judgement %+v diagnosis %s", p.Judgement, p.Diagnosis)
			}
			// The undo carries its evidence: it predicts the SLIs from
			// before the change it undoes.
			if want := "as before the pool change of 11:56:00: p99 150ms"; !strings.HasPrefix(p.Predicted, want) {
				t.Fatalf("predicted %q, want it to start with %q", p.Predicted, want)
			}
		}},
		{"an undo's verdict compares the SLIs after it with those before it", func(in *Input) {
			before := healthy(t0.Add(-4 * time.Minute))
			before.Set(signals.LatencyP99, 0.148, before.Time)
			d := decision(t0.Add(-4*time.Minute), FamilyPool, DiagnosisNoImprovement, v1.OutcomePending, true,
				change(poolMaxEnv, "15", "10"))
			d.Baseline = SLIsOf(before)
			in.History = []v1.Decision{d}
			in.State.Values[poolMaxEnv] = 10
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.150})
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept ||
				!strings.HasPrefix(p.Judgement.Observed, "previous values restored: p99 148ms -> 150ms") {
				t.Fatalf("judgement %+v", p.Judgement)
			}
		}},
		{"no verdict before settleTime", func(in *Input) {
			pendingPoolRaise(in, 0.200)
			in.History[0].Time.Time = t0.Add(-time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Judgement != nil {
				t.Fatalf("judged too early: %+v", p.Judgement)
			}
		}},
		{"no verdict on an observation made before the change settled, though it is served after", func(in *Input) {
			pendingPoolRaise(in, 0.200)
			// The change at 11:56 settles at 11:59 (its 3-minute settle
			// time); the engine runs at 12:00 on a batch evaluated at 11:58:30.
			in.Observation.Time = t0.Add(-90 * time.Second)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Judgement != nil {
				t.Fatalf("judged on a window that ends before the change settled: %+v", p.Judgement)
			}
			holdsMention(t, p, "the observation was made at 11:58:30")
		}},
		{"the verdict comes once the observation's window ends a settle time after the change", func(in *Input) {
			pendingPoolRaise(in, 0.200)
			in.Observation.Time = t0.Add(-30 * time.Second)
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeRolledBack {
				t.Fatalf("judgement %+v", p.Judgement)
			}
		}},
		{"a rolled-back move backs off", func(in *Input) {
			starvedPool(in)
			in.History = []v1.Decision{decision(t0.Add(-20*time.Minute), FamilyPool, DiagnosisPoolSaturated,
				v1.OutcomeRolledBack, true, change(poolMaxEnv, "10", "15"))}
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, poolMaxEnv); ok {
				t.Fatalf("the rolled-back move was repeated: %+v", p.Changes)
			}
			holdsMention(t, p, "backing off until 12:10:00") // the raise at 11:40 + 30 min
		}},
		{"the back-off ends", func(in *Input) {
			starvedPool(in)
			in.History = []v1.Decision{decision(t0.Add(-31*time.Minute), FamilyPool, DiagnosisPoolSaturated,
				v1.OutcomeRolledBack, true, change(poolMaxEnv, "10", "15"))}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 14)
		}},
		{"a rollback is never rolled back", func(in *Input) {
			pendingPoolRaise(in, 0.300)
			in.History[0].Diagnosis = string(DiagnosisRegression)
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept {
				t.Fatalf("judgement %+v", p.Judgement)
			}
			if c, ok := changeOf(p, poolMaxEnv); ok && c.To < c.From {
				t.Fatalf("rolled back a rollback: %+v", c)
			}
		}},
		{"rollbackOnRegression false keeps the change", func(in *Input) {
			pendingPoolRaise(in, 0.200)
			off := false
			in.Spec.Guardrails.RollbackOnRegression = &off
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept ||
				!strings.Contains(p.Judgement.Observed, "rollbackOnRegression is off") {
				t.Fatalf("judgement %+v", p.Judgement)
			}
			if c, ok := changeOf(p, poolMaxEnv); ok && c.To < c.From {
				t.Fatalf("rolled back although disabled: %+v", c)
			}
		}},
		{"a cache change is judged once the caches have filled while fewer requests reach the database", func(in *Input) {
			pendingCacheRaise(in, 4*time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Judgement != nil {
				t.Fatalf("judged while the caches fill: %+v", p.Judgement)
			}
			// newest pod ready 3 minutes ago, L1 TTL 600 s: full at t0 + 7 min
			holdsMention(t, p, "judged once the caches have filled, at 12:07:00")
			holdsMention(t, p, "requests reaching the database 35% -> 24%")
		}},
		{"a cache change is judged when the caches have filled", func(in *Input) {
			pendingCacheRaise(in, 12*time.Minute)
			in.State.PodsWarmSince = t0.Add(-11 * time.Minute) // full at t0 - 1 min
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, itemsEnv, 40000, 10000)
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeRolledBack {
				t.Fatalf("judgement %+v", p.Judgement)
			}
		}},
		{"the wait for the caches is bounded by 4 × settleTime", func(in *Input) {
			pendingCacheRaise(in, 14*time.Minute)
			in.State.Values[l2TTLEnv] = 3600
			in.State.PodsWarmSince = t0.Add(-13 * time.Minute) // not full before t0 + 47 min, judged at t0 - 1 min
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeRolledBack {
				t.Fatalf("judgement %+v", p.Judgement)
			}
		}},
		{"a cache change that sends no fewer requests to the database is judged at once", func(in *Input) {
			pendingCacheRaise(in, 4*time.Minute)
			in.set(map[signals.Signal]float64{signals.MemoryHitRatio: 0.50})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, itemsEnv, 40000, 10000)
		}},
		{"a cache change that raised the errors is judged at once", func(in *Input) {
			pendingCacheRaise(in, 4*time.Minute)
			in.set(map[signals.Signal]float64{signals.ErrorRate: 0.02})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, itemsEnv, 40000, 10000)
		}},
		{"a saving that lost the margin is rolled back", func(in *Input) {
			d := decision(t0.Add(-4*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomePending, false,
				change(KnobHPAMinReplicas, "4", "3"))
			d.Baseline = SLIsOf(healthy(t0.Add(-4 * time.Minute)))
			in.History = []v1.Decision{d}
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.092})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 3, 4)
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeRolledBack {
				t.Fatalf("judgement %+v", p.Judgement)
			}
		}},
	})
}

func TestRule4BudgetsAndCouplings(t *testing.T) {
	budget := func(in *Input) {
		in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 200, Reserved: 20}
		one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
		in.State.Strategy = RolloutStrategy{MaxSurge: &one, MaxUnavailable: &zero}
	}
	runRules(t, []ruleCase{
		{"a pool raise stops at the connection budget", func(in *Input) {
			budget(in)
			starvedPool(in)
		}, func(t *testing.T, p Plan) {
			// A rollout at 12 pods: 13 running + 1 terminating = 14 pods; × 12 = 168 <= 180, × 13 = 182.
			wantChange(t, p, poolMaxEnv, 10, 12)
		}},
		{"a pool at the budget is held and the plan says why", func(in *Input) {
			budget(in)
			starvedPool(in)
			in.State.Values[poolMaxEnv] = 12
			in.set(map[signals.Signal]float64{signals.PoolInUse: 12})
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, poolMaxEnv); ok {
				t.Fatalf("raised the pool past the budget: %+v", p.Changes)
			}
			holdsMention(t, p, "connection budget: a rollout at 12 pods peaks at 13 running + 1 terminating pods × 13 = 182 of 180")
			if p.BudgetExceeded != "" {
				t.Fatalf("the pool fits the budget, yet: %s", p.BudgetExceeded)
			}
		}},
		{"a maxReplicas raise stops at the connection budget", func(in *Input) {
			budget(in)
			in.State.Values[poolMaxEnv] = 13
			in.State.HPAAtMax, in.State.Replicas = true, 10
			in.State.Values[KnobHPAMaxReplicas] = 10
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.9,
				signals.Pods: 10, signals.Throughput: 2000})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMaxReplicas, 10, 11) // (11 + 1 surge + 1 terminating) × 13 = 169; at 12, 182
		}},
		{"env changes wait for the rollout budget", func(in *Input) {
			starvedPool(in)
			in.History = []v1.Decision{
				decision(t0.Add(-50*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomeKept, true),
				decision(t0.Add(-20*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomeKept, true),
			}
		}, func(t *testing.T, p Plan) {
			if p.Rollout || len(p.Changes) > 0 && IsEnvFamily(p.Family) {
				t.Fatalf("a third rollout within the hour: %+v", p.Changes)
			}
			holdsMention(t, p, "rollout budget spent: 2 of 2")
		}},
		{"rollouts older than an hour do not count", func(in *Input) {
			starvedPool(in)
			in.History = []v1.Decision{
				decision(t0.Add(-61*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomeKept, true),
				decision(t0.Add(-20*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomeKept, true),
			}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 14)
		}},
		// Every restart counts: a raise and its rollback spend the budget of 2.
		{"rollbacks are charged to the rollout budget", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.5,
				signals.RedisHitRatio: 0.4, signals.DBTime: 0.030})
			in.History = []v1.Decision{
				decision(t0.Add(-40*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomeRolledBack, true, change(poolMaxEnv, "10", "15")),
				decision(t0.Add(-35*time.Minute), FamilyPool, DiagnosisRegression, v1.OutcomeKept, true, change(poolMaxEnv, "15", "10")),
			}
		}, func(t *testing.T, p Plan) {
			if p.Rollout || len(p.Changes) > 0 && IsEnvFamily(p.Family) {
				t.Fatalf("a third restart within the hour: %+v", p.Changes)
			}
			holdsMention(t, p, "rollout budget spent: 2 of 2 restarts in the last hour (rollbacks count); the next may start at 12:20:00")
			if !strings.Contains(p.RolloutBudgetSpent, "until 12:20:00") {
				t.Fatalf("the plan does not say the profile holds: %q", p.RolloutBudgetSpent)
			}
		}},
		{"a rollback is not held by the rollout budget", func(in *Input) {
			pendingPoolRaise(in, 0.200)
			in.History = append([]v1.Decision{
				decision(t0.Add(-50*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomeKept, true),
			}, in.History...)
			in.History = append([]v1.Decision{
				decision(t0.Add(-55*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomeKept, true),
			}, in.History...)
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 15, 10)
			// 11:05, 11:10 and the raise at 11:56 (pendingPoolRaise) are three restarts, the
			// rollback a fourth: the next may start when all but one are an hour old.
			if !strings.Contains(p.RolloutBudgetSpent, "4 of 2 restarts") || !strings.Contains(p.RolloutBudgetSpent, "until 12:56:00") {
				t.Fatalf("after the rollback the profile must say it holds: %q", p.RolloutBudgetSpent)
			}
		}},
		{"env changes of one family go out in one rollout", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.5,
				signals.RedisHitRatio: 0.4, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			if len(p.Changes) < 2 || !p.Rollout {
				t.Fatalf("want several cache knobs in one rollout, got %+v rollout=%v", p.Changes, p.Rollout)
			}
		}},
	})
}

func TestRule5SaveCostOnlyWithMargin(t *testing.T) {
	runRules(t, []ruleCase{
		{"the HPA floor is trimmed first", comfortable, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisOverProvisioned {
				t.Fatalf("diagnosis %s", p.Diagnosis)
			}
			wantChange(t, p, KnobHPAMinReplicas, 8, 7)
		}},
		{"then the HPA's CPU target, when the HPA scales above its floor", func(in *Input) {
			comfortable(in)
			loadMeasured(in)
			in.State.Replicas = 9
			in.set(map[signals.Signal]float64{signals.Pods: 9})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPATargetCPU, 65, 72) // a slow step: 12 % of 65
		}},
		{"then Redis replicas", func(in *Input) {
			comfortable(in)
			in.State.Replicas = 9 // the HPA runs above its floor: trimming it saves nothing
			in.State.Values[KnobHPATargetCPU] = 85
			in.set(map[signals.Signal]float64{signals.Pods: 9, signals.RedisCPU: 0.1})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobRedisReplicas, 2, 1)
		}},
		{"then the pool, in one batched trim of at most maxStepPercent", func(in *Input) {
			comfortable(in)
			in.State.Replicas = 9
			in.State.Values[KnobHPATargetCPU] = 85
			in.set(map[signals.Signal]float64{signals.Pods: 9})
			in.State.Values[poolMaxEnv] = 40
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 40, 20) // 50 % of 40, towards what 4 busy connections need
		}},
		{"a pool trim too small for a rolling restart is not made", func(in *Input) {
			comfortable(in)
			in.State.Replicas = 9
			in.State.Values[KnobHPATargetCPU] = 85
			in.set(map[signals.Signal]float64{signals.Pods: 9})
			in.State.Values[poolMaxEnv] = 7
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !strings.Contains(p.Reason, "pool trim 7 -> 6 is not worth a rolling restart") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"an env saving waits until the SLOs have held for an hour", func(in *Input) {
			comfortable(in)
			in.SLOMetSince = t0.Add(-30 * time.Minute)
			in.State.Replicas = 9
			in.State.Values[KnobHPATargetCPU] = 85
			in.set(map[signals.Signal]float64{signals.Pods: 9})
			in.State.Values[poolMaxEnv] = 40
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !strings.Contains(p.Reason, "waits until the SLOs have held for 1h0m0s") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"at most one env saving per 6 hours", func(in *Input) {
			comfortable(in)
			in.SLOMetSince = t0.Add(-3 * time.Hour)
			in.State.Replicas = 9
			in.State.Values[KnobHPATargetCPU] = 85
			in.set(map[signals.Signal]float64{signals.Pods: 9})
			in.State.Values[poolMaxEnv] = 40
			in.History = []v1.Decision{decision(t0.Add(-2*time.Hour), FamilyPool, DiagnosisOverProvisioned,
				v1.OutcomeKept, true, change(poolMaxEnv, "80", "40"))}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !strings.Contains(p.Reason, "one per 6h0m0s") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"back-down: a floor raised for a breach returns when the load drops, without the long hold", func(in *Input) {
			comfortable(in)
			in.SLOMetSince = t0.Add(-5 * time.Minute)
			in.History = []v1.Decision{decision(t0.Add(-20*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "3", "8"))}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 8, 3)
			if p.Diagnosis != DiagnosisOverProvisioned {
				t.Fatalf("diagnosis %s", p.Diagnosis)
			}
		}},
		{"back-down: a floor set by a person is not reset", func(in *Input) {
			comfortable(in)
			in.SLOMetSince = t0.Add(-5 * time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
		}},
		{"back-down: the HPA's scale-down window is shortened when the pods far exceed the load's need", func(in *Input) {
			in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
			in.SLOMetSince = t0.Add(-5 * time.Minute)
			in.State.Values[KnobHPAScaleDownWindowS] = 300
			in.State.Replicas = 12
			in.State.HPAHeldByWindow = true
			in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.2, signals.Throughput: 800, signals.ThroughputNoise: 0})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 0) // 12 pods, the load needs 4: the profile's minimum window
		}},
		{"back-down: floor and window move in one autoscaling plan", func(in *Input) {
			in.Spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(0), Max: dur(10 * time.Minute)}}
			in.SLOMetSince = t0.Add(-5 * time.Minute)
			in.State.Values[KnobHPAMinReplicas] = 10
			in.State.Replicas = 12
			in.State.HPAHeldByWindow = true
			in.set(map[signals.Signal]float64{signals.Pods: 12, signals.CPUUtilization: 0.2, signals.Throughput: 800, signals.ThroughputNoise: 0})
			in.History = []v1.Decision{decision(t0.Add(-20*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "3", "10"))}
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 10, 3)
			// the HPA has no behaviour: from the upstream 300 s to the profile's minimum
			wantChange(t, p, KnobHPAScaleDownWindowS, 300, 0)
		}},
		{"no back-down without margin", func(in *Input) {
			comfortable(in)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.080})
			in.History = []v1.Decision{decision(t0.Add(-20*time.Minute), FamilyAutoscaling, DiagnosisCPUSaturated,
				v1.OutcomeKept, false, change(KnobHPAMinReplicas, "3", "8"))}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
		}},
		{"one thing at a time", comfortable, func(t *testing.T, p Plan) {
			only(t, p)
		}},
		{"no saving without margin", func(in *Input) {
			comfortable(in)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.080})
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
		}},
		{"no saving before the SLOs held long enough", func(in *Input) {
			comfortable(in)
			in.Spec.SLO.Window = dur(5 * time.Minute) // the SLOs must hold for 3 windows
			in.SLOMetSince = t0.Add(-10 * time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "saving waits until the SLOs have held for 15m0s")
		}},
		{"no saving soon after another change", func(in *Input) {
			comfortable(in)
			in.Spec.SLO.Window = dur(5 * time.Minute) // savings are 3 windows apart
			in.History = []v1.Decision{decision(t0.Add(-10*time.Minute), FamilyRedis, DiagnosisOverProvisioned,
				v1.OutcomeKept, false, change(KnobRedisReplicas, "3", "2"))}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "saving waits until 12:05:00")
		}},
		{"no saving while an SLO is breached", func(in *Input) {
			comfortable(in)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.120})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis == DiagnosisOverProvisioned {
				t.Fatalf("a saving in a breach: %+v (reason %q)", p.Changes, p.Reason)
			}
			for _, c := range p.Changes {
				if c.To < c.From {
					t.Fatalf("a reduction in a breach: %+v (reason %q)", c, p.Reason)
				}
			}
		}},
	})
}

func TestRule6MissingDataMeansHold(t *testing.T) {
	runRules(t, []ruleCase{
		{"an SLI that could not be read", func(in *Input) {
			starvedPool(in)
			in.Observation.SetMissing(signals.LatencyP99, signals.ReasonEndpointDown, "connection refused")
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "latencyP99: EndpointDown: connection refused")
			if p.SLOKnown {
				t.Fatal("SLOKnown with p99 missing")
			}
		}},
		{"a NaN sample", func(in *Input) {
			starvedPool(in)
			in.Observation.Values[signals.PoolWait] = signals.Value{Value: nan(), At: t0}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "poolWait: NaN")
		}},
		{"a stale sample (the reader's rule): its family is unknown, and it could be what saturates the pool", func(in *Input) {
			starvedPool(in)
			in.Observation.Values[signals.CPUUtilization] = signals.Value{Value: 0.5, At: t0.Add(-5 * time.Minute)}
			in.Observation.Expire(signals.Freshness{})
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			holdsMention(t, p, "cpuUtilization: Stale: newest sample is 5m0s older than the query")
			if !strings.Contains(p.Reason, "autoscaling is unknown and could be the cause") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"never a reduction in the dark: a family without its signals is not trimmed", func(in *Input) {
			comfortable(in)
			in.State.Values[KnobHPAMinReplicas] = 3 // nothing to trim in autoscaling
			in.set(map[signals.Signal]float64{signals.RedisCPU: 0.05})
			delete(in.Observation.Values, signals.RedisCPU)
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobRedisReplicas); ok {
				t.Fatalf("Redis trimmed without its CPU: %+v", p.Changes)
			}
			holdsMention(t, p, "redis (holds redisReplicas): redisCPU: not observed")
		}},
		{"a family without its signals does not stop another family's saving", func(in *Input) {
			comfortable(in)
			delete(in.Observation.Values, signals.RedisCPU)
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 8, 7)
		}},
		{"no reduction while the family's own signals are missing", func(in *Input) {
			comfortable(in)
			delete(in.Observation.Values, signals.CPUUtilization)
		}, func(t *testing.T, p Plan) {
			for _, c := range p.Changes {
				if k, _ := knobsOf(fullSpec()).get(c.Knob); k.family == FamilyAutoscaling {
					t.Fatalf("autoscaling changed without CPU: %+v", p.Changes)
				}
			}
		}},
		{"no verdict in the dark", func(in *Input) {
			pendingPoolRaise(in, 0.200)
			in.Observation.SetMissing(signals.ErrorRate, signals.ReasonEmpty, "")
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Judgement != nil {
				t.Fatalf("judged without data: %+v", p.Judgement)
			}
		}},
		{"a signal the profile does not use does not hold", func(in *Input) {
			starvedPool(in)
			in.Observation.SetMissing(signals.LatencyP999, signals.ReasonEmpty, "")
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 14)
		}},
	})
}

func TestRule7StartingPointsFromTheGuide(t *testing.T) {
	unset := func(ks ...Knob) func(in *Input) {
		return func(in *Input) {
			for _, k := range ks {
				delete(in.State.Values, k)
			}
		}
	}
	runRules(t, []ruleCase{
		{"pool max is 2 × cores of the CPU limit", func(in *Input) {
			unset(poolMaxEnv)(in)
			in.State.CPULimitMillis = 4000
		}, func(t *testing.T, p Plan) {
			c := only(t, p)
			if c.Knob != poolMaxEnv || c.HasFrom || c.To != 8 || p.Diagnosis != DiagnosisStartingPoint || !p.Rollout {
				t.Fatalf("got %+v diagnosis %s", c, p.Diagnosis)
			}
		}},
		{"pool max is at least 5", func(in *Input) {
			unset(poolMaxEnv)(in)
			in.State.CPULimitMillis = 1500 // 2 cores -> 4 -> 5
		}, func(t *testing.T, p Plan) {
			if c := only(t, p); c.To != 5 {
				t.Fatalf("got %+v, want 5", c)
			}
		}},
		{"pool max waits for a known CPU limit", func(in *Input) {
			unset(poolMaxEnv)(in)
			in.State.CPULimitMillis = 0
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, poolMaxEnv); ok {
				t.Fatalf("set a pool size without a CPU limit: %+v", p.Changes)
			}
		}},
		{"worker threads are the cores", func(in *Input) {
			in.Spec.WorkerThreads = &v1.IntEnvKnob{Env: string(workersEnv), Min: 1, Max: 64}
			in.State.CPULimitMillis = 3000
		}, func(t *testing.T, p Plan) {
			if c := only(t, p); c.Knob != workersEnv || c.To != 3 {
				t.Fatalf("got %+v, want %s = 3", c, workersEnv)
			}
		}},
		{"caches start at 10,000 items / 60 s and 300 s", unset(itemsEnv, l1TTLEnv, l2TTLEnv), func(t *testing.T, p Plan) {
			want := map[Knob]int64{itemsEnv: 10000, l1TTLEnv: 60, l2TTLEnv: 300}
			if len(p.Changes) != 3 || p.Family != FamilyCache {
				t.Fatalf("got %+v", p.Changes)
			}
			for _, c := range p.Changes {
				if c.To != want[c.Knob] {
					t.Fatalf("%s = %d, want %d", c.Knob, c.To, want[c.Knob])
				}
			}
		}},
		{"starting points are clamped to the bounds", func(in *Input) {
			unset(itemsEnv)(in)
			in.Spec.Cache.Memory.MaxItems.Min = 20000
		}, func(t *testing.T, p Plan) {
			if c := only(t, p); c.To != 20000 {
				t.Fatalf("got %+v, want 20000", c)
			}
		}},
		{"an unset pool under a breach starts from the guide", func(in *Input) {
			starvedPool(in)
			unset(poolMaxEnv)(in)
		}, func(t *testing.T, p Plan) {
			if c := only(t, p); c.Knob != poolMaxEnv || c.To != 5 || p.Diagnosis != DiagnosisPoolSaturated {
				t.Fatalf("got %+v diagnosis %s", c, p.Diagnosis)
			}
		}},
	})
}

func TestRule8ModesShareOnePlan(t *testing.T) {
	for _, setup := range []func(*Input){starvedPool, comfortable} {
		var plans []Plan
		for _, m := range []v1.Mode{v1.ModeAuto, v1.ModeRecommend, v1.ModeOff, ""} {
			in := baseInput()
			setup(&in)
			in.Spec.Mode = m
			plans = append(plans, Decide(in))
		}
		if len(plans[0].Changes) == 0 {
			t.Fatal("the fixture should produce a change")
		}
		for i := 1; i < len(plans); i++ {
			if !reflect.DeepEqual(plans[0], plans[i]) {
				t.Fatalf("mode changed the plan:\n%+v\n%+v", plans[0], plans[i])
			}
		}
	}
}

func TestEstimateDontGrope(t *testing.T) {
	wide := func(in *Input) { in.Spec.Guardrails.MaxStepPercent = 400 }
	runRules(t, []ruleCase{
		{"the pool jumps to the Erlang C size", func(in *Input) {
			wide(in)
			starvedPool(in)
		}, func(t *testing.T, p Plan) {
			want := poolSizeFor(400, 0.025, 0.02*0.080)
			wantChange(t, p, poolMaxEnv, 10, want)
			if !strings.Contains(p.Predicted, "Erlang C") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
		{"the HPA floor jumps to the replicas the load needs", func(in *Input) {
			wide(in)
			in.State.Replicas = 2
			in.State.Values[KnobHPAMinReplicas] = 2
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.97,
				signals.Pods: 2, signals.Throughput: 800})
		}, func(t *testing.T, p Plan) {
			// 400/s per pod at 97 % is 268/s at 65 %: 800/s needs 3 pods.
			wantChange(t, p, KnobHPAMinReplicas, 2, 3)
		}},
		{"L1 grows (TTL first, then size) to what Che's approximation says reaches 90 %", func(in *Input) {
			wide(in)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.75, signals.DBTime: 0.030})
		}, func(t *testing.T, p Plan) {
			items, ttl := int64(10000), int64(60)
			if c, ok := changeOf(p, itemsEnv); ok {
				items = c.To
			}
			if c, ok := changeOf(p, l1TTLEnv); ok {
				ttl = c.To
			}
			if items == 10000 && ttl == 60 {
				t.Fatalf("no L1 change: %+v", p.Changes)
			}
			rate := 800.0 / 4
			m := CacheModel{Alpha: ZipfAlpha, TTLFromWrite: true}
			keys, _ := m.FitKeys(10000, 60*rate, 0.75)
			if h := m.HitRatio(keys, float64(items), float64(ttl)*rate); h < memoryTargetHit-0.001 {
				t.Fatalf("L1 %d/%ds predicts %.3f, below the target", items, ttl, h)
			}
			// A TTL of 600 s (its bound) alone reaches the target: no larger L1 is paid for.
			wantChange(t, p, l1TTLEnv, 60, 600)
			if _, grew := changeOf(p, itemsEnv); grew {
				t.Fatalf("L1 grew although the TTL suffices: %+v", p.Changes)
			}
			if !strings.Contains(p.Predicted, "Che") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
	})
}

func TestSettingsOfTreatsZeroAsDefault(t *testing.T) {
	s := SettingsOf(v1.PerformanceProfileSpec{})
	if s.Mode != v1.ModeAuto || s.Interval != 30*time.Second || s.Window != 5*time.Minute ||
		s.MaxStepPercent != 50 || s.SettleTime != 3*time.Minute || s.MaxRolloutsPerHour != 2 || !s.RollbackOnRegression {
		t.Fatalf("defaults: %+v", s)
	}
	off := false
	s = SettingsOf(v1.PerformanceProfileSpec{Guardrails: v1.Guardrails{MaxStepPercent: 20, SettleTime: dur(time.Minute),
		MaxRolloutsPerHour: 5, RollbackOnRegression: &off}})
	if s.MaxStepPercent != 20 || s.SettleTime != time.Minute || s.MaxRolloutsPerHour != 5 || s.RollbackOnRegression {
		t.Fatalf("explicit values lost: %+v", s)
	}
}

// TestL2OutlivesL1InEveryCacheStep: whichever way a cache step raises the
// L1 TTL (the usual step with L2's hit ratio fine, the miss-sized step, the
// experiment when nothing is diagnosed), L2's TTL leaves it at least as
// long, within L2's bound: a shorter L2 serves no refetch of an L1 entry
// expired by age.
func TestL2OutlivesL1InEveryCacheStep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(in *Input)
		l1, l2 int64 // before the step
		l2Max  int64
	}{
		{"the usual step, L2's hit ratio fine", func(in *Input) {
			in.State.Values[l1TTLEnv], in.State.Values[l2TTLEnv] = 30, 30
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.7, signals.DBTime: 0.030})
		}, 30, 30, 3600},
		{"the miss-sized step, L2's bound under L1's new TTL", func(in *Input) {
			missPinnedBreach(in)
			in.Spec.Cache.Redis.TTL.Max = dur(10 * time.Minute)
		}, 60, 300, 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.setup(&in)
			p := Decide(in)
			l1, l2 := valueAfter(p, l1TTLEnv, tc.l1), valueAfter(p, l2TTLEnv, tc.l2)
			if l1 <= tc.l1 {
				t.Fatalf("the step did not raise L1's TTL: %+v (%s)", p.Changes, p.Reason)
			}
			if l2 < min(l1, tc.l2Max) {
				t.Fatalf("the step leaves L1 TTL %d over L2 TTL %d (L2's bound %d): %+v", l1, l2, tc.l2Max, p.Changes)
			}
		})
	}
	t.Run("an L2 TTL it did not read is not written", func(t *testing.T) {
		in := baseInput()
		missPinnedBreach(&in)
		in.Spec.Cache.Redis.TTL.Max = dur(10 * time.Minute)
		delete(in.State.Values, l2TTLEnv)
		if c, ok := changeOf(Decide(in), l2TTLEnv); ok {
			t.Fatalf("L2's TTL written from a value not read: %+v", c)
		}
	})
}
