package tuning

import (
	"math"
	"slices"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// service is a hand-written toy workload: from the knob values it gives the
// signals that the next observation reports.
type service func(v Values) map[signals.Signal]float64

// world plays the reconciler around Decide: it observes the toy service,
// applies plans at once, records decisions and verdicts in the history (the
// last 10) and tracks since when the SLOs have held.
type world struct {
	t        *testing.T
	spec     v1.PerformanceProfileSpec
	values   Values
	service  service
	replicas func(v Values) int32
	history  []v1.Decision
	memory   v1.Memory
	restarts []time.Time // every rollout, rollbacks included
	now      time.Time
	metSince time.Time
	trace    []step
	// absent are the signals the service does not export.
	absent []signals.Signal
}

type step struct {
	at     time.Time
	p99    float64
	plan   Plan
	values Values
}

func newWorld(t *testing.T, s service) *world {
	spec := fullSpec()
	spec.SLO.Window = dur(5 * time.Minute) // the API default
	return &world{t: t, spec: spec, values: fullValues(), service: s, now: t0,
		replicas: func(v Values) int32 { return 4 }}
}

func (w *world) observe() signals.Observation {
	o := signals.NewObservation(w.now)
	for s, v := range healthy(w.now).Values {
		o.Set(s, v.Value, w.now)
	}
	for s, v := range w.service(w.values) {
		o.Set(s, v, w.now)
	}
	for _, s := range w.absent {
		o.SetMissing(s, signals.ReasonEmpty, "no series")
	}
	return o
}

// run steps the loop every 30 s for d and returns the trace.
func (w *world) run(d time.Duration) {
	for end := w.now.Add(d); w.now.Before(end); w.now = w.now.Add(30 * time.Second) {
		vals := Values{}
		for k, v := range w.values {
			vals[k] = v
		}
		obs := w.observe()
		mem := *w.memory.DeepCopy()
		p := Decide(Input{Spec: w.spec, Observation: obs, Now: w.now, History: w.history, Memory: &mem,
			SLOMetSince: w.metSince, Generation: 1,
			State: State{Values: vals, Replicas: w.replicas(w.values), HasHPA: true, RedisReady: true, GraceSeconds: 30, StepSeconds: 40,
				CPULimitMillis: 2000}})
		if p.Judgement != nil {
			pd := Pending(w.history)
			pd.Outcome, pd.Observed = p.Judgement.Outcome, p.Judgement.Observed
			if p.Judgement.Prediction != nil { // as period's ledger records the checked prediction
				pd.Prediction = p.Judgement.Prediction.DeepCopy()
			}
			RememberVerdict(&w.memory, *pd, pd.Outcome, 1)
		}
		if dec := p.Decision(w.now); dec != nil {
			for _, c := range p.Changes {
				w.values[c.Knob] = c.To
			}
			Remember(&w.memory, *dec)
			w.history = append(w.history, *dec)
			if len(w.history) > 10 {
				w.history = w.history[1:]
			}
		}
		switch {
		case !p.SLOMet:
			w.metSince = time.Time{}
		case w.metSince.IsZero():
			w.metSince = w.now
		}
		p99, _ := obs.Get(signals.LatencyP99)
		w.trace = append(w.trace, step{at: w.now, p99: p99, plan: p, values: vals})
		w.checkStep(p)
	}
}

// checkStep asserts the guardrails on every plan of a scenario.
func (w *world) checkStep(p Plan) {
	w.t.Helper()
	pool, pods := w.values[poolMaxEnv], w.values[KnobHPAMaxReplicas]
	if running, terminating := rollingPeak(pods, nil, nil); (running+terminating)*pool > 380 {
		w.t.Fatalf("%s: connection budget broken: %d", clock(w.now), (running+terminating)*pool)
	}
	if p.Rollout && len(p.Changes) > 0 {
		n := 0
		for _, at := range w.restarts {
			if w.now.Sub(at) < time.Hour {
				n++
			}
		}
		if n >= 2 && !IsUndo(string(p.Diagnosis)) {
			w.t.Fatalf("%s: a rollout after %d restarts in the last hour (rollbacks count)", clock(w.now), n)
		}
		w.restarts = append(w.restarts, w.now)
	}
}

func (w *world) lastP99() float64 { return w.trace[len(w.trace)-1].p99 }

// heldAfter is how long after the start p99 came within limit, failing the
// test when it never did or breached it again afterwards.
func (w *world) heldAfter(limit float64) time.Duration {
	w.t.Helper()
	held := slices.IndexFunc(w.trace, func(s step) bool { return s.p99 <= limit })
	if held < 0 {
		w.t.Fatalf("p99 never held: last %s, pool %d; last reason %q", fmtSeconds(w.lastP99()), w.values[poolMaxEnv],
			w.trace[len(w.trace)-1].plan.Reason)
	}
	for _, s := range w.trace[held:] {
		if s.p99 > limit {
			w.t.Fatalf("p99 breached again at %s: %s", clock(s.at), fmtSeconds(s.p99))
		}
	}
	return w.trace[held].at.Sub(t0)
}

// starved: each pod needs about 14 connections; below 16 requests queue for the pool.
func starved(v Values) map[signals.Signal]float64 {
	pool := float64(v[poolMaxEnv])
	wait := math.Max(0, 16-pool) * 0.012
	p99 := 0.060 + 2*wait
	return map[signals.Signal]float64{
		signals.LatencyP99: p99, signals.LatencyP95: 0.7 * p99, signals.PoolWait: wait,
		signals.PoolInUse: math.Min(pool, 14), signals.PoolMax: pool,
		signals.DBCallRate: 4 * 480, signals.DBTime: 0.025,
	}
}

func TestScenarioStarvedPoolIsRaisedUntilP99Holds(t *testing.T) {
	w := newWorld(t, starved)
	w.values[poolMaxEnv] = 8
	w.run(30 * time.Minute)
	if at := w.heldAfter(0.100); at > 10*time.Minute {
		t.Fatalf("p99 held only after %s", at)
	}
	for _, d := range w.history {
		if d.Outcome == v1.OutcomeRolledBack || d.Outcome == v1.OutcomeReverted {
			t.Fatalf("a helpful raise was undone: %+v", d)
		}
	}
	if got := w.values[poolMaxEnv]; got < 16 || got > 20 {
		t.Fatalf("pool ended at %d, want the 16 the service needs (a little headroom at most)", got)
	}
}

// contended: the pool is short at 10, but more connections overload the database.
func contended(v Values) map[signals.Signal]float64 {
	pool := float64(v[poolMaxEnv])
	p99 := 0.150 + math.Max(0, pool-10)*0.012
	return map[signals.Signal]float64{
		signals.LatencyP99: p99, signals.LatencyP95: 0.5 * p99, signals.PoolWait: 0.030,
		signals.PoolInUse: pool, signals.PoolMax: pool,
		signals.DBCallRate: 4 * 480, signals.DBTime: 0.025,
	}
}

func TestScenarioRegressionIsRolledBack(t *testing.T) {
	w := newWorld(t, contended)
	w.run(25 * time.Minute)
	if len(w.history) < 2 {
		t.Fatalf("want a raise and its rollback, history %+v", w.history)
	}
	raise, undo := w.history[0], w.history[1]
	if raise.Outcome != v1.OutcomeRolledBack || raise.Changes[0].From != "10" {
		t.Fatalf("the raise was not rolled back: %+v", raise)
	}
	if undo.Diagnosis != string(DiagnosisRegression) || undo.Changes[0].To != "10" {
		t.Fatalf("the rollback did not restore 10: %+v", undo)
	}
	if got := w.values[poolMaxEnv]; got != 10 {
		t.Fatalf("pool ended at %d, want 10", got)
	}
	if len(w.history) != 2 {
		t.Fatalf("the same move was repeated within the back-off: %+v", w.history[2:])
	}
}

// elastic: 600 req/s; a pod serves 200 req/s at 100 % CPU; the HPA (target 65 %)
// runs max(minReplicas, what the load needs); latency grows with CPU use.
func elastic(v Values) map[signals.Signal]float64 {
	pods := float64(elasticReplicas(v))
	cpu := 600 / (pods * 200)
	p99 := 0.030 / (1 - cpu)
	return map[signals.Signal]float64{
		signals.LatencyP99: p99, signals.LatencyP95: 0.7 * p99, signals.CPUUtilization: cpu,
		signals.Throughput: 600, signals.Pods: pods,
	}
}

func elasticReplicas(v Values) int32 {
	return int32(max(v[KnobHPAMinReplicas], int64(math.Ceil(600/(200*0.65)))))
}

func TestScenarioComfortableServiceIsTrimmedWithoutBreaching(t *testing.T) {
	w := newWorld(t, elastic)
	w.replicas = elasticReplicas
	w.values[KnobHPAMinReplicas] = 8
	w.run(3 * time.Hour)
	var trims []step
	for _, s := range w.trace {
		if s.p99 > 0.100 {
			t.Fatalf("SLO breached at %s: p99 %s", clock(s.at), fmtSeconds(s.p99))
		}
		if c, ok := changeOf(s.plan, KnobHPAMinReplicas); ok {
			if c.To != c.From-1 {
				t.Fatalf("a trim of more than one pod at %s: %+v", clock(s.at), c)
			}
			trims = append(trims, s)
		}
	}
	if got := w.values[KnobHPAMinReplicas]; got != 5 {
		t.Fatalf("minReplicas ended at %d, want 5 (what 600 req/s needs at 65 %% CPU)", got)
	}
	for i := 1; i < len(trims); i++ {
		if gap := trims[i].at.Sub(trims[i-1].at); gap < 15*time.Minute {
			t.Fatalf("trims only %s apart", gap)
		}
	}
	for _, d := range w.history {
		if d.Outcome == v1.OutcomeRolledBack {
			t.Fatalf("a trim had to be rolled back: %+v", d)
		}
	}
}
