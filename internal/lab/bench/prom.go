package bench

import (
	"bytes"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	reader "github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// ScrapeInterval is the emulated Prometheus scrape interval, in seconds.
const ScrapeInterval = 15.0

// series is one time series as Prometheus stores it.
type series struct {
	name   string
	labels map[string]string
	t, v   []float64
}

// prom emulates the Prometheus that scrapes the model: every scrape stores
// one sample per series; a series that is not scraped any more (its pod is
// gone) goes stale and drops out of instant queries, while its samples stay
// in range queries until they leave the window.
type prom struct {
	series map[string]*series
	last   float64 // time of the last scrape
	keep   float64 // seconds of samples kept
	buf    bytes.Buffer
	down   bool // the endpoint does not answer (fault injection)
	// satWindow is the window of the saturation signals (CPU, pool, DB time,
	// Redis, throughput) in seconds, as the reader's batched queries use it;
	// 0: the SLO window.
	satWindow float64
	// thresholds are the latency objectives in seconds: the reader refuses a
	// percentile whose buckets cannot measure its threshold.
	thresholds map[signals.Signal]float64
}

// readAs reads the series with the windows and objectives the reader would
// use for spec: the saturation window is spec.metrics.saturationWindow, or
// the reader's default for a Prometheus that scrapes every ScrapeInterval
// (the manager's --prometheus-scrape-interval set to match).
func (p *prom) readAs(spec tuningv1alpha1.PerformanceProfileSpec) {
	sw := spec.Metrics.SaturationWindow.Duration
	if sw == 0 {
		sw = reader.SaturationWindowFor(time.Duration(ScrapeInterval * float64(time.Second)))
	}
	p.satWindow = sw.Seconds()
	p.thresholds = map[signals.Signal]float64{}
	for _, o := range tuning.Objectives(spec.SLO) {
		if o.Latency {
			p.thresholds[o.Signal] = o.Limit
		}
	}
}

func newProm(keep float64) *prom {
	return &prom{series: map[string]*series{}, keep: keep, last: math.Inf(-1)}
}

// scrape stores the model's exposition at time now.
func (p *prom) scrape(m *sim.Model, now float64) {
	p.buf.Reset()
	_ = m.WriteMetrics(&p.buf, "", sim.ExpositionOptions{})
	for _, line := range strings.Split(p.buf.String(), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		key := line[:sp]
		s, ok := p.series[key]
		if !ok {
			s = &series{labels: map[string]string{}}
			name, rest, _ := strings.Cut(key, "{")
			s.name = name
			for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
				k, val, ok := strings.Cut(kv, "=")
				if ok {
					s.labels[k] = strings.Trim(val, `"`)
				}
			}
			p.series[key] = s
		}
		s.t = append(s.t, now)
		s.v = append(s.v, v)
	}
	for key, s := range p.series {
		i := 0
		for i < len(s.t) && s.t[i] < now-p.keep {
			i++
		}
		s.t, s.v = s.t[i:], s.v[i:]
		if len(s.t) == 0 {
			delete(p.series, key)
		}
	}
	p.last = now
}

// sampleAt returns s's sample of the scrape at t; false when s was not
// scraped then (its pod was gone: the series is stale at t).
func sampleAt(s *series, t float64) (float64, bool) {
	i := sort.SearchFloat64s(s.t, t)
	if i < len(s.t) && s.t[i] == t {
		return s.v[i], true
	}
	return 0, false
}

// inWindow returns the samples of s in (now−w, now].
func inWindow(s *series, now, w float64) (ts, vs []float64) {
	i := 0
	for i < len(s.t) && s.t[i] <= now-w {
		i++
	}
	j := len(s.t)
	for j > i && s.t[j-1] > now {
		j--
	}
	return s.t[i:j], s.v[i:j]
}

