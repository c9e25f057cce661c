package prom

import (
	"context"
	"fmt"
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
// between 400/s and 0 every 4 s (aligned as Prometheus aligns a subquery's
// steps). The batched traffic query reads the swinging one's back-and-forth
// as ThroughputNoise near the swing (400/s) and its ThroughputPeak near
// 400/s, and the steady one's noise near 0: with a saturation window of 4 s
// in a 12 s SLO window (three of them), and with a saturation window as long
// as the SLO window, which holds one: the noise is then read at the window's
// third, 4 s, the shortest window of three that two scrapes fill.
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
	target := func(svc string, sat time.Duration) Target {
		return Target{Key: svc + "/" + sat.String(), Labels: map[string]string{"namespace": "shop", "service": svc},
			Window: 12 * time.Second, SaturationWindow: sat}
	}
	var targets []Target
	for _, sat := range []time.Duration{4 * time.Second, 12 * time.Second} {
		targets = append(targets, target("steady", sat), target("swinging", sat))
	}
	g.Expect(prom.WaitForSeries(ctx, `count_over_time(http_requests_total{service="swinging"}[40s]) >= 36`)).To(Succeed())
	obs := NewReader(Options{Registerer: prometheus.NewRegistry(), Freshness: signals.Freshness{ScrapeInterval: time.Second}}).
		Observe(ctx, Endpoint{URL: prom.URL, Timeout: 10 * time.Second}, targets)
	for _, sat := range []string{"4s", "12s"} {
		steady, swinging := obs["steady/"+sat], obs["swinging/"+sat]
		for _, o := range []signals.Observation{steady, swinging} {
			for _, s := range []signals.Signal{signals.ThroughputNoise, signals.ThroughputPeak, signals.ThroughputWindow} {
				g.Expect(o.Has(s)).To(BeTrue(), sat+": "+strings.Join(o.MissingSignals(), "; "))
			}
		}
		g.Expect(val(steady, signals.ThroughputNoise)).To(BeNumerically("<", 20), sat+": a steady 200/s moves no more than the scrapes' jitter")
		g.Expect(val(steady, signals.ThroughputPeak)).To(BeNumerically("~", 200, 30), sat)
		g.Expect(val(swinging, signals.ThroughputNoise)).To(BeNumerically(">", 200), sat+": 400/s and 0 in turn: it came back as far as it went")
	}
	// the peak is a rate over the saturation window: 400/s over 4 s; over
	// 12 s, the mean of the swings
	g.Expect(val(obs["swinging/4s"], signals.ThroughputPeak)).To(BeNumerically(">", 300))
	g.Expect(val(obs["swinging/4s"], signals.ThroughputPeak)).To(BeNumerically(">", val(obs["swinging/4s"], signals.ThroughputWindow)))
}

// TestThroughputNoiseStep: the request rates ThroughputNoise compares are
// rates over the noise step, sampled once per step, three of them at least
// in the SLO window: the saturation window when the window holds three, else
// the window's third, never under two scrape intervals. Without a step the
// traffic query has no noise branch and the signal is missing, saying what
// window would measure it.
func TestThroughputNoiseStep(t *testing.T) {
	for _, tc := range []struct {
		name                string
		window, sat, scrape time.Duration
		step                time.Duration // 0: not measured
		missingSays         string
	}{
		{"three saturation windows: the saturation window", 5 * time.Minute, time.Minute, 15 * time.Second, time.Minute, ""},
		{"30s scrape, 5m window: the window's third", 5 * time.Minute, 2 * time.Minute, 30 * time.Second, 100 * time.Second, ""},
		{"1m scrape, 5m window: fewer than three rates of two scrapes", 5 * time.Minute, 4 * time.Minute, time.Minute, 0, "a window of 6m or more"},
		{"1m scrape, 6m window", 6 * time.Minute, 4 * time.Minute, time.Minute, 2 * time.Minute, ""},
		{"the API's minimum window at a 1s scrape", time.Minute, time.Minute, time.Second, 20 * time.Second, ""},
		{"a third in whole seconds", 100 * time.Second, time.Minute, time.Second, 33 * time.Second, ""},
		{"a saturation window under two scrapes", 5 * time.Minute, 30 * time.Second, time.Minute, 0, "shorter than two scrape intervals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			groups, invalid := NewReader(Options{Registerer: prometheus.NewRegistry(), Freshness: signals.Freshness{ScrapeInterval: tc.scrape}}).
				plan([]Target{{Key: "k", Labels: map[string]string{"service": "orders"}, Window: tc.window, SaturationWindow: tc.sat}})
			g.Expect(invalid).To(BeEmpty())
			g.Expect(groups).To(HaveLen(1))
			grp := groups[0]
			q := grp.byFamily[famTraffic].query
			g.Expect(q).To(ContainSubstring("throughput_peak"))
			if tc.step == 0 {
				g.Expect(q).NotTo(ContainSubstring("throughput_noise"))
				g.Expect(grp.noiseUnmeasured).To(ContainSubstring(tc.missingSays))
				return
			}
			g.Expect(grp.noiseStep).To(Equal(tc.step))
			g.Expect(grp.noiseUnmeasured).To(BeEmpty())
			step := promDuration(tc.step)
			g.Expect(q).To(ContainSubstring(fmt.Sprintf("sum_over_time((abs(sum by (service) (rate(http_requests_total{service=\"orders\"}[%s])) - sum by (service) (rate(http_requests_total{service=\"orders\"}[%s] offset %s))))[%s:%s])",
				step, step, step, promDuration(tc.window-tc.step), step)))
			g.Expect(q).To(ContainSubstring(fmt.Sprintf("max_over_time((sum by (service) (rate(http_requests_total{service=\"orders\"}[%s])))[%s:%s])",
				step, promDuration(tc.window), step)))
		})
	}
}
