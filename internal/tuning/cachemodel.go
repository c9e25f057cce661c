package tuning

import (
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
