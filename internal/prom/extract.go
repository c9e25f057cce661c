package prom

import (
	"fmt"
	"math"
	"time"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// reading writes the signals of one family for one target, each sampled at
// the family's oldest part (Reader.Observe then expires the stale ones by
// the one rule, signals.Freshness).
type reading struct {
	obs *signals.Observation
	at  time.Time
}

func (r reading) set(s signals.Signal, v float64) {
	r.obs.Set(s, v, r.at)
}

// setRatio records num/den, or why it is undefined.
func (r reading) setRatio(s signals.Signal, num, den float64, what string) {
	if den == 0 {
		r.obs.SetMissing(s, signals.ReasonNaN, "no "+what+" in the window (0/0)")
		return
	}
	r.set(s, num/den)
}

func (r reading) miss(s signals.Signal, reason signals.Reason, msg string) {
	r.obs.SetMissing(s, reason, msg)
}

// newReading takes the freshness of a target's parts: the oldest of the
// answer's sample time and the newest raw sample ("ts" part).
func newReading(obs *signals.Observation, parts map[string]series) reading {
	r := reading{obs: obs, at: obs.Time}
	first := true
	for part, ss := range parts {
		for _, s := range ss {
			t := s.At.Time()
			if part == "ts" {
				f := s.Value
				if math.IsNaN(f) || math.IsInf(f, 0) {
					continue
				}
				t = time.Unix(0, int64(f*1e9))
			}
			if first || t.Before(r.at) {
				r.at, first = t, false
			}
		}
	}
	return r
}

// one returns the value of a part that must have exactly one series.
func one(parts map[string]series, part string) (float64, signals.Reason, string) {
	ss := parts[part]
	switch len(ss) {
	case 0:
		return 0, signals.ReasonEmpty, "no series"
	case 1:
		return ss[0].Value, "", ""
	}
	return 0, signals.ReasonMultipleSeries, fmt.Sprintf("%d series where one was expected", len(ss))
}

// extract fills one target's observation from the group's batch answers.
func (g *group) extract(obs *signals.Observation, t Target, indexes map[string]*index) {
	for _, fam := range familyOrder {
		j, ok := g.byFamily[fam]
		if !ok || !needs(t, fam) {
			if fam == famWorkload {
				notConfigured(obs, t)
			}
			continue
		}
		sigs := familySignalsOf(t, fam)
		if j.fail != nil {
			for _, s := range sigs {
				obs.SetMissing(s, j.fail.Reason, j.fail.Message)
			}
			continue
		}
		ix := indexes[fam]
		if fam == famWorkload {
			extractWorkload(obs, t, ix)
			continue
		}
		parts := ix.parts(labelsKey(g.keys, t.Labels.Get))
		if len(parts) == 0 {
			for _, s := range sigs {
				obs.SetMissing(s, signals.ReasonEmpty, "no series for the profile's labels")
			}
			continue
		}
		r := newReading(obs, parts)
		switch fam {
		case famLatency:
			extractLatency(r, t, g.conv.latency, parts)
		case famTraffic:
			extractTraffic(r, g.conv.requests, parts, g.noiseUnmeasured, noiseSteps(obs.Time, g.window, g.noiseStep))
		case famPool:
			extractPool(r, t, g.conv, g.satWindow, parts)
		case famCache:
			extractCache(r, g.conv.memoryCache, parts)
		}
	}
}

func familySignalsOf(t Target, fam string) []signals.Signal {
	switch fam {
	case famLatency:
		return append(append([]signals.Signal{}, percentiles(t)...), signals.LatencyMean)
	case famWorkload:
		var out []signals.Signal
		if t.Workload != nil {
			out = append(out, signals.CPUUtilization)
		}
		if t.Redis != nil {
			out = append(out, signals.RedisCPU, signals.RedisOpsRate)
		}
		return out
	}
	return familySignals[fam]
}

// notConfigured records the workload signals a target has no scope for.
func notConfigured(obs *signals.Observation, t Target) {
	if t.Workload == nil {
		obs.SetMissing(signals.CPUUtilization, signals.ReasonNotConfigured, "no target workload given")
	}
	if t.Redis == nil {
		for _, s := range []signals.Signal{signals.RedisCPU, signals.RedisOpsRate} {
			obs.SetMissing(s, signals.ReasonNotConfigured, "no Redis workload given")
		}
	}
}

// bucketsOf reads a histogram's bucket rates, their bounds scaled to
// seconds, and the observations of the window (the +Inf bucket's rate ×
// the window); badLE is set when a bound is not a number.
func bucketsOf(ss series, scale float64, window time.Duration) (buckets []Bucket, observations float64, badLE bool) {
	observations = math.Inf(-1)
	for _, s := range ss {
		if s.BadLE {
			badLE = true
			continue
		}
		buckets = append(buckets, Bucket{UpperBound: s.LE * scale, Count: s.Value})
		if math.IsInf(s.LE, +1) {
			observations = max(observations, s.Value*window.Seconds())
		}
	}
	return buckets, observations, badLE
}

func extractLatency(r reading, t Target, h histogram, parts map[string]series) {
	buckets, observations, badLE := bucketsOf(parts["bucket"], h.scale, t.Window)
	for _, p := range percentiles(t) {
		if badLE {
			r.miss(p, signals.ReasonMalformed, "a bucket bound (label le) of "+h.name+"_bucket is not a number")
			continue
		}
		threshold, hasObjective := t.Thresholds.Of(p)
		limit := math.NaN()
		if hasObjective {
			limit = threshold.Seconds()
		}
		q, _ := signals.Quantile(p)
		v, reason, msg := percentileOf(q, buckets, observations, limit, t.Window, h.name, "requests")
		if reason != "" {
			r.miss(p, reason, msg)
			continue
		}
		r.set(p, v) // +Inf: above the highest bucket, a breach of any objective
	}
	sum, rs, ms := one(parts, "sum")
	count, rc, mc := one(parts, "count")
	switch {
	case rs != "":
		r.miss(signals.LatencyMean, rs, h.name+"_sum: "+ms)
	case rc != "":
		r.miss(signals.LatencyMean, rc, h.name+"_count: "+mc)
	default:
		r.setRatio(signals.LatencyMean, sum*h.scale, count, "requests")
	}
}

// noiseSamplesWhole: the noise's rates are one at every step of the
// window (steps of them at least, and MinNoiseSamples) and every one but
// the first has its move (noiseQueries): a rate missing at either edge of
// the window leaves the moves of an unbroken run, and the edge's swing
// unread.
func noiseSamplesWhole(parts map[string]series, steps int64) bool {
	rates, r1, _ := one(parts, "throughput_noise_rates")
	moves, r2, _ := one(parts, "throughput_noise_moves")
	return r1 == "" && r2 == "" && rates >= float64(max(steps, MinNoiseSamples)) && moves == rates-1
}

// noiseSteps is how many steps of the noise's subqueries fall in the SLO
// window read at at: the multiples of step in (at − window, at], where
// Prometheus aligns a subquery's steps (a Prometheus that includes the
// window's start as well has one more when it falls on a step).
func noiseSteps(at time.Time, window, step time.Duration) int64 {
	if step <= 0 {
		return 0
	}
	s, t := step.Milliseconds(), at.UnixMilli()
	floorDiv := func(a, b int64) int64 {
		q := a / b
		if a%b != 0 && a < 0 {
			q--
		}
		return q
	}
	return floorDiv(t, s) - floorDiv(t-window.Milliseconds(), s)
}

// extractTraffic reads the traffic family; noiseUnmeasured, when not "",
// says why ThroughputNoise was not queried, and noiseSteps is how many
// rates it has when none is missing.
func extractTraffic(r reading, requests string, parts map[string]series, noiseUnmeasured string, noiseSteps int64) {
	// Throughput over the saturation window; the error rate over the SLO
	// window, with the request rate of that window (ThroughputWindow) as
	// its denominator.
	if tput, rt, mt := one(parts, "throughput"); rt != "" {
		r.miss(signals.Throughput, rt, requests+": "+mt)
	} else {
		r.set(signals.Throughput, tput)
	}
	if now, rn, mn := one(parts, "throughput_now"); rn != "" {
		r.miss(signals.ThroughputNow, rn, requests+": "+mn)
	} else {
		r.set(signals.ThroughputNow, now)
	}
	if peak, rp, mp := one(parts, "throughput_peak"); rp != "" {
		r.miss(signals.ThroughputPeak, rp, requests+": "+mp)
	} else {
		r.set(signals.ThroughputPeak, peak)
	}
	switch noise, rn, mn := one(parts, "throughput_noise"); {
	case noiseUnmeasured != "":
		r.miss(signals.ThroughputNoise, signals.ReasonNotConfigured, noiseUnmeasured)
	case rn != "":
		r.miss(signals.ThroughputNoise, rn, requests+": "+mn)
	case !noiseSamplesWhole(parts, noiseSteps):
		r.miss(signals.ThroughputNoise, signals.ReasonTooFewSamples,
			fmt.Sprintf("%s: the request rate is missing at a step of the SLO window (a missed scrape, or a service younger than the window): the noise would under-read", requests))
	default:
		r.set(signals.ThroughputNoise, max(noise, 0)) // the float sum of the moves can fall a rounding below the range
	}
	req, rr, mr := one(parts, "requests")
	if rr != "" {
		r.miss(signals.ErrorRate, rr, requests+": "+mr)
		r.miss(signals.ThroughputWindow, rr, requests+": "+mr)
	} else {
		r.set(signals.ThroughputWindow, req)
		// The 5xx series exist only once a 5xx was counted: with the
		// request counter present and no 5xx series, the errors are a measured 0.
		errs, re, me := one(parts, "errors")
		switch re {
		case "":
			r.setRatio(signals.ErrorRate, errs, req, "requests")
		case signals.ReasonEmpty:
			r.setRatio(signals.ErrorRate, 0, req, "requests")
		default:
			r.miss(signals.ErrorRate, re, "5xx requests: "+me)
		}
	}
	if pods, rp, mp := one(parts, "pods"); rp != "" {
		r.miss(signals.Pods, rp, "pods of "+requests+": "+mp)
	} else {
		r.set(signals.Pods, pods)
	}
}

func extractPool(r reading, t Target, c convention, window time.Duration, parts map[string]series) {
	setOne := func(s signals.Signal, part, what string) {
		if v, reason, msg := one(parts, part); reason != "" {
			r.miss(s, reason, what+": "+msg)
		} else {
			r.set(s, v)
		}
	}
	setOne(signals.PoolInUse, "in_use", selector(c.inUse, c.inUseMatch...))
	setOne(signals.PoolMax, "max", c.poolMax)
	setMean := func(s signals.Signal, sumPart, countPart string, m mean) {
		sum, r1, m1 := one(parts, sumPart)
		count, r2, m2 := one(parts, countPart)
		switch {
		case r1 != "":
			r.miss(s, r1, m.sum+": "+m1)
		case r2 != "":
			r.miss(s, r2, m.count+": "+m2)
		default:
			r.setRatio(s, sum*m.scale, count, "observations of "+m.count)
		}
	}
	setMean(signals.PoolWait, "wait_sum", "wait_count", c.wait)
	callsPart := "db_count"
	if c.littles || c.calls != c.dbTime.count {
		callsPart = "calls"
	}
	if c.littles {
		setMean(signals.DBTime, "held", callsPart, mean{sum: selector(c.inUse, c.inUseMatch...) + " (held, summed over pods)", count: c.calls, scale: 1})
	} else {
		setMean(signals.DBTime, "db_sum", "db_count", c.dbTime)
	}
	setOne(signals.DBCallRate, callsPart, c.calls)
	extractWaitTail(r, t, c, window, parts)
}

// extractWaitTail reads PoolWaitTail, the pool wait at the highest
// percentile with a latency objective (the highest observed percentile
// without one), from the stack's wait-time histogram by the percentile
// rules of the latency (+Inf above the top bucket; TooFewSamples counted in
// connection acquisitions over the saturation window).
func extractWaitTail(r reading, t Target, c convention, window time.Duration, parts map[string]series) {
	h := c.waitHistogram
	if h == nil {
		r.miss(signals.PoolWaitTail, signals.ReasonNotConfigured,
			fmt.Sprintf("the %s preset's pool exports no wait-time histogram", c.preset))
		return
	}
	buckets, observations, badLE := bucketsOf(parts["wait_bucket"], h.scale, window)
	if badLE {
		r.miss(signals.PoolWaitTail, signals.ReasonMalformed, "a bucket bound (label le) of "+h.name+"_bucket is not a number")
		return
	}
	q := waitTailQuantile(t)
	v, reason, msg := percentileOf(q, buckets, observations, math.NaN(), window, h.name, "connection acquisitions")
	if reason != "" {
		r.miss(signals.PoolWaitTail, reason, msg)
		return
	}
	r.set(signals.PoolWaitTail, v)
}

// waitTailQuantile is the quantile PoolWaitTail is read at: the highest
// percentile with a latency objective, else the highest observed one.
func waitTailQuantile(t Target) float64 {
	q := math.Inf(-1)
	for _, th := range t.Thresholds {
		if qs, ok := signals.Quantile(th.Signal); ok {
			q = max(q, qs)
		}
	}
	if !math.IsInf(q, -1) {
		return q
	}
	for _, s := range percentiles(t) {
		if qs, ok := signals.Quantile(s); ok {
			q = max(q, qs)
		}
	}
	return q
}

func extractCache(r reading, memoryCache string, parts map[string]series) {
	memoryWhat := `cache_requests_total{tier="memory"}`
	if memoryCache != "" {
		memoryWhat = memoryCache
	}
	for _, tier := range []struct {
		name   string
		tier   cacheTier
		signal signals.Signal
	}{{"memory", tierMemory, signals.MemoryHitRatio}, {"redis", tierRedis, signals.RedisHitRatio}} {
		var hit, miss float64
		var seen bool
		for _, s := range parts["cache"] {
			if s.Tier != tier.tier {
				continue
			}
			seen = true
			switch s.Result {
			case resultHit:
				hit += s.Value
			case resultMiss:
				miss += s.Value
			}
		}
		if !seen {
			what := `cache_requests_total{tier="redis"}`
			if tier.name == "memory" {
				what = memoryWhat
				r.miss(signals.MemoryLookupRate, signals.ReasonEmpty, "no "+what+" series")
			}
			r.miss(tier.signal, signals.ReasonEmpty, "no "+what+" series")
			continue
		}
		r.setRatio(tier.signal, hit, hit+miss, "cache requests")
		if tier.name == "memory" {
			r.set(signals.MemoryLookupRate, hit+miss) // the same series: no extra query
		}
	}
}

// extractWorkload reads CPU utilisation (usage over requests, summed over the
// target's pods, as the HPA computes it) and Redis load per replica.
func extractWorkload(obs *signals.Observation, t Target, ix *index) {
	notConfigured(obs, t)
	if wantsCPU(t) {
		parts := ix.parts(workloadKey("Deployment", t.Workload.Namespace, t.Workload.Name))
		r := newReading(obs, parts)
		var usage, requests float64
		var nu, nr int
		for part, ss := range parts {
			for _, s := range ss {
				if t.Workload.Container != "" && s.Container != t.Workload.Container {
					continue
				}
				switch part {
				case "cpu_usage":
					usage += s.Value
					nu++
				case "cpu_requests":
					requests += s.Value
					nr++
				}
			}
		}
		switch {
		case nu == 0:
			r.miss(signals.CPUUtilization, signals.ReasonEmpty, "no container_cpu_usage_seconds_total series for the workload's pods")
		case nr == 0:
			r.miss(signals.CPUUtilization, signals.ReasonEmpty, "no CPU request (kube_pod_container_resource_requests) for the workload's pods")
		default:
			r.setRatio(signals.CPUUtilization, usage, requests, "CPU request")
		}
	}
	if t.Redis == nil {
		return
	}
	parts := ix.parts(workloadKey(orDeployment(t.Redis.Kind), t.Redis.Namespace, t.Redis.Name))
	r := newReading(obs, parts)
	sums := map[string]float64{}
	for part, ss := range parts {
		for _, s := range ss {
			sums[part] += s.Value
		}
	}
	if len(parts["redis_pods"]) == 0 || sums["redis_pods"] == 0 {
		r.miss(signals.RedisCPU, signals.ReasonEmpty, "no redis_connected_clients series for the Redis pods")
		r.miss(signals.RedisOpsRate, signals.ReasonEmpty, "no redis_connected_clients series for the Redis pods")
		return
	}
	for _, x := range []struct {
		part   string
		signal signals.Signal
		what   string
	}{{"redis_cpu", signals.RedisCPU, "redis_cpu_sys_seconds_total + redis_cpu_user_seconds_total"},
		{"redis_ops", signals.RedisOpsRate, "redis_commands_processed_total"}} {
		if len(parts[x.part]) == 0 {
			r.miss(x.signal, signals.ReasonEmpty, "no "+x.what+" series for the Redis pods")
			continue
		}
		r.setRatio(x.signal, sums[x.part], sums["redis_pods"], "Redis replicas")
	}
}

// indexAll indexes the successful family answers of a group.
func (g *group) indexAll() map[string]*index {
	out := make(map[string]*index, len(g.byFamily))
	for fam, j := range g.byFamily {
		if j.fail == nil {
			out[fam] = j.ix
		}
	}
	return out
}
