package tuning

import (
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// The percentile table and the API agree: every row has its status field and
// its override, and both round-trip through the baseline.
func TestPercentileTableMatchesTheAPI(t *testing.T) {
	o := signals.NewObservation(t0)
	for i, p := range signals.Percentiles {
		if (&v1.SLIs{}).Latency(v1.Percentile(p.Name)) == nil || (&v1.QueryOverrides{}).Latency(v1.Percentile(p.Name)) == nil {
			t.Fatalf("%s has no field in SLIs or QueryOverrides", p.Name)
		}
		if s, ok := signals.LatencySignal(p.Name); !ok || s != p.Signal {
			t.Fatalf("%s maps to %q", p.Name, s)
		}
		o.Set(p.Signal, float64(i+1)/10, t0)
	}
	base := baselineGetter(SLIsOf(o))
	for i, p := range signals.Percentiles {
		if v, ok := base(p.Signal); !ok || v != float64(i+1)/10 {
			t.Errorf("%s: baseline %v %v, want %v", p.Name, v, ok, float64(i+1)/10)
		}
	}
}

// onlyObjective replaces the latency objectives and drops the error-rate SLO.
func onlyObjective(in *Input, p v1.Percentile, threshold time.Duration) {
	in.Spec.SLO.Latency = []v1.LatencyObjective{{Percentile: p, Threshold: dur(threshold)}}
	in.Spec.SLO.MaxErrorRate = nil
}

// pendingRaise is a pool raise 10 -> 15 made 4 minutes ago from the baseline
// before; the input observes after.
func pendingRaise(in *Input, before, after map[signals.Signal]float64) {
	b := healthy(t0.Add(-4 * time.Minute))
	for s, v := range before {
		b.Set(s, v, b.Time)
	}
	d := decision(t0.Add(-4*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomePending, true,
		change(poolMaxEnv, "10", "15"))
	d.Baseline = SLIsOf(b)
	in.History = []v1.Decision{d}
	in.State.Values[poolMaxEnv] = 15
	in.set(after)
}

func outcome(t *testing.T, p Plan, want v1.Outcome) {
	t.Helper()
	if p.Judgement == nil || p.Judgement.Outcome != want {
		t.Fatalf("judgement %+v, want %s (reason %q, holds %q, changes %+v)", p.Judgement, want, p.Reason, p.Holds, p.Changes)
	}
}

func TestEveryPercentileEndToEnd(t *testing.T) {
	runRules(t, []ruleCase{
		{"a p999 relief that improves without clearing the breach is kept", func(in *Input) {
			onlyObjective(in, v1.P999, 200*time.Millisecond)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP999: 0.500},
				map[signals.Signal]float64{signals.LatencyP999: 0.350})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if !strings.Contains(p.Judgement.Observed, "p999 500ms -> 350ms") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"a p999 relief that did not help is reverted", func(in *Input) {
			onlyObjective(in, v1.P999, 200*time.Millisecond)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP999: 0.500},
				map[signals.Signal]float64{signals.LatencyP999: 0.495})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeReverted)
		}},
		{"a p999 breach with a starved pool raises the pool", func(in *Input) {
			onlyObjective(in, v1.P999, 200*time.Millisecond)
			starvedPool(in)
			in.set(map[signals.Signal]float64{signals.LatencyP999: 0.400})
		}, func(t *testing.T, p Plan) {
			if c := only(t, p); c.Knob != poolMaxEnv || c.To <= c.From {
				t.Fatalf("change %+v", c)
			}
			if !strings.Contains(p.Reason, "p999 400ms > 200ms") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"a p90 objective is judged like p99", func(in *Input) {
			onlyObjective(in, v1.P90, 50*time.Millisecond)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP90: 0.080},
				map[signals.Signal]float64{signals.LatencyP90: 0.120})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
			wantChange(t, p, poolMaxEnv, 15, 10)
		}},
	})
}