// rate is Prometheus' rate() of a counter over (now−w, now]: the increase
// with counter resets handled, extrapolated towards the window's edges.
func rate(s *series, now, w float64) (float64, bool) {
	ts, vs := inWindow(s, now, w)
	if len(ts) < 2 {
		return 0, false
	}
	inc := vs[len(vs)-1] - vs[0]
	for i := 1; i < len(vs); i++ {
		if vs[i] < vs[i-1] {
			inc += vs[i-1]
		}
	}
	start, end := now-w, now
	sampled := ts[len(ts)-1] - ts[0]
	avg := sampled / float64(len(ts)-1)
	toStart, toEnd := ts[0]-start, end-ts[len(ts)-1]
	if inc > 0 && vs[0] >= 0 {
		if toZero := sampled * vs[0] / inc; toZero < toStart {
			toStart = toZero
		}
	}
	limit := avg * 1.1
	ext := sampled
	if toStart < limit {
		ext += toStart
	} else {
		ext += avg / 2
	}
	if toEnd < limit {
		ext += toEnd
	} else {
		ext += avg / 2
	}
	return inc * ext / sampled / w, true
}

// irate is Prometheus' irate() of a counter over (now−w, now]: the last two
// samples' increase (the last sample alone after a counter reset) over the
// time between them.
func irate(s *series, now, w float64) (float64, bool) {
	ts, vs := inWindow(s, now, w)
	n := len(ts)
	if n < 2 {
		return 0, false
	}
	inc := vs[n-1] - vs[n-2]
	if inc < 0 {
		inc = vs[n-1]
	}
	return inc / (ts[n-1] - ts[n-2]), true
}

// avgOverTime is avg_over_time() of a gauge over (now−w, now].
func avgOverTime(s *series, now, w float64) (float64, bool) {
	_, vs := inWindow(s, now, w)
	if len(vs) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	return sum / float64(len(vs)), true
}

// sumRate sums rate() over the series of a metric that match.
func (p *prom) sumRate(name string, now, w float64, match func(map[string]string) bool) (float64, bool) {
	return p.sumOf(rate, name, now, w, match)
}

// sumOf sums f (rate or irate) over the series of a metric that match.
func (p *prom) sumOf(f func(*series, float64, float64) (float64, bool), name string, now, w float64, match func(map[string]string) bool) (float64, bool) {
	var total float64
	found := false
	for _, s := range p.series {
		if s.name != name || (match != nil && !match(s.labels)) {
			continue
		}
		if r, ok := f(s, now, w); ok {
			total += r
			found = true
		}
	}
	return total, found
}

// rateSamples samples the request rate over step once per step within the
// SLO window (now−w, now], at multiples of step as Prometheus aligns a
// subquery's steps, as the reader's ThroughputPeak and ThroughputNoise do
// (step: reader.NoiseStep, or the saturation window for the peak when the
// noise has no step): the largest sample, the samples' total movement less
// their range, how many there were, and whether every sample but the first
// has its move and none is missing (whole: as the reader requires).
func (p *prom) rateSamples(now, w, step float64) (peak, noise float64, samples int, whole bool) {
	var rs []float64
	var present []bool
	for t := math.Floor(now/step) * step; t > now-w; t -= step {
		r, ok := p.sumRate("http_requests_total", t, step, nil)
		rs, present = append(rs, r), append(present, ok)
	}
	var got []float64
	for i, ok := range present {
		if ok {
			got = append(got, rs[i])
		}
	}
	whole = len(got) == len(rs) // a rate missing anywhere, the edges too, and the reader reports no noise
	if len(got) == 0 {
		return 0, 0, 0, false
	}
	lo, hi, moved := got[0], got[0], 0.0
	for i, r := range got {
		lo, hi = math.Min(lo, r), math.Max(hi, r)
		if i > 0 {
			moved += math.Abs(r - got[i-1])
		}
	}
	return hi, math.Max(moved-(hi-lo), 0), len(got), whole
}

