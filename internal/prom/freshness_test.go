package prom

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestOneRuleForStale: a sample is stale when it is older than 2 × the
// scrape interval plus the observe period, measured against the query's
// evaluation time; the batch and the overrides follow the same rule.
func TestOneRuleForStale(t *testing.T) {
	for _, tc := range []struct {
		name      string
		freshness signals.Freshness
		age       time.Duration
		stale     bool
	}{
		// Prometheus' default 60 s scrape interval, the default 30 s period: 2m30s.
		{"two scrapes and a period old is fresh", signals.Freshness{}, 2*time.Minute + 15*time.Second, false},
		{"older is stale", signals.Freshness{}, 2*time.Minute + 45*time.Second, true},
		{"a 15 s scrape interval allows 1 minute", signals.Freshness{ScrapeInterval: 15 * time.Second}, 65 * time.Second, true},
		{"a longer observe period allows more", signals.Freshness{ObservePeriod: 2 * time.Minute}, 3*time.Minute + 50*time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			at := t0.Add(-tc.age)
			prom := newFakeProm(t, func(q string) (int, string) {
				switch family(q) {
				case famTraffic:
					return ok(s("1", app("orders", "requests")...), s("1", app("orders", "throughput")...),
						s(fmtUnix(at), app("orders", "ts")...))
				case famOverride:
					x := s("0.2", partLabel, "x")
					x.At = at
					return ok(x)
				}
				return healthy("orders")(q)
			})
			o, _, _ := testReader(t, Options{Freshness: tc.freshness})
			tg := orders("k", "orders")
			tg.Overrides = &tuningv1alpha1.QueryOverrides{CPUUtilization: `my_cpu{app="orders"}`}
			obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{tg})["k"]
			for _, sig := range []signals.Signal{signals.Throughput, signals.CPUUtilization} {
				if tc.stale {
					g.Expect(obs.Missing).To(HaveKey(sig))
					g.Expect(obs.Missing[sig].Reason).To(Equal(signals.ReasonStale))
					g.Expect(obs.Missing[sig].Message).To(ContainSubstring("2 × scrape interval"))
				} else {
					g.Expect(obs.Has(sig)).To(BeTrue(), "%s: %s", sig, obs.Missing[sig])
				}
			}
			g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), "a fresh family is unaffected")
		})
	}
}

// TestObservesEveryPercentileOfAnObjective: p90 and p999 are computed from
// the same buckets when a profile asks for them, and can be overridden.
func TestObservesEveryPercentile(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, func(q string) (int, string) {
		if family(q) == famOverride {
			return ok(s("0.7", partLabel, "x"))
		}
		return healthy("orders")(q)
	})
	o, _, _ := testReader(t, Options{})
	tg := orders("k", "orders")
	tg.Percentiles = append(signals.AlwaysObserved(), signals.LatencyP999)
	tg.Overrides = &tuningv1alpha1.QueryOverrides{LatencyP90: `my_p90{app="orders"}`}
	tg.Percentiles = append(tg.Percentiles, signals.LatencyP90)
	obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{tg})["k"]
	g.Expect(obs.Has(signals.LatencyP999)).To(BeTrue(), "%v", obs.MissingSignals())
	g.Expect(val(obs, signals.LatencyP999)).To(BeNumerically(">=", val(obs, signals.LatencyP99)))
	g.Expect(val(obs, signals.LatencyP90)).To(Equal(0.7), "the override replaces the computed p90")
}
