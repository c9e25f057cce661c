package tuning

import "math"

// The models behind "estimate, don't grope": each answers how big a knob must
// be, so the engine can jump towards the answer (still within maxStepPercent)
// instead of stepping blindly.

// offeredLoad is Little's law: the mean number of busy connections is the
// arrival rate of database calls (per second) times the time each holds a
// connection (seconds).
func offeredLoad(callsPerSecond, secondsPerCall float64) float64 {
	if callsPerSecond <= 0 || secondsPerCall <= 0 {
		return 0
	}
	return callsPerSecond * secondsPerCall
}

// erlangC is the probability that a call has to wait for one of c connections
// when the offered load is a Erlangs (an M/M/c queue). It is 1 when a >= c.
func erlangC(c int64, a float64) float64 {
	if a <= 0 {
		return 0
	}
	if c <= 0 || a >= float64(c) {
		return 1
	}
	// Erlang B by its stable recurrence, then C from B.
	b := 1.0
	for k := int64(1); k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	rho := a / float64(c)
	return b / (1 - rho + rho*b)
}

// erlangWait is the mean time a call waits for a connection with a pool of c
// connections, offered load a Erlangs and mean hold time s seconds. It is +Inf
// when the pool cannot keep up (a >= c).
func erlangWait(c int64, a, s float64) float64 {
	if a <= 0 || s <= 0 {
		return 0
	}
	if c <= 0 || a >= float64(c) {
		return math.Inf(1)
	}
	return erlangC(c, a) * s / (float64(c) - a)
}

// waitQuantile is the wait exceeded by a share 1−q of the requests when a
// share p of them waits for a connection and a waiting request's wait is
// exponential at rate r per second: P(W > t) = p·e^(−r·t), the wait
// distribution of an M/M/c queue (p is Erlang C there, r = cμ − λ). It is 0
// when fewer than 1−q of the requests wait at all.
func waitQuantile(p, r, q float64) float64 {
	tail := 1 - q
	switch {
	case p <= tail || tail <= 0:
		return 0
	case r <= 0:
		return math.Inf(1)
	}
	return math.Log(p/tail) / r
}

// poolQueue is one pod's pool as an M/M/c queue, calibrated to what it
// measures: offered load a Erlangs (the busy connections, by Little's law),
// hold time s seconds per call, and a share f of the requests that make a
// call (at most 1). k scales Erlang C's probability of waiting to the one
// the measured mean wait implies: with near-constant query times and
// smoother arrivals than Poisson, fewer calls wait than M/M/c says (a pool
// of 4 at 2.7 Erlangs: Erlang C says 39 %, a mean wait of 1.13 ms says 6 %),
// while a waiting call's wait keeps the exponential shape at rate cμ − λ.
type poolQueue struct {
	a, s, f, k float64
	// calibrated: k comes from a measured mean wait (else it is 1, Erlang C
	// as it is, which overstates the waits of near-constant query times).
	calibrated bool
}

// newPoolQueue calibrates the queue at the current size c on the measured
// mean wait (seconds per call): the mean of an exponential wait at rate r is
// 1/r, so the share of calls that wait is meanWait·r. Unknown (negative)
// meanWait, or a pool that cannot keep up, keeps Erlang C as it is (k = 1).
func newPoolQueue(c int64, a, s, f, meanWait float64) poolQueue {
	q := poolQueue{a: a, s: s, f: min(max(f, 0), 1), k: 1}
	if meanWait < 0 || float64(c) <= a || s <= 0 {
		return q
	}
	r := (float64(c) - a) / s
	if ec := erlangC(c, a); ec > 0 {
		q.k, q.calibrated = min(meanWait*r, 1)/ec, true
	}
	return q
}

// waitShare is the share of the requests that wait for a connection with c connections.
func (p poolQueue) waitShare(c int64) float64 { return p.f * min(p.k*erlangC(c, p.a), 1) }

// tailWait is the wait at the quantile q of the requests with c connections;
// +Inf when the pool cannot keep up.
func (p poolQueue) tailWait(c int64, q float64) float64 {
	if p.a <= 0 || p.s <= 0 {
		return 0
	}
	if float64(c) <= p.a {
		return math.Inf(1)
	}
	return waitQuantile(p.waitShare(c), (float64(c)-p.a)/p.s, q)
}

// meanWait is the calibrated mean wait per call with c connections.
func (p poolQueue) meanWait(c int64) float64 { return p.k * erlangWait(c, p.a, p.s) }

// sizeForTail is the smallest pool from c up to most whose wait at the
// quantile q is at most maxWait; most when none is.
func (p poolQueue) sizeForTail(c, most int64, q, maxWait float64) int64 {
	for ; c < most && p.tailWait(c, q) > maxWait; c++ {
	}
	return c
}

