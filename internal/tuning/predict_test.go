package tuning

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// withPrediction gives the pending decision of pendingRaise a prediction.
func withPrediction(in *Input, m v1.Model, s signals.Signal, value string) {
	in.History[0].Prediction = &v1.Prediction{Model: m, Signal: string(s), Value: v1.Decimal(value)}
}

func TestPredictionsAreRecordedAndChecked(t *testing.T) {
	wide := func(in *Input) { in.Spec.Guardrails.MaxStepPercent = 400 }
	runRules(t, []ruleCase{
		{"a pool raise records the pool wait Erlang C predicts at the new size", func(in *Input) {
			wide(in)
			starvedPool(in)
		}, func(t *testing.T, p Plan) {
			c := only(t, p)
			d := p.Decision(t0)
			want := erlangWait(c.To, 10, 0.025) // 400 calls/s per pod × 25 ms
			if d.Prediction == nil || d.Prediction.Model != v1.ModelErlang || d.Prediction.Signal != string(signals.PoolWait) {
				t.Fatalf("prediction %+v", d.Prediction)
			}
			if got, _ := parseDecimal(d.Prediction.Value); math.Abs(got-want) > want*1e-3 {
				t.Fatalf("predicted pool wait %g, want Erlang C's %g", got, want)
			}
		}},
		{"an HPA floor raise records the CPU the replicas model predicts", func(in *Input) {
			in.State.Replicas = 2
			in.State.Values[KnobHPAMinReplicas] = 2
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.97,
				signals.Pods: 2, signals.Throughput: 800})
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 2, 3)
			if p.Prediction == nil || p.Prediction.Model != v1.ModelReplicas || p.Prediction.Value != decimalOf(0.97*2/3) {
				t.Fatalf("prediction %+v", p.Prediction)
			}
		}},
		{"the verdict checks the prediction against what was observed", func(in *Input) {
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150},
				map[signals.Signal]float64{signals.LatencyP99: 0.070, signals.PoolWait: 0.003})
			withPrediction(in, v1.ModelErlang, signals.PoolWait, "0.001")
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			got := p.Judgement.Prediction
			// 3 ms observed for 1 ms predicted: 200 % off
			if got == nil || got.Observed != "0.003" || got.Error != "2" || got.Value != "0.001" {
				t.Fatalf("checked prediction %+v", got)
			}
		}},
		{"a hit ratio is checked on the miss ratio", func(in *Input) {
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150},
				map[signals.Signal]float64{signals.LatencyP99: 0.070, signals.MemoryHitRatio: 0.90})
			withPrediction(in, v1.ModelChe, signals.MemoryHitRatio, "0.95")
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			// 10 % misses for 5 % predicted: 100 % off (the hit ratio is only 5 % off)
			if got := p.Judgement.Prediction; got == nil || got.Error != "1" {
				t.Fatalf("checked prediction %+v", got)
			}
		}},
		{"a prediction is not checked across a load change", func(in *Input) {
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.Throughput: 800},
				map[signals.Signal]float64{signals.LatencyP99: 0.145, signals.Throughput: 960, signals.PoolWait: 0.003})
			withPrediction(in, v1.ModelErlang, signals.PoolWait, "0.001")
			in.History[0].Time.Time = t0.Add(-10 * time.Minute)
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if p.Judgement.Prediction != nil {
				t.Fatalf("checked across a 20 %% load change: %+v", p.Judgement.Prediction)
			}
		}},
	})
}

func TestModelErrorScalesTheNextStep(t *testing.T) {
	need := poolSizeFor(400, 0.025, 0.02*0.080) // what Erlang C asks for from 10
	erred := func(e string) func(in *Input) {
		return func(in *Input) {
			in.Spec.Guardrails.MaxStepPercent = 400
			starvedPool(in)
			in.Memory = &v1.Memory{Models: []v1.ModelError{{Model: v1.ModelErlang, Error: v1.Decimal(e), Samples: 3}}}
		}
	}
	runRules(t, []ruleCase{
		{"a model without checked predictions takes its full step", erred("0"), func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, need)
		}},
		{"a model 100 % off takes half the step, and says so", erred("1"), func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 10+int64(math.Ceil(float64(need-10)/2)))
			if !strings.Contains(p.Predicted, "step ÷ 2 for the Erlang model's error 100%") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
		{"a model far off takes at least a quarter of the step", erred("50"), func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, 10+int64(math.Ceil(float64(need-10)/4)))
		}},
		{"another model's error does not scale the pool", func(in *Input) {
			erred("0")(in)
			in.Memory.Models[0].Model = v1.ModelChe
			in.Memory.Models[0].Error = "5"
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, poolMaxEnv, 10, need)
		}},
	})
}

