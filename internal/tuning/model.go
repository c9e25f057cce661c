package tuning

import "math"

// The models behind "estimate, don't grope": each answers how big a knob must
// be, so the engine can jump towards the answer (still within maxStepPercent)
// instead of stepping blindly.

// OfferedLoad is Little's law: the mean number of busy connections is the
// arrival rate of database calls (per second) times the time each holds a
// connection (seconds).
func OfferedLoad(callsPerSecond, secondsPerCall float64) float64 {
	if callsPerSecond <= 0 || secondsPerCall <= 0 {
		return 0
	}
	return callsPerSecond * secondsPerCall
}

// ErlangC is the probability that a call has to wait for one of c connections
// when the offered load is a Erlangs (an M/M/c queue). It is 1 when a >= c.
func ErlangC(c int64, a float64) float64 {
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

// ErlangWait is the mean time a call waits for a connection with a pool of c
// connections, offered load a Erlangs and mean hold time s seconds. It is +Inf
// when the pool cannot keep up (a >= c).
func ErlangWait(c int64, a, s float64) float64 {
	if a <= 0 || s <= 0 {
		return 0
	}
	if c <= 0 || a >= float64(c) {
		return math.Inf(1)
	}
	return ErlangC(c, a) * s / (float64(c) - a)
}

// poolHeadroom is the share added on top of the offered load.
const poolHeadroom = 1.25

// maxModelPool bounds the search for a pool size.
const maxModelPool = 100000

// PoolSizeFor is the connections one pod needs: the offered load plus 25 %
// headroom, and at least enough that the mean wait predicted by Erlang C is at
// most maxWait seconds.
func PoolSizeFor(callsPerSecond, secondsPerCall, maxWait float64) int64 {
	a := OfferedLoad(callsPerSecond, secondsPerCall)
	if a == 0 {
		return 1
	}
	c := max(int64(math.Ceil(a*poolHeadroom)), 1)
	for c < maxModelPool && ErlangWait(c, a, secondsPerCall) > maxWait {
		c++
	}
	return c
}

// ReplicasFor is the number of pods that carry load (requests per second) when
// each pod serves perPod requests per second at the target utilisation.
func ReplicasFor(load, perPod float64) int64 {
	if load <= 0 || perPod <= 0 {
		return 0
	}
	return int64(math.Ceil(load/perPod - 1e-9))
}

// PerPodAtTarget is what one pod serves at the target CPU utilisation, from
// what it serves now (perPodNow requests per second at utilisation cpuNow):
// throughput scales with CPU use.
func PerPodAtTarget(perPodNow, cpuNow, target float64) float64 {
	if perPodNow <= 0 || cpuNow <= 0 || target <= 0 {
		return 0
	}
	return perPodNow * target / cpuNow
}

// ZipfAlpha is the key-popularity skew the cache model assumes: no signal
// reports the skew, and 0.9 is typical of web object popularity.
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

func (z zipfBuckets) hitRatio(t float64) float64 {
	h := 0.0
	for i, p := range z.prob {
		h += z.count[i] * p * -math.Expm1(-p*t)
	}
	return h
}

// characteristicTime solves occupancy(t) = capacity by bisection (Che).
func (z zipfBuckets) characteristicTime(capacity float64) float64 {
	// occupancy(t) <= t, so the answer is at least capacity; search in log space.
	lo, hi := math.Max(capacity, 1), math.Max(capacity, 1)*2
	for z.occupancy(hi) < capacity && hi < 1e18 {
		lo, hi = hi, hi*4
	}
	for range 32 {
		mid := math.Sqrt(lo * hi)
		if z.occupancy(mid) < capacity {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// CacheHitRatio is Che's approximation of an LRU cache of capacity items over
// keys keys with Zipf(alpha) popularity, when each key also expires ttlRequests
// requests after it was stored (+Inf: no TTL). Time is counted in requests.
func CacheHitRatio(alpha, keys, capacity, ttlRequests float64) float64 {
	if capacity <= 0 || keys <= 0 {
		return 0
	}
	z := newZipf(alpha, keys)
	t := ttlRequests
	if capacity < keys {
		t = math.Min(t, z.characteristicTime(capacity))
	}
	if math.IsInf(t, 1) {
		return 1
	}
	return z.hitRatio(t)
}

// FitKeys is the number of keys that explains an observed hit ratio at the
// current capacity and TTL (the inverse of CacheHitRatio in keys). ok is false
// when the observation is outside what the model can explain.
func FitKeys(alpha, capacity, ttlRequests, hit float64) (float64, bool) {
	if capacity < 1 || hit <= 0 || hit >= 1 {
		return 0, false
	}
	lo, hi := math.Log(capacity), math.Log(1e12)
	if CacheHitRatio(alpha, math.Exp(hi), capacity, ttlRequests) > hit ||
		CacheHitRatio(alpha, math.Exp(lo)+1, capacity, ttlRequests) < hit {
		return 0, false
	}
	for range 32 {
		mid := (lo + hi) / 2
		if CacheHitRatio(alpha, math.Exp(mid), capacity, ttlRequests) > hit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2), true
}
