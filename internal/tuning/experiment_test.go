package tuning

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// learnedCPU is a CPU cost of 2 ms per request, learned.
var learnedCPU = &v1.LearnedCPU{PerRequest: metav1.Duration{Duration: 2 * time.Millisecond}, Samples: 20}

// undiagnosed: p99 breached at 130 ms and no family passes its threshold.
// The pool's calibrated tail is the largest share: 4 busy of 10 at 40 ms
// per call, 22 % of the calls wait (1.5 ms on average): ~16 ms at p99, 12 %
// of it. CPU is low (its learned cost says how little of p99 it queues),
// Redis nearly idle (0.1 cores), and fewer than 1 % of the requests miss
// both cache tiers: the p99 request is a hit.
func undiagnosed(in *Input) {
	in.State.CPURequestMillis = 1000
	in.Memory = &v1.Memory{CPU: learnedCPU}
	in.set(map[signals.Signal]float64{signals.LatencyP99: 0.130, signals.PoolWait: 0.0015, signals.DBTime: 0.040,
		signals.CPUUtilization: 0.3, signals.RedisCPU: 0.1, signals.RedisHitRatio: 0.9})
}

// remembering rebuilds the memory from the input's history, keeping the learned CPU.
func remembering(in *Input) {
	m := MemoryFrom(in.History, in.Generation)
	m.CPU = learnedCPU
	in.Memory = &m
}

func TestExperimentWhenNothingIsDiagnosed(t *testing.T) {
	runRules(t, []ruleCase{
		{"one step on the most likely family, explained, with a prediction", undiagnosed, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisExperiment || p.Family != FamilyPool {
				t.Fatalf("diagnosis %s family %s, reason %q", p.Diagnosis, p.Family, p.Reason)
			}
			wantChange(t, p, poolMaxEnv, 10, 15) // one maxStepPercent step, not the model's jump
			for _, w := range []string{"no bottleneck found (pool wait 1.5ms, 4.0 of 10 in use",
				"experiment: one step on pool, the most likely cause (pool wait at p99 ~", "before ",
				"kept only if the verdict finds it helped", "DB_POOL_MAX_CONNECTIONS 10 -> 15"} {
				if !strings.Contains(p.Reason, w) {
					t.Errorf("reason %q does not say %q", p.Reason, w)
				}
			}
			if !strings.Contains(p.Predicted, "experiment: p99 130ms -> at most 124ms if pool is the cause, else undone") {
				t.Errorf("predicted %q", p.Predicted)
			}
			if p.Prediction == nil || p.Prediction.Model != v1.ModelErlang || p.Prediction.Signal != string(signals.PoolWait) {
				t.Errorf("prediction %+v, want Erlang's pool wait at 15", p.Prediction)
			}
			if d := p.Decision(t0); d == nil || d.Baseline == nil || d.Baseline.PoolWait == nil || d.Prediction == nil {
				t.Errorf("the decision does not carry its baseline signals and prediction: %+v", d)
			}
		}},
		{"a family with no headroom is passed over for the next", func(in *Input) {
			undiagnosed(in)
			in.State.Values[poolMaxEnv] = 100 // at its bound
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisExperiment || p.Family == FamilyPool {
				t.Fatalf("diagnosis %s family %s, reason %q", p.Diagnosis, p.Family, p.Reason)
			}
			for _, c := range p.Changes {
				if c.To <= c.From {
					t.Fatalf("an experiment that is not a raise: %+v", c)
				}
			}
		}},
		{"the connection budget bounds the pool's step", func(in *Input) {
			undiagnosed(in)
			in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 120, Reserved: 0}
		}, func(t *testing.T, p Plan) {
			// 12 pods at the worst moment (maxReplicas 12, 25 % surge) × 10 = 120: no room.
			if c, ok := changeOf(p, poolMaxEnv); ok {
				t.Fatalf("the pool was raised past the budget: %+v (reason %q)", c, p.Reason)
			}
		}},
		{"no experiment while a family is unknown: the cause may be there", func(in *Input) {
			undiagnosed(in)
			in.Observation.SetMissing(signals.RedisCPU, signals.ReasonEmpty, "no series")
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Diagnosis != DiagnosisUnknown || !strings.Contains(p.Reason, "unknown (not measured): redis") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
		}},
		{"no experiment while the pods warm up", func(in *Input) {
			undiagnosed(in)
			in.State.PodsWarmSince = t0.Add(-time.Minute)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !strings.Contains(p.Reason, "nothing changed (no experiment: pods warming") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"no family with headroom: nothing changes, and the plan says why", func(in *Input) {
			undiagnosed(in)
			in.State.Values[poolMaxEnv] = 100
			in.State.Values[itemsEnv], in.State.Values[l1TTLEnv], in.State.Values[l2TTLEnv] = 200000, 600, 3600
			in.State.Values[KnobRedisReplicas] = 5
			in.State.Values[KnobHPAMinReplicas], in.State.Values[KnobHPAMaxReplicas] = 4, 4
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Diagnosis != DiagnosisUnknown || !strings.Contains(p.Reason, "nothing changed (no experiment: ") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
		}},
		{"a breach that is not a latency one gets no experiment", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.ErrorRate: 0.02})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis == DiagnosisExperiment {
				t.Fatalf("an experiment for errors: %q", p.Reason)
			}
		}},
	})
}

