package signals

import (
	"math"
	"testing"
	"time"
)

func TestPercentileTable(t *testing.T) {
	for i, p := range Percentiles {
		if i > 0 && p.Quantile <= Percentiles[i-1].Quantile {
			t.Fatalf("the table is not in increasing order at %s", p.Name)
		}
		if s, ok := LatencySignal(p.Name); !ok || s != p.Signal {
			t.Errorf("LatencySignal(%s) = %s", p.Name, s)
		}
		if q, ok := Quantile(p.Signal); !ok || q != p.Quantile {
			t.Errorf("Quantile(%s) = %v", p.Signal, q)
		}
	}
	for _, tc := range []struct {
		q    float64
		want string
	}{{0.3, "p50"}, {0.5, "p50"}, {0.9, "p90"}, {0.95, "p95"}, {0.99, "p99"}, {0.995, "p99"}, {0.999, "p999"}, {1, "p999"}} {
		if got := PercentileAtMost(tc.q).Name; got != tc.want {
			t.Errorf("PercentileAtMost(%v) = %s, want %s", tc.q, got, tc.want)
		}
	}
}

func TestExpire(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := Freshness{ScrapeInterval: 15 * time.Second, ObservePeriod: 30 * time.Second} // 60 s
	o := NewObservation(now)
	o.Set(LatencyP99, 0.1, now.Add(-60*time.Second))
	o.Set(ErrorRate, 0.01, now.Add(-61*time.Second))
	o.Values[Throughput] = Value{Value: 10}
	o.Expire(f)
	if !o.Has(LatencyP99) {
		t.Errorf("a sample at the limit was expired: %v", o.MissingSignals())
	}
	for _, s := range []Signal{ErrorRate, Throughput} {
		if m, ok := o.Missing[s]; !ok || m.Reason != ReasonStale {
			t.Errorf("%s: %+v, want Stale", s, m)
		}
	}
	if got := (Freshness{}).MaxAge(); got != 150*time.Second {
		t.Errorf("default max age %s, want 2m30s (2 × 1m + 30s)", got)
	}
}

// TestExpireServed: a value served from a batch made before its period may
// be as old, counted to the time it is served, as a value of a batch served
// at the end of its own period (the rule's limit plus a period), no older;
// the observation keeps its evaluation time.
func TestExpireServed(t *testing.T) {
	made := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := Freshness{ScrapeInterval: time.Second, ObservePeriod: 30 * time.Second} // 32 s at the evaluation, 62 s served
	if got := f.ServedMaxAge(30 * time.Second); got != 62*time.Second {
		t.Fatalf("ServedMaxAge %s, want 1m2s", got)
	}
	served := made.Add(45 * time.Second) // the previous batch, 45 s after it was made
	o := NewObservation(made)
	o.Set(LatencyP99, 0.1, made.Add(-2*time.Second))  // 47 s old when served: a batch serves such values at the end of its period
	o.Set(ErrorRate, 0.01, made.Add(-17*time.Second)) // 62 s: at the limit
	o.Set(Throughput, 10, made.Add(-18*time.Second))  // 63 s
	o.ExpireServed(f, served, 30*time.Second)
	for _, s := range []Signal{LatencyP99, ErrorRate} {
		if !o.Has(s) {
			t.Errorf("%s expired: %+v", s, o.Missing[s])
		}
	}
	if m, ok := o.Missing[Throughput]; !ok || m.Reason != ReasonStale {
		t.Errorf("throughput 63 s old when served: %+v, want Stale", m)
	} else if want := "newest sample is 1m3s old when served, 45s after its batch's evaluation (max 1m2s: the rule's 32s + the batch period 30s)"; m.Message != want {
		t.Errorf("throughput: %q, want %q", m.Message, want)
	}
	if !o.Time.Equal(made) {
		t.Errorf("the observation's time became %s, want %s", o.Time, made)
	}
}

// TestNumber: the one rule for what is a value and what is missing.
func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		s    Signal
		v    float64
		want bool
	}{
		{LatencyP99, 0.2, true},
		{LatencyP99, math.Inf(+1), true}, // above the top bucket: a breach
		{LatencyP99, math.Inf(-1), false},
		{LatencyP99, math.NaN(), false},
		{Throughput, math.Inf(+1), false},
		{Throughput, 0, true},
	} {
		if got := Number(tc.s, tc.v); got != tc.want {
			t.Errorf("Number(%s, %v) = %v, want %v", tc.s, tc.v, got, tc.want)
		}
	}
}

func TestResetKeepsNothingAndCloneSharesNothing(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	for _, tc := range []struct {
		name string
		obs  Observation
	}{
		{"made by NewObservation", NewObservation(t1)},
		{"a zero Observation", Observation{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs
			o.Time = t1
			o.Set(LatencyP99, 0.2, t1)
			o.SetMissing(ErrorRate, ReasonEmpty, "none")
			c := o.Clone()
			o.Reset(t2)
			if o.Time != t2 || len(o.Values) != 0 || len(o.Missing) != 0 {
				t.Fatalf("after Reset: %+v", o)
			}
			o.Set(Throughput, 5, t2)
			if v, ok := c.Get(LatencyP99); !ok || v != 0.2 || c.Time != t1 || c.Has(Throughput) || c.Missing[ErrorRate].Reason != ReasonEmpty {
				t.Errorf("the clone changed with the observation it was taken from: %+v", c)
			}
		})
	}
}
