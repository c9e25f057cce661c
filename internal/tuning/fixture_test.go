package tuning

import (
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// t0 is "now" in the tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	poolMaxEnv = Knob("DB_POOL_MAX_CONNECTIONS")
	poolMinEnv = Knob("DB_POOL_MIN_CONNECTIONS")
	itemsEnv   = Knob("CACHE_MEMORY_MAX_ITEMS")
	l1TTLEnv   = Knob("CACHE_MEMORY_TTL_SECONDS")
	l2TTLEnv   = Knob("CACHE_REDIS_TTL_SECONDS")
	workersEnv = Knob("WORKER_THREADS")
)

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

func pct(s string) *v1.Percent { p := v1.Percent(s); return &p }

// fullSpec is the design's example profile, guardrails left at zero (defaults),
// with a 2-minute SLO window so that the default 3-minute settleTime is what
// paces changes (settling always lasts at least the window).
func fullSpec() v1.PerformanceProfileSpec {
	return v1.PerformanceProfileSpec{
		TargetRef: v1.TargetRef{Kind: "Deployment", Name: "orders-api"},
		SLO: v1.SLO{
			Latency: []v1.LatencyObjective{
				{Percentile: v1.P99, Threshold: dur(100 * time.Millisecond)},
				{Percentile: v1.P95, Threshold: dur(80 * time.Millisecond)},
			},
			MaxErrorRate: pct("0.5%"),
			Window:       dur(2 * time.Minute),
		},
		ConnectionPool: &v1.ConnectionPool{
			MaxConnections: &v1.IntEnvKnob{Env: string(poolMaxEnv), Min: 5, Max: 100},
			MinConnections: &v1.IntEnvKnob{Env: string(poolMinEnv), Min: 1, Max: 20},
			Database:       &v1.DatabaseBudget{MaxConnections: 400, Reserved: 20},
		},
		Cache: &v1.Cache{
			Memory: &v1.MemoryCache{
				MaxItems: &v1.IntEnvKnob{Env: string(itemsEnv), Min: 1000, Max: 200000},
				TTL:      &v1.DurationEnvKnob{Env: string(l1TTLEnv), Min: dur(10 * time.Second), Max: dur(10 * time.Minute)},
			},
			Redis: &v1.RedisCache{
				TTL:      &v1.DurationEnvKnob{Env: string(l2TTLEnv), Min: dur(30 * time.Second), Max: dur(time.Hour)},
				Replicas: &v1.RedisReplicas{TargetRef: v1.WorkloadRef{Kind: "StatefulSet", Name: "redis"}, Min: 1, Max: 5},
			},
		},
		Autoscaling: &v1.Autoscaling{
			MinReplicas:          &v1.Int32Range{Min: 2, Max: 10},
			MaxReplicas:          &v1.Int32Range{Min: 4, Max: 30},
			TargetCPUUtilization: &v1.Int32Range{Min: 50, Max: 85},
		},
	}
}

func fullValues() Values {
	return Values{
		poolMaxEnv: 10, poolMinEnv: 2, itemsEnv: 10000, l1TTLEnv: 60, l2TTLEnv: 300,
		KnobRedisReplicas: 2, KnobHPAMinReplicas: 3, KnobHPAMaxReplicas: 12, KnobHPATargetCPU: 65,
	}
}

// healthy is an observation of a service well inside its SLOs.
func healthy(at time.Time) signals.Observation {
	o := signals.NewObservation(at)
	for s, v := range map[signals.Signal]float64{
		signals.LatencyP50: 0.020, signals.LatencyP95: 0.045, signals.LatencyP99: 0.060,
		signals.ErrorRate: 0.001, signals.Throughput: 800,
		signals.PoolInUse: 4, signals.PoolMax: 10, signals.PoolWait: 0.0002,
		signals.DBTime: 0.005, signals.DBCallRate: 400,
		signals.MemoryHitRatio: 0.92, signals.RedisHitRatio: 0.7,
		signals.CPUUtilization: 0.5, signals.RedisCPU: 0.3, signals.Pods: 4,
	} {
		o.Set(s, v, at)
	}
	return o
}