// poolHeadroom is the share added on top of the offered load.
const poolHeadroom = 1.25

// maxModelPool bounds the search for a pool size.
const maxModelPool = 100000

// poolSizeFor is the connections one pod needs: the offered load plus 25 %
// headroom, and at least enough that the mean wait predicted by Erlang C is at
// most maxWait seconds.
func poolSizeFor(callsPerSecond, secondsPerCall, maxWait float64) int64 {
	a := offeredLoad(callsPerSecond, secondsPerCall)
	if a == 0 {
		return 1
	}
	c := max(int64(math.Ceil(a*poolHeadroom)), 1)
	for c < maxModelPool && erlangWait(c, a, secondsPerCall) > maxWait {
		c++
	}
	return c
}

// replicasFor is the number of pods that carry load (requests per second) when
// each pod serves perPod requests per second at the target utilisation.
func replicasFor(load, perPod float64) int64 {
	if load <= 0 || perPod <= 0 {
		return 0
	}
	return int64(math.Ceil(load/perPod - 1e-9))
}

// perPodAtTarget is what one pod serves at the target CPU utilisation, from
// what it serves now (perPodNow requests per second at utilisation cpuNow):
// throughput scales with CPU use.
func perPodAtTarget(perPodNow, cpuNow, target float64) float64 {
	if perPodNow <= 0 || cpuNow <= 0 || target <= 0 {
		return 0
	}
	return perPodNow * target / cpuNow
}

// ZipfAlpha is the key-popularity skew the cache model assumes until it has
// seen the hit ratio at two operating points: 0.9 is typical of web object popularity.
const ZipfAlpha = 0.9

// zipfBuckets groups the ranks 1..n of a Zipf(alpha) popularity law into
// geometric buckets, so the model costs O(log n) instead of O(n).
type zipfBuckets struct {
	count []float64 // keys in the bucket
	prob  []float64 // request probability of each key in the bucket
}

func newZipf(alpha, n float64) zipfBuckets {
	var z zipfBuckets
	total := 0.0
	for lo := 1.0; lo <= n; {
		hi := math.Min(math.Max(lo+1, math.Floor(lo*1.15)), n+1)
		cnt := hi - lo
		mid := math.Sqrt(lo * (hi - 1))
		if mid < lo {
			mid = lo
		}
		w := math.Pow(mid, -alpha)
		z.count = append(z.count, cnt)
		z.prob = append(z.prob, w)
		total += cnt * w
		lo = hi
	}
	for i := range z.prob {
		z.prob[i] /= total
	}
	return z
}

// occupancy is the expected number of keys in the cache when each key stays
// for t requests after its last use (the characteristic time).
func (z zipfBuckets) occupancy(t float64) float64 {
	s := 0.0
	for i, p := range z.prob {
		s += z.count[i] * -math.Expm1(-p*t)
	}
	return s
}

// hitRatio is the request-weighted hit ratio when the LRU keeps a key for tc
// requests after its last use and the TTL is ttl requests (+Inf: none). A TTL
// that counts from the write gives a key of request probability p the TTL
// cache's hit ratio pT/(1+pT) (a miss stores the key for T, the requests in
// that time hit); one that counts from the last access is a second LRU clock,
// 1−e^(−pT). The LRU and the TTL each bound the key's hit ratio.
func (z zipfBuckets) hitRatio(tc, ttl float64, fromWrite bool) float64 {
	if !fromWrite {
		tc, ttl = math.Min(tc, ttl), math.Inf(1)
	}
	h := 0.0
	for i, p := range z.prob {
		h += z.count[i] * p * keyHit(p, tc, ttl)
	}
	return h
}

// keyHit is the hit ratio of a key of request probability p in a cache
// whose LRU keeps it tc requests after its last use and whose TTL, from the
// write, is ttl requests (hitRatio).
func keyHit(p, tc, ttl float64) float64 {
	v := 1.0
	if !math.IsInf(tc, 1) {
		v = -math.Expm1(-p * tc)
	}
	if a := p * ttl; !math.IsInf(ttl, 1) && a/(1+a) < v {
		v = a / (1 + a)
	}
	return v
}

// fitIterations of a bisection: the keys to e^(28/2^20), a relative 3e-5;
// the characteristic time within a factor 4^(1/2^20).
const fitIterations = 20

