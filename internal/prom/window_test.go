package prom

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// partRE finds the part of a tagged branch (see tagged).
var partRE = regexp.MustCompile(`"` + partLabel + `", "([a-z_]+)", "` + partLabel + `"`)

// rangeRE finds a range selector's window, such as [5m].
var rangeRE = regexp.MustCompile(`\[[0-9]+[smhd][0-9smhd]*\]`)

// TestSaturationSignalsUseTheShortWindow: CPU, pool use and wait, DB time,
// Redis and throughput are read over the saturation window (max(4 × scrape
// interval, 1m) by default),
// so they follow a load step; latency, errors and hit ratios, which the SLO
// verdicts read, keep the SLO window. Both windows fit in the same five
// queries per group.
func TestSaturationSignalsUseTheShortWindow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		scrape     time.Duration
		saturation time.Duration
		want       string
		// noiseStep: the rates of the noise and the peak (NoiseStep; the
		// window's third when it holds fewer than three saturation windows)
		noiseStep string
	}{
		{"default: 4 × Prometheus' default 1m scrape interval", 0, 0, "[4m]", "3m20s"},
		{"default: 1m at least (15s scrape interval)", 15 * time.Second, 0, "[1m]", "1m"},
		{"spec.metrics.saturationWindow", 15 * time.Second, 2 * time.Minute, "[2m]", "2m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			prom := newFakeProm(t, healthy("orders", "payments"))
			o, _, _ := testReader(t, Options{Freshness: signals.Freshness{ScrapeInterval: tc.scrape}})
			a, b := orders("a", "orders"), orders("b", "payments")
			for _, tg := range []*Target{&a, &b} {
				tg.Window, tg.SaturationWindow = 10*time.Minute, tc.saturation
			}
			got := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{a, b})
			g.Expect(got["a"].Has(signals.Throughput, signals.ErrorRate, signals.PoolWait, signals.CPUUtilization)).To(BeTrue(),
				strings.Join(got["a"].MissingSignals(), "; "))
			g.Expect(prom.Count()).To(BeNumerically("<=", 5), "one query per family for both profiles")

			for _, q := range prom.QueryTexts() {
				for _, branch := range strings.Split(q, "\n  or ") {
					m := partRE.FindStringSubmatch(branch)
					g.Expect(m).To(HaveLen(2), branch)
					part := m[1]
					if !rangeRE.MatchString(branch) {
						continue // no window: pool max, pod count, freshness
					}
					switch part {
					case "bucket", "sum", "count", "requests", "errors", "cache":
						g.Expect(branch).To(ContainSubstring("[10m]"), part)
						g.Expect(branch).NotTo(ContainSubstring(tc.want), part)
					case "throughput", "throughput_now", "in_use", "wait_sum", "wait_count", "wait_bucket", "db_sum", "db_count", "held", "calls",
						"cpu_usage", "cpu_requests", "redis_cpu", "redis_ops":
						g.Expect(branch).To(ContainSubstring(tc.want), part)
						g.Expect(branch).NotTo(ContainSubstring("[10m]"), part)
					case "throughput_peak", "throughput_noise", "throughput_noise_rates":
						// rates over the noise step, sampled once per step over the SLO window
						g.Expect(branch).To(ContainSubstring("["+tc.noiseStep+"]"), part)
						g.Expect(branch).To(ContainSubstring("[10m:"+tc.noiseStep+"]"), part)
					case "throughput_noise_moves":
						// the moves between those rates: one step fewer
						g.Expect(branch).To(ContainSubstring("["+tc.noiseStep+"]"), part)
						g.Expect(branch).To(ContainSubstring(":"+tc.noiseStep+"]"), part)
					default:
						t.Errorf("unexpected windowed branch %q: %s", part, branch)
					}
				}
			}
		})
	}
}
