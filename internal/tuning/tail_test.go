package tuning

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// fieldSpec is the profile of a real Go service tried by a user: a pgxpool
// pool on PostgreSQL, an in-process L1, Redis L2; p99 ≤ 40 ms; a budget of
// 130 connections.
func fieldSpec() v1.PerformanceProfileSpec {
	return v1.PerformanceProfileSpec{
		TargetRef: v1.TargetRef{Kind: "Deployment", Name: "shop"},
		SLO: v1.SLO{
			Latency: []v1.LatencyObjective{{Percentile: v1.P99, Threshold: dur(40 * time.Millisecond)}},
			Window:  dur(5 * time.Minute),
		},
		ConnectionPool: &v1.ConnectionPool{
			MaxConnections: &v1.IntEnvKnob{Env: string(poolMaxEnv), Min: 2, Max: 64},
			Database:       &v1.DatabaseBudget{MaxConnections: 130},
		},
		Cache: &v1.Cache{
			Memory: &v1.MemoryCache{
				MaxItems: &v1.IntEnvKnob{Env: string(itemsEnv), Min: 100, Max: 200000},
				TTL:      &v1.DurationEnvKnob{Env: string(l1TTLEnv), Min: dur(10 * time.Second), Max: dur(10 * time.Minute)},
			},
			Redis: &v1.RedisCache{TTL: &v1.DurationEnvKnob{Env: string(l2TTLEnv), Min: dur(30 * time.Second), Max: dur(time.Hour)}},
		},
	}
}

// fieldInput is the field report after the first raise (pool 2 -> 4): two
// pods at 300 req/s, 25 ms per query, p99 46 ms, a mean pool wait of
// 1.13 ms with 2.7 of 4 connections in use, an L1 hit ratio of 2.5 % and no
// DB time series (the service exports none).
func fieldInput() Input {
	o := signals.NewObservation(t0)
	for s, v := range map[signals.Signal]float64{
		signals.LatencyP50: 0.027, signals.LatencyP95: 0.034, signals.LatencyP99: 0.046,
		signals.ErrorRate: 0, signals.Throughput: 300, signals.ThroughputWindow: 300, signals.Pods: 2,
		// 2.7 busy per pod at 25 ms per call (Little): 108 calls/s per pod.
		signals.PoolInUse: 2.7, signals.PoolMax: 4, signals.PoolWait: 0.00113, signals.DBCallRate: 216,
		signals.MemoryHitRatio: 0.025, signals.RedisHitRatio: 0.26, signals.CPUUtilization: 0.5,
	} {
		o.Set(s, v, t0)
	}
	o.SetMissing(signals.DBTime, signals.ReasonEmpty, "no series")
	return Input{
		Spec:        fieldSpec(),
		Observation: o,
		State: State{Values: Values{poolMaxEnv: 4, itemsEnv: 2500, l1TTLEnv: 60, l2TTLEnv: 300},
			Replicas: 2, CPULimitMillis: 1000, GraceSeconds: 30, StepSeconds: 40},
		Now: t0,
	}
}