// experimentPending is the pool experiment of 11:54, 10 -> 15, made at p99
// 130 ms and 800 req/s.
func experimentPending(in *Input) {
	undiagnosed(in)
	in.State.Values[poolMaxEnv] = 15
	thr := int64(800)
	d := decision(t0.Add(-6*time.Minute), FamilyPool, DiagnosisExperiment, v1.OutcomePending, true, change(poolMaxEnv, "10", "15"))
	d.Baseline = &v1.SLIs{P99: &metav1.Duration{Duration: 130 * time.Millisecond}, P95: &metav1.Duration{Duration: 45 * time.Millisecond},
		ErrorRate: "0.1%", Throughput: &thr}
	in.History = []v1.Decision{d}
	remembering(in)
}

func TestExperimentVerdict(t *testing.T) {
	runRules(t, []ruleCase{
		{"an experiment that did not help is undone", experimentPending, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeReverted {
				t.Fatalf("judgement %+v, reason %q", p.Judgement, p.Reason)
			}
			wantChange(t, p, poolMaxEnv, 15, 10)
		}},
		{"an experiment that helped is kept", func(in *Input) {
			experimentPending(in)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.090})
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept {
				t.Fatalf("judgement %+v, reason %q", p.Judgement, p.Reason)
			}
		}},
	})
}

// closedOnUndo checks that the undone raise d (at 800 req/s) closes its
// direction at once, at its value and load, and that forgetting the
// verdict takes that back.
func closedOnUndo(t *testing.T, d v1.Decision) {
	t.Helper()
	var m v1.Memory
	thr := int64(800)
	d.Baseline = &v1.SLIs{Throughput: &thr}
	c := d.Changes[0]
	Remember(&m, d)
	RememberVerdict(&m, d, v1.OutcomeReverted, 1)
	k := findKnob(&m, c.Knob)
	if k == nil || k.Up == nil || k.Up.Level < closedAfter || k.Up.Bound != c.To || k.Up.Load == nil || *k.Up.Load != 800 {
		t.Fatalf("memory %+v", k)
	}
	ForgetVerdict(&m, d, v1.OutcomeReverted)
	if k := findKnob(&m, c.Knob); k.Up != nil {
		t.Fatalf("forgetting the verdict left %+v", k.Up)
	}
}

// afterUndoneExperiment: the pool experiment was undone at 11:40 (it did not
// help at 800 req/s); its rollback settled; p99 still breached at the same
// load an hour later.
func afterUndoneExperiment(in *Input) {
	undiagnosed(in)
	exp := decision(t0.Add(-80*time.Minute), FamilyPool, DiagnosisExperiment, v1.OutcomeReverted, true, change(poolMaxEnv, "10", "15"))
	thr := int64(800)
	exp.Baseline = &v1.SLIs{Throughput: &thr}
	undo := decision(t0.Add(-75*time.Minute), FamilyPool, DiagnosisNoImprovement, v1.OutcomeKept, true, change(poolMaxEnv, "15", "10"))
	in.History = []v1.Decision{exp, undo}
	remembering(in)
}

