package tuning

import (
	"fmt"
	"math"
	"strconv"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// The inputs of the L1 cache model that come from the profile, the signals
// and the history (the model itself is in model.go).

// maxCachePoints bounds the operating points read from the history.
const maxCachePoints = 6

// ttlFromWrite says whether the L1 TTL counts from the write (the default)
// or from the last access, as spec.cache.memory.ttlCountsFrom says.
func (d *decider) ttlFromWrite() bool {
	c := d.in.Spec.Cache
	return c == nil || c.Memory == nil || c.Memory.TTLCountsFrom != tuningv1alpha1.TTLFromAccess
}

// l1LookupRate is the L1 lookups per second per pod: from the cache's own
// hit and miss counters (memoryLookupRate), which count the lookups a request
// makes (several keys, or none); from the HTTP requests only when the cache
// counters are missing, and then it says so.
func (d *decider) l1LookupRate() (float64, string) {
	pods := d.pods()
	if pods < 1 {
		return 0, ""
	}
	if r, ok := d.v.get(signals.MemoryLookupRate); ok && r > 0 {
		return r / pods, ""
	}
	if load, ok := d.v.get(signals.Throughput); ok && load > 0 {
		return load / pods, "lookups taken as requests (no L1 lookup rate)"
	}
	return 0, ""
}

// l1Points are the L1's operating points: the current one first, then the
// ones the history's baselines observed, newest first, at the L1 size and
// TTL of their time (the current values with every later change undone). A
// baseline's lookup rate is the current one scaled by its throughput.
func (d *decider) l1Points(ik knobDef, items int64, tk knobDef, ttl int64, hit, rate float64, ttlOK bool) []CachePoint {
	ttlReq := func(s int64, r float64) float64 {
		if !ttlOK || r <= 0 {
			return math.Inf(1)
		}
		return float64(s) * r
	}
	out := []CachePoint{{Capacity: float64(items), TTLRequests: ttlReq(ttl, rate), Hit: hit}}
	load, loadOK := d.v.get(signals.Throughput)
	vals := map[Knob]int64{ik.knob: items, tk.knob: ttl}
	for i := len(d.in.History) - 1; i >= 0 && len(out) <= maxCachePoints; i-- {
		h := d.in.History[i]
		for _, c := range h.Changes {
			if _, tracked := vals[Knob(c.Knob)]; !tracked {
				continue
			}
			if from, err := strconv.ParseInt(c.From, 10, 64); err == nil {
				vals[Knob(c.Knob)] = from
			}
		}
		b := h.Baseline
		if b == nil || b.MemoryHitRatio == "" {
			continue
		}
		bh, ok := parsePercent(b.MemoryHitRatio)
		if !ok {
			continue
		}
		r := rate
		if loadOK && load > 0 && b.Throughput != nil && *b.Throughput > 0 {
			r = rate * float64(*b.Throughput) / load
		}
		out = append(out, CachePoint{Capacity: float64(vals[ik.knob]), TTLRequests: ttlReq(vals[tk.knob], r), Hit: bh})
	}
	return out
}

// l1Fit is the L1 cache model fitted at the current operating point (Che's
// approximation, fitCache): the hit ratio it predicts at an L1 size and TTL.
type l1Fit struct {
	m                  CacheModel
	keys               float64
	skewFitted, fitted bool
	// rate is the L1 lookups per second per pod; rateNote says how it was had.
	rate     float64
	rateNote string
	ttlOK    bool
}

// fitL1 fits the L1 model to the current operating point and the history's
// (l1Points); fitted is false when the items knob is not read or the model
// cannot explain the current hit ratio.
func (d *decider) fitL1(ik knobDef, items int64, itemsOK bool, tk knobDef, ttl int64, ttlOK bool) l1Fit {
	hit, _ := d.v.get(signals.MemoryHitRatio)
	f := l1Fit{ttlOK: ttlOK}
	f.rate, f.rateNote = d.l1LookupRate()
	f.m = CacheModel{Alpha: ZipfAlpha, TTLFromWrite: d.ttlFromWrite()}
	if itemsOK {
		f.m, f.keys, f.skewFitted, f.fitted = fitCache(d.ttlFromWrite(), d.l1Points(ik, items, tk, ttl, hit, f.rate, ttlOK))
	}
	return f
}

// hit is the L1 hit ratio the model predicts at c items and a TTL of s seconds.
func (f l1Fit) hit(c, s int64) float64 {
	ttlReq := math.Inf(1)
	if f.ttlOK && f.rate > 0 {
		ttlReq = float64(s) * f.rate
	}
	return f.m.HitRatio(f.keys, float64(c), ttlReq)
}

// note describes the fitted model: "Che, Zipf 0.9 assumed, TTL from write, ~100000 keys".
func (f l1Fit) note() string {
	skew := "assumed"
	if f.skewFitted {
		skew = "fitted"
	}
	form := "TTL from write"
	if !f.m.TTLFromWrite {
		form = "TTL from access"
	}
	return fmt.Sprintf("Che, Zipf %.2g %s, %s, ~%.0f keys", f.m.Alpha, skew, form, f.keys)
}

// l2Fit is the model of L2's (Redis') hit ratio against its TTL: the same
// Che/TTL form as L1's (CacheModel) with no capacity bound (Redis keeps a
// key until its TTL ends, which counts from the write: SET with EX on a
// miss), fed by the L1 misses of every pod (Redis is shared), so a TTL of T
// seconds is T × the L2 lookups per second in lookups. The skew is L1's
// (the same keys) and the key count is fitted to L2's current hit ratio,
// which absorbs most of what L1 takes out of the head of the popularity. A
// larger L1 sends L2 fewer lookups (the model counts that) of a flatter
// popularity (it does not: it predicts L2 somewhat high after an L1 raise,
// which the margin of the miss-fraction goal is there to cover).
type l2Fit struct {
	m    CacheModel
	keys float64
	// lookups is the L1 lookups per second over all pods: L2 sees their misses.
	lookups float64
	// tunable: the L2 TTL knob is read and the model fitted; hit is the
	// measured L2 hit ratio, held when the L2 is not tunable.
	tunable bool
	hit0    float64
}

// fitL2 fits the L2 model at the current L2 TTL and the measured L1 hit
// ratio h1; an L2 that is not measured counts as missing everything (its
// factor in the miss fraction is 1, as in missShare).
func (d *decider) fitL2(l1 l1Fit, h1 float64) l2Fit {
	h2, measured := d.v.get(signals.RedisHitRatio)
	f := l2Fit{hit0: h2, m: CacheModel{Alpha: l1.m.Alpha, TTLFromWrite: true}, lookups: l1.rate * d.pods()}
	if !measured {
		f.hit0 = 0
	}
	_, t2, _, has := d.knob(roleRedisTTL)
	if !has || !measured || f.lookups <= 0 || t2 <= 0 {
		return f
	}
	keys, ok := f.m.FitKeys(math.Inf(1), float64(t2)*f.lookups*(1-h1), h2)
	if !ok {
		// A hit ratio of 0 (or 1) explains no key count: the keys are L1's.
		keys, ok = l1.keys, l1.keys > 0
	}
	f.keys, f.tunable = keys, ok
	return f
}

// hit is the L2 hit ratio at a TTL of t2 seconds with L1 at hit ratio h1.
func (f l2Fit) hit(t2 int64, h1 float64) float64 {
	if !f.tunable {
		return f.hit0
	}
	return f.m.HitRatio(f.keys, math.Inf(1), float64(t2)*f.lookups*(1-h1))
}
