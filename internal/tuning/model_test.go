package tuning

import (
	"container/list"
	"math"
	"math/rand/v2"
	"testing"
)

func TestErlangCKnownValues(t *testing.T) {
	cases := []struct {
		name string
		c    int64
		a    float64
		want float64
	}{
		{"two servers one erlang", 2, 1, 1.0 / 3},
		{"ten servers eight erlangs", 10, 8, 0.4092},
		{"one server half load", 1, 0.5, 0.5},
		{"overloaded", 4, 4, 1},
		{"no load", 4, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := erlangC(tc.c, tc.a); math.Abs(got-tc.want) > 0.001 {
				t.Fatalf("ErlangC(%d, %g) = %.4f, want %.4f", tc.c, tc.a, got, tc.want)
			}
		})
	}
}

func TestErlangWaitFallsWithPoolSize(t *testing.T) {
	a, s := 8.0, 0.01 // 800 calls/s × 10 ms
	if w := erlangWait(8, a, s); !math.IsInf(w, 1) {
		t.Fatalf("wait at c = a should be infinite, got %g", w)
	}
	prev := math.Inf(1)
	for c := int64(9); c <= 20; c++ {
		w := erlangWait(c, a, s)
		if w >= prev {
			t.Fatalf("wait did not fall from c=%d to c=%d: %g -> %g", c-1, c, prev, w)
		}
		prev = w
	}
	// M/M/1 check: W = rho/(mu - lambda) = 0.5/(100-50) = 10 ms.
	if w := erlangWait(1, 0.5, 0.01); math.Abs(w-0.01) > 1e-9 {
		t.Fatalf("M/M/1 wait = %g, want 0.01", w)
	}
}

func TestPoolSizeForLittlesLawWithHeadroom(t *testing.T) {
	// 400 calls/s per pod × 20 ms = 8 busy connections: 8 × 1.25 = 10, and
	// Erlang C must bring the mean wait under 1 ms.
	got := poolSizeFor(400, 0.02, 0.001)
	if got < 10 {
		t.Fatalf("PoolSizeFor = %d, want at least the headroom size 10", got)
	}
	if w := erlangWait(got, 8, 0.02); w > 0.001 {
		t.Fatalf("predicted wait at %d connections is %g s, want <= 1 ms", got, w)
	}
	if w := erlangWait(got-1, 8, 0.02); got > 10 && w <= 0.001 {
		t.Fatalf("%d is not the smallest size: %d already waits %g", got, got-1, w)
	}
	if got := poolSizeFor(0, 0.02, 0.001); got != 1 {
		t.Fatalf("no load should need 1 connection, got %d", got)
	}
}

func TestReplicasForLoadAtTarget(t *testing.T) {
	// 4 pods serve 1200 req/s at 90 % CPU: 300/s each, 200/s each at 60 %.
	perPod := perPodAtTarget(1200.0/4, 0.9, 0.6)
	if math.Abs(perPod-200) > 1e-9 {
		t.Fatalf("PerPodAtTarget = %g, want 200", perPod)
	}
	if got := replicasFor(1200, perPod); got != 6 {
		t.Fatalf("ReplicasFor = %d, want 6", got)
	}
	if got := replicasFor(1201, perPod); got != 7 {
		t.Fatalf("ReplicasFor(1201) = %d, want 7", got)
	}
}

// lruHitRatio simulates an LRU cache on a seeded Zipf request stream.
func lruHitRatio(alpha float64, keys, capacity, requests int) float64 {
	r := rand.New(rand.NewPCG(1, 2))
	cdf := make([]float64, keys)
	sum := 0.0
	for i := range keys {
		sum += math.Pow(float64(i+1), -alpha)
		cdf[i] = sum
	}
	lru := list.New()
	at := map[int]*list.Element{}
	hits := 0
	for n := range requests {
		u := r.Float64() * sum
		lo, hi := 0, keys-1
		for lo < hi {
			mid := (lo + hi) / 2
			if cdf[mid] < u {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if e, ok := at[lo]; ok {
			lru.MoveToFront(e)
			if n >= requests/5 { // warm-up excluded
				hits++
			}
			continue
		}
		at[lo] = lru.PushFront(lo)
		if lru.Len() > capacity {
			old := lru.Back()
			lru.Remove(old)
			delete(at, old.Value.(int))
		}
	}
	return float64(hits) / float64(requests-requests/5)
}

// lruModel is the cache model without a TTL that counts from the write: Che's LRU.
var lruModel = CacheModel{Alpha: ZipfAlpha}

func TestCacheHitRatioMatchesLRUSimulation(t *testing.T) {
	for _, capacity := range []int{100, 500, 2000} {
		sim := lruHitRatio(ZipfAlpha, 10000, capacity, 300000)
		che := lruModel.HitRatio(10000, float64(capacity), math.Inf(1))
		if math.Abs(sim-che) > 0.03 {
			t.Errorf("capacity %d: Che %.3f, simulated LRU %.3f", capacity, che, sim)
		}
	}
}

func TestCacheHitRatioGrowsWithCapacityAndTTL(t *testing.T) {
	h1 := lruModel.HitRatio(1e6, 1e4, math.Inf(1))
	h2 := lruModel.HitRatio(1e6, 2e4, math.Inf(1))
	if !(h2 > h1) {
		t.Fatalf("doubling capacity did not raise the hit ratio: %.3f -> %.3f", h1, h2)
	}
	short := lruModel.HitRatio(1e6, 1e4, 1000)
	if !(short < h1) {
		t.Fatalf("a binding TTL should lower the hit ratio: %.3f vs %.3f", short, h1)
	}
	if h := lruModel.HitRatio(100, 200, math.Inf(1)); h != 1 {
		t.Fatalf("a cache larger than the key space should hit always, got %g", h)
	}
}

func TestFitKeysInvertsCacheHitRatio(t *testing.T) {
	want := 3e5
	h := lruModel.HitRatio(want, 1e4, math.Inf(1))
	got, ok := lruModel.FitKeys(1e4, math.Inf(1), h)
	if !ok || math.Abs(got-want)/want > 0.02 {
		t.Fatalf("FitKeys = %g (%v), want %g", got, ok, want)
	}
	if _, ok := lruModel.FitKeys(1e4, math.Inf(1), 1); ok {
		t.Fatal("a hit ratio of 1 cannot be fitted")
	}
}