// characteristicTime solves occupancy(t) = capacity by bisection (Che).
func (z zipfBuckets) characteristicTime(capacity float64) float64 {
	// occupancy(t) <= t, so the answer is at least capacity; search in log space.
	lo, hi := math.Max(capacity, 1), math.Max(capacity, 1)*2
	for z.occupancy(hi) < capacity && hi < 1e18 {
		lo, hi = hi, hi*4
	}
	for range fitIterations {
		mid := math.Sqrt(lo * hi)
		if z.occupancy(mid) < capacity {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// CacheModel is the L1 cache model: keys with Zipf(Alpha) popularity, an
// LRU of a capacity in items (Che's approximation), and a TTL that counts
// from the write (TTLFromWrite) or from the last access. Time is counted in
// cache lookups.
type CacheModel struct {
	Alpha        float64
	TTLFromWrite bool
}

// HitRatio is the hit ratio of a cache of capacity items over keys keys
// when each entry expires ttlRequests lookups after its write or last access
// (+Inf: no TTL).
func (m CacheModel) HitRatio(keys, capacity, ttlRequests float64) float64 {
	if capacity <= 0 || keys <= 0 || ttlRequests <= 0 {
		return 0
	}
	z := newZipf(m.Alpha, keys)
	tc := math.Inf(1)
	if capacity < keys {
		tc = z.characteristicTime(capacity)
	}
	if math.IsInf(tc, 1) && math.IsInf(ttlRequests, 1) {
		return 1 // every key stays once stored
	}
	return z.hitRatio(tc, ttlRequests, m.TTLFromWrite)
}

// MissStreamHitRatio is the hit ratio of a second tier (L2: Redis) fed by
// the misses of pods L1 caches of this model, each of capacity items and a
// TTL of ttlRequests lookups, over keys keys; the L2 has no capacity bound,
// its TTL counts from the write (a miss stores the key) and is l2TTLRequests
// lookups of one pod (the TTL in seconds × the lookups per second per pod).
// It is the same Che/TTL form on the L1-miss stream: a key of request
// probability p reaches L2 at pods × p(1 − h1(p)) per lookup of one pod,
// so it hits there a/(1+a) of the time, a = that × l2TTLRequests; the L2's
// hit ratio is that weighted by the keys' L2 lookups. What L1 keeps (the
// head of the popularity) L2 never sees: its stream is flatter than the
// requests'. 0 when L1 misses nothing.
func (m CacheModel) MissStreamHitRatio(keys, capacity, ttlRequests, pods, l2TTLRequests float64) float64 {
	if keys <= 0 || pods <= 0 || l2TTLRequests <= 0 {
		return 0
	}
	z := newZipf(m.Alpha, keys)
	tc := math.Inf(1)
	if capacity < keys {
		tc = z.characteristicTime(max(capacity, 1))
	}
	ttl := ttlRequests
	if !m.TTLFromWrite {
		tc, ttl = math.Min(tc, ttl), math.Inf(1)
	}
	lookups, hits := 0.0, 0.0
	for i, p := range z.prob {
		miss := pods * p * (1 - keyHit(p, tc, ttl))
		a := miss * l2TTLRequests
		lookups += z.count[i] * miss
		hits += z.count[i] * miss * a / (1 + a)
	}
	if lookups <= 0 {
		return 0
	}
	return hits / lookups
}

// FitKeys is the number of keys that explains an observed hit ratio at a
// capacity and TTL (the inverse of HitRatio in keys). ok is false when the
// observation is outside what the model can explain.
func (m CacheModel) FitKeys(capacity, ttlRequests, hit float64) (float64, bool) {
	if capacity < 1 || hit <= 0 || hit >= 1 {
		return 0, false
	}
	lo, hi := math.Log(capacity), math.Log(1e12)
	if !math.IsInf(ttlRequests, 1) {
		lo = 0 // a TTL misses even when every key fits
	}
	if m.HitRatio(math.Exp(hi), capacity, ttlRequests) > hit ||
		m.HitRatio(math.Exp(lo)+1, capacity, ttlRequests) < hit {
		return 0, false
	}
	for range fitIterations {
		mid := (lo + hi) / 2
		if m.HitRatio(math.Exp(mid), capacity, ttlRequests) > hit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2), true
}

// CachePoint is one observed operating point of the L1 cache: its hit
// ratio at a capacity (items) and a TTL (in lookups, +Inf without a TTL).
type CachePoint struct {
	Capacity, TTLRequests, Hit float64
}

// The skews FitCache tries: a grid, refined around the best.
const (
	minZipfAlpha  = 0.4
	maxZipfAlpha  = 1.4
	zipfAlphaGrid = 0.1
)

// fitCache fits the cache model to the observed operating points, the
// current one first: the key count explains the current point exactly, and
// the skew is the one that best explains the others (least squares on the
// hit ratio). With fewer than two distinct operating points (capacity or
// TTL), the skew cannot be told from the key count and is ZipfAlpha. It
// returns the model, the key count and whether the current point could be
// explained at all; fitted says whether the skew was fitted.
func fitCache(ttlFromWrite bool, points []CachePoint) (m CacheModel, keys float64, fitted, ok bool) {
	m = CacheModel{Alpha: ZipfAlpha, TTLFromWrite: ttlFromWrite}
	if len(points) == 0 {
		return m, 0, false, false
	}
	cur := points[0]
	var others []CachePoint
	for _, p := range points[1:] {
		if p.Hit > 0 && p.Hit < 1 && (!near(p.Capacity, cur.Capacity) || !near(p.TTLRequests, cur.TTLRequests)) {
			others = append(others, p)
		}
	}
	if len(others) == 0 {
		keys, ok = m.FitKeys(cur.Capacity, cur.TTLRequests, cur.Hit)
		return m, keys, false, ok
	}
	cost := func(alpha float64) (float64, float64) {
		c := CacheModel{Alpha: alpha, TTLFromWrite: ttlFromWrite}
		n, ok := c.FitKeys(cur.Capacity, cur.TTLRequests, cur.Hit)
		if !ok {
			return math.Inf(1), 0
		}
		sum := 0.0
		for _, p := range others {
			e := c.HitRatio(n, p.Capacity, p.TTLRequests) - p.Hit
			sum += e * e
		}
		return sum, n
	}
	// A grid, then the vertex of the parabola through the best grid point
	// and its neighbours: each cost is a nested fit, so few evaluations.
	var grid, costs []float64
	best := -1
	for a := minZipfAlpha; a <= maxZipfAlpha+1e-9; a += zipfAlphaGrid {
		c, _ := cost(a)
		grid, costs = append(grid, a), append(costs, c)
		if best < 0 || c < costs[best] {
			best = len(costs) - 1
		}
	}
	if math.IsInf(costs[best], 1) {
		keys, ok = m.FitKeys(cur.Capacity, cur.TTLRequests, cur.Hit)
		return m, keys, false, ok
	}
	alpha := grid[best]
	if best > 0 && best < len(grid)-1 {
		c0, c1, c2 := costs[best-1], costs[best], costs[best+1]
		if den := c0 - 2*c1 + c2; den > 0 && !math.IsInf(c0, 1) && !math.IsInf(c2, 1) {
			v := alpha + zipfAlphaGrid*(c0-c2)/(2*den)
			if c, _ := cost(v); c <= c1 {
				alpha = v
			}
		}
	}
	m.Alpha = alpha
	_, keys = cost(alpha)
	return m, keys, true, true
}

// near: a and b differ by less than 1 % (or are both infinite).
func near(a, b float64) bool {
	if math.IsInf(a, 1) || math.IsInf(b, 1) {
		return math.IsInf(a, 1) && math.IsInf(b, 1)
	}
	return math.Abs(a-b) <= 0.01*math.Max(math.Abs(a), math.Abs(b))
}

// maxLimitShare is the highest share of its CPU limit TargetForMargin lets a
// pod run at: the queueing delay grows without bound towards the limit.
const maxLimitShare = 0.9

// cpuTargetForMargin is the largest CPU target (a share of the request) at
// which the latency percentile lat observed at utilisation cpu (of the
// request) is predicted to stay at or under goal, for pods whose limit is
// headroom times their request. The model is processor sharing on the
// limit: a request's CPU time stretches by 1 ÷ (1 − ρ), ρ = utilisation ×
// request ÷ limit. cpuTail is the percentile's CPU part at no load (the CPU
// time per request times the percentile's factor of an exponential
// distribution, −ln(1 − q)); only that part grows with ρ, the rest (database,
// cache, network) does not. With cpuTail 0 (unknown) the whole latency
// grows with ρ, which is conservative. The answer is never above
// maxLimitShare of the limit, and 0 when the latency is at or above the goal.
func cpuTargetForMargin(cpu, headroom, lat, goal, cpuTail float64) float64 {
	if cpu <= 0 || headroom <= 0 || lat <= 0 || goal <= lat {
		return 0
	}
	rho := cpu / headroom
	if rho >= 1 {
		return 0
	}
	var most float64
	if cpuTail > 0 {
		// lat(ρ) = lat + cpuTail × (1/(1−ρ) − 1/(1−ρ_now)) ≤ goal
		most = 1 - 1/(1/(1-rho)+(goal-lat)/cpuTail)
	} else {
		most = 1 - (1-rho)*lat/goal
	}
	return math.Min(most, maxLimitShare) * headroom
}
