package sim

import (
	"math"
	"slices"
)

// StepStats is the ground truth of one step: exact statistics of every
// simulated request (all statuses; a timed-out request counts with its
// timeout as latency) and the state of the model at the end of the step.
type StepStats struct {
	// T is the simulated time at the end of the step; Duration its length.
	T, Duration float64
	// OfferedRPS is the trace's load.
	OfferedRPS float64
	// Requests answered in the step, Errors among them (non-200), and
	// Unserved requests that found no ready pod (counted in Errors too).
	Requests, Errors, Unserved int
	// ByStatus counts requests by index of Statuses.
	ByStatus [len(Statuses)]int
	// Mean, P50, P95, P99 and Max latency in seconds (exact, nearest rank); 0 without requests.
	Mean, P50, P95, P99, Max float64

	// Pods is the number of ready pods; CPUCores the CPU they used, in cores.
	Pods     int
	CPUCores float64
	// PoolMaxTotal is Σ pool max over pods; ConnsOpen the open DB connections; ConnsInUse the busy ones.
	PoolMaxTotal       int
	ConnsOpen          int
	ConnsInUse         float64
	DBCallsPerSec      float64 // offered to the pools
	DBTime, DBUtil     float64 // mean call time (s) and database utilisation (0..1)
	L1HitRatio         float64 // request-weighted over pods
	L2HitRatio         float64 // of the L1 misses
	RedisReplicas      int
	RedisUtil, RedisMS float64 // utilisation per replica and mean command latency in ms
}

// ErrorRate is Errors/Requests (0 without requests).
func (s StepStats) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

// Quantile returns the p-quantile (0..1) of sorted values by nearest rank.
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// WindowStats are exact statistics over the requests of a time window.
type WindowStats struct {
	From, To            float64
	Requests, Errors    int
	Mean, P50, P95, P99 float64
	sorted              []float64
}

// Quantile is the exact p-quantile (0..1) of the window's latencies.
func (w WindowStats) Quantile(p float64) float64 { return Quantile(w.sorted, p) }

// ErrorRate is Errors/Requests.
func (w WindowStats) ErrorRate() float64 {
	if w.Requests == 0 {
		return 0
	}
	return float64(w.Errors) / float64(w.Requests)
}

// Throughput is the successful requests per second.
func (w WindowStats) Throughput() float64 {
	if w.To <= w.From {
		return 0
	}
	return float64(w.Requests-w.Errors) / (w.To - w.From)
}

type truthStep struct {
	t0, t1  float64
	lat     []float32
	errors  int
	summary StepStats
}

// truth keeps the per-step summaries and, for retention seconds, every latency.
type truth struct {
	retention float64
	steps     []StepStats
	ring      []truthStep
	cur       truthStep
	sortBuf   []float64
}

func (t *truth) begin(t0, dt, rps float64) {
	t.cur = truthStep{t0: t0, t1: t0 + dt, lat: t.cur.lat[:0]}
	// reuse the buffer of a step that falls out of retention
	for len(t.ring) > 0 && t.ring[0].t1 <= t0+dt-t.retention {
		if cap(t.ring[0].lat) > cap(t.cur.lat) {
			t.cur.lat = t.ring[0].lat[:0]
		}
		t.ring = t.ring[1:]
	}
	t.cur.summary = StepStats{T: t0 + dt, Duration: dt, OfferedRPS: rps}
}

func (t *truth) add(lat float64, status int) {
	t.cur.lat = append(t.cur.lat, float32(lat))
	t.cur.summary.ByStatus[status]++
	if status != st200 {
		t.cur.errors++
	}
}

func (t *truth) unserved(n int) {
	t.cur.summary.Unserved = n
	t.cur.summary.ByStatus[st503] += n
	t.cur.errors += n
}

// end completes the step's summary with the model state in s.
func (t *truth) end(s StepStats) StepStats {
	c := &t.cur
	s.T, s.Duration, s.OfferedRPS = c.summary.T, c.summary.Duration, c.summary.OfferedRPS
	s.ByStatus, s.Unserved = c.summary.ByStatus, c.summary.Unserved
	s.Requests = len(c.lat) + s.Unserved
	s.Errors = c.errors
	t.sortBuf = appendFloats(t.sortBuf[:0], c.lat)
	slices.Sort(t.sortBuf)
	s.Mean, s.P50, s.P95, s.P99 = summarize(t.sortBuf)
	if n := len(t.sortBuf); n > 0 {
		s.Max = t.sortBuf[n-1]
	}
	c.summary = s
	t.steps = append(t.steps, s)
	t.ring = append(t.ring, *c)
	c.lat = nil // the ring owns it now
	return s
}

func appendFloats(dst []float64, src []float32) []float64 {
	for _, v := range src {
		dst = append(dst, float64(v))
	}
	return dst
}

func summarize(sorted []float64) (mean, p50, p95, p99 float64) {
	if len(sorted) == 0 {
		return 0, 0, 0, 0
	}
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	return sum / float64(len(sorted)), Quantile(sorted, 0.5), Quantile(sorted, 0.95), Quantile(sorted, 0.99)
}

// History returns the ground truth of every step so far.
func (m *Model) History() []StepStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.truth.steps)
}

// Window returns exact statistics over the requests of the last seconds of
// simulated time (at most Config.TruthRetention); unserved requests count as
// errors but have no latency.
func (m *Model) Window(seconds float64) WindowStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := WindowStats{From: m.now - seconds, To: m.now}
	var lat []float64
	for _, s := range m.truth.ring {
		if s.t0 < w.From-1e-9 {
			continue
		}
		lat = appendFloats(lat, s.lat)
		w.Requests += len(s.lat) + s.summary.Unserved
		w.Errors += s.errors
	}
	if len(m.truth.ring) > 0 && m.truth.ring[0].t0 > w.From+1e-9 {
		w.From = m.truth.ring[0].t0
	}
	slices.Sort(lat)
	w.sorted = lat
	w.Mean, w.P50, w.P95, w.P99 = summarize(lat)
	return w
}

// stepSummary reports the model state for the step's ground truth.
func (m *Model) stepSummary(tdb float64) StepStats {
	s := StepStats{Pods: len(m.order), RedisReplicas: len(m.redis), DBTime: tdb,
		RedisUtil: m.redisUtil, RedisMS: m.redisLatency * 1000}
	var l1w, l2w, l2hit float64
	for _, p := range m.order {
		s.CPUCores += p.cpuMill / 1000
		s.PoolMaxTotal += p.knobs.PoolMax
		s.ConnsOpen += int(math.Floor(p.open))
		s.ConnsInUse += p.inUse
		s.DBCallsPerSec += p.lamDB
		l1w += p.hit1
		miss := 1 - p.hit1
		l2w += miss
		l2hit += miss * p.hit2
	}
	if n := float64(len(m.order)); n > 0 {
		s.L1HitRatio = l1w / n
	}
	if l2w > 0 {
		s.L2HitRatio = l2hit / l2w
	}
	if tdb > 0 {
		var served float64
		for _, p := range m.order {
			served += math.Min(p.lamDB, math.Floor(p.open)/tdb)
		}
		s.DBUtil = served * m.cfg.DBTime / m.cfg.DBCores
	}
	return s
}
