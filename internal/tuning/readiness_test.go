package tuning

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// readinessRow is one family's readiness written out by hand.
type readinessRow struct {
	family  Family
	knobs   []Knob
	found   []signals.Signal
	missing []string
}

func rowsOf(rs []FamilyReadiness) []readinessRow {
	var out []readinessRow
	for _, r := range rs {
		row := readinessRow{family: r.Family, knobs: r.Knobs, found: r.Found}
		for _, g := range r.Missing {
			row.missing = append(row.missing, g.String())
		}
		out = append(out, row)
	}
	return out
}

func TestReadiness(t *testing.T) {
	sloSignals := []signals.Signal{signals.LatencyP99, signals.LatencyP95, signals.ErrorRate}
	with := func(ss ...signals.Signal) []signals.Signal {
		return append(append([]signals.Signal{}, sloSignals...), ss...)
	}
	cases := []struct {
		name string
		spec func(*v1.PerformanceProfileSpec)
		obs  func(*signals.Observation)
		want []readinessRow
	}{{
		name: "everything read: every declared family is tunable",
		want: []readinessRow{
			{family: FamilyPool, knobs: []Knob{poolMaxEnv, poolMinEnv}, found: with(signals.PoolInUse, signals.PoolWait)},
			{family: FamilyAutoscaling, knobs: []Knob{KnobHPAMinReplicas, KnobHPAMaxReplicas, KnobHPATargetCPU}, found: with(signals.CPUUtilization)},
			{family: FamilyRedis, knobs: []Knob{KnobRedisReplicas}, found: with(signals.RedisCPU)},
			{family: FamilyCache, knobs: []Knob{itemsEnv, l1TTLEnv, l2TTLEnv},
				found: with(signals.MemoryHitRatio, signals.RedisHitRatio)},
		},
	}, {
		name: "no dbTime series: the cache family is tuned on the pool's hold time (Little's law)",
		obs: func(o *signals.Observation) {
			o.SetMissing(signals.DBTime, signals.ReasonEmpty, "no series for the profile's labels")
		},
		want: []readinessRow{
			{family: FamilyPool, knobs: []Knob{poolMaxEnv, poolMinEnv}, found: with(signals.PoolInUse, signals.PoolWait)},
			{family: FamilyAutoscaling, knobs: []Knob{KnobHPAMinReplicas, KnobHPAMaxReplicas, KnobHPATargetCPU}, found: with(signals.CPUUtilization)},
			{family: FamilyRedis, knobs: []Knob{KnobRedisReplicas}, found: with(signals.RedisCPU)},
			{family: FamilyCache, knobs: []Knob{itemsEnv, l1TTLEnv, l2TTLEnv}, found: with(signals.MemoryHitRatio, signals.RedisHitRatio)},
		},
	}, {
		name: "no estimate of the miss cost: the cache family alone is held, naming the estimates tried",
		obs: func(o *signals.Observation) {
			o.SetMissing(signals.DBTime, signals.ReasonEmpty, "no series for the profile's labels")
			o.SetMissing(signals.DBCallRate, signals.ReasonEmpty, "no series for the profile's labels")
			o.SetMissing(signals.Throughput, signals.ReasonEmpty, "no series for the profile's labels")
		},
		want: []readinessRow{
			{family: FamilyPool, knobs: []Knob{poolMaxEnv, poolMinEnv}, found: with(signals.PoolInUse, signals.PoolWait)},
			{family: FamilyAutoscaling, knobs: []Knob{KnobHPAMinReplicas, KnobHPAMaxReplicas, KnobHPATargetCPU}, found: with(signals.CPUUtilization)},
			{family: FamilyRedis, knobs: []Knob{KnobRedisReplicas}, found: with(signals.RedisCPU)},
			{family: FamilyCache, knobs: []Knob{itemsEnv, l1TTLEnv, l2TTLEnv},
				found: with(signals.MemoryHitRatio, signals.RedisHitRatio),
				missing: []string{"dbTime: Empty: miss cost: no estimate, tried dbTime (dbTime: Empty: no series for the profile's labels), " +
					"Little's law poolInUse ÷ dbCallRate (dbCallRate: Empty: no series for the profile's labels) and " +
					"poolInUse ÷ the requests missing every cache tier (throughput: Empty: no series for the profile's labels)"}},
		},
	}, {
		name: "a missing SLO signal holds every family",
		spec: func(s *v1.PerformanceProfileSpec) { s.Cache, s.Autoscaling = nil, nil },
		obs: func(o *signals.Observation) {
			o.SetMissing(signals.LatencyP99, signals.ReasonTooFewSamples, "400 requests in the window, p99 needs 1000")
		},
		want: []readinessRow{
			{family: FamilyPool, knobs: []Knob{poolMaxEnv, poolMinEnv},
				found:   []signals.Signal{signals.LatencyP95, signals.ErrorRate, signals.PoolInUse, signals.PoolWait},
				missing: []string{"latencyP99: TooFewSamples: 400 requests in the window, p99 needs 1000"}},
		},
	}, {
		name: "an implausible value is not found, and a signal nobody read says so",
		spec: func(s *v1.PerformanceProfileSpec) {
			s.ConnectionPool, s.Cache.Memory, s.Cache.Redis.TTL, s.Autoscaling.TargetCPUUtilization = nil, nil, nil, nil
		},
		obs: func(o *signals.Observation) {
			o.Values[signals.ErrorRate] = signals.Value{Value: 1.5, At: o.Time}
			delete(o.Values, signals.RedisCPU)
		},
		want: []readinessRow{
			{family: FamilyAutoscaling, knobs: []Knob{KnobHPAMinReplicas, KnobHPAMaxReplicas},
				found:   []signals.Signal{signals.LatencyP99, signals.LatencyP95, signals.CPUUtilization},
				missing: []string{"errorRate: Malformed: implausible value 1.5"}},
			{family: FamilyRedis, knobs: []Knob{KnobRedisReplicas},
				found:   []signals.Signal{signals.LatencyP99, signals.LatencyP95},
				missing: []string{"errorRate: Malformed: implausible value 1.5", "redisCPU: not observed"}},
		},
	}, {
		name: "worker threads need only the SLO; no knobs, no families",
		spec: func(s *v1.PerformanceProfileSpec) {
			*s = v1.PerformanceProfileSpec{SLO: s.SLO, WorkerThreads: &v1.IntEnvKnob{Env: string(workersEnv), Min: 1, Max: 8}}
		},
		want: []readinessRow{{family: FamilyWorkers, knobs: []Knob{workersEnv}, found: sloSignals}},
	}, {
		name: "a profile without knobs lists nothing",
		spec: func(s *v1.PerformanceProfileSpec) { *s = v1.PerformanceProfileSpec{SLO: s.SLO} },
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, obs := fullSpec(), healthy(t0)
			if c.spec != nil {
				c.spec(&spec)
			}
			if c.obs != nil {
				c.obs(&obs)
			}
			got := rowsOf(Readiness(spec, obs))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}

// TestReadinessIsWhatTheEngineHolds: a family Readiness calls not tunable is
// exactly one the plan holds for missing signals (or every family, when an
// SLO signal is missing), for every single missing signal.
func TestReadinessIsWhatTheEngineHolds(t *testing.T) {
	for _, s := range signals.All() {
		t.Run(string(s), func(t *testing.T) {
			in := baseInput()
			in.Observation.SetMissing(s, signals.ReasonEmpty, "gone")
			plan := Decide(in)
			for _, r := range Readiness(in.Spec, in.Observation) {
				_, held := plan.Missing.family(r.Family)
				held = held || len(plan.Missing.SLO) > 0
				if held == r.Tunable() {
					t.Errorf("%s: tunable %v, but the plan holds it: %v (missing %+v)", r.Family, r.Tunable(), held, plan.Missing)
				}
				if !r.Tunable() && fmt.Sprint(r.Missing) == "" {
					t.Errorf("%s held without a reason", r.Family)
				}
			}
		})
	}
}

func TestRolloutsWaitUntil(t *testing.T) {
	spec := fullSpec()
	spec.Guardrails.MaxRolloutsPerHour = 2
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }
	for _, c := range []struct {
		name     string
		rollouts []metav1.Time
		want     time.Time
	}{
		{"none", nil, time.Time{}},
		{"one of two", []metav1.Time{at(-10 * time.Minute)}, time.Time{}},
		{"two of two: the older leaves the hour", []metav1.Time{at(-50 * time.Minute), at(-10 * time.Minute)}, t0.Add(10 * time.Minute)},
		{"older than an hour do not count", []metav1.Time{at(-70 * time.Minute), at(-10 * time.Minute)}, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := RolloutsWaitUntil(spec, v1.Memory{Rollouts: c.rollouts}, t0); !got.Equal(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
