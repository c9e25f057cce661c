package prom

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestIntegrationThroughputNoiseTellsSwingsFromASteadyLoad: a real Prometheus
// scrapes two services, one at a steady 200 requests/s and one that swings
// between 400/s and 0 every saturation window (4 s, aligned as Prometheus
// aligns a subquery's steps). The batched traffic query reads the swinging
// one's back-and-forth as ThroughputNoise near the swing (400/s) and its
// ThroughputPeak near 400/s, and the steady one's noise near 0.
func TestIntegrationThroughputNoiseTellsSwingsFromASteadyLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "requests"},
		[]string{"namespace", "service", "pod", "status"})
	reg.MustRegister(requests)
	steady := requests.WithLabelValues("shop", "steady", "steady-7d9f8b6c5-x2kzq", "200")
	swinging := requests.WithLabelValues("shop", "swinging", "swinging-7d9f8b6c5-x2kzq", "200")
	const tick = 50 * time.Millisecond
	testenv.Every(t, tick, func() {
		steady.Add(200 * tick.Seconds())
		if time.Now().Unix()/4%2 == 0 {
			swinging.Add(400 * tick.Seconds())
		}
	})
	prom := scrape(t, reg)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	target := func(svc string) Target {
		return Target{Key: svc, Labels: map[string]string{"namespace": "shop", "service": svc},
			Window: 12 * time.Second, SaturationWindow: 4 * time.Second}
	}
	g.Expect(prom.WaitForSeries(ctx, `count_over_time(http_requests_total{service="swinging"}[20s]) >= 18`)).To(Succeed())
	obs := NewReader(Options{Registerer: prometheus.NewRegistry()}).
		Observe(ctx, Endpoint{URL: prom.URL, Timeout: 10 * time.Second}, []Target{target("steady"), target("swinging")})
	for _, key := range []string{"steady", "swinging"} {
		o := obs[key]
		for _, s := range []signals.Signal{signals.ThroughputNoise, signals.ThroughputPeak, signals.ThroughputWindow} {
			g.Expect(o.Has(s)).To(BeTrue(), key+": "+strings.Join(o.MissingSignals(), "; "))
		}
	}
	g.Expect(val(obs["steady"], signals.ThroughputNoise)).To(BeNumerically("<", 20), "a steady 200/s moves no more than the scrapes' jitter")
	g.Expect(val(obs["steady"], signals.ThroughputPeak)).To(BeNumerically("~", 200, 30))
	g.Expect(val(obs["swinging"], signals.ThroughputNoise)).To(BeNumerically(">", 200), "400/s and 0 in turn: it came back as far as it went")
	g.Expect(val(obs["swinging"], signals.ThroughputPeak)).To(BeNumerically(">", 300))
	g.Expect(val(obs["swinging"], signals.ThroughputPeak)).To(BeNumerically(">", val(obs["swinging"], signals.ThroughputWindow)))
}

// TestThroughputNoiseNeedsThreeSamples: an SLO window of fewer than three
// saturation windows holds too few one-minute rates to tell noise from a
// trend: the traffic query has no noise branch and the signal is missing,
// saying why.
func TestThroughputNoiseNeedsThreeSamples(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct {
		window, sat time.Duration
		queried     bool
	}{{5 * time.Minute, time.Minute, true}, {3 * time.Minute, time.Minute, true}, {2 * time.Minute, time.Minute, false}, {time.Minute, time.Minute, false}} {
		grp := &group{keys: []string{"service"}, window: tc.window, satWindow: tc.sat, byFamily: map[string]*job{},
			targets: []Target{{Key: "k", Labels: map[string]string{"service": "orders"}, Window: tc.window, SaturationWindow: tc.sat}}}
		grp.build(10, 100)
		q := grp.byFamily[famTraffic].query
		g.Expect(strings.Contains(q, "throughput_noise")).To(Equal(tc.queried), "window %s, saturation window %s", tc.window, tc.sat)
		g.Expect(q).To(ContainSubstring("throughput_peak"))
	}
	if q := (&group{window: 5 * time.Minute, satWindow: time.Minute}).noiseQuery("R", "P"); q !=
		"sum_over_time((abs(R - P))[4m:1m]) - (max_over_time((R)[5m:1m]) - min_over_time((R)[5m:1m]))" {
		t.Fatalf("noise query %s", q)
	}
}
