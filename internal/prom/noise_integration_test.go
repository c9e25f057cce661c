package prom

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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
		return Target{Key: svc + "/" + sat.String(), Labels: LabelsOf(map[string]string{"namespace": "shop", "service": svc}),
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
	// the peak comes from the noise's rates (over 4 s in both): 400/s, not
	// the 12 s saturation window's mean of the swings
	for _, sat := range []string{"4s", "12s"} {
		g.Expect(val(obs["swinging/"+sat], signals.ThroughputPeak)).To(BeNumerically(">", 300), sat)
		g.Expect(val(obs["swinging/"+sat], signals.ThroughputPeak)).To(BeNumerically(">", val(obs["swinging/"+sat], signals.ThroughputWindow)), sat)
	}
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
				plan(slices.Values([]Target{{Key: "k", Labels: LabelsOf(map[string]string{"service": "orders"}), Window: tc.window, SaturationWindow: tc.sat}}))
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
			// and the counts that tell a missing step (TestThroughputNoiseNeedsEveryMove)
			g.Expect(q).To(ContainSubstring(fmt.Sprintf("label_replace(count_over_time((sum by (service) (rate(http_requests_total{service=\"orders\"}[%s])))[%s:%s]), \"navius_part\", \"throughput_noise_rates\"",
				step, promDuration(tc.window), step)))
			g.Expect(q).To(ContainSubstring("\"throughput_noise_moves\""))
		})
	}
}

// TestThroughputNoiseNeedsEveryMove: a step of the SLO window where the
// request rate is missing (a late scrape leaves a rate over two scrape
// intervals with one sample) drops the two moves around it but only one
// sample from the range, so the noise would under-read (0/s, 400/s, gap,
// 400/s, 0/s: moves 400 + 400 less the range 400 read 400 where the load
// came back 1,200); a rate missing at an edge of the window leaves an
// unbroken run whose moves match, and the edge's swing unread. The noise is
// kept only with a rate at every step of the window and its moves.
func TestThroughputNoiseNeedsEveryMove(t *testing.T) {
	for _, tc := range []struct {
		name         string
		rates, moves string
		steps        int64
		whole        bool
	}{
		{"every rate and move", "5", "4", 5, true},
		{"a Prometheus that counts the window's start step too", "6", "5", 5, true},
		{"the oldest or the newest rate missing", "4", "3", 5, false},
		{"a rate missing inside the window", "4", "2", 5, false},
		{"two rates", "2", "1", 2, false},
		{"no count", "", "4", 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := map[string]series{}
			if tc.rates != "" {
				parts["throughput_noise_rates"] = series{{Value: mustFloat(t, tc.rates)}}
			}
			parts["throughput_noise_moves"] = series{{Value: mustFloat(t, tc.moves)}}
			if got := noiseSamplesWhole(parts, tc.steps); got != tc.whole {
				t.Fatalf("rates %q moves %q of %d steps: whole %v, want %v", tc.rates, tc.moves, tc.steps, got, tc.whole)
			}
		})
	}
	// the steps of (at − window, at] on the epoch's multiples of the step
	for _, tc := range []struct {
		at, window, step time.Duration
		want             int64
	}{
		{20 * time.Minute, 10 * time.Minute, 2 * time.Minute, 5},    // 12, 14, 16, 18, 20
		{21 * time.Minute, 10 * time.Minute, 2 * time.Minute, 5},    // 12 … 20
		{99 * time.Second, 100 * time.Second, 33 * time.Second, 4},  // 0, 33, 66, 99
		{130 * time.Second, 100 * time.Second, 33 * time.Second, 3}, // 33, 66, 99
	} {
		if got := noiseSteps(time.Unix(0, 0).Add(tc.at), tc.window, tc.step); got != tc.want {
			t.Errorf("steps of (%s − %s, %s] at %s: %d, want %d", tc.at, tc.window, tc.at, tc.step, got, tc.want)
		}
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIntegrationANoiseWithAMissedScrapeIsMissing: a real Prometheus holds
// two services' recorded requests, scraped every minute, each swinging
// between 0 and 400 requests/s every 2 minutes; one of them missed the
// scrape a minute before the read. At a 1m scrape interval, a 6m SLO window
// and the default 4m saturation window, the noise is read in rates over
// 2m: two scrapes each, so the missed scrape leaves the newest rate with one
// sample and Prometheus drops it. The swing without the gap reads about
// 400/s of noise; the one with the gap would read 0/s (the moves left equal
// the range: a calm load, which lets a CPU-target raise and a back-down act
// on a load that swings), and is missing instead.
func TestIntegrationANoiseWithAMissedScrapeIsMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	now := time.Now().Truncate(2 * time.Minute).Add(-2 * time.Minute) // a multiple of the 2m step, as the subquery aligns
	var b strings.Builder
	b.WriteString("# TYPE http_requests counter\n")
	for _, svc := range []string{"whole", "gap"} {
		total := 0.0
		for at := now.Add(-30 * time.Minute); !at.After(now); at = at.Add(time.Minute) {
			if (at.Unix()/120)%2 == 0 {
				total += 400 * 60 // the minute before at ran at 400/s
			}
			if svc == "gap" && at.Equal(now.Add(-time.Minute)) {
				continue
			}
			fmt.Fprintf(&b, "http_requests_total{namespace=\"shop\",service=%q,pod=%q} %g %d\n", svc, svc+"-7d9f8b6c5-x2kzq", total, at.Unix())
		}
	}
	b.WriteString("# EOF\n")
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{Recorded: b.String()})
	// both read in rates over 2m (NoiseStep: the 6m window's third; the 2m
	// saturation window, which the 10m window holds five of)
	target := func(svc string, window time.Duration) Target {
		sat := 4 * time.Minute
		if window > 6*time.Minute {
			sat = 2 * time.Minute
		}
		return Target{Key: svc + "/" + window.String(), Labels: LabelsOf(map[string]string{"namespace": "shop", "service": svc}), Window: window, SaturationWindow: sat}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 6m: three rates, the newest missing leaves two; 10m: five rates,
	// the newest missing leaves four and their three moves, an unbroken run
	var targets []Target
	for _, w := range []time.Duration{6 * time.Minute, 10 * time.Minute} {
		targets = append(targets, target("whole", w), target("gap", w))
	}
	obs := NewReader(Options{Registerer: prometheus.NewRegistry(), Freshness: signals.Freshness{ScrapeInterval: time.Minute}}).
		ObserveAt(ctx, Endpoint{URL: prom.URL, Timeout: 10 * time.Second}, targets, now)
	for _, w := range []string{"6m0s", "10m0s"} {
		whole, gap := obs["whole/"+w], obs["gap/"+w]
		g.Expect(whole.Has(signals.ThroughputNoise)).To(BeTrue(), w+": "+strings.Join(whole.MissingSignals(), "; "))
		g.Expect(val(whole, signals.ThroughputNoise)).To(BeNumerically(">", 300), w+": 0 and 400/s in turn: it came back as far as it went")
		g.Expect(gap.Has(signals.ThroughputNoise)).To(BeFalse(), "%s: a missed scrape read as a calm load: noise %v", w, val(gap, signals.ThroughputNoise))
		g.Expect(gap.Missing[signals.ThroughputNoise].Reason).To(Equal(signals.ReasonTooFewSamples), w)
	}
}
