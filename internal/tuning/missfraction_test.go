package tuning

import (
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// missPinnedBreach is a p99 breach (180 ms of 100 ms) whose p99 request is
// a miss: L1 10000 items/60 s hits 75 %, L2 (300 s) 85 % of the L1 misses,
// so 3.75 % of the requests miss every tier and pay the 150 ms of the
// database, more than the 100 ms objective on its own. 800 lookups/s over the 4 pods; the
// L1 TTL may reach an hour.
func missPinnedBreach(in *Input) {
	in.Spec.Cache.Memory.TTL.Max = dur(time.Hour)
	in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.75,
		signals.RedisHitRatio: 0.85, signals.DBTime: 0.150, signals.MemoryLookupRate: 800})
}

// missAfter is the oracle of a miss-sized step: the share of requests
// missing every tier at L1 items/ttl and L2 TTL t2, summed key by key (Zipf
// 0.9 over the key count that explains L1's 75 % at 10000 items/60 s, fewer
// keys than items: only the TTL, from the write, makes L1 miss). A key of
// probability p gets 200p lookups/s per pod and hits L1 a/(1+a) of them, a
// = 200p × ttl; its L1 misses from the 4 pods reach L2 at m = 4 × 200p ×
// (1 − L1 hit) per second, which hit b/(1+b) of the time, b = m × t2. L2's
// miss ratio is scaled by what the sum misses at 300 s against the
// measured 15 %.
func missAfter(items, ttl, t2 int64) float64 {
	const perPod, pods = 200.0, 4.0
	keys, _ := CacheModel{Alpha: ZipfAlpha, TTLFromWrite: true}.FitKeys(10000, 60*perPod, 0.75)
	n := int(math.Round(keys))
	if float64(items) < keys {
		panic("the oracle sums a TTL-bound L1 only")
	}
	l2 := func(ttl, t2 int64) (l1Hit, l2Hit float64) {
		norm := 0.0
		for i := 1; i <= n; i++ {
			norm += math.Pow(float64(i), -ZipfAlpha)
		}
		var hits, l2Lookups, l2Hits float64
		for i := 1; i <= n; i++ {
			p := math.Pow(float64(i), -ZipfAlpha) / norm
			a := perPod * p * float64(ttl)
			h := a / (1 + a)
			hits += p * h
			m := pods * perPod * p * (1 - h)
			b := m * float64(t2)
			l2Lookups += m
			l2Hits += m * b / (1 + b)
		}
		return hits, l2Hits / l2Lookups
	}
	_, h2Now := l2(60, 300)
	calibration := (1 - 0.85) / (1 - h2Now)
	h1, h2 := l2(ttl, t2)
	return (1 - h1) * min(1, calibration*(1-h2))
}