func TestVerdictsOnTheProfilesObjectives(t *testing.T) {
	fixedP99 := func(in *Input) {
		pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.LatencyP50: 0.020},
			map[signals.Signal]float64{signals.LatencyP99: 0.090, signals.LatencyP50: 0.023})
	}
	runRules(t, []ruleCase{
		{"a raise that fixes p99 but adds 3 ms to p50 is kept when p50 has no objective", func(in *Input) {
			onlyObjective(in, v1.P99, 100*time.Millisecond)
			fixedP99(in)
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
		}},
		{"the same raise is rolled back when p50 has an objective", func(in *Input) {
			onlyObjective(in, v1.P99, 100*time.Millisecond)
			in.Spec.SLO.Latency = append(in.Spec.SLO.Latency, v1.LatencyObjective{Percentile: v1.P50, Threshold: dur(50 * time.Millisecond)})
			fixedP99(in)
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
			if !strings.Contains(p.Judgement.Observed, "p50 20ms -> 23ms") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"errors count only with an error-rate SLO", func(in *Input) {
			onlyObjective(in, v1.P99, 100*time.Millisecond)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.ErrorRate: 0.001},
				map[signals.Signal]float64{signals.LatencyP99: 0.090, signals.ErrorRate: 0.004})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
		}},
		{"errors regress with an error-rate SLO", func(in *Input) {
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.ErrorRate: 0.001},
				map[signals.Signal]float64{signals.LatencyP99: 0.090, signals.ErrorRate: 0.004})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
		}},
		{"a throughput SLO that the change broke is a regression", func(in *Input) {
			onlyObjective(in, v1.P99, 100*time.Millisecond)
			minimum := int32(700)
			in.Spec.SLO.MinThroughput = &minimum
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.Throughput: 800},
				map[signals.Signal]float64{signals.LatencyP99: 0.090, signals.Throughput: 690})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
			if !strings.Contains(p.Judgement.Observed, "throughput 800/s -> 690/s (min 700/s)") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
	})
}

func TestVerdictsCompareLikeWithLike(t *testing.T) {
	// A raise during which the load rose by 20 %: p99 150 -> 145 ms looks like
	// "no improvement", but the same pods now serve 20 % more.
	busier := func(in *Input) {
		pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.Throughput: 800},
			map[signals.Signal]float64{signals.LatencyP99: 0.145, signals.Throughput: 960})
	}
	runRules(t, []ruleCase{
		{"load moved 20 % during the settle time: the verdict waits and says why", busier, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if p.Judgement != nil {
				t.Fatalf("judged across a load change: %+v", p.Judgement)
			}
			// the change at 11:56, SettleFor 3m: the wait ends at 11:56 + 9m
			holdsMention(t, p, "load moved 800/s -> 960/s (+20%) since the pool change of 11:56:00")
			if !strings.Contains(p.Reason, "compares like with like once the load is within 15% of the baseline's, until 12:05:00") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"load back within 15 %: judged as usual", func(in *Input) {
			busier(in)
			in.set(map[signals.Signal]float64{signals.Throughput: 880})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeReverted)
		}},
		{"load still moved after the wait: kept, not compared, and said so", func(in *Input) {
			busier(in)
			in.History[0].Time.Time = t0.Add(-10 * time.Minute)
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if !strings.Contains(p.Judgement.Observed, "load moved 800/s -> 960/s (+20%)") || !strings.Contains(p.Judgement.Observed, "not comparable") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"errors that start with the change are a regression whatever the load did", func(in *Input) {
			// the e2e case: a pool raise the database refuses, while the
			// observed load was still rising (26/s -> 65/s)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 1.16, signals.Throughput: 26, signals.ErrorRate: 0.0002},
				map[signals.Signal]float64{signals.LatencyP99: 0.312, signals.Throughput: 65, signals.ErrorRate: 0.30})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
			if !strings.Contains(p.Judgement.Observed, "started with the change") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"errors that rose with the load but stay within the objective: not comparable, kept", func(in *Input) {
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 1.16, signals.Throughput: 26, signals.ErrorRate: 0.0002},
				map[signals.Signal]float64{signals.LatencyP99: 0.312, signals.Throughput: 65, signals.ErrorRate: 0.005})
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if !strings.Contains(p.Judgement.Observed, "not comparable") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"a load drop does not make a regression look like help", func(in *Input) {
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.Throughput: 800},
				map[signals.Signal]float64{signals.LatencyP99: 0.120, signals.Throughput: 640})
		}, func(t *testing.T, p Plan) {
			if p.Judgement != nil {
				t.Fatalf("judged across a load drop: %+v", p.Judgement)
			}
			holdsMention(t, p, "(-20%)")
		}},
	})
}

