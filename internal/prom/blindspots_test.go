package prom

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestLatencyBlindSpots: a percentile is a number only when the histogram
// and the traffic can support it. A rank in the +Inf bucket is +Inf (a
// breach of any objective), not the highest bound; buckets that cannot
// measure the objective make it BucketsTooCoarse; a window with fewer than
// 10/(1−q) requests makes it TooFewSamples.
func TestLatencyBlindSpots(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name      string
		bounds    []string
		counts    []float64 // cumulative rates per second, 5m window
		threshold time.Duration
		want      float64
		reason    signals.Reason
	}{
		{"outage: p99 beyond the top bucket reads +Inf, a breach",
			[]string{"0.1", "0.25", "0.5", "1", "+Inf"}, []float64{10, 40, 80, 90, 100}, 800 * time.Millisecond, inf, ""},
		{"healthy: interpolated inside the bucket",
			[]string{"0.1", "0.25", "0.5", "1", "+Inf"}, []float64{90, 98, 99.5, 100, 100}, 800 * time.Millisecond, 0.25 + 0.25*(99-98)/1.5, ""},
		{"top finite bound at the threshold", []string{"0.1", "0.25", "0.5", "+Inf"}, []float64{90, 98, 99.5, 100}, 500 * time.Millisecond, 0, signals.ReasonBucketsTooCoarse},
		{"top finite bound below the threshold", []string{"0.1", "0.25", "+Inf"}, []float64{90, 99.5, 100}, time.Second, 0, signals.ReasonBucketsTooCoarse},
		{"no bound within 0.4× below the threshold", []string{"0.01", "0.1", "5", "+Inf"}, []float64{90, 98, 100, 100}, time.Second, 0, signals.ReasonBucketsTooCoarse},
		{"Prometheus default buckets measure 240ms", []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"},
			[]float64{10, 20, 30, 40, 60, 99.5, 100, 100, 100, 100, 100, 100}, 240 * time.Millisecond, 0.1 + 0.15*(99-60)/39.5, ""},
		// 3.3 requests/s × 300 s = 990 < 1,000 for p99.
		{"thin traffic: 990 requests for p99", []string{"0.1", "0.25", "0.5", "1", "+Inf"}, []float64{3, 3.2, 3.3, 3.3, 3.3}, 800 * time.Millisecond, 0, signals.ReasonTooFewSamples},
		{"just enough: 1,002 requests for p99", []string{"0.1", "0.25", "0.5", "1", "+Inf"}, []float64{3, 3.2, 3.34, 3.34, 3.34}, 800 * time.Millisecond, 0.25 + 0.25*(3.34*0.99-3.2)/0.14, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			prom := newFakeProm(t, func(q string) (int, string) {
				if family(q) != famLatency {
					return healthy("orders")(q)
				}
				var out []sample
				for i, le := range tc.bounds {
					out = append(out, s(fmt.Sprint(tc.counts[i]), app("orders", "bucket", "le", le)...))
				}
				return ok(append(out, s("1", app("orders", "sum")...), s("10", app("orders", "count")...))...)
			})
			o, _, _ := testReader(t, Options{})
			tg := orders("k", "orders")
			tg.Percentiles = []signals.Signal{signals.LatencyP99}
			tg.Thresholds = ThresholdsOf(map[signals.Signal]time.Duration{signals.LatencyP99: tc.threshold})
			obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{tg})["k"]
			if tc.reason != "" {
				g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(tc.reason), obs.Missing[signals.LatencyP99].String())
				return
			}
			g.Expect(obs.Missing).NotTo(HaveKey(signals.LatencyP99), obs.Missing[signals.LatencyP99].String())
			if math.IsInf(tc.want, 1) {
				g.Expect(math.IsInf(val(obs, signals.LatencyP99), 1)).To(BeTrue())
				return
			}
			g.Expect(val(obs, signals.LatencyP99)).To(BeNumerically("~", tc.want, 1e-9))
		})
	}
}

func TestMinObservations(t *testing.T) {
	g := NewWithT(t)
	for q, want := range map[float64]float64{0.5: 20, 0.9: 100, 0.95: 200, 0.99: 1000, 0.999: 10000} {
		g.Expect(minObservations(q)).To(Equal(want), fmt.Sprint(q))
	}
}
