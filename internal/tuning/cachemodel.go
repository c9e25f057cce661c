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
	return f.m.HitRatio(f.keys, float64(c), f.ttlRequests(s))
}

// keySpace is the largest L1 the fitted key count asks for: keySpaceMargin
// × the keys, MaxInt64 when the key count is not a finite number.
func (f l1Fit) keySpace() int64 {
	n := math.Ceil(keySpaceMargin * f.keys)
	if !f.fitted || math.IsNaN(n) || n <= 0 || n >= math.MaxInt64/2 {
		return math.MaxInt64
	}
	return int64(n)
}

// ttlRequests is a TTL of s seconds in lookups of one pod (+Inf when the
// TTL is not read or the lookup rate unknown).
func (f l1Fit) ttlRequests(s int64) float64 {
	if !f.ttlOK || f.rate <= 0 {
		return math.Inf(1)
	}
	return float64(s) * f.rate
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
// Che/TTL form as L1's on the stream of L1's misses
// (CacheModel.MissStreamHitRatio: L1's fitted model gives each key's L1
// miss rate over all the pods, Redis keeps a key for its TTL from the
// write and has no capacity bound). The L1 fit knows the head of the
// popularity (what L1 hits) better than its tail (what L1 leaves to L2),
// so the model's L2 miss ratio is scaled to the measured one at the
// current TTL (calibration, as Erlang C is scaled to the measured mean
// wait); an L2 that is not measured counts as missing everything (its
// factor in the miss fraction is 1, as in missShare) and is not tuned. A
// calibration outside l2CalibrationRange says the model does not describe
// this L2 (×25 would turn a measured 85 % into a predicted 0 % as L1
// grows): the model is refused, L2's hit ratio is held at the measured
// one and its TTL is not tuned.
type l2Fit struct {
	l1   l1Fit
	pods float64
	// calibration multiplies the model's L2 miss ratio.
	calibration float64
	// tunable: the L2 TTL knob is read, L2 measured and the model fitted;
	// hit0 is the measured L2 hit ratio, held when the L2 is not tunable.
	tunable bool
	hit0    float64
	// refused says why a fitted model was refused ("" when it was not).
	refused string
}

// l2CalibrationRange bounds the factor the L2 model's miss ratio may be
// scaled by to match the measured one: within 2× the model describes the
// L2 and its error is what the verdict checks; beyond it the model is
// describing some other cache.
var l2CalibrationRange = [2]float64{0.5, 2}

// fitL2 fits the L2 model at the current L1 size and TTL and L2 TTL.
func (d *decider) fitL2(l1 l1Fit, items, ttl int64) l2Fit {
	h2, measured := d.v.get(signals.RedisHitRatio)
	f := l2Fit{l1: l1, pods: d.pods(), hit0: h2, calibration: 1}
	if !measured {
		f.hit0 = 0
	}
	_, t2, _, has := d.knob(roleRedisTTL)
	if !has || !measured || !l1.fitted || l1.rate <= 0 || f.pods < 1 || t2 <= 0 {
		return f
	}
	c := 1.0
	if model := f.modelHit(t2, items, ttl); model < 1 {
		c = (1 - h2) / (1 - model)
	}
	if c < l2CalibrationRange[0] || c > l2CalibrationRange[1] {
		f.refused = fmt.Sprintf("L2 hit held at %s (its model's miss ratio would need ×%.2g calibrated, outside ×%.2g–×%.2g)",
			fmtRatio(h2), c, l2CalibrationRange[0], l2CalibrationRange[1])
		return f
	}
	f.tunable, f.calibration = true, c
	return f
}

// modelHit is the uncalibrated model's L2 hit ratio at an L2 TTL of t2
// seconds with L1 at c items and a TTL of s seconds.
func (f l2Fit) modelHit(t2, c, s int64) float64 {
	return f.l1.m.MissStreamHitRatio(f.l1.keys, float64(c), f.l1.ttlRequests(s), f.pods, float64(t2)*f.l1.rate)
}

// hit is the L2 hit ratio at an L2 TTL of t2 seconds with L1 at c items
// and a TTL of s seconds.
func (f l2Fit) hit(t2, c, s int64) float64 {
	if !f.tunable {
		return f.hit0
	}
	return 1 - min(1, f.calibration*(1-f.modelHit(t2, c, s)))
}