func TestTuneWhatCanBeSeen(t *testing.T) {
	// The user's service: a pool of 10 starved (waits of 3.3 s), the profile
	// declares the pool and both cache tiers, and the exporter has neither
	// DB time, DB call rate nor throughput: no estimate of a cache miss's cost.
	noMissCost := func(in *Input) {
		for _, s := range []signals.Signal{signals.DBTime, signals.DBCallRate, signals.Throughput} {
			in.Observation.SetMissing(s, signals.ReasonEmpty, "no series")
		}
	}
	const noEstimate = "miss cost: no estimate, tried dbTime (dbTime: Empty: no series), Little's law poolInUse ÷ dbCallRate (dbCallRate: Empty: no series) and poolInUse ÷ the requests missing every cache tier (throughput: Empty: no series)"
	starvedNoDBTime := func(in *Input) {
		starvedPool(in)
		in.set(map[signals.Signal]float64{signals.PoolWait: 3.3, signals.LatencyP99: 5, signals.LatencyP95: 4})
		noMissCost(in)
	}
	runRules(t, []ruleCase{
		{"a starved pool with DB time missing is raised; the reason names the unknown family", starvedNoDBTime, func(t *testing.T, p Plan) {
			if p.Family != FamilyPool || p.Diagnosis != DiagnosisPoolSaturated {
				t.Fatalf("family %s diagnosis %s, reason %q", p.Family, p.Diagnosis, p.Reason)
			}
			if c := only(t, p); c.Knob != poolMaxEnv || c.To <= c.From {
				t.Fatalf("change %+v", c)
			}
			if !strings.Contains(p.Reason, "unknown (not measured): cache ("+noEstimate+")") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"the plan says which family is held, with its knobs, once", starvedNoDBTime, func(t *testing.T, p Plan) {
			want := Missing{Families: []FamilyMissing{{Family: FamilyCache, Knobs: []Knob{itemsEnv, l1TTLEnv, l2TTLEnv},
				Signals: []string{noEstimate}}}}
			if !equalMissing(p.Missing, want) {
				t.Fatalf("missing %+v, want %+v", p.Missing, want)
			}
			if got := p.Missing.FamilyNotes(); len(got) != 1 || got[0] != "cache (holds CACHE_MEMORY_MAX_ITEMS, CACHE_MEMORY_TTL_SECONDS, CACHE_REDIS_TTL_SECONDS): "+noEstimate {
				t.Fatalf("notes %q", got)
			}
			if !p.SLOKnown {
				t.Fatal("SLOs unknown although every SLO signal was read")
			}
		}},
		{"a pool wait below the threshold with DB time missing could be the caches': held, and said so", func(in *Input) {
			starvedPool(in) // pool wait 40 ms, threshold 80 ms
			noMissCost(in)
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if !strings.Contains(p.Reason, "but cache is unknown and could be the cause: not acted on") ||
				!strings.Contains(p.Reason, "unknown (not measured): cache") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"a missing family is never fine: no diagnosis says the caches are", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180})
			in.Observation.SetMissing(signals.MemoryHitRatio, signals.ReasonEmpty, "no series")
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if strings.Contains(p.Reason, "cache hit ratios fine") || !strings.Contains(p.Reason, "unknown (not measured): cache (memoryHitRatio: Empty: no series)") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"CPU saturation is acted on with Redis unknown: Redis cannot cause it", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180, signals.CPUUtilization: 0.95})
			in.Observation.SetMissing(signals.RedisCPU, signals.ReasonEmpty, "no series")
		}, func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPAMinReplicas, 3, 6)
			if !strings.Contains(p.Reason, "unknown (not measured): redis (redisCPU: Empty: no series)") {
				t.Fatalf("reason %q", p.Reason)
			}
		}},
		{"a held family gets no starting point", func(in *Input) {
			delete(in.State.Values, itemsEnv)
			noMissCost(in)
		}, func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, itemsEnv); ok {
				t.Fatalf("a held family was given a starting point: %+v", p.Changes)
			}
			holdsMention(t, p, "CACHE_MEMORY_MAX_ITEMS is held: the cache signals are missing ("+noEstimate+")")
		}},
		{"an SLO signal missing holds every family", func(in *Input) {
			starvedNoDBTime(in)
			in.Observation.SetMissing(signals.LatencyP95, signals.ReasonEmpty, "no series")
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if len(p.Missing.SLO) != 1 || p.Missing.SLO[0] != "latencyP95: Empty: no series" {
				t.Fatalf("missing SLO %q", p.Missing.SLO)
			}
		}},
	})
}

