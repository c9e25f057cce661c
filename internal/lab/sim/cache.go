package sim

import (
	"math"
	"sync"
)

// keyGroups approximates a Zipf key distribution over K keys by groups of
// consecutive ranks (geometrically wider), each with its key count and the
// mean per-key probability. The analytic cache models sum over the groups
// instead of over every key.
type keyGroups struct {
	n []float64 // keys in the group
	q []float64 // per-key request probability
}

func newKeyGroups(keys int, s float64) keyGroups {
	var g keyGroups
	var norm float64
	for r := 1; r <= keys; r++ {
		norm += math.Pow(float64(r), -s)
	}
	for lo := 1; lo <= keys; {
		hi := int(math.Ceil(float64(lo) * 1.15))
		if hi <= lo {
			hi = lo + 1
		}
		if hi > keys+1 {
			hi = keys + 1
		}
		var p float64
		for r := lo; r < hi; r++ {
			p += math.Pow(float64(r), -s)
		}
		n := float64(hi - lo)
		g.n = append(g.n, n)
		g.q = append(g.q, p/norm/n)
		lo = hi
	}
	return g
}

// cheX solves Che's approximation for an LRU cache of size items:
// Σ_i (1 − exp(−q_i X)) = items, where X = λ·T_C (the characteristic time in
// units of requests). It depends on items only; +Inf when everything fits.
func (g keyGroups) cheX(items float64) float64 {
	var total float64
	for _, n := range g.n {
		total += n
	}
	if items >= total {
		return math.Inf(1)
	}
	if items <= 0 {
		return 0
	}
	occupancy := func(x float64) float64 {
		var o float64
		for i, n := range g.n {
			o += n * -math.Expm1(-g.q[i]*x)
		}
		return o
	}
	lo, hi := 0.0, 1.0
	for occupancy(hi) < items {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if occupancy(mid) < items {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// l1Model computes per-group hit ratios of a pod's L1 cache.
type l1Model struct {
	g  keyGroups
	mu sync.Mutex
	x  map[int]float64 // items → Che's X
}

func (m *l1Model) cheX(items int) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if x, ok := m.x[items]; ok {
		return x
	}
	x := m.g.cheX(float64(items))
	m.x[items] = x
	return x
}

// groupHits fills h with the per-group L1 hit ratio of a pod receiving rate
// requests/s, with items capacity, ttl seconds and age seconds since it
// started (cold). Each key's hit probability is the smallest of the LRU
// (Che: 1−e^{−qX}), the TTL-cache (non-renewing TTL: qλτ/(1+qλτ)) and the
// cold-start (requested since start: 1−e^{−qλ·age}) estimates. It returns the
// pod's overall hit ratio.
func (m *l1Model) groupHits(h []float64, items int, ttl, rate, age float64) float64 {
	if items <= 0 || ttl <= 0 || rate <= 0 {
		clear(h)
		return 0
	}
	x := m.cheX(items)
	var hit float64
	for i, q := range m.g.q {
		v := -math.Expm1(-q * x)
		if a := q * rate * ttl; a/(1+a) < v {
			v = a / (1 + a)
		}
		if c := -math.Expm1(-q * rate * age); c < v {
			v = c
		}
		h[i] = v
		hit += m.g.n[i] * q * v
	}
	return hit
}

var (
	l1Mu     sync.Mutex
	l1Models = map[[2]float64]*l1Model{}
)

// l1For returns the shared cache model of a key space.
func l1For(keys int, s float64) *l1Model {
	l1Mu.Lock()
	defer l1Mu.Unlock()
	k := [2]float64{float64(keys), s}
	m, ok := l1Models[k]
	if !ok {
		m = &l1Model{g: newKeyGroups(keys, s), x: map[int]float64{}}
		l1Models[k] = m
	}
	return m
}

// CheHitRatio is the steady-state hit ratio of an LRU cache of items
// entries with a non-renewing TTL (seconds) under rate requests/s over keys
// Zipf(s)-distributed keys, as the model computes it. The decision engine
// can use the same estimate.
func CheHitRatio(items int, ttl, rate float64, keys int, s float64) float64 {
	m := l1For(keys, s)
	h := make([]float64, len(m.g.q))
	return m.groupHits(h, items, ttl, rate, math.Inf(1))
}

// ttlHit is the hit ratio of one key requested at rate r in a cache with a
// non-renewing TTL: an entry lives ttl seconds after the miss that stored it.
func ttlHit(r, ttl float64) float64 {
	a := r * ttl
	return a / (1 + a)
}