// l1Truth is the cache the L1 tests observe: 60,000 keys of Zipf(0.6)
// popularity, with a TTL that counts from the write.
var l1Truth = CacheModel{Alpha: 0.6, TTLFromWrite: true}

const l1TruthKeys = 60000

// l1Breach is an SLO breach from L1 misses at the observed hit ratio of
// l1Truth at items and a TTL of 60 s, with lookups per second over the 4 pods.
func l1Breach(in *Input, items int64, lookups float64) {
	in.Spec.Guardrails.MaxStepPercent = 400
	in.State.Values[itemsEnv] = items
	hit := l1Truth.HitRatio(l1TruthKeys, float64(items), 60*lookups/4)
	in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.MemoryHitRatio: hit, signals.DBTime: 0.030,
		signals.MemoryLookupRate: lookups})
}

func predicted(t *testing.T, p Plan) float64 {
	t.Helper()
	if p.Prediction == nil || p.Prediction.Model != v1.ModelChe {
		t.Fatalf("no Che prediction: %+v (predicted %q, changes %+v)", p.Prediction, p.Predicted, p.Changes)
	}
	v, _ := parseDecimal(p.Prediction.Value)
	return v
}

// after is the L1 size and TTL a plan leaves.
func after(p Plan, items, ttl int64) (int64, int64) {
	return valueAfter(p, itemsEnv, items), valueAfter(p, l1TTLEnv, ttl)
}