// The field report: p99 46 ms against 40 ms for five minutes, "no bottleneck
// found (pool wait 1.13 ms, 2.7 of 4 in use): nothing changed". The mean
// wait is 3 % of the threshold, but 4 % of the requests wait for a
// connection, 19 ms on average: the p99 request waits ~28 ms of its 46.
func TestFieldReportTailBreachIsThePool(t *testing.T) {
	t.Run("pool only: the tail attributes the breach to the pool and raises it", func(t *testing.T) {
		in := fieldInput()
		in.Spec.Cache = nil
		p := Decide(in)
		if p.Diagnosis != DiagnosisPoolSaturated || p.Family != FamilyPool {
			t.Fatalf("diagnosis %s family %s, reason %q", p.Diagnosis, p.Family, p.Reason)
		}
		c := only(t, p)
		if c.Knob != poolMaxEnv || c.From != 4 || c.To < 6 {
			t.Fatalf("change %+v, want the pool raised from 4 by a step", c)
		}
		for _, w := range []string{"in the tail", "at p99 ~", "of 46ms", "Little's law"} {
			if !strings.Contains(p.Reason, w) {
				t.Errorf("reason %q does not say %q", p.Reason, w)
			}
		}
		if p.Prediction == nil || p.Prediction.Model != v1.ModelErlang || p.Prediction.Signal != string(signals.PoolWait) {
			t.Fatalf("prediction %+v, want Erlang's pool wait", p.Prediction)
		}
		if !strings.Contains(p.Predicted, "p99 wait ~") {
			t.Fatalf("predicted %q does not give the tail now and after", p.Predicted)
		}
	})
	t.Run("with the caches: not held for the missing DB time; the pool rides along with the cache", func(t *testing.T) {
		p := Decide(fieldInput())
		if len(p.Missing.Families) != 0 {
			t.Fatalf("held: %q", p.Missing.FamilyNotes())
		}
		if p.Family != FamilyCache || p.Diagnosis != DiagnosisCacheMisses {
			t.Fatalf("family %s diagnosis %s, reason %q", p.Family, p.Diagnosis, p.Reason)
		}
		if c, ok := changeOf(p, itemsEnv); !ok || c.To <= c.From {
			t.Fatalf("L1 not grown: %+v (reason %q)", p.Changes, p.Reason)
		}
		if c, ok := changeOf(p, poolMaxEnv); !ok || c.To <= 4 {
			t.Fatalf("pool not raised with the cache: %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
		}
		if !strings.Contains(p.Reason, "miss cost 25ms (poolInUse ÷ dbCallRate per pod, Little's law)") {
			t.Fatalf("reason %q does not give the miss cost's estimate", p.Reason)
		}
		if p.Prediction == nil {
			t.Fatalf("the rollout carries no prediction for its verdict (predicted %q)", p.Predicted)
		}
	})
}

// Without the DB call rate either (the navius metric contract reads both
// from db_query_duration_seconds, which the service does not export), the
// calls are the requests that miss both cache tiers: 300 × 97.5 % × 74 %.
func TestFieldReportWithoutDBCalls(t *testing.T) {
	in := fieldInput()
	in.Observation.SetMissing(signals.DBCallRate, signals.ReasonEmpty, "no series")
	p := Decide(in)
	if len(p.Missing.Families) != 0 || p.Family != FamilyCache {
		t.Fatalf("family %s, held %q, reason %q", p.Family, p.Missing.FamilyNotes(), p.Reason)
	}
	if c, ok := changeOf(p, poolMaxEnv); !ok || c.To <= 4 {
		t.Fatalf("pool not raised: %+v (reason %q)", p.Changes, p.Reason)
	}
	if !strings.Contains(p.Reason, "poolInUse ÷ the requests missing every cache tier per pod, Little's law") ||
		!strings.Contains(p.Reason, "pool saturated in the tail: wait at p99 ~") {
		t.Fatalf("reason %q", p.Reason)
	}
}

func TestWaitQuantile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p, r, q float64
		want    float64
	}{
		{"fewer wait than the tail: no wait at the percentile", 0.005, 50, 0.99, 0},
		{"exactly the tail waits: zero", 0.01, 50, 0.99, 0},
		{"10 % wait at rate 100/s: p99 waits ln(10)/100", 0.1, 100, 0.99, math.Ln10 / 100},
		{"everyone waits: p50 waits ln(2)/r", 1, 10, 0.5, math.Ln2 / 10},
		{"a queue that does not drain", 0.5, 0, 0.99, math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := waitQuantile(tc.p, tc.r, tc.q); math.Abs(got-tc.want) > 1e-12 && got != tc.want {
				t.Fatalf("got %g, want %g", got, tc.want)
			}
		})
	}
}

