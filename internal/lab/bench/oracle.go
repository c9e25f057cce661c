package bench

import (
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// oracleMaxPods bounds the oracle's search for the pods of one minute.
const oracleMaxPods = 64

// oracleWarmup is how long the oracle's pods serve the load that leads up to
// a minute before that minute is scored: the model's start (empty caches,
// pools at their minimum) is over by then (see ColdStartSeconds).
const oracleWarmup = 2 * ColdStartSeconds

// OracleReplicaMinutes is the fewest replica-minutes that meet the SLO every
// scored minute of a scenario's trace for a seed: a lower bound computed
// from the model, not a run. For each minute it finds the fewest pods (with
// the starting knobs) that meet the SLO over that minute when they serve the
// trace's load of that minute and of the oracleWarmup before it; the sum is
// what a controller that knew the load in advance and started pods in no
// time would provision.
func OracleReplicaMinutes(sc *Scenario, seed uint64) float64 {
	trace := sc.Trace(seed)
	cfg := sc.Model
	cfg.Seed = seed
	slo := sim.SLO{Percentile: sc.SLO.Percentile, Threshold: sc.SLO.Threshold, MaxErrorRate: sc.SLO.MaxErrorRate, Window: 60}
	meets := func(end float64, n int) bool {
		start := end - 60 - oracleWarmup
		opts := sim.GridOptions{Config: cfg, Duration: 60 + oracleWarmup, Warmup: oracleWarmup,
			Trace:            sim.TraceFunc(func(t float64) float64 { return trace.RPS(max(start+t, 0)) }),
			CPURequestMillis: sc.CPURequest, CPULimitMillis: sc.CPULimit, SLO: slo}
		return sim.Evaluate(opts, sim.FixedConfig{Replicas: n, Knobs: sc.Start.Knobs, RedisReplicas: sc.Start.RedisReplicas}).Meets
	}
	var total float64
	prev := 1
	for end := 60.0; end <= sc.Duration+1e-9; end += 60 {
		if end <= sc.Warmup {
			continue
		}
		// the fewest pods that meet the minute: bisection, starting near the last minute's answer
		lo, hi := 0, min(max(2*prev, 2), oracleMaxPods) // lo fails (or is 0), hi meets
		for hi < oracleMaxPods && !meets(end, hi) {
			lo, hi = hi, min(2*hi, oracleMaxPods)
		}
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; meets(end, mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		total += float64(hi)
		prev = hi
	}
	return total
}