func TestCacheModelReadsWhatIsObserved(t *testing.T) {
	runRules(t, []ruleCase{
		{"the skew is fitted from an earlier operating point in the history", func(in *Input) {
			l1Breach(in, 10000, 800)
			// a kept cache change 5000 -> 10000 items, whose baseline saw the hit ratio at 5000
			b := healthy(t0.Add(-30 * time.Minute))
			b.Set(signals.MemoryHitRatio, l1Truth.HitRatio(l1TruthKeys, 5000, 60*200), b.Time)
			d := decision(t0.Add(-30*time.Minute), FamilyCache, DiagnosisCacheMisses, v1.OutcomeKept, true,
				change(itemsEnv, "5000", "10000"))
			d.Baseline = SLIsOf(b)
			in.History = []v1.Decision{d}
		}, func(t *testing.T, p Plan) {
			items, ttl := after(p, 10000, 60)
			want := l1Truth.HitRatio(l1TruthKeys, float64(items), float64(ttl)*200)
			if got := predicted(t, p); math.Abs(got-want) > 0.01 {
				t.Fatalf("predicted L1 hit %.3f at %d items/%ds, the cache gives %.3f (%s)", got, items, ttl, want, p.Predicted)
			}
			if !strings.Contains(p.Predicted, "fitted") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
		{"with one operating point the skew is assumed", func(in *Input) {
			l1Breach(in, 10000, 800)
		}, func(t *testing.T, p Plan) {
			predicted(t, p)
			if !strings.Contains(p.Predicted, "Zipf 0.9 assumed") {
				t.Fatalf("predicted %q", p.Predicted)
			}
		}},
		{"the TTL counts in the cache's own lookups, not HTTP requests", func(in *Input) {
			l1Breach(in, 10000, 2400) // three lookups per request at 800 req/s
		}, func(t *testing.T, p Plan) {
			items, ttl := after(p, 10000, 60)
			m := CacheModel{Alpha: ZipfAlpha, TTLFromWrite: true}
			keys, _ := m.FitKeys(10000, 60*600, l1Truth.HitRatio(l1TruthKeys, 10000, 60*600))
			want := m.HitRatio(keys, float64(items), float64(ttl)*600)
			if got := predicted(t, p); math.Abs(got-want) > 0.002 {
				t.Fatalf("predicted %.4f, the model at 600 lookups/s per pod gives %.4f", got, want)
			}
		}},
	})
}

func TestTTLFormFollowsTheProfile(t *testing.T) {
	setup := func(from v1.TTLStart) func(in *Input) {
		return func(in *Input) {
			l1Breach(in, 10000, 4000) // 1,000 lookups/s per pod
			in.Spec.Cache.Memory.TTLCountsFrom = from
			in.Spec.Cache.Memory.TTL.Max = dur(time.Minute) // the 60 s TTL binds: only the size grows
		}
	}
	check := func(fromWrite bool) func(t *testing.T, p Plan) {
		return func(t *testing.T, p Plan) {
			items, ttl := after(p, 10000, 60)
			m := CacheModel{Alpha: ZipfAlpha, TTLFromWrite: fromWrite}
			keys, _ := m.FitKeys(10000, 60*1000, l1Truth.HitRatio(l1TruthKeys, 10000, 60*1000))
			want := m.HitRatio(keys, float64(items), float64(ttl)*1000)
			if got := predicted(t, p); math.Abs(got-want) > 0.002 {
				t.Fatalf("predicted %.4f, want %.4f (%s)", got, want, p.Predicted)
			}
		}
	}
	runRules(t, []ruleCase{
		{"unset: the TTL counts from the write", setup(""), check(true)},
		{"Write: the TTL form", setup(v1.TTLFromWrite), check(true)},
		{"Access: the LRU form", setup(v1.TTLFromAccess), check(false)},
	})
}

// ttlHitRatio simulates a cache without a size limit whose entries expire
// ttl requests after the write (fromWrite) or after the last hit.
func ttlHitRatio(alpha float64, keys, ttl, requests int, fromWrite bool) float64 {
	r := rand.New(rand.NewPCG(3, 4))
	cdf := make([]float64, keys)
	sum := 0.0
	for i := range keys {
		sum += math.Pow(float64(i+1), -alpha)
		cdf[i] = sum
	}
	expires := make([]int, keys)
	hits := 0
	for n := range requests {
		u := r.Float64() * sum
		lo, hi := 0, keys-1
		for lo < hi {
			if mid := (lo + hi) / 2; cdf[mid] < u {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		stored := expires[lo] > n
		if stored && n >= requests/5 {
			hits++
		}
		if !stored || !fromWrite {
			expires[lo] = n + ttl
		}
	}
	return float64(hits) / float64(requests-requests/5)
}

func TestTTLFormsMatchTheirCaches(t *testing.T) {
	const keys, ttl = 5000, 2000
	write := ttlHitRatio(ZipfAlpha, keys, ttl, 400000, true)
	access := ttlHitRatio(ZipfAlpha, keys, ttl, 400000, false)
	mw := CacheModel{Alpha: ZipfAlpha, TTLFromWrite: true}.HitRatio(keys, keys, ttl)
	ma := CacheModel{Alpha: ZipfAlpha}.HitRatio(keys, keys, ttl)
	if math.Abs(mw-write) > 0.01 || math.Abs(ma-access) > 0.01 {
		t.Fatalf("TTL from write: model %.3f, simulated %.3f; from access: model %.3f, simulated %.3f", mw, write, ma, access)
	}
	if access-write < 0.03 {
		t.Fatalf("the forms should differ: write %.3f, access %.3f", write, access)
	}
}

func TestFitCacheRecoversTheSkew(t *testing.T) {
	truth := CacheModel{Alpha: 0.6}
	const keys = 2e5
	pt := func(c float64) CachePoint {
		return CachePoint{Capacity: c, TTLRequests: math.Inf(1), Hit: truth.HitRatio(keys, c, math.Inf(1))}
	}
	m, n, fitted, ok := fitCache(false, []CachePoint{pt(10000), pt(2500)})
	if !ok || !fitted || math.Abs(m.Alpha-0.6) > 0.03 {
		t.Fatalf("fitted Zipf %.3f (fitted %v, ok %v), want 0.6", m.Alpha, fitted, ok)
	}
	if got, want := m.HitRatio(n, 80000, math.Inf(1)), truth.HitRatio(keys, 80000, math.Inf(1)); math.Abs(got-want) > 0.01 {
		t.Fatalf("at 80,000 items the fit predicts %.3f, the cache gives %.3f", got, want)
	}
	m, _, fitted, ok = fitCache(false, []CachePoint{pt(10000), pt(10000)})
	if !ok || fitted || m.Alpha != ZipfAlpha {
		t.Fatalf("one operating point: Zipf %.3f fitted %v ok %v, want the assumed %.1f", m.Alpha, fitted, ok, ZipfAlpha)
	}
}

// Every value a prediction writes fits the API's Decimal (pattern, at most
// 24 characters): an Erlang C wait of 1e-30 s would otherwise be refused by
// the API server and the status update with it.
func TestDecimalsFitTheAPI(t *testing.T) {
	pattern := regexp.MustCompile(`^-?[0-9]+([.][0-9]+)?$`)
	for _, v := range []float64{0, 1, -1, 2.5, 0.001088, 1e-30, -1e-30, 1e-9, 1.23456789e-8, 1e30, -1e30, 12345678.9, erlangWait(200, 10, 0.025)} {
		d := string(decimalOf(v))
		if !pattern.MatchString(d) || len(d) > 24 {
			t.Errorf("decimalOf(%g) = %q does not fit the API", v, d)
		}
		if got, ok := parseDecimal(v1.Decimal(d)); !ok || (math.Abs(v) >= 1e-9 && math.Abs(v) <= 1e15 && math.Abs(got-v) > 1e-3*math.Abs(v)) {
			t.Errorf("decimalOf(%g) = %q reads back as %g", v, d, got)
		}
	}
}
