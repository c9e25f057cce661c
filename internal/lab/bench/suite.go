package bench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Options of a suite run.
type Options struct {
	// Out is the directory for the figures and results.md ("" writes nothing).
	Out string
	// Scenarios to run by ID (B1 … B7; "B4" selects B4a and B4b); empty runs all.
	Scenarios []string
	// Seeds per scenario (default 3).
	Seeds int
	// Short shrinks every scenario to a fifth of its duration (smoke run).
	Short bool
	// Workers run in parallel (default 2).
	Workers int
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Report is what a suite run measured.
type Report struct {
	Tables  []*Table
	Targets []TargetRow
	B5      *Table
	// Figures written, by scenario ID.
	Figures map[string]string
	Elapsed time.Duration
}

func (o Options) wants(id string) bool {
	if len(o.Scenarios) == 0 {
		return true
	}
	for _, s := range o.Scenarios {
		if strings.EqualFold(s, id) || (len(id) > 2 && strings.EqualFold(s, id[:2])) {
			return true
		}
	}
	return false
}

// RunSuite runs the selected scenarios with every arm and seed, writes a
// figure per scenario and results.md into Out, and returns the tables.
func RunSuite(o Options) (*Report, error) {
	start := time.Now()
	if o.Seeds <= 0 {
		o.Seeds = 3
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	seeds := make([]uint64, o.Seeds)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	rep := &Report{Figures: map[string]string{}}
	var decideNS []float64
	noops := 0
	for _, sc := range Scenarios(o.Short) {
		if !o.wants(sc.ID) && (!o.wants("B5") || sc.ID != "B3") {
			continue
		}
		cx := &context{staticBestCost: math.NaN(), staticBestTailCost: math.NaN(), staticBestTailQ: math.NaN()}
		var best *sim.FixedConfig
		if sc.Grid != nil && slices.Contains(sc.Arms, ArmStaticBest) {
			fc, note := staticBest(sc, o.Workers)
			best = &fc
			logf("%s: static-best %s (%s)", sc.ID, fmtFixed(fc), note)
		}
		if sc.ID == "B2" {
			cx.oracle = map[uint64]float64{}
			for _, seed := range seeds {
				cx.oracle[seed] = OracleReplicaMinutes(sc, seed)
				logf("%s: oracle %.0f replica-minutes (seed %d)", sc.ID, cx.oracle[seed], seed)
			}
		}
		if sc.isStep() {
			cx.neededHigh = neededPods(sc.Model, sc.Start.Knobs, sc.Trace(1).RPS(sc.Marks[0]+1), sc.CPURequest)
			cx.neededLow = neededPods(sc.Model, sc.Start.Knobs, sc.Trace(1).RPS(0), sc.CPURequest)
		}
		type job struct {
			arm  string
			seed uint64
		}
		var jobs []job
		for _, a := range append(slices.Clone(sc.Arms), sc.Sweep...) {
			for _, s := range seeds {
				jobs = append(jobs, job{a, s})
			}
		}
		out := make([]*Result, len(jobs))
		var wg sync.WaitGroup
		sem := make(chan struct{}, o.Workers)
		for i, j := range jobs {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				out[i] = Run(sc, j.arm, j.seed, best)
			})
		}
		wg.Wait()
		results := map[string][]*Result{}
		seed1 := map[string]*Result{}
		for i, j := range jobs {
			results[j.arm] = append(results[j.arm], out[i])
			if j.seed == seeds[0] {
				seed1[j.arm] = out[i]
			}
			if j.arm == ArmTuner {
				for _, st := range out[i].Steps {
					decideNS = append(decideNS, st.DecideNS)
					noops += st.NoOps
				}
			}
		}
		cx.setStaticBest(sc, results[ArmStaticBest])
		if !o.wants(sc.ID) {
			continue // ran for B5's decide times only
		}
		t := newTable(sc, results, cx, seeds)
		rep.Tables = append(rep.Tables, t)
		rep.Targets = append(rep.Targets, targets(t)...)
		if o.Out != "" {
			path := filepath.Join(o.Out, strings.ToLower(sc.ID)+".png")
			if err := Plot(path, sc, seed1); err != nil {
				return nil, fmt.Errorf("%s: plot: %w", sc.ID, err)
			}
			rep.Figures[sc.ID] = path
		}
		if o.Log != nil {
			logf("\n## %s %s\n\n%s\n\n%s", sc.ID, sc.Title, sc.ProfileNote(), t.Markdown())
			logTunerSteps(o.Log, results[ArmTuner])
		}
	}
	if o.wants("B5") && len(decideNS) > 0 {
		rep.B5 = b5Table(decideNS, noops)
		rep.Targets = append(rep.Targets, targets(rep.B5)...)
		logf("\n## B5 scale (tier A: the engine's share)\n\n%s", rep.B5.Markdown())
	}
	rep.Elapsed = time.Since(start)
	if o.Out != "" {
		if err := os.WriteFile(filepath.Join(o.Out, "results.md"), []byte(rep.Markdown(o)), 0o644); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// ProfileNote says what the tuner ran with: the SLO window, the guardrails
// (defaults unless the scenario's Deviations say why not) and when it starts.
func (sc *Scenario) ProfileNote() string {
	s := tuning.SettingsOf(sc.Profile)
	dev := "as shipped"
	if sc.Deviations != "" {
		dev = "differs from what ships: " + sc.Deviations
	}
	return fmt.Sprintf("Tuner profile %s: SLO window %v, interval %v; guardrails: max step %d %%, settle %v, %d rollouts per hour, rollback on regression %v. The operator starts at %.0f s (warm-up %.0f s).",
		dev, s.Window, s.Interval, s.MaxStepPercent, s.SettleTime, s.MaxRolloutsPerHour, s.RollbackOnRegression, sc.TunerStart(), sc.Warmup)
}

// logTunerSteps prints the tuner's applied decisions of the first seed.
func logTunerSteps(w io.Writer, rs []*Result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntuner decisions (seed %d):\n", rs[0].Seed)
	for _, s := range rs[0].Steps {
		if s.Applied {
			fmt.Fprintf(w, "  t=%5.0fs %s: %s | %s\n", s.T, s.Diagnosis, s.Changes, s.Reason)
		}
	}
}

// staticBest runs the grid search oracle on seed 1. When no configuration
// of the grid meets the SLO, the one with the fewest violating windows
// (then the cheapest) stands in.
func staticBest(sc *Scenario, workers int) (sim.FixedConfig, string) {
	cfg := sc.Model
	cfg.Seed = 1
	opts := sim.GridOptions{Config: cfg, Trace: sc.Trace(1), Duration: sc.Duration, Warmup: sc.Warmup,
		CPURequestMillis: sc.CPURequest, CPULimitMillis: sc.CPULimit,
		SLO:      sim.SLO{Percentile: sc.SLO.Percentile, Threshold: sc.SLO.Threshold, MaxErrorRate: sc.SLO.MaxErrorRate, Window: 60},
		Parallel: workers,
		// within the profile's bounds: its CPU-target cap, its knob and replica ranges, the budget
		MaxCPUUtilization: cpuCap(sc.Profile),
		Allow:             func(fc sim.FixedConfig) bool { ok, _ := profileAllows(sc.Profile, fc); return ok }}
	best, ok, evaluated := sim.StaticBest(opts, *sc.Grid)
	if ok {
		return best.Config, fmt.Sprintf("meets the SLO in every minute at %.0f %% CPU of the request; %d configurations evaluated",
			100*best.CPUUtilization, len(evaluated))
	}
	if len(evaluated) == 0 {
		return sc.Grid.Configs()[0], "no configuration of the grid is within the profile's bounds"
	}
	// within the CPU cap first, then the fewest violating minutes, then the cheapest
	slices.SortStableFunc(evaluated, func(a, b sim.GridResult) int {
		return cmp.Or(cmp.Compare(boolInt(a.OverCPUCap), boolInt(b.OverCPUCap)),
			cmp.Compare(a.ViolatingWindows, b.ViolatingWindows), cmp.Compare(a.Cost, b.Cost))
	})
	return evaluated[0].Config, fmt.Sprintf("no configuration of the grid meets the SLO in every minute: fewest violating minutes (%d)", evaluated[0].ViolatingWindows)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// b5Table is tier A's part of B5: the engine's decide time per profile.
func b5Table(ns []float64, noops int) *Table {
	slices.Sort(ns)
	var mean float64
	for _, x := range ns {
		mean += x
	}
	mean /= float64(len(ns))
	p99 := ns[int(math.Ceil(0.99*float64(len(ns))))-1]
	sc := &Scenario{ID: "B5", Title: "scale (tier A: decide time per profile)", Arms: []string{ArmTuner}}
	t := &Table{Scenario: sc, Arms: sc.Arms, Digits: map[string]int{}, Compare: map[string]bool{},
		Stats: map[string]map[string]Stat{ArmTuner: {}}, Configs: map[string]string{}}
	add := func(name string, v float64, digits int) {
		t.Rows = append(t.Rows, name)
		t.Digits[name] = digits
		t.Stats[ArmTuner][name] = Stat{Mean: v, Min: v, Max: v, N: 1}
	}
	add("decide calls measured", float64(len(ns)), 0)
	add("decide time, mean (µs)", mean/1e3, 1)
	add("decide time, p99 (µs)", p99/1e3, 1)
	add("engine CPU per profile-hour at 30 s (ms)", mean*120/1e6, 2)
	add("10k profiles: engine time per 30 s period (s)", mean*1e4/1e9, 2)
	add("no-op changes proposed", float64(noops), 0)
	return t
}

// Markdown renders every table and the targets.
func (r *Report) Markdown(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Tier-A results\n\nGenerated by `go run ./cmd/perfsim bench` (seeds 1–%d%s); cells are the mean over seeds with [min–max], (×r) is the ratio to `hpa-cpu70`.\n\n",
		max(o.Seeds, 1), map[bool]string{true: ", short", false: ""}[o.Short])
	b.WriteString("## Targets\n\n" + TargetsMarkdown(r.Targets) + "\n")
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "## %s %s\n\n%s\n\n%s\n", t.Scenario.ID, t.Scenario.Title, t.Scenario.ProfileNote(), t.Markdown())
		if p, ok := r.Figures[t.Scenario.ID]; ok {
			fmt.Fprintf(&b, "![%s](%s)\n\n", t.Scenario.ID, filepath.Base(p))
		}
	}
	if r.B5 != nil {
		fmt.Fprintf(&b, "## B5 %s\n\n%s\n", r.B5.Scenario.Title, r.B5.Markdown())
	}
	return b.String()
}