func TestUndoneExperimentIsRemembered(t *testing.T) {
	t.Run("memory: the direction waits for new evidence at once", func(t *testing.T) {
		closedOnUndo(t, decision(t0, FamilyPool, DiagnosisExperiment, v1.OutcomePending, true, change(poolMaxEnv, "10", "15")))
	})
	runRules(t, []ruleCase{
		{"not retried on the same load: another family is tried", afterUndoneExperiment, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, poolMaxEnv); ok {
				t.Fatalf("the undone experiment was retried on the same load: %+v (reason %q)", c, p.Reason)
			}
			if p.Diagnosis != DiagnosisExperiment || p.Family == FamilyPool {
				t.Fatalf("diagnosis %s family %s, reason %q", p.Diagnosis, p.Family, p.Reason)
			}
			holdsMention(t, p, "an experiment raising DB_POOL_MAX_CONNECTIONS to 15 at 10:40:00 did not help: not tried again without new evidence")
		}},
		{"retried once the load moved", func(in *Input) {
			afterUndoneExperiment(in)
			in.set(map[signals.Signal]float64{signals.Throughput: 1100})
		}, func(t *testing.T, p Plan) {
			if p.Family != FamilyPool || p.Diagnosis != DiagnosisExperiment {
				t.Fatalf("diagnosis %s family %s, reason %q", p.Diagnosis, p.Family, p.Reason)
			}
		}},
	})
}

// hiddenPool: the pool is short (p99 grows by 8 ms per connection below 16)
// but its exporter reports no wait, so neither the mean nor the tail sees
// it; CPU, Redis and the caches are not the cause.
func hiddenPool(v Values) map[signals.Signal]float64 {
	pool := float64(v[poolMaxEnv])
	p99 := 0.060 + math.Max(0, 16-pool)*0.008
	return map[signals.Signal]float64{
		signals.LatencyP99: p99, signals.LatencyP95: 0.5 * p99, signals.PoolWait: 0,
		signals.PoolInUse: math.Min(pool, 8), signals.PoolMax: pool,
	}
}

// The loop does not stop one step short: with nothing diagnosed it tries
// the families in turn, keeps what helps, undoes what does not without
// trying it again on the same load, and reaches the objective.
func TestScenarioExperimentsReachTheObjective(t *testing.T) {
	w := newWorld(t, hiddenPool)
	w.values[poolMaxEnv] = 10 // p99 108 ms against 100 ms
	w.run(4 * time.Hour)
	if p99 := w.lastP99(); p99 > 0.100 {
		t.Fatalf("p99 ended at %s with pool %d; history %+v", fmtSeconds(p99), w.values[poolMaxEnv], w.history)
	}
	tried := map[string]int{}
	for _, s := range w.trace {
		if s.plan.Diagnosis != DiagnosisExperiment || len(s.plan.Changes) == 0 {
			continue
		}
		if !strings.Contains(s.plan.Reason, "experiment: one step on "+string(s.plan.Family)) || s.plan.Predicted == "" {
			t.Fatalf("%s: an unexplained experiment: %q", clock(s.at), s.plan.Reason)
		}
		for _, c := range s.plan.Changes {
			if c.To <= c.From {
				t.Fatalf("%s: an experiment that is not a raise: %+v", clock(s.at), c)
			}
			tried[string(c.Knob)+"->"+strconv.FormatInt(c.To, 10)]++
		}
	}
	// Every experiment carries the signal values it started from and a
	// numeric prediction its verdict checks.
	for _, s := range w.trace {
		if s.plan.Diagnosis != DiagnosisExperiment || len(s.plan.Changes) == 0 {
			continue
		}
		if d := s.plan.Decision(s.at); d.Baseline == nil || d.Baseline.P99 == nil || d.Baseline.Throughput == nil || d.Prediction == nil {
			t.Fatalf("%s: the %s experiment records no baseline or prediction: %+v", clock(s.at), s.plan.Family, d)
		}
	}
	for _, d := range w.history {
		if IsUndo(d.Diagnosis) || d.Prediction == nil || Diagnosis(d.Diagnosis) != DiagnosisExperiment {
			continue
		}
		if d.Outcome != v1.OutcomePending && d.Prediction.Observed == "" && d.Outcome != v1.OutcomeKept {
			t.Fatalf("the verdict on %s did not check its prediction: %+v", clock(d.Time.Time), d.Prediction)
		}
	}
	for k, n := range tried {
		if n > 1 {
			t.Fatalf("the same experiment %s was tried %d times on the same load", k, n)
		}
	}
	w.heldAfter(0.100)
}