func TestCacheStepSizedForTheMissFraction(t *testing.T) {
	runRules(t, []ruleCase{
		{"a p99 pinned by misses gets one rollout sized to miss under half of 1 %", missPinnedBreach, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || !p.Rollout {
				t.Fatalf("diagnosis %s rollout %v (reason %q)", p.Diagnosis, p.Rollout, p.Reason)
			}
			items, ttl := after(p, 10000, 60)
			t2 := valueAfter(p, l2TTLEnv, 300)
			got := missAfter(items, ttl, t2)
			if got > 0.005 {
				t.Fatalf("L1 %d/%ds, L2 %ds leave %.4f of the requests missing every tier, want <= 0.5%% (%s)", items, ttl, t2, got, p.Predicted)
			}
			// The smallest L1 that does it: 1 % fewer items miss too often.
			if c, grew := changeOf(p, itemsEnv); grew && missAfter(c.To*99/100, ttl, t2) <= 0.005 {
				t.Fatalf("L1 %d items is more than the goal needs (%d reach it)", c.To, c.To*99/100)
			}
			if p.Prediction == nil || p.Prediction.Signal != "missFraction" {
				t.Fatalf("prediction %+v, want one of the miss fraction", p.Prediction)
			}
			if v, _ := parseDecimal(p.Prediction.Value); math.Abs(v-got) > 0.0005 {
				t.Fatalf("predicted miss fraction %.4f, the model gives %.4f", v, got)
			}
			if !strings.Contains(p.Predicted, "requests missing every tier 3.8% -> ") || !strings.Contains(p.Predicted, "the p99 needs < 1%") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
		{"bounds that cannot reach it: the smallest sizes that give 90 % of the cut they allow, and the reason says what they allow", func(in *Input) {
			missPinnedBreach(in)
			in.Spec.Cache.Memory.MaxItems.Max = 20000
			in.Spec.Cache.Memory.TTL.Max = dur(2 * time.Minute)
			in.Spec.Cache.Redis.TTL.Max = dur(10 * time.Minute)
		}, func(t *testing.T, p Plan) {
			items, ttl := after(p, 10000, 60)
			t2 := valueAfter(p, l2TTLEnv, 300)
			now, best := missAfter(10000, 60, 300), missAfter(20000, 120, 600)
			knee := best + 0.1*(now-best)
			got := missAfter(items, ttl, t2)
			if got > knee*1.02 {
				t.Fatalf("L1 %d/%ds, L2 %ds miss %.4f, want 90 %% of the cut to %.4f (<= %.4f): %+v", items, ttl, t2, got, best, knee, p.Changes)
			}
			if items == 20000 && ttl == 120 && t2 == 600 {
				t.Fatalf("the step took every bound: %+v", p.Changes)
			}
			if t2 > 300 && missAfter(items, ttl, t2*9/10) <= knee*0.98 {
				t.Fatalf("L2 TTL %ds is more than the knee needs (%ds reaches it)", t2, t2*9/10)
			}
			want := "bounds allow miss fraction " + fmtRatio(best) + ", the p99 needs < 1%"
			if best <= 0.01 || !strings.Contains(p.Reason, want) {
				t.Fatalf("reason %q, want %q (model %.4f)", p.Reason, want, best)
			}
		}},
		{"at the bounds already, the hold says what they allow", func(in *Input) {
			missPinnedBreach(in)
			in.Spec.Cache.Memory.MaxItems.Max = 10000
			in.Spec.Cache.Memory.TTL.Max = dur(time.Minute)
			in.Spec.Cache.Redis.TTL.Max = dur(5 * time.Minute)
		}, func(t *testing.T, p Plan) {
			if changesCache(p) {
				t.Fatalf("a cache knob at its bound changed: %+v", p.Changes)
			}
			// what the bounds allow is where the service is: 3.75 %
			holdsMention(t, p, "bounds allow miss fraction 3.")
			holdsMention(t, p, "%, the p99 needs < 1%")
		}},
		{"hit ratios above the low marks still pin the p99 at 4.5 % misses", func(in *Input) {
			missPinnedBreach(in)
			in.set(map[signals.Signal]float64{signals.MemoryHitRatio: 0.85, signals.RedisHitRatio: 0.70})
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || p.Prediction == nil || p.Prediction.Signal != "missFraction" {
				t.Fatalf("diagnosis %s prediction %+v (reason %q)", p.Diagnosis, p.Prediction, p.Reason)
			}
		}},
		{"a miss that fits in the objective pins nothing: the L1 step to 90 %", func(in *Input) {
			missPinnedBreach(in)
			in.set(map[signals.Signal]float64{signals.DBTime: 0.060}) // 60 ms of 100 ms
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis != DiagnosisCacheMisses || p.Prediction == nil || p.Prediction.Signal != string(signals.MemoryHitRatio) {
				t.Fatalf("diagnosis %s prediction %+v, want L1's hit ratio (predicted %q)", p.Diagnosis, p.Prediction, p.Predicted)
			}
		}},
		{"a p99 not pinned by misses keeps the L1 step to 90 %", func(in *Input) {
			missPinnedBreach(in)
			in.set(map[signals.Signal]float64{signals.RedisHitRatio: 0.97}) // 0.75 % miss every tier
		}, func(t *testing.T, p Plan) {
			if p.Prediction == nil || p.Prediction.Signal != string(signals.MemoryHitRatio) {
				t.Fatalf("prediction %+v, want L1's hit ratio", p.Prediction)
			}
			// L2's hit ratio is fine: its TTL only follows L1's (l2OutlivingL1), not ×4
			l1 := valueAfter(p, l1TTLEnv, 60)
			if c, ok := changeOf(p, l2TTLEnv); ok && c.To != max(l1, 300) {
				t.Fatalf("L2 raised past the L1 TTL %d although its hit ratio is fine: %+v", l1, p.Changes)
			}
		}},
	})
}

// pendingMissStep is a cache step made 14 minutes ago (pods ready 13
// minutes ago, so the caches have filled) while the p99 was pinned by
// misses: L1 72 %, L2 44 %, 15.68 % missing every tier, p99 180 ms of
// 100 ms; predicted 0.5 %. Now the p99 reads 178 ms and the hit ratios are
// set by the case.
func pendingMissStep(in *Input, l1, l2 float64) {
	before := healthy(t0.Add(-14 * time.Minute))
	for s, v := range map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: 0.72,
		signals.RedisHitRatio: 0.44, signals.DBTime: 0.150} {
		before.Set(s, v, before.Time)
	}
	d := decision(t0.Add(-14*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomePending, true,
		change(itemsEnv, "10000", "60000"), change(l2TTLEnv, "300", "3600"))
	d.Baseline = SLIsOf(before)
	d.Prediction = &v1.Prediction{Model: v1.ModelChe, Signal: "missFraction", Value: "0.005"}
	in.History = []v1.Decision{d}
	in.State.Values[itemsEnv], in.State.Values[l2TTLEnv] = 60000, 3600
	in.State.PodsWarmSince = t0.Add(-13 * time.Minute)
	in.set(map[signals.Signal]float64{signals.LatencyP99: 0.178, signals.DBTime: 0.150,
		signals.MemoryHitRatio: l1, signals.RedisHitRatio: l2})
}

func TestCacheStepJudgedByTheMissFraction(t *testing.T) {
	reverted := func(t *testing.T, p Plan) {
		t.Helper()
		wantChange(t, p, itemsEnv, 60000, 10000)
		if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeReverted || p.Diagnosis != DiagnosisNoImprovement {
			t.Fatalf("judgement %+v diagnosis %s", p.Judgement, p.Diagnosis)
		}
	}
	runRules(t, []ruleCase{
		{"misses cut from 15.68 % to 4.5 % keep the step while the p99 waits for < 1 %", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
		}, func(t *testing.T, p Plan) {
			if p.Judgement == nil || p.Judgement.Outcome != v1.OutcomeKept {
				t.Fatalf("judgement %+v (reason %q)", p.Judgement, p.Reason)
			}
			if c, ok := changeOf(p, itemsEnv); ok && c.To < c.From {
				t.Fatalf("the step was undone: %+v", p.Changes)
			}
			want := "requests missing every tier 16% -> 4.5% (predicted 0.5%): the p99 request is still a miss and waits for < 1%"
			if !strings.Contains(p.Judgement.Observed, want) {
				t.Fatalf("observed %q, want %q", p.Judgement.Observed, want)
			}
		}},
		{"misses that hardly moved revert the step as before", func(in *Input) {
			pendingMissStep(in, 0.73, 0.45) // 14.85 %
		}, reverted},
		{"misses that fit in the objective: the usual verdict", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
			in.set(map[signals.Signal]float64{signals.DBTime: 0.060})
		}, reverted},
		{"misses under 1 % with the p99 still breached: the usual verdict", func(in *Input) {
			pendingMissStep(in, 0.97, 0.70) // 0.9 %
		}, reverted},
		{"a miss fraction that cannot be read now undoes nothing", func(in *Input) {
			pendingMissStep(in, 0.85, 0.70)
			in.Observation = healthy(t0)
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.178, signals.DBTime: 0.150,
				signals.MemoryHitRatio: nan(), signals.RedisHitRatio: nan()})
		}, func(t *testing.T, p Plan) {
			if c, ok := changeOf(p, itemsEnv); ok && c.To < c.From {
				t.Fatalf("a cache step undone without its miss fraction: %+v (judgement %+v)", p.Changes, p.Judgement)
			}
		}},
	})
}
