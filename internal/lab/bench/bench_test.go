package bench

import (
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// TestSmoke runs every scenario briefly (a fifth of its duration, one seed,
// the tuner and hpa-cpu70 only) and checks that it finishes, that every
// figure is finite or "never", and that the plot is written.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	for _, sc := range Scenarios(true) {
		t.Run(sc.ID, func(t *testing.T) {
			sc.Arms = []string{ArmTuner, ArmHPA(70)}
			sc.Duration = min(sc.Duration, 480) // keeps make test's -race run short
			runs := map[string]*Result{}
			results := map[string][]*Result{}
			for _, a := range sc.Arms {
				r := Run(sc, a, 1, nil)
				runs[a], results[a] = r, []*Result{r}
				if len(r.Samples) == 0 || len(r.Minutes) == 0 {
					t.Fatalf("%s: no samples (%d) or minutes (%d)", a, len(r.Samples), len(r.Minutes))
				}
			}
			if len(runs[ArmTuner].Steps) == 0 {
				t.Fatal("the tuner never decided")
			}
			cx := &context{neededHigh: 1, neededLow: 1, staticBestCost: 1, staticBestTailCost: 1, staticBestTailQ: 1}
			tab := newTable(sc, results, cx, []uint64{1})
			for _, arm := range tab.Arms {
				for row, s := range tab.Stats[arm] {
					if math.IsInf(s.Mean, 0) || (math.IsNaN(s.Mean) && s.Never == 0) {
						t.Errorf("%s %s: %v", arm, row, s.Mean)
					}
				}
			}
			if len(targets(tab)) == 0 {
				t.Error("no targets judged")
			}
			path := filepath.Join(dir, sc.ID+".png")
			if err := Plot(path, sc, runs); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() < 1000 {
				t.Fatalf("plot not written: %v", err)
			}
		})
	}
}

// TestHPAUpstream checks the HPA emulation against the upstream rules.
func TestHPAUpstream(t *testing.T) {
	h := &HPA{Min: 2, Max: 20, TargetPct: 70}
	// 3 pods at 100 % of a 500m request: ratio 1.43 -> ceil(4.3) = 5
	if got := h.Sync(15, 3, []float64{500, 500, 500}, 0, 500); got != 5 {
		t.Errorf("scale up: got %d, want 5", got)
	}
	// within the 10 % tolerance nothing moves
	if got := h.Sync(30, 5, []float64{370, 370, 370, 370, 370}, 0, 500); got != 5 {
		t.Errorf("tolerance: got %d, want 5", got)
	}
	// a big jump is limited to max(2×, +4) per period
	if got := h.Sync(45, 5, []float64{1000, 1000, 1000, 1000, 1000}, 0, 500); got != 10 {
		t.Errorf("rate limit: got %d, want 10", got)
	}
	// scale-down waits for the 300 s stabilisation window
	if got := h.Sync(60, 10, make([]float64, 10), 0, 500); got != 10 || !h.Stabilized {
		t.Errorf("stabilisation: got %d (stabilized %v), want 10 held by the window", got, h.Stabilized)
	}
	h2 := &HPA{Min: 2, Max: 20, TargetPct: 70}
	for ts := 15.0; ts <= 300; ts += 15 {
		h2.Sync(ts, 10, make([]float64, 10), 0, 500)
	}
	if got := h2.Sync(330, 10, make([]float64, 10), 0, 500); got != 2 || h2.Stabilized {
		t.Errorf("after the window: got %d (stabilized %v), want the minimum 2, no longer held", got, h2.Stabilized)
	}
	// a window set to 0 (stabilizationWindowSeconds: 0) is no stabilisation, not the default
	h4 := &HPA{Min: 2, Max: 20, TargetPct: 70, DownWindow: 0, DownWindowSet: true}
	h4.Sync(15, 10, make([]float64, 10), 0, 500)
	if got := h4.Sync(30, 10, make([]float64, 10), 0, 500); got != 2 {
		t.Errorf("window 0: got %d, want the minimum 2 at once", got)
	}
	// unready pods count as idle when scaling up
	h3 := &HPA{Min: 1, Max: 20, TargetPct: 50}
	if got := h3.Sync(15, 4, []float64{500, 500}, 2, 500); got != 4 {
		t.Errorf("unready: got %d, want 4 (ratio 1.0 with two idle pods)", got)
	}
}

// TestRollingUpdate checks surge and availability during an env change.
func TestRollingUpdate(t *testing.T) {
	d := &deployment{name: "orders-api", replicas: 4, env: sim.GuideDefaults.Env(), startSeconds: 20, cpuReq: 500, cpuLm: 1000, defaults: sim.GuideDefaults}
	for range 4 {
		d.create(-20)
	}
	env := sim.GuideDefaults.Env()
	env[sim.EnvPoolMax] = "20"
	if !d.setEnv(env) {
		t.Fatal("env change not seen")
	}
	for now := 0.0; now < 200; now++ {
		d.reconcile(now)
		ready := len(d.readySpecs(now))
		if len(d.pods) > 5 || ready < 3 {
			t.Fatalf("t=%v: %d pods, %d ready: surge 1 and unavailable 1 exceeded", now, len(d.pods), ready)
		}
	}
	if d.rollingOut() {
		t.Fatal("still rolling out")
	}
	for _, p := range d.pods {
		if p.env[sim.EnvPoolMax] != "20" {
			t.Fatal("an old pod survived")
		}
	}
}

