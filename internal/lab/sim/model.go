package sim

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
)

// LatencyBuckets are the bounds of http_request_duration_seconds; they
// bracket the usual SLO thresholds so that histogram_quantile stays close to
// the ground truth.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 2.5, 5, 10}

// PoolWaitBuckets are the bounds of db_pool_wait_seconds.
var PoolWaitBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// DBQueryBuckets are the bounds of db_query_duration_seconds.
var DBQueryBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Statuses are the HTTP statuses the model answers with: 200; 500 when the
// database refuses a connection (its limit is reached) or the pool has no
// connection at all; 503 when the pool wait times out; 504 when the request
// times out queueing for CPU; and, in the ground truth only, 503 for
// requests that found no ready pod.
var Statuses = [...]string{"200", "500", "503", "504"}

const (
	st200 = iota
	st500
	st503
	st504
)

type histogram struct {
	bounds []float64
	counts []float64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  float64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]float64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound ≥ v: le is inclusive
	h.counts[i]++
	h.sum += v
	h.count++
}

// podCounters are the counters a pod process exposes; they start at zero
// when the pod (re)starts.
type podCounters struct {
	requests   [len(Statuses)]float64
	latency    histogram
	poolWait   histogram
	dbQuery    histogram
	cache      [2][2]float64 // tier (memory, redis) × result (hit, miss)
	cpuSeconds float64
}

type pod struct {
	spec    PodSpec
	knobs   Knobs
	born    float64
	cores   float64 // CPU capacity in cores: min(limit, workers)
	open    float64 // open pool connections
	cpuQ    fluidQueue
	poolQ   fluidQueue
	c       podCounters
	inUse   float64
	cpuMill float64
	h1      []float64 // per key group L1 hit ratio this step
	hit1    float64
	hit2    float64
	lamDB   float64
	want    float64 // connections the pool would like open
	opened  float64 // connections opened this step
	refused bool    // the database refused connections the pool wanted
}

func (p *pod) l2Enabled() bool { return p.knobs.L2TTL > 0 }

type redisReplica struct {
	commands, cpuSeconds float64
}

// Model is the simulated service. It is safe for concurrent use: one
// goroutine steps it while HTTP handlers and accessors read it.
type Model struct {
	mu    sync.Mutex
	cfg   Config
	l1    *l1Model
	rng   *rand.Rand
	trace Trace
	now   float64

	pods  map[string]*pod
	order []*pod // oldest first, then by name

	redis          []*redisReplica
	redisWarmSince float64 // since when L2 receives writes; NaN when it does not
	redisLatency   float64
	redisUtil      float64

	r2, h2 []float64 // per key group Redis request rate per key and hit ratio (scratch)
	truth  truth
}

// New builds a model with no pods and one Redis replica; the trace defaults
// to no load.
func New(cfg Config) *Model {
	cfg = cfg.withDefaults()
	l1 := l1For(cfg.Keys, cfg.ZipfS)
	g := len(l1.g.q)
	m := &Model{
		cfg:            cfg,
		l1:             l1,
		rng:            rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5bd1e995)),
		trace:          Constant(0),
		pods:           map[string]*pod{},
		redis:          []*redisReplica{{}},
		redisWarmSince: math.NaN(),
		r2:             make([]float64, g),
		h2:             make([]float64, g),
	}
	m.truth.retention = cfg.TruthRetention
	return m
}

// Config returns the model's configuration with the defaults filled in.
func (m *Model) Config() Config { return m.cfg }

// SetTrace sets the load trace.
func (m *Model) SetTrace(t Trace) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trace = t
}

// Now is the simulated time in seconds since the start.
func (m *Model) Now() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// SyncPods makes the model's pod set the given Running and Ready pods. Pods
// not seen before start cold (empty L1, pool at its minimum); a pod whose
// start time, env or CPU resources changed is a restarted process (cold, its
// counters reset). Pods no longer listed disappear with their series.
func (m *Model) SyncPods(specs []PodSpec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		seen[s.Name] = true
		if p, ok := m.pods[s.Name]; ok && samePod(p.spec, s) {
			continue
		}
		m.pods[s.Name] = m.newPod(s)
	}
	for name := range m.pods {
		if !seen[name] {
			delete(m.pods, name)
		}
	}
	m.order = m.order[:0]
	for _, p := range m.pods {
		m.order = append(m.order, p)
	}
	sort.Slice(m.order, func(i, j int) bool {
		a, b := m.order[i], m.order[j]
		if a.born != b.born {
			return a.born < b.born
		}
		return a.spec.Name < b.spec.Name
	})
}

