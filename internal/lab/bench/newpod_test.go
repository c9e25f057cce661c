package bench

import (
	"math"
	"testing"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// TestThroughputNowCountsANewPodsSeries: 200 req/s on 4 pods, then 4 new
// pods serve 200 req/s more (the old pods' share does not change). 30 s
// later the new pods' series have two samples: the rate over the
// saturation window (a minute) divides their requests by a minute they did
// not exist for and reads well under the 400 req/s offered; the newest
// scrape interval (irate) reads them.
func TestThroughputNowCountsANewPodsSeries(t *testing.T) {
	m := sim.New(sim.Config{Seed: 1})
	m.SetTrace(sim.TraceFunc(func(t float64) float64 {
		if t > 300 {
			return 400
		}
		return 200
	}))
	m.SyncPods(sim.MakePods("orders-api", 4, sim.GuideDefaults, 500, 1000))
	p := newProm(600)
	var spec tuningv1alpha1.PerformanceProfileSpec
	p.readAs(spec)
	for now := 1.0; now <= 330; now++ {
		if now == 301 {
			m.SyncPods(sim.MakePods("orders-api", 8, sim.GuideDefaults, 500, 1000))
		}
		m.Step(1)
		if math.Mod(now, ScrapeInterval) == 0 {
			p.scrape(m, now)
		}
	}
	obs := p.observe(330, 300, wall(330), nil)
	window, _ := obs.Get(signals.Throughput)
	now, ok := obs.Get(signals.ThroughputNow)
	if !ok {
		t.Fatalf("no throughputNow: %v", obs.Missing[signals.ThroughputNow])
	}
	t.Logf("400 req/s offered: throughput %.0f, throughputNow %.0f", window, now)
	if math.Abs(now-400)/400 > 0.05 {
		t.Errorf("throughputNow %.0f req/s, want the 400 offered within 5 %%", now)
	}
	if window > 0.85*400 {
		t.Errorf("throughput %.0f req/s: the window's rate no longer under-reads the new pods, the case tests nothing", window)
	}
}

// TestTunerChecksEveryScrapeInASaturatedBreach: tier A calls the operator
// when the manager would requeue it (period.NextCheck): every spec.interval
// before the step, every scrape interval while the step's breach is
// CPU-saturated and a floor raise for it is pending.
func TestTunerChecksEveryScrapeInASaturatedBreach(t *testing.T) {
	sc := scenario(t, "B1b")
	sc.Duration = sc.Marks[0] + 240
	r := Run(sc, ArmTuner, 1, nil)
	interval := tuning.SettingsOf(sc.Profile).Interval.Seconds()
	fast := 0
	for i := 1; i < len(r.Steps); i++ {
		gap := r.Steps[i].T - r.Steps[i-1].T
		switch {
		case r.Steps[i].T <= sc.Marks[0] && gap != interval:
			t.Errorf("a check %v s after the last at %v s, before the step: want every %v s", gap, r.Steps[i].T, interval)
		case gap < ScrapeInterval:
			t.Errorf("a check %v s after the last at %v s: faster than the scrape interval", gap, r.Steps[i].T)
		case gap == ScrapeInterval:
			fast++
		}
	}
	if fast == 0 {
		t.Errorf("no check a scrape interval after the last in the step's breach; checks at %v", stepTimes(r))
	}
}

func stepTimes(r *Result) []float64 {
	out := make([]float64, len(r.Steps))
	for i, s := range r.Steps {
		out[i] = s.T
	}
	return out
}