func TestPoolQueueCalibration(t *testing.T) {
	// The field pool: 4 connections, 2.7 Erlangs, 25 ms per call, 72 % of
	// the requests make a call, mean wait 1.13 ms per call.
	q := newPoolQueue(4, 2.7, 0.025, 0.72, 0.00113)
	t.Run("the calibrated queue reproduces the measured mean wait", func(t *testing.T) {
		if got := q.meanWait(4); math.Abs(got-0.00113) > 1e-9 {
			t.Fatalf("mean wait %g, want 0.00113", got)
		}
	})
	t.Run("the share waiting is the mean wait times the decay rate, times the call share", func(t *testing.T) {
		// rate (4 − 2.7) ÷ 25 ms = 52/s; 1.13 ms × 52 = 5.9 % of calls; × 0.72.
		if got, want := q.waitShare(4), 0.00113*52*0.72; math.Abs(got-want) > 1e-9 {
			t.Fatalf("wait share %g, want %g", got, want)
		}
	})
	t.Run("the p99 wait is ~28 ms although the mean is 1.13 ms", func(t *testing.T) {
		// ln(0.0423 ÷ 0.01) ÷ 52/s
		want := math.Log(0.00113*52*0.72/0.01) / 52
		if got := q.tailWait(4, 0.99); math.Abs(got-want) > 1e-9 || got < 0.027 || got > 0.029 {
			t.Fatalf("p99 wait %g, want %g", got, want)
		}
	})
	t.Run("more connections shrink the tail; 6 bring it to zero", func(t *testing.T) {
		prev := q.tailWait(4, 0.99)
		for c := int64(5); c <= 8; c++ {
			if w := q.tailWait(c, 0.99); w > prev {
				t.Fatalf("tail grew from %g to %g at %d", prev, w, c)
			} else {
				prev = w
			}
		}
		if got := q.sizeForTail(4, 64, 0.99, 0.002); got != 6 {
			t.Fatalf("size for a 2 ms p99 wait %d, want 6", got)
		}
	})
	t.Run("no measured wait: no tail", func(t *testing.T) {
		if got := newPoolQueue(4, 2.7, 0.025, 1, 0).tailWait(4, 0.99); got != 0 {
			t.Fatalf("tail %g with a zero mean wait", got)
		}
	})
	t.Run("a pool that cannot keep up has an unbounded tail", func(t *testing.T) {
		if got := newPoolQueue(4, 4, 0.025, 1, 0.01).tailWait(4, 0.99); !math.IsInf(got, 1) {
			t.Fatalf("tail %g at 4 Erlangs on 4 connections", got)
		}
	})
}

func TestTailAttribution(t *testing.T) {
	runRules(t, []ruleCase{
		{"a wait histogram's tail is used as it is", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.130, signals.PoolWait: 0.0003, signals.PoolWaitTail: 0.045})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisPoolSaturated || !strings.Contains(p.Reason, "at p99 ~45ms of 130ms (wait histogram)") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
		}},
		{"a histogram tail below the excess and a quarter of the percentile explains nothing", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.PoolWait: 0.0003, signals.PoolWaitTail: 0.030})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis == DiagnosisPoolSaturated {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
			if !strings.Contains(p.Reason, "wait at p99 ~30ms of 180ms") {
				t.Fatalf("the ruled-out pool does not give its tail: %q", p.Reason)
			}
		}},
		{"an idle pool's tail is small: ruled out, and the note gives it", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180})
		}, func(t *testing.T, p Plan) {
			if p.Family == FamilyPool && p.Diagnosis == DiagnosisPoolSaturated {
				t.Fatalf("an idle pool was diagnosed: %q", p.Reason)
			}
			if !strings.Contains(p.Reason, "pool wait 200µs, 4.0 of 10 in use, wait at p99 ~") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
	})
}

