package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// Namespace is where the demo's workload lives.
const Namespace = "shop"

// Options of a demo run; cmd/perfsim fills them from its flags.
type Options struct {
	// Scenario is the load: case-study, step, diurnal, spike, constant or csv:FILE.
	Scenario string
	// Duration is the wall time of the run.
	Duration time.Duration
	// Speed is the time compression: simulated seconds per wall second.
	Speed float64
	// Keep leaves the cluster running after the run, until ctx ends.
	Keep bool
	// Seed of the simulated service and the load noise.
	Seed uint64
	// PNG is where the plot is written; empty: bin/demo-<scenario>.png under the module root.
	PNG string
	// Refresh is how often the table is redrawn.
	Refresh time.Duration
	// Plain prints lines instead of redrawing the table.
	Plain bool
	// Manager is the operator binary; empty: bin/manager, built when missing.
	Manager string
}

// Validate checks o and fills in its defaults.
func (o Options) Validate() (Options, error) {
	if o.Speed <= 0 || o.Speed > 50 {
		return o, fmt.Errorf("speed must be in (0, 50], got %v", o.Speed)
	}
	if o.Duration < time.Minute {
		return o, fmt.Errorf("duration must be at least 1m, got %v", o.Duration)
	}
	if o.Refresh < 200*time.Millisecond {
		o.Refresh = 200 * time.Millisecond
	}
	if o.PNG == "" {
		dir := os.TempDir()
		if root, err := localcluster.ModuleRoot(); err == nil {
			dir = filepath.Join(root, "bin")
		}
		name := o.Scenario
		if strings.HasPrefix(name, "csv:") {
			name = "csv"
		}
		o.PNG = filepath.Join(dir, "demo-"+name+".png")
	}
	return o, nil
}

// Trace is the load of a scenario over total simulated seconds.
func Trace(name string, total float64, seed uint64) (sim.Trace, error) {
	var base sim.Trace
	switch {
	case name == "case-study":
		// The guide's case study: 100 req/s for a quarter of the run, then
		// growing to 500 req/s over the next 40 %, then holding.
		t1, t2 := 0.25*total, 0.65*total
		base = sim.TraceFunc(func(t float64) float64 {
			switch {
			case t < t1:
				return 100
			case t < t2:
				return 100 + 400*(t-t1)/(t2-t1)
			}
			return 500
		})
	case name == "step":
		base = sim.Step(100, 500, 0.3*total)
	case name == "diurnal":
		base = sim.Diurnal(100, 500, total)
	case name == "spike":
		base = sim.Spike(sim.Constant(150), 350, 0.4*total, 0.15*total)
	case name == "constant":
		base = sim.Constant(100)
	case strings.HasPrefix(name, "csv:"):
		f, err := os.Open(strings.TrimPrefix(name, "csv:"))
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r, err := sim.ReadCSV(f)
		if err != nil {
			return nil, err
		}
		return r, nil
	default:
		return nil, fmt.Errorf("unknown scenario %q (case-study, step, diurnal, spike, constant, csv:FILE)", name)
	}
	return sim.Noise(base, 0.05, 10, seed), nil
}

// Run starts a local cluster, the simulated orders-api and the operator,
// shows the operator tuning it (a live table), then a summary and a plot.
func Run(ctx context.Context, o Options) error {
	o, err := o.Validate()
	if err != nil {
		return err
	}
	total := o.Duration.Seconds() * o.Speed
	trace, err := Trace(o.Scenario, total, o.Seed)
	if err != nil {
		return err
	}
	out := os.Stdout
	tty := !o.Plain && isTerminal(out)
	logf := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

	logf("navius-tuner demo: scenario %s, %v of wall time at %gx (%s simulated)", o.Scenario, o.Duration, o.Speed,
		(time.Duration(total) * time.Second).String())
	logf("starting the local cluster (etcd, kube-apiserver, controller-manager with the real HPA, scheduler, kwok, Prometheus)…")
	began := time.Now()
	env, err := harness.Start(ctx, harness.Options{Speed: o.Speed, Keep: o.Keep, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		logf("stopping the operator, the simulated service and the cluster…")
		if err := env.Stop(); err != nil {
			logf("stopping: %v", err)
		}
	}()
	stats := env.Cluster().Stats()
	logf("local cluster up in %v, %.0f MiB resident over %d processes (%v including PKI and CRD)",
		stats.StartupTime.Round(time.Millisecond), float64(stats.TotalRSSBytes())/(1<<20), len(stats.Components),
		time.Since(began).Round(time.Millisecond))
	logf("kubeconfig: %s   (try: KUBECONFIG=%s kubectl get npp -n %s -w)", env.Kubeconfig(), env.Kubeconfig(), Namespace)

	w, err := env.AddWorkload(ctx, harness.WorkloadOptions{
		Namespace: Namespace,
		HPA:       harness.DefaultHPA(),
		Trace:     trace,
		Seed:      o.Seed,
		// The service runs untuned for a window before the profile exists, so
		// that the operator's first baseline (and the "before" column) covers it.
		DeferProfile: true,
	})
	if err != nil {
		return err
	}
	logf("created namespace %s: Deployment orders-api (2 kwok pods, pool 4, no cache), StatefulSet redis, HPA; the PerformanceProfile follows after %v untuned", Namespace, harness.ProfileWindow)
	logf("starting the operator (%s)…", cmp.Or(o.Manager, "bin/manager"))
	if err := env.StartOperator(ctx, harness.OperatorOptions{Binary: o.Manager}); err != nil {
		return err
	}
	logf("operator running (log: %s)", env.OperatorLog())

	rec := newRecorder(w, o)
	view := newView(out, tty, o, env.Kubeconfig())
	runErr := rec.loop(ctx, view)

	fmt.Fprintln(out)
	rec.summary(out)
	if err := writePlot(o.PNG, rec); err != nil {
		logf("plot: %v", err)
	} else {
		logf("plot of the run: %s", o.PNG)
	}
	final := env.Cluster().Stats()
	logf("local cluster at the end: %.0f MiB resident, %v CPU used", float64(final.TotalRSSBytes())/(1<<20), final.TotalCPUTime().Round(time.Second))
	if o.Keep && ctx.Err() == nil {
		logf("--keep: the cluster keeps running until Ctrl-C; its files stay in %s", env.Cluster().Dir())
		logf("  export KUBECONFIG=%s; kubectl get performanceprofiles.tuning.navius.io -n %s -w", env.Kubeconfig(), Namespace)
		<-ctx.Done()
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fmtMS renders seconds as milliseconds.
func fmtMS(s float64) string {
	if math.IsNaN(s) || s <= 0 {
		return "-"
	}
	if s >= 10 {
		return fmt.Sprintf("%.0fs", s)
	}
	return fmt.Sprintf("%.0fms", s*1000)
}