func equalMissing(a, b Missing) bool {
	if len(a.SLO) != len(b.SLO) || len(a.Families) != len(b.Families) {
		return false
	}
	for i := range a.SLO {
		if a.SLO[i] != b.SLO[i] {
			return false
		}
	}
	for i, f := range a.Families {
		g := b.Families[i]
		if f.Family != g.Family || strings.Join(toStrings(f.Knobs), ",") != strings.Join(toStrings(g.Knobs), ",") ||
			strings.Join(f.Signals, ",") != strings.Join(g.Signals, ",") {
			return false
		}
	}
	return true
}

func toStrings(ks []Knob) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// TestOneRuleForMissing: the engine never judges an age again: a sample the
// reader accepted (Prometheus' 60 s scrape interval, a batch 30 s old) is
// used, and what the reader marked missing is missing, with its reason.
func TestOneRuleForMissing(t *testing.T) {
	runRules(t, []ruleCase{
		{"a sample 90 s before the reconcile, from a batch 30 s old, is used", func(in *Input) {
			starvedPool(in)
			in.Observation.Time = t0.Add(-30 * time.Second)
			for s, v := range in.Observation.Values {
				v.At = t0.Add(-90 * time.Second)
				in.Observation.Values[s] = v
			}
			in.Observation.Expire(signals.Freshness{})
		}, func(t *testing.T, p Plan) {
			if !p.Missing.None() {
				t.Fatalf("missing %+v", p.Missing)
			}
			wantChange(t, p, poolMaxEnv, 10, 14)
		}},
		{"what the reader expired is missing, with the reader's reason", func(in *Input) {
			starvedPool(in)
			v := in.Observation.Values[signals.LatencyP99]
			v.At = t0.Add(-3 * time.Minute)
			in.Observation.Values[signals.LatencyP99] = v
			in.Observation.Expire(signals.Freshness{})
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			if len(p.Missing.SLO) != 1 || !strings.HasPrefix(p.Missing.SLO[0], "latencyP99: Stale: newest sample is 3m0s older than the query (max 2m30s") {
				t.Fatalf("missing %q", p.Missing.SLO)
			}
		}},
	})
}

func TestEveryFamilyUnknown(t *testing.T) {
	runRules(t, []ruleCase{
		{"no family measured: nothing is fine, nothing changes, and the reason names them all", func(in *Input) {
			in.set(map[signals.Signal]float64{signals.LatencyP99: 0.180})
			for _, s := range []signals.Signal{signals.PoolWait, signals.CPUUtilization, signals.RedisCPU, signals.DBTime, signals.DBCallRate, signals.Throughput} {
				in.Observation.SetMissing(s, signals.ReasonEmpty, "")
			}
		}, func(t *testing.T, p Plan) {
			noChanges(t, p)
			want := "no bottleneck found: nothing changed; unknown (not measured): pool (poolWait: Empty); autoscaling (cpuUtilization: Empty); redis (redisCPU: Empty); cache (miss cost: no estimate, tried dbTime (dbTime: Empty), Little's law poolInUse ÷ dbCallRate (dbCallRate: Empty) and poolInUse ÷ the requests missing every cache tier (throughput: Empty))"
			if !strings.Contains(p.Reason, want) {
				t.Fatalf("reason %q\nwant %q", p.Reason, want)
			}
		}},
	})
}

// TestSLISecondsReadsWhatSLIsOfWrote: a percentile above the top bucket
// (+Inf) is stored as the largest duration and read back as +Inf; a
// measured one comes back as it was; an unobserved one is not there.
func TestSLISecondsReadsWhatSLIsOfWrote(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o := signals.NewObservation(now)
	o.Set(signals.LatencyP99, math.Inf(+1), now)
	o.Set(signals.LatencyP95, 0.25, now)
	s := SLIsOf(o)
	if v, ok := SLISeconds(s.P99); !ok || !math.IsInf(v, +1) {
		t.Errorf("p99 above the top bucket read back as %v, %v; want +Inf", v, ok)
	}
	if v, ok := SLISeconds(s.P95); !ok || v != 0.25 {
		t.Errorf("p95 read back as %v, %v; want 0.25", v, ok)
	}
	if _, ok := SLISeconds(s.P50); ok {
		t.Error("an unobserved p50 read back as observed")
	}
}