func samePod(a, b PodSpec) bool {
	if !a.StartTime.Equal(b.StartTime) || a.CPURequestMillis != b.CPURequestMillis ||
		a.CPULimitMillis != b.CPULimitMillis || len(a.Env) != len(b.Env) {
		return false
	}
	for k, v := range a.Env {
		if w, ok := b.Env[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (m *Model) newPod(s PodSpec) *pod {
	env := make(map[string]string, len(s.Env))
	for k, v := range s.Env {
		env[k] = v
	}
	s.Env = env
	k := KnobsFromEnv(env, m.cfg.DefaultKnobs)
	if k.PoolMin > k.PoolMax {
		k.PoolMin = k.PoolMax
	}
	limit := s.CPULimitMillis
	if limit <= 0 {
		limit = s.CPURequestMillis
	}
	if limit <= 0 {
		limit = 1000
	}
	cores := float64(limit) / 1000
	if k.Workers > 0 && float64(k.Workers) < cores {
		cores = float64(k.Workers)
	}
	return &pod{
		spec:  s,
		knobs: k,
		born:  m.now,
		cores: cores,
		open:  float64(k.PoolMin),
		c: podCounters{
			latency:  newHistogram(LatencyBuckets),
			poolWait: newHistogram(PoolWaitBuckets),
			dbQuery:  newHistogram(DBQueryBuckets),
		},
		h1: make([]float64, len(m.l1.g.q)),
	}
}

// SetRedisReplicas sets the number of ready Redis replicas (0: Redis is
// down). Replicas that come back are new processes with fresh counters;
// their data is replicated, so the L2 stays warm.
func (m *Model) SetRedisReplicas(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < 0 {
		n = 0
	}
	for len(m.redis) < n {
		m.redis = append(m.redis, &redisReplica{})
	}
	m.redis = m.redis[:n]
}

// Run steps the model for duration simulated seconds in steps of dt.
func (m *Model) Run(duration, dt float64) {
	for end := m.Now() + duration - dt/2; m.Now() < end; {
		m.Step(dt)
	}
}

// stepEnv is what every pod's step shares.
type stepEnv struct {
	dt, lam  float64
	redisUp  bool
	redisSvc float64 // mean Redis service time beyond the RTT
	tdb      float64 // mean DB call time
}

// Step advances the model by dt simulated seconds and returns the step's
// ground truth.
func (m *Model) Step(dt float64) StepStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if dt <= 0 {
		dt = 1
	}
	t := m.now
	rps := math.Max(0, m.trace.RPS(t+dt/2))
	m.truth.begin(t, dt, rps)
	if len(m.order) == 0 {
		m.truth.unserved(m.poisson(rps * dt))
		m.now += dt
		return m.truth.end(m.stepSummary(0))
	}
	e := stepEnv{dt: dt, lam: rps / float64(len(m.order))}
	m.cacheStep(t, &e)
	m.dbStep(&e)
	for _, p := range m.order {
		m.podStep(p, &e)
	}
	m.now += dt
	return m.truth.end(m.stepSummary(e.tdb))
}

// cacheStep computes the L1 hit ratios of every pod and the shared L2's.
func (m *Model) cacheStep(t float64, e *stepEnv) {
	g := m.l1.g
	clear(m.r2)
	var ttlSum, ttlW float64
	e.redisUp = len(m.redis) > 0
	for _, p := range m.order {
		age := t + e.dt/2 - p.born
		p.hit1 = m.l1.groupHits(p.h1, p.knobs.L1Items, p.knobs.L1TTL, e.lam, age)
		if !p.l2Enabled() || !e.redisUp {
			continue
		}
		for i, q := range g.q {
			m.r2[i] += e.lam * q * (1 - p.h1[i])
		}
		w := e.lam * (1 - p.hit1)
		ttlSum += w * p.knobs.L2TTL
		ttlW += w
	}
	if ttlW == 0 {
		if t-m.redisWarmSince > 3600 { // nothing written for long: the data expired
			m.redisWarmSince = math.NaN()
		}
		clear(m.h2)
	} else {
		if math.IsNaN(m.redisWarmSince) {
			m.redisWarmSince = t
		}
		ttl := ttlSum / ttlW
		age := t + e.dt/2 - m.redisWarmSince
		for i, r := range m.r2 {
			m.h2[i] = math.Min(ttlHit(r, ttl), -math.Expm1(-r*age))
		}
	}
	var ops float64
	for _, p := range m.order {
		p.hit2 = 0
		if !p.l2Enabled() || !e.redisUp {
			continue
		}
		var in, hit float64
		for i, q := range g.q {
			w := g.n[i] * q * (1 - p.h1[i])
			in += w
			hit += w * m.h2[i]
		}
		if in > 0 {
			p.hit2 = hit / in
		}
		ops += e.lam * (1 - p.hit1) * (2 - p.hit2) // GET, and SET after a miss
	}
	m.redisUtil, m.redisLatency = 0, 0
	if e.redisUp {
		c := m.cfg.RedisOpsPerReplica
		per := ops / float64(len(m.redis))
		m.redisUtil = per / c
		e.redisSvc = 1 / c / (1 - math.Min(m.redisUtil, 0.99))
		m.redisLatency = m.cfg.RedisRTT + e.redisSvc
		for _, r := range m.redis {
			r.commands += per * e.dt
			r.cpuSeconds += math.Min(per/c, 1) * e.dt
		}
	}
}

// dbStep computes the DB call time from the database's load and sizes every
// pod's pool within the database's connection limit.
func (m *Model) dbStep(e *stepEnv) {
	cfg := m.cfg
	for _, p := range m.order {
		p.lamDB = e.lam * (1 - p.hit1) * (1 - p.hit2)
	}
	// The DB call time t and the calls the pools let through depend on each
	// other: t = DBTime·(1 + DBContention·u/(1−u)) with u = served(t)·DBTime/DBCores,
	// served(t) = Σ min(λ_db, c/t). The residual is increasing in t: bisect.
	served := func(t float64) float64 {
		var s float64
		for _, p := range m.order {
			c := math.Min(float64(p.knobs.PoolMax), p.open+cfg.ConnOpenRate*e.dt)
			s += math.Min(p.lamDB, c/t)
		}
		return s
	}
	dbTime := func(t float64) float64 {
		u := math.Min(served(t)*cfg.DBTime/cfg.DBCores, 0.999)
		return cfg.DBTime * (1 + cfg.DBContention*u/(1-u))
	}
	lo, hi := cfg.DBTime, cfg.DBTime
	for dbTime(hi) > hi {
		lo, hi = hi, hi*2
	}
	for range 30 {
		mid := (lo + hi) / 2
		if dbTime(mid) > mid {
			lo = mid
		} else {
			hi = mid
		}
	}
	e.tdb = hi
	// Pools shrink first (idle connections close), then grow oldest first
	// while the database accepts connections.
	total := 0.0
	for _, p := range m.order {
		a := p.lamDB * e.tdb
		want := math.Ceil(a + 3*math.Sqrt(a))
		if p.poolQ.backlog > 0 || a >= float64(p.knobs.PoolMax) {
			want = float64(p.knobs.PoolMax)
		}
		p.want = math.Min(float64(p.knobs.PoolMax), math.Max(float64(p.knobs.PoolMin), want))
		if p.want < p.open {
			p.open = math.Max(p.want, p.open-p.open*e.dt/cfg.IdleTimeout)
		}
		total += math.Floor(p.open)
	}
	for _, p := range m.order {
		p.opened = 0
		if p.want <= p.open {
			continue
		}
		grow := math.Min(p.want-p.open, cfg.ConnOpenRate*e.dt)
		grow = math.Max(0, math.Min(grow, float64(cfg.DBMaxConnections)-total))
		before := math.Floor(p.open)
		p.open += grow
		p.opened = math.Floor(p.open) - before
		total += p.opened
	}
	for _, p := range m.order {
		p.refused = p.want > math.Floor(p.open) && total >= float64(cfg.DBMaxConnections)
	}
}

// podStep runs one pod's requests through CPU, L1, L2 and the pool.
func (m *Model) podStep(p *pod, e *stepEnv) {
	cfg := m.cfg
	dt := e.dt
	k := p.knobs
	// CPU: processor sharing over the pod's cores, fluid backlog beyond capacity.
	dbFrac := (1 - p.hit1) * (1 - p.hit2)
	l2Frac := 0.0
	if p.l2Enabled() && e.redisUp {
		l2Frac = 1 - p.hit1
	}
	demand := cfg.CPUPerRequest + l2Frac*cfg.CPUPerL2 + dbFrac*cfg.CPUPerDB
	load := e.lam * demand
	c0, c1, cDrop := p.cpuQ.advance(load, p.cores, dt, cfg.RequestTimeout)
	slow := 1 / (1 - math.Min(load/p.cores, 0.95))
	used := math.Min(load, p.cores)*dt + cfg.CPUIdleMillis/1000*dt
	p.c.cpuSeconds += used
	p.cpuMill = used / dt * 1000

	// Pool: M/M/c with c open connections; a fluid backlog when overloaded.
	c := int(math.Floor(p.open))
	mu := 1 / e.tdb
	capacity := float64(c) * mu
	a := p.lamDB * e.tdb
	refused := p.refused
	var pBlock, pWait, theta float64
	var w0, w1, wDrop float64
	if refused {
		pBlock = erlangB(c, a) // the pool tries to open a connection and the DB refuses it
		p.poolQ.backlog = 0
	} else {
		w0, w1, wDrop = p.poolQ.advance(p.lamDB, capacity, dt, cfg.PoolTimeout)
		pWait, theta = 1, mu
		if p.lamDB < capacity {
			pWait, theta = erlangC(c, a), capacity-p.lamDB
		}
	}
	served := math.Min(p.lamDB*(1-pBlock), capacity)
	p.inUse = math.Min(float64(c), served*e.tdb)
	if w1 > 0 {
		p.inUse = float64(c)
	}
	connFrac := 0.0 // DB calls that open a new connection first
	if n := p.lamDB * dt; n > 0 {
		connFrac = math.Min(1, p.opened/n)
	}

	n := m.poisson(e.lam * dt)
	for i := range n {
		f := (float64(i) + 0.5) / float64(n)
		status := st200
		lat := c0 + (c1-c0)*f
		if cDrop > 0 && m.rng.Float64() < cDrop {
			m.record(p, cfg.RequestTimeout, st504)
			continue
		}
		cpu := cfg.CPUPerRequest
		lat += cfg.L1Time
		if m.rng.Float64() < p.hit1 {
			p.c.cache[0][0]++
			m.record(p, lat+m.exp(cpu*slow), status)
			continue
		}
		p.c.cache[0][1]++
		if p.l2Enabled() {
			if e.redisUp {
				cpu += cfg.CPUPerL2
				lat += cfg.RedisRTT + m.exp(e.redisSvc)
			} else {
				lat += cfg.RedisRTT // connection refused: a miss
			}
			if e.redisUp && m.rng.Float64() < p.hit2 {
				p.c.cache[1][0]++
				m.record(p, lat+m.exp(cpu*slow), status)
				continue
			}
		}
		p.c.cache[1][1]++
		cpu += cfg.CPUPerDB
		lat += m.exp(cpu * slow)
		switch {
		case c == 0 && k.PoolMax == 0:
			m.record(p, lat, st500)
			continue
		case refused && m.rng.Float64() < pBlock:
			m.record(p, lat+cfg.ConnectTime, st500)
			continue
		}
		wait := w0 + (w1-w0)*f
		if wDrop > 0 && m.rng.Float64() < wDrop {
			wait = cfg.PoolTimeout * 2
		} else if w1 == 0 && m.rng.Float64() < pWait { // with a backlog, its delay is the wait
			wait += m.exp(1 / theta)
		}
		if wait > cfg.PoolTimeout {
			p.c.poolWait.observe(cfg.PoolTimeout)
			m.record(p, lat+cfg.PoolTimeout, st503)
			continue
		}
		p.c.poolWait.observe(wait)
		lat += wait
		if m.rng.Float64() < connFrac {
			lat += cfg.ConnectTime
		}
		q := m.exp(e.tdb)
		p.c.dbQuery.observe(q)
		m.record(p, lat+q, status)
	}
}

func (m *Model) record(p *pod, lat float64, status int) {
	p.c.requests[status]++
	p.c.latency.observe(lat)
	m.truth.add(lat, status)
}

func (m *Model) exp(mean float64) float64 { return m.rng.ExpFloat64() * mean }

// poisson draws a Poisson count (normal approximation for large means).
func (m *Model) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*m.rng.NormFloat64())))
	}
	l, k, prod := math.Exp(-mean), 0, m.rng.Float64()
	for prod > l {
		k++
		prod *= m.rng.Float64()
	}
	return k
}

// erlangB is the blocking probability of an M/M/c/c loss system.
func erlangB(c int, a float64) float64 {
	if c <= 0 {
		return 1
	}
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b
}
