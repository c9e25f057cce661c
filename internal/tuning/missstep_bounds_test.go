package tuning

import (
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// itemsOnlyMissBreach is missPinnedBreach with both TTLs at their bounds and
// 80 000 L1 lookups/s: only L1's size can move.
func itemsOnlyMissBreach(in *Input) {
	missPinnedBreach(in)
	in.Spec.Cache.Memory.TTL.Max = dur(time.Minute)
	in.Spec.Cache.Redis.TTL.Max = dur(5 * time.Minute)
	in.set(map[signals.Signal]float64{signals.MemoryLookupRate: 80000})
}

func TestMissStepSizeIsBoundedByWhatItGains(t *testing.T) {
	runRules(t, []ruleCase{
		{"a cut under a quarter of the misses (3.75 % -> 3.6 %, L1's TTL 60 -> 120 s) is no step: the hold says so", func(in *Input) {
			missPinnedBreach(in)
			in.Spec.Cache.Memory.MaxItems.Max = 10000
			in.Spec.Cache.Memory.TTL.Max = dur(2 * time.Minute)
			in.Spec.Cache.Redis.TTL.Max = dur(5 * time.Minute)
		}, func(t *testing.T, p Plan) {
			if changesCache(p) {
				t.Fatalf("a cache step for a cut its verdict would not keep: %+v (predicted %q)", p.Changes, p.Predicted)
			}
			// The oracle: what the bound TTL leaves, summed key by key.
			if best := missAfter(10000, 120, 300); best < 0.75*missAfter(10000, 60, 300) {
				t.Fatalf("the fixture's bounds cut %.4f -> %.4f, a quarter or more", missAfter(10000, 60, 300), best)
			}
			holdsMention(t, p, "less than the 25% cut that keeps it")
		}},
		{"L1 is never sized above the key count the model fitted, with its margin", func(in *Input) {
			itemsOnlyMissBreach(in)
		}, func(t *testing.T, p Plan) {
			// L1 75 % at 10 000 items, a 60 s TTL from the write and 20 000
			// lookups/s per pod (80 000 over 4 pods).
			keys, ok := CacheModel{Alpha: ZipfAlpha, TTLFromWrite: true}.FitKeys(10000, 60*20000, 0.75)
			if !ok {
				t.Fatal("no key count explains the fixture")
			}
			if c, grew := changeOf(p, itemsEnv); grew && float64(c.To) > 1.25*keys+1 {
				t.Fatalf("L1 %d -> %d items for ~%.0f keys", c.From, c.To, keys)
			}
		}},
		{"an L2 model that needs ×25 to match the measured L2 is refused: L2's hit ratio is held, not predicted to fall to 0 %", func(in *Input) {
			itemsOnlyMissBreach(in)
		}, func(t *testing.T, p Plan) {
			if !strings.Contains(p.Predicted, "L2 hit held at 85%") || strings.Contains(p.Predicted, "L2 hit 85% -> ") {
				t.Fatalf("predicted %q, want L2's hit ratio held at the measured 85 %%", p.Predicted)
			}
		}},
		{"goal out of reach: L1 grows to the knee of its curve, not to its bound", func(in *Input) {
			missPinnedBreach(in)
			in.Spec.Cache.Memory.MaxItems.Max = 40000
			in.Spec.Cache.Memory.TTL.Max = dur(2 * time.Minute)
			in.Spec.Cache.Redis.TTL.Max = dur(10 * time.Minute)
			in.set(map[signals.Signal]float64{signals.MemoryLookupRate: 8000}) // ~34 000 keys: L1's size binds
		}, func(t *testing.T, p Plan) {
			c, ok := changeOf(p, itemsEnv)
			if !ok || c.To >= 40000 {
				t.Fatalf("changes %+v, want L1 grown short of its 40 000 bound (predicted %q)", p.Changes, p.Predicted)
			}
			if !strings.Contains(p.Predicted, "90% of that cut at the smallest sizes") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
		{"goal out of reach over ~11 400 keys: L1 grows to the knee, not 20× to its bound", func(in *Input) {
			itemsOnlyMissBreach(in)
			in.set(map[signals.Signal]float64{signals.MemoryHitRatio: 0.97, signals.RedisHitRatio: 0.5})
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, itemsEnv); ok && c.To > 2*c.From {
				t.Fatalf("L1 items %d -> %d (×%.0f) for a cache of ~11 400 keys (predicted %q)", c.From, c.To, float64(c.To)/float64(c.From), p.Predicted)
			}
		}},
	})
}

func TestMissFractionPredictionCheck(t *testing.T) {
	runRules(t, []ruleCase{
		{"not checked while a tier the baseline read is missing (a stale L2 would read as 15 % misses)", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
			in.Observation.SetMissing(signals.RedisHitRatio, signals.ReasonStale, "old")
		}, func(t *testing.T, p Plan) {
			if p.Judgement != nil && p.Judgement.Prediction != nil {
				t.Fatalf("missFraction checked with L2 missing: %+v", *p.Judgement.Prediction)
			}
		}},
		{"its error is measured against the predicted cut: 16 % -> 4.5 % for 0.5 % is 0.26, not 8", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Prediction == nil {
				t.Fatalf("no checked prediction: %+v", p.Judgement)
			}
			before, now, want := (1-0.72)*(1-0.44), (1-0.85)*(1-0.70), 0.005
			e, _ := parseDecimal(p.Judgement.Prediction.Error)
			if wantErr := math.Abs(now-want) / (before - want); math.Abs(e-wantErr) > 0.001 {
				t.Fatalf("error %v, want %.4f (the share of the predicted cut missed)", e, wantErr)
			}
			if e > maxModelError {
				t.Fatalf("one kept step records a Che error of %v: every later Che step would be divided by %d", e, maxModelError+1)
			}
		}},
	})
}

func TestMissStepVerdict(t *testing.T) {
	notKept := func(t *testing.T, p Plan) {
		t.Helper()
		if p.Judgement == nil || p.Judgement.Outcome == v1.OutcomeKept {
			t.Fatalf("judgement %+v (reason %q)", p.Judgement, p.Reason)
		}
	}
	runRules(t, []ruleCase{
		{"misses cut but the p99 rose (180 -> 196 ms, under the regression threshold): not kept", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.196})
		}, notKept},
		{"misses cut but errors rose 1.4× (under the regression threshold): not kept", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
			in.set(map[signals.Signal]float64{signals.ErrorRate: 0.0014})
		}, notKept},
		{"a tier missing at the verdict: it waits for the miss fraction, no verdict yet", func(in *Input) {
			pendingMissStep(in, 0.72, 0.70)
			in.History[0].Time.Time = t0.Add(-6 * time.Minute)
			in.State.PodsWarmSince = t0.Add(-5 * time.Minute)
			in.Observation.SetMissing(signals.RedisHitRatio, signals.ReasonStale, "old")
		}, func(t *testing.T, p Plan) {
			if p.Judgement != nil || len(p.Changes) > 0 {
				t.Fatalf("judgement %+v changes %+v while L2's hit ratio is missing", p.Judgement, p.Changes)
			}
			holdsMention(t, p, "judged by the miss fraction once every tier reads, until 12:03")
		}},
		{"a tier missing past the wait: kept, not undone on missing data", func(in *Input) {
			pendingMissStep(in, 0.72, 0.70)
			in.Observation.SetMissing(signals.RedisHitRatio, signals.ReasonStale, "old")
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept || !strings.Contains(p.Judgement.Observed, "not undone on missing data") {
				t.Fatalf("judgement %+v (reason %q)", p.Judgement, p.Reason)
			}
		}},
	})
}