// observe builds the Observation the metrics reader would return at time
// now (t0 + now as wall time) for a window of w seconds: the same signals,
// computed from the scraped series the way the batched PromQL computes them.
func (p *prom) observe(now, w float64, at time.Time, percentiles []signals.Signal) signals.Observation {
	obs := signals.NewObservation(at)
	all := append(append([]signals.Signal{}, percentiles...), signals.LatencyMean, signals.ErrorRate, signals.Throughput, signals.ThroughputWindow,
		signals.ThroughputNow, signals.ThroughputPeak, signals.ThroughputNoise, signals.Pods, signals.PoolInUse, signals.PoolMax, signals.PoolWait, signals.DBTime, signals.DBCallRate,
		signals.MemoryHitRatio, signals.RedisHitRatio, signals.MemoryLookupRate, signals.CPUUtilization, signals.RedisCPU, signals.RedisOpsRate)
	if p.down {
		for _, s := range all {
			obs.SetMissing(s, signals.ReasonEndpointDown, "connection refused")
		}
		return obs
	}
	// the instant queries read the newest scrape at or before now (now may
	// lie in the past: a stale fault evaluates the series as they were then)
	last := math.Min(p.last, math.Floor(now/ScrapeInterval)*ScrapeInterval)
	stamp := at.Add(-time.Duration((now - last) * float64(time.Second)))
	set := func(s signals.Signal, v float64, ok bool, why string) {
		if !ok {
			obs.SetMissing(s, signals.ReasonEmpty, why)
			return
		}
		obs.Set(s, v, stamp)
	}
	ratio := func(s signals.Signal, num, den float64, ok bool, why string) {
		if ok && den == 0 {
			obs.SetMissing(s, signals.ReasonNaN, "no "+why+" in the window")
			return
		}
		set(s, num/den, ok, why)
	}
	// latency: sum by (le) (rate(buckets)), then histogram_quantile
	// cum has one count per finite bound and the +Inf bucket last, as HistogramQuantile expects
	bounds := sim.LatencyBuckets
	cum := make([]float64, len(bounds)+1)
	haveBuckets := false
	for _, s := range p.series {
		if s.name != "http_request_duration_seconds_bucket" {
			continue
		}
		r, ok := rate(s, now, w)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if s.labels["le"] == "+Inf" {
			le, err = math.Inf(1), nil
		}
		if err != nil {
			continue
		}
		i, found := len(bounds), math.IsInf(le, 1)
		for j, b := range bounds {
			if b == le {
				i, found = j, true
			}
		}
		if found {
			cum[i] += r
			haveBuckets = true
		}
	}
	var buckets []reader.Bucket
	if haveBuckets {
		for i, b := range bounds {
			buckets = append(buckets, reader.Bucket{UpperBound: b, Count: cum[i]})
		}
		buckets = append(buckets, reader.Bucket{UpperBound: math.Inf(1), Count: cum[len(bounds)]})
	}
	observations := cum[len(bounds)] * w // the +Inf bucket: every request of the window
	for _, ps := range percentiles {
		q, _ := signals.Quantile(ps)
		threshold, ok := p.thresholds[ps]
		if !ok {
			threshold = math.NaN()
		}
		// The reader's own rule: too coarse buckets, too few requests, +Inf above the top bucket.
		v, reason, msg := reader.Percentile(q, buckets, observations, threshold, time.Duration(w*float64(time.Second)))
		if reason != "" {
			obs.SetMissing(ps, reason, msg)
			continue
		}
		obs.Set(ps, v, stamp)
	}
	sum, ok1 := p.sumRate("http_request_duration_seconds_sum", now, w, nil)
	cnt, ok2 := p.sumRate("http_request_duration_seconds_count", now, w, nil)
	ratio(signals.LatencyMean, sum, cnt, ok1 && ok2, "requests")
	req, ok := p.sumRate("http_requests_total", now, w, nil)
	errs, _ := p.sumRate("http_requests_total", now, w, func(l map[string]string) bool { return strings.HasPrefix(l["status"], "5") })
	sw := w
	if p.satWindow > 0 {
		sw = p.satWindow
	}
	ratio(signals.ErrorRate, errs, req, ok, "requests")
	set(signals.ThroughputWindow, req, ok, "no http_requests_total series")
	thr, thrOK := p.sumRate("http_requests_total", now, sw, nil)
	set(signals.Throughput, thr, thrOK, "no http_requests_total series")
	now1, nowOK := p.sumOf(irate, "http_requests_total", now, sw, nil)
	set(signals.ThroughputNow, now1, nowOK, "no http_requests_total series")
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	if step, measured := reader.NoiseStep(sec(w), sec(sw), sec(ScrapeInterval)); !measured {
		peak, _, samples, _ := p.rateSamples(now, w, sw)
		set(signals.ThroughputPeak, peak, samples > 0, "no http_requests_total series")
		obs.SetMissing(signals.ThroughputNoise, signals.ReasonNotConfigured, "too few request rates in the SLO window")
	} else {
		peak, noise, samples, whole := p.rateSamples(now, w, step.Seconds())
		set(signals.ThroughputPeak, peak, samples > 0, "no http_requests_total series")
		if samples >= reader.MinNoiseSamples && whole {
			set(signals.ThroughputNoise, noise, true, "")
		} else {
			obs.SetMissing(signals.ThroughputNoise, signals.ReasonTooFewSamples, "the request rate is missing at a step of the SLO window, or it holds fewer than 3")
		}
	}
	pods := map[string]bool{}
	var inUse, inUseN, poolMax, poolMaxN, cpuReq float64
	for _, s := range p.series {
		switch s.name {
		case "http_requests_total":
			if _, ok := sampleAt(s, last); ok {
				pods[s.labels["pod"]] = true
			}
		case "db_pool_connections":
			if s.labels["state"] == "in_use" {
				if v, ok := avgOverTime(s, now, sw); ok {
					inUse += v
					inUseN++
				}
			}
		case "db_pool_max_connections":
			if v, ok := sampleAt(s, last); ok {
				poolMax += v
				poolMaxN++
			}
		case "kube_pod_container_resource_requests":
			if v, ok := sampleAt(s, last); ok {
				cpuReq += v
			}
		}
	}
	set(signals.Pods, float64(len(pods)), len(pods) > 0, "no pods of http_requests_total")
	ratio(signals.PoolInUse, inUse, inUseN, inUseN > 0, "db_pool_connections series")
	ratio(signals.PoolMax, poolMax, poolMaxN, poolMaxN > 0, "db_pool_max_connections series")
	ws, ok1 := p.sumRate("db_pool_wait_seconds_sum", now, sw, nil)
	wc, ok2 := p.sumRate("db_pool_wait_seconds_count", now, sw, nil)
	ratio(signals.PoolWait, ws, wc, ok1 && ok2, "pool waits")
	ds, ok1 := p.sumRate("db_query_duration_seconds_sum", now, sw, nil)
	dc, ok2 := p.sumRate("db_query_duration_seconds_count", now, sw, nil)
	ratio(signals.DBTime, ds, dc, ok1 && ok2, "database calls")
	set(signals.DBCallRate, dc, ok2, "no db_query_duration_seconds_count series")
	for _, tier := range []struct {
		name string
		s    signals.Signal
	}{{"memory", signals.MemoryHitRatio}, {"redis", signals.RedisHitRatio}} {
		hit, ok1 := p.sumRate("cache_requests_total", now, w, func(l map[string]string) bool { return l["tier"] == tier.name && l["result"] == "hit" })
		miss, ok2 := p.sumRate("cache_requests_total", now, w, func(l map[string]string) bool { return l["tier"] == tier.name && l["result"] == "miss" })
		ratio(tier.s, hit, hit+miss, ok1 || ok2, "cache requests")
		if tier.name == "memory" {
			set(signals.MemoryLookupRate, hit+miss, ok1 || ok2, `no cache_requests_total{tier="memory"} series`)
		}
	}
	// CPU: usage over the requests of the pods that have a usage series
	var usage float64
	uok := false
	for _, s := range p.series {
		if s.name == "container_cpu_usage_seconds_total" {
			if r, ok := rate(s, now, sw); ok {
				usage += r
				uok = true
			}
		}
	}
	ratio(signals.CPUUtilization, usage, cpuReq, uok && cpuReq > 0, "CPU request")
	var redisPods float64
	for _, s := range p.series {
		if _, ok := sampleAt(s, last); ok && s.name == "redis_connected_clients" {
			redisPods++
		}
	}
	cpuSys, ok1 := p.sumRate("redis_cpu_sys_seconds_total", now, sw, nil)
	cpuUser, ok2 := p.sumRate("redis_cpu_user_seconds_total", now, sw, nil)
	ops, ok3 := p.sumRate("redis_commands_processed_total", now, sw, nil)
	ratio(signals.RedisCPU, cpuSys+cpuUser, redisPods, ok1 && ok2 && redisPods > 0, "Redis replicas")
	ratio(signals.RedisOpsRate, ops, redisPods, ok3 && redisPods > 0, "Redis replicas")
	return obs
}