func TestCacheWithoutDBTime(t *testing.T) {
	noDBTime := func(in *Input) {
		in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.31})
		in.Observation.SetMissing(signals.DBTime, signals.ReasonEmpty, "no series")
		in.State.PodsWarmSince = t0.Add(-time.Hour)
	}
	runRules(t, []ruleCase{
		{"the miss cost comes from the pool by Little's law", func(in *Input) {
			noDBTime(in)
			// 4 busy per pod ÷ (400 calls/s ÷ 4 pods) = 40 ms per call.
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || p.Family != FamilyCache {
				t.Fatalf("diagnosis %s family %s, reason %q, missing %q", p.Diagnosis, p.Family, p.Reason, p.Missing.FamilyNotes())
			}
			if !strings.Contains(p.Reason, "miss cost 40ms (poolInUse ÷ dbCallRate per pod, Little's law)") {
				t.Fatalf("reason %q", p.Reason)
			}
			if p.Prediction == nil || p.Prediction.Model != v1.ModelChe {
				t.Fatalf("prediction %+v, want Che's hit ratio", p.Prediction)
			}
		}},
		{"the calls can come from the requests that miss every tier", func(in *Input) {
			noDBTime(in)
			in.Observation.SetMissing(signals.DBCallRate, signals.ReasonEmpty, "no series")
			// 800 req/s × 69 % × 30 % miss both tiers: 166 calls/s, 41.4 per pod; 4 busy ÷ 41.4/s = 96.6 ms.
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || !strings.Contains(p.Reason, "miss cost 96.6ms (poolInUse ÷ the requests missing every cache tier per pod, Little's law)") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
		}},
		{"with no estimate at all the family holds, and says which estimates were tried", func(in *Input) {
			noDBTime(in)
			in.Observation.SetMissing(signals.DBCallRate, signals.ReasonEmpty, "no series")
			in.Observation.SetMissing(signals.PoolInUse, signals.ReasonEmpty, "no series")
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, itemsEnv); ok {
				t.Fatalf("the cache moved without a miss cost: %+v", p.Changes)
			}
			want := "cache (holds CACHE_MEMORY_MAX_ITEMS, CACHE_MEMORY_TTL_SECONDS, CACHE_REDIS_TTL_SECONDS): " +
				"miss cost: no estimate, tried dbTime (dbTime: Empty: no series), Little's law poolInUse ÷ dbCallRate " +
				"(dbCallRate: Empty: no series, poolInUse: Empty: no series) and poolInUse ÷ the requests missing every cache tier (poolInUse: Empty: no series)"
			if got := p.Missing.FamilyNotes(); len(got) != 2 || got[1] != want {
				t.Fatalf("notes %q, want %q", got, want)
			}
		}},
		{"a miss in the tail counts when its cost covers the excess", func(in *Input) {
			in.State.PodsWarmSince = t0.Add(-time.Hour)
			// 30 % of requests miss both tiers, the p99 request is a miss;
			// a 6 ms call is under 10 % of the 80 ms threshold, but p95 is
			// only 5 ms over its objective.
			in.set(map[signals.Signal]float64{signals.LatencyP95: 0.085, signals.LatencyP99: 0.090,
				signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.4, signals.DBTime: 0.006})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || !strings.Contains(p.Reason, "the p95 request is a miss") {
				t.Fatalf("diagnosis %s, reason %q", p.Diagnosis, p.Reason)
			}
		}},
	})
}

// fieldService is the field report's service as a table, not a model: two
// pods at 300 req/s, 25 ms per query, 2.7 connections busy per pod; the p99
// and the mean pool wait at each pool size are what such a service shows
// (near-constant query times: few calls wait, and those wait long).
func fieldService(v Values) map[signals.Signal]float64 {
	type row struct{ p99, wait float64 }
	rows := map[int64]row{2: {2.0, 0.5}, 3: {0.090, 0.006}, 4: {0.046, 0.00113}, 5: {0.034, 0.0004}, 6: {0.031, 0.0001}}
	pool := v[poolMaxEnv]
	r, ok := rows[pool]
	if !ok {
		r = row{0.030, 0.00002}
	}
	return map[signals.Signal]float64{
		signals.LatencyP50: 0.027, signals.LatencyP95: 0.7 * r.p99, signals.LatencyP99: r.p99,
		signals.Throughput: 300, signals.ThroughputWindow: 300, signals.Pods: 2,
		signals.PoolInUse: math.Min(float64(pool), 2.7), signals.PoolMax: float64(pool), signals.PoolWait: r.wait,
		signals.DBCallRate: 216, signals.CPUUtilization: 0.5,
	}
}