// BenchmarkDecide times the decision engine on a steady-state input of B3
// (B5's tier-A figure: the engine's CPU per profile and period).
func BenchmarkDecide(b *testing.B) {
	sc := Scenarios(true)[2]
	r := newRunner(sc, ArmTuner, 1, nil)
	r.m.SyncPods(r.d.readySpecs(0))
	for now := 1.0; now <= 300; now++ {
		r.m.Step(1)
		if math.Mod(now, ScrapeInterval) == 0 {
			r.prom.scrape(r.m, now)
		}
	}
	obs := r.prom.observe(300, 60, wall(300), []signals.Signal{signals.LatencyP50, signals.LatencyP95, signals.LatencyP99})
	in := tuning.Input{Spec: sc.Profile, Observation: obs, State: r.state(300), Now: wall(300), SLOMetSince: wall(0)}
	b.ReportAllocs()
	for b.Loop() {
		tuning.Decide(in)
	}
}

// TestObservationQuantile checks the emulated histogram_quantile against the
// ground truth, with the reader's own rule (prom.Percentile): a service
// whose true p99 lies above the highest finite bucket reads +Inf, a breach of
// any objective, never the highest bound.
func TestObservationQuantile(t *testing.T) {
	top := sim.LatencyBuckets[len(sim.LatencyBuckets)-1]
	for _, rps := range []float64{200, 2000} {
		m := sim.New(sim.Config{Seed: 1})
		m.SetTrace(sim.Constant(rps))
		m.SyncPods(sim.MakePods("orders-api", 2, sim.GuideDefaults, 500, 1000))
		p := newProm(300)
		for now := 1.0; now <= 300; now++ {
			m.Step(1)
			if math.Mod(now, ScrapeInterval) == 0 {
				p.scrape(m, now)
			}
		}
		obs := p.observe(300, 60, wall(300), []signals.Signal{signals.LatencyP99})
		got, ok := obs.Get(signals.LatencyP99)
		if !ok {
			t.Fatalf("rps %v: p99 missing: %v", rps, obs.MissingSignals())
		}
		truth := m.Window(60).Quantile(0.99)
		switch {
		case truth > top && !math.IsInf(got, 1):
			t.Errorf("rps %v: true p99 %v is above the top bucket %v, read %v, want +Inf", rps, truth, top, got)
		case truth <= top && math.Abs(got-truth)/truth > 0.25:
			t.Errorf("rps %v: histogram p99 %v, truth %v", rps, got, truth)
		}
		if tput, _ := obs.Get(signals.Throughput); math.Abs(tput-rps)/rps > 0.1 {
			t.Errorf("rps %v: throughput %v", rps, tput)
		}
	}
}

// TestSaturationSignalsFollowALoadStep: tier A reads the saturation signals
// over the reader's short window, so a load step shows in throughput within
// that window while the SLO window still averages it away.
func TestSaturationSignalsFollowALoadStep(t *testing.T) {
	m := sim.New(sim.Config{Seed: 1})
	m.SetTrace(sim.TraceFunc(func(t float64) float64 {
		if t > 240 {
			return 400
		}
		return 100
	}))
	m.SyncPods(sim.MakePods("orders-api", 10, sim.GuideDefaults, 500, 1000))
	p := newProm(600)
	var spec tuningv1alpha1.PerformanceProfileSpec
	p.readAs(spec)
	if p.satWindow != 60 {
		t.Fatalf("saturation window %vs, want the reader's default for a 15s scrape, 60s", p.satWindow)
	}
	for now := 1.0; now <= 330; now++ {
		m.Step(1)
		if math.Mod(now, ScrapeInterval) == 0 {
			p.scrape(m, now)
		}
	}
	obs := p.observe(330, 300, wall(330), nil)
	tput, _ := obs.Get(signals.Throughput)
	if math.Abs(tput-400)/400 > 0.1 {
		t.Errorf("throughput over the saturation window: %v req/s, want the new load 400", tput)
	}
}

// TestModelServesTheDeploymentsPods: through a rolling update the model
// serves exactly the Deployment's ready pods, every second. The last new pod
// becomes ready in the step that deletes the last old one (the ready count
// does not change), and the model must still swap them.
func TestModelServesTheDeploymentsPods(t *testing.T) {
	r := &runner{m: sim.New(sim.Config{Seed: 1})}
	r.m.SetTrace(sim.Constant(100))
	r.d = &deployment{name: "orders-api", replicas: 3, env: sim.GuideDefaults.Env(), startSeconds: StartSeconds,
		cpuReq: 500, cpuLm: 1000, defaults: sim.GuideDefaults}
	for range 3 {
		r.d.create(-StartSeconds)
	}
	env := sim.GuideDefaults.Env()
	env[sim.EnvPoolMax] = "20"
	r.d.setEnv(env)
	for now := 0.0; now < 150; now++ {
		r.d.reconcile(now)
		r.syncPods(now)
		r.m.Step(1)
		var want []string
		for _, p := range r.d.readySpecs(now) {
			want = append(want, p.Name)
		}
		got := slices.Sorted(maps.Keys(r.m.PodCPUMillis()))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("t=%v: the model serves %v, the Deployment's ready pods are %v", now, got, want)
		}
	}
	if r.d.rollingOut() {
		t.Fatal("the rollout did not finish")
	}
}
