package tuning

import (
	"slices"
	"testing"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

func TestSignalsNeededPerFamily(t *testing.T) {
	got := map[Family]FamilyNeeds{}
	for _, fn := range SignalsNeeded(fullSpec()) {
		got[fn.Family] = fn
	}
	for f, want := range map[Family][]signals.Signal{
		FamilyPool:        {signals.PoolInUse, signals.PoolWait},
		FamilyAutoscaling: {signals.CPUUtilization},
		FamilyRedis:       {signals.RedisCPU},
		// The miss cost has several estimates (dbTime, or the pool's hold
		// time over the DB calls or the requests that miss): none is needed alone.
		FamilyCache: {signals.MemoryHitRatio, signals.RedisHitRatio},
	} {
		fn, ok := got[f]
		if !ok || len(fn.Knobs) == 0 {
			t.Errorf("family %s is missing or has no knobs: %+v", f, fn)
			continue
		}
		if !slices.Equal(fn.Signals, want) {
			t.Errorf("family %s needs %v, want %v", f, fn.Signals, want)
		}
	}
	if opt := got[FamilyPool].Optional; !slices.Equal(opt, []signals.Signal{signals.PoolWaitTail}) {
		t.Errorf("the pool's optional signals are %v, want poolWaitTail", opt)
	}
	// A profile without a cache section has no cache family to check.
	spec := fullSpec()
	spec.Cache = nil
	for _, fn := range SignalsNeeded(spec) {
		if fn.Family == FamilyCache || fn.Family == FamilyRedis {
			t.Errorf("family %s listed for a profile without a cache", fn.Family)
		}
	}
}

// TestPoolWaitTailHoldsNoFamily: the wait tail is optional: an observation
// with every signal but it misses nothing, and one with nothing but the
// needed signals holds no family for its absence.
func TestPoolWaitTailHoldsNoFamily(t *testing.T) {
	o := healthy(t0)
	o.SetMissing(signals.PoolWaitTail, signals.ReasonNotConfigured, "the go preset's pool exports no wait-time histogram")
	if m := MissingOf(fullSpec(), o); !m.None() {
		t.Errorf("a missing poolWaitTail holds: %+v", m)
	}
}
