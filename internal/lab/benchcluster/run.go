package benchcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
)

// Options of a tier-B run.
type Options struct {
	// Out is the directory for tier-b.md and the figures ("" writes nothing).
	Out string
	// Scenarios by ID (default DefaultScenarios).
	Scenarios []string
	// Speed is the time compression (default 5).
	Speed float64
	// Seed of the traces and models (default 1).
	Seed uint64
	// DurationScale stretches every scenario's durations (default 1).
	DurationScale float64
	// Log receives progress (nil: os.Stderr).
	Log io.Writer
	// Manager is the operator binary (default bin/manager, built when missing).
	Manager string
}

func (o Options) withDefaults() Options {
	if o.Speed <= 0 {
		o.Speed = 5
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.DurationScale <= 0 {
		o.DurationScale = 1
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	return o
}

// ScenarioRun is one scenario: tier B's arms and tier A's replay.
type ScenarioRun struct {
	Scenario *bench.Scenario
	Arms     map[string]*ArmRun
	// TierA are tier A's runs of the same scenario and seed by arm;
	// TierAWindow is tier A's tuner with tier B's effective SLO window.
	TierA       map[string]*bench.Result
	TierAWindow *bench.Result
	Figure      string
}

// Report is what a tier-B run measured.
type Report struct {
	Options   Options
	Scenarios []*ScenarioRun
	// Cluster is the local cluster's resource use at the end.
	ClusterRSSMiB float64
	ClusterCPU    time.Duration
	Elapsed       time.Duration
}

// Run plays the selected scenarios on one local cluster (all arms in
// parallel), replays them in tier A, and writes tier-b.md and the figures.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	began := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, format+"\n", a...) }
	scs, err := selectScenarios(o.Scenarios, o.DurationScale)
	if err != nil {
		return nil, err
	}
	rep := &Report{Options: o}
	env, err := harness.Start(ctx, harness.Options{Speed: o.Speed, Progress: o.Log})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = env.Stop()
		}
	}()
	logf("local cluster up in %v", env.Cluster().Stats().StartupTime.Round(time.Millisecond))
	if err := env.StartOperator(ctx, harness.OperatorOptions{Binary: o.Manager}); err != nil {
		return nil, err
	}
	logf("operator running (log: %s)", env.OperatorLog())

	var recs []*recorder
	for _, sc := range scs {
		srun := &ScenarioRun{Scenario: sc, Arms: map[string]*ArmRun{}}
		rep.Scenarios = append(rep.Scenarios, srun)
		for _, arm := range Arms {
			wo := workloadOptions(sc, arm, o.Seed)
			w, err := env.AddWorkload(ctx, wo)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", sc.ID, arm, err)
			}
			if err := setBehavior(ctx, env.Client(), wo.Namespace, o.Speed); err != nil {
				return nil, fmt.Errorf("%s/%s: HPA behaviour: %w", sc.ID, arm, err)
			}
			run := &ArmRun{Scenario: sc, Arm: arm, w: w, ProfileAt: math.NaN(),
				Result: &bench.Result{Scenario: sc.ID, Arm: arm, Seed: o.Seed}}
			srun.Arms[arm] = run
			p := clusterProfile(sc, wo.Namespace, env.Cluster().PrometheusURL(), o.Speed)
			rec := &recorder{run: run, lastHPAWrite: -1, tunerStart: tunerStart(sc, o.Speed), c: env.Client(), promURL: env.Cluster().PrometheusURL(), speed: o.Speed,
				window: p.Spec.SLO.Window.Duration, httpc: &http.Client{Timeout: 5 * time.Second}, logf: logf}
			if arm == bench.ArmTuner {
				rec.profile = p
			}
			recs = append(recs, rec)
		}
		logf("%s %s: %.0f simulated s at %gx = %v of wall time; namespaces %s, %s", sc.ID, sc.Title, sc.Duration, o.Speed,
			time.Duration(sc.Duration/o.Speed*float64(time.Second)).Round(time.Second), namespace(sc, Arms[0]), namespace(sc, Arms[1]))
	}

	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	for i, rec := range recs {
		wg.Go(func() { errs[i] = rec.loop(ctx) })
	}
	pctx, pcancel := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { progress(pctx, recs, logf) })
	wg.Wait()
	pcancel()
	pwg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, rec := range recs {
		rec.finish()
	}
	st := env.Cluster().Stats()
	rep.ClusterRSSMiB, rep.ClusterCPU = float64(st.TotalRSSBytes())/(1<<20), st.TotalCPUTime()
	if !env.OperatorRunning() {
		logf("warning: the operator is not running at the end (log: %s)", env.OperatorLog())
	}
	stopped = true
	if err := env.Stop(); err != nil {
		logf("stopping the cluster: %v", err)
	}

	logf("replaying tier A on the same scenarios and seed…")
	for _, s := range rep.Scenarios {
		s.TierA = map[string]*bench.Result{}
		for _, arm := range Arms {
			s.TierA[arm] = bench.Run(s.Scenario, arm, o.Seed, nil)
		}
		s.TierAWindow = bench.Run(withWindow(s.Scenario, effectiveWindow(s.Scenario, o.Speed)), bench.ArmTuner, o.Seed, nil)
		if o.Out != "" {
			s.Figure = filepath.Join(o.Out, "tierb-"+strings.ToLower(s.Scenario.ID)+".png")
			if err := plotScenario(s.Figure, s); err != nil {
				return nil, fmt.Errorf("%s: plot: %w", s.Scenario.ID, err)
			}
		}
	}
	rep.Elapsed = time.Since(began)
	if o.Out != "" {
		if err := os.WriteFile(filepath.Join(o.Out, "tier-b.md"), []byte(rep.Markdown()), 0o644); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// progress prints one line per arm every 30 s of wall time.
func progress(ctx context.Context, recs []*recorder, logf func(string, ...any)) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var parts []string
		for _, r := range recs {
			s, ok := r.latest()
			line := fmt.Sprintf("%s/%s t=%.0fs", r.run.Scenario.ID, r.run.Arm, r.run.w.SimNow())
			if ok {
				line += fmt.Sprintf(" %.0f req/s %d pods q=%.0fms", s.RPS, s.Ready, s.P99*1000)
			}
			parts = append(parts, line)
		}
		logf("%s", strings.Join(parts, " | "))
	}
}