// The field report as a scenario: from pool 4 (p99 46 ms against 40 ms,
// the mean wait 1.13 ms) the loop raises the pool until p99 holds, and it
// holds; today's engine sits at "no bottleneck found" for good.
func TestScenarioTailBreachIsRelievedUntilTheObjectiveHolds(t *testing.T) {
	w := newWorld(t, fieldService)
	w.spec = fieldSpec()
	w.spec.Cache = nil
	w.values = Values{poolMaxEnv: 4}
	w.replicas = func(Values) int32 { return 2 }
	w.absent = []signals.Signal{signals.DBTime}
	w.run(30 * time.Minute)
	if at := w.heldAfter(0.040); at > 15*time.Minute {
		t.Fatalf("p99 held only after %s", at)
	}
	if got := w.values[poolMaxEnv]; got > 16 {
		t.Fatalf("pool ended at %d: more than the few connections the tail needs", got)
	}
	for _, d := range w.history {
		if d.Outcome == v1.OutcomeRolledBack || d.Outcome == v1.OutcomeReverted {
			t.Fatalf("a helpful raise was undone: %+v", d)
		}
		if Diagnosis(d.Diagnosis) == DiagnosisPoolSaturated && d.Prediction == nil {
			t.Fatalf("a pool raise without a prediction: %+v", d)
		}
		if d.Outcome != v1.OutcomePending && d.Prediction != nil && d.Prediction.Observed == "" {
			t.Fatalf("the verdict did not check the prediction: %+v", d)
		}
	}
}

// Over random pool-only services breaching a latency objective, with room
// in the pool's bounds and the budget and nothing pending or settling: the
// plan always adds capacity (a diagnosis or an experiment), never takes any
// away, and says which signal values it used and what it predicts.
func TestPropertyBreachWithHeadroomIsNeverLeftAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 1))
	for i := range 500 {
		in := fieldInput()
		in.Spec.Cache = nil
		in.Spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 10000}
		pods := float64(1 + r.IntN(6))
		pool := int64(2 + r.IntN(40))
		limit := 0.020 + 0.2*r.Float64()
		in.Spec.SLO.Latency[0].Threshold = dur(time.Duration(limit * float64(time.Second)))
		in.State.Values[poolMaxEnv] = pool
		in.State.Replicas = int32(pods)
		inUse := float64(pool) * r.Float64()
		hold := 0.001 + 0.05*r.Float64()
		in.set(map[signals.Signal]float64{
			signals.LatencyP99: limit * (1.01 + r.Float64()), signals.Pods: pods,
			signals.PoolInUse: inUse, signals.PoolMax: float64(pool), signals.PoolWait: 0.003 * r.Float64() * r.Float64(),
			signals.DBCallRate: pods * inUse / hold, signals.Throughput: 50 + 1000*r.Float64(),
			signals.CPUUtilization: r.Float64(),
		})
		if r.IntN(2) == 0 {
			in.set(map[signals.Signal]float64{signals.DBTime: hold})
		}
		p := Decide(in)
		if len(p.Changes) == 0 {
			t.Fatalf("case %d: a breach with headroom left alone: %q (holds %q)", i, p.Reason, p.Holds)
		}
		if p.Diagnosis != DiagnosisPoolSaturated && p.Diagnosis != DiagnosisExperiment {
			t.Fatalf("case %d: diagnosis %s: %q", i, p.Diagnosis, p.Reason)
		}
		for _, c := range p.Changes {
			if c.To <= c.From {
				t.Fatalf("case %d: not a raise in a breach: %+v", i, c)
			}
		}
		if !strings.Contains(p.Reason, "pool wait ") || !strings.Contains(p.Reason, " in use") || p.Predicted == "" {
			t.Fatalf("case %d: the plan does not say what it used and predicts: reason %q, predicted %q", i, p.Reason, p.Predicted)
		}
	}
}

func TestPoolQueueProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 2000 {
		c := int64(1 + r.IntN(60))
		a := float64(c) * r.Float64()
		s := 0.001 + 0.1*r.Float64()
		wait := 0.01 * r.Float64() * r.Float64()
		q := newPoolQueue(c, a, s, r.Float64(), wait)
		// a measured mean above 1/r (every call waits) is more than the shape allows
		if q.calibrated && wait*(float64(c)-a)/s < 1 {
			if got := q.meanWait(c); math.Abs(got-wait) > 1e-9+1e-6*wait {
				t.Fatalf("case %d: calibrated mean wait %g, measured %g", i, got, wait)
			}
		}
		qq := 0.5 + 0.499*r.Float64()
		prev := q.tailWait(c, qq)
		for n := c + 1; n <= c+10; n++ {
			w := q.tailWait(n, qq)
			if w > prev+1e-12 || w < 0 {
				t.Fatalf("case %d: the tail at %d (%g) exceeds the tail at %d (%g)", i, n, w, n-1, prev)
			}
			prev = w
		}
	}
}