// baseInput: the full profile, a healthy service, no history.
func baseInput() Input {
	return Input{
		Spec:        fullSpec(),
		Observation: healthy(t0),
		State: State{
			Values: fullValues(), Replicas: 4, HasHPA: true, RedisReady: true,
			CPULimitMillis: 2000, // the Kubernetes default strategy: 25 % surge and unavailable
			// The default grace period, and pods that take longer than it to
			// become ready: one step's pods terminate at a time.
			GraceSeconds: 30, StepSeconds: 40,
		},
		Now: t0,
	}
}

// set overwrites signals of the input's observation.
func (in *Input) set(kv map[signals.Signal]float64) {
	for s, v := range kv {
		in.Observation.Set(s, v, in.Now)
	}
}

// starvedPool makes p99 breach with a saturated pool.
func starvedPool(in *Input) {
	in.set(map[signals.Signal]float64{
		signals.LatencyP99: 0.180, signals.LatencyP95: 0.120,
		signals.PoolInUse: 10, signals.PoolWait: 0.040,
		signals.DBCallRate: 1600, signals.DBTime: 0.025, // 400 calls/s per pod × 25 ms = 10 busy
	})
}

func decision(at time.Time, f Family, diag Diagnosis, out v1.Outcome, rollout bool, changes ...v1.Change) v1.Decision {
	return v1.Decision{Time: metav1.NewTime(at), Family: string(f), Diagnosis: string(diag), Outcome: out,
		Rollout: rollout, Changes: changes}
}

func change(k Knob, from, to string) v1.Change { return v1.Change{Knob: string(k), From: from, To: to} }

// only returns the single change of the plan, failing otherwise.
func only(t *testing.T, p Plan) Change {
	t.Helper()
	if len(p.Changes) != 1 {
		t.Fatalf("want exactly one change, got %+v (reason %q, holds %q)", p.Changes, p.Reason, p.Holds)
	}
	return p.Changes[0]
}

func changeOf(p Plan, k Knob) (Change, bool) {
	for _, c := range p.Changes {
		if c.Knob == k {
			return c, true
		}
	}
	return Change{}, false
}

// valueAfter is knob k's value as plan p leaves it: its change's, else before.
func valueAfter(p Plan, k Knob, before int64) int64 {
	if c, ok := changeOf(p, k); ok {
		return c.To
	}
	return before
}

// changesCache says whether plan p changes a cache knob (L1's size or TTL, L2's TTL).
func changesCache(p Plan) bool {
	for _, c := range p.Changes {
		if c.Knob == itemsEnv || c.Knob == l1TTLEnv || c.Knob == l2TTLEnv {
			return true
		}
	}
	return false
}

func noChanges(t *testing.T, p Plan) {
	t.Helper()
	if len(p.Changes) != 0 {
		t.Fatalf("want no changes, got %+v (reason %q)", p.Changes, p.Reason)
	}
}

func holdsMention(t *testing.T, p Plan, word string) {
	t.Helper()
	for _, h := range p.Holds {
		if strings.Contains(h, word) {
			return
		}
	}
	t.Fatalf("no hold mentions %q: holds %q, reason %q", word, p.Holds, p.Reason)
}

func wantChange(t *testing.T, p Plan, k Knob, from, to int64) {
	t.Helper()
	c, ok := changeOf(p, k)
	if !ok {
		t.Fatalf("no change of %s in %+v (reason %q, holds %q)", k, p.Changes, p.Reason, p.Holds)
	}
	if !c.HasFrom || c.From != from || c.To != to {
		t.Fatalf("%s: got %+v, want %d -> %d (reason %q)", k, c, from, to, p.Reason)
	}
}

func nan() float64 { return math.NaN() }
