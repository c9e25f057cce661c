package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/navius-dev/navius-tuner/internal/harness"
	"github.com/navius-dev/navius-tuner/internal/localcluster"
	"github.com/navius-dev/navius-tuner/internal/sim"
)

func init() {
	commands["demo"] = command{
		summary: "start a local cluster, a simulated orders-api and the operator, and watch it tune live",
		run:     runDemo,
	}
}

// demoNamespace is where the demo's workload lives.
const demoNamespace = "shop"

type demoOptions struct {
	scenario string
	duration time.Duration
	speed    float64
	keep     bool
	seed     uint64
	png      string
	refresh  time.Duration
	plain    bool
	manager  string
}

func parseDemoFlags(args []string) (demoOptions, error) {
	o := demoOptions{}
	fs := flag.NewFlagSet("perfsim demo", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "case-study",
		"load: case-study (100 req/s, then growing to 500), step (100 -> 500), diurnal (100..500..100), spike (150 with a 500 burst), constant (100), or csv:FILE (time,rps in simulated seconds)")
	fs.DurationVar(&o.duration, "duration", 8*time.Minute, "wall time of the run")
	fs.Float64Var(&o.speed, "speed", 5, "time compression: simulated seconds per wall second (the service and the HPA; the operator runs on wall time)")
	fs.BoolVar(&o.keep, "keep", false, "leave the cluster running after the run (until Ctrl-C) and keep its files; the kubeconfig path is printed")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the simulated service and the load noise")
	fs.StringVar(&o.png, "png", "", "where to write the plot of the run (default: bin/demo-<scenario>.png under the module root)")
	fs.DurationVar(&o.refresh, "refresh", 2*time.Second, "how often the table is refreshed")
	fs.StringVar(&o.manager, "manager", "", "operator binary to run (default: bin/manager, built when missing)")
	fs.BoolVar(&o.plain, "plain", false, "print plain lines instead of redrawing the table (the default when stdout is not a terminal)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.speed <= 0 || o.speed > 50 {
		return o, fmt.Errorf("--speed must be in (0, 50], got %v", o.speed)
	}
	if o.duration < time.Minute {
		return o, fmt.Errorf("--duration must be at least 1m, got %v", o.duration)
	}
	if o.refresh < 200*time.Millisecond {
		o.refresh = 200 * time.Millisecond
	}
	if o.png == "" {
		dir := os.TempDir()
		if root, err := localcluster.ModuleRoot(); err == nil {
			dir = filepath.Join(root, "bin")
		}
		name := o.scenario
		if strings.HasPrefix(name, "csv:") {
			name = "csv"
		}
		o.png = filepath.Join(dir, "demo-"+name+".png")
	}
	return o, nil
}

// demoTrace is the load of a scenario over total simulated seconds.
func demoTrace(name string, total float64, seed uint64) (sim.Trace, error) {
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

func runDemo(ctx context.Context, args []string) error {
	o, err := parseDemoFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	total := o.duration.Seconds() * o.speed
	trace, err := demoTrace(o.scenario, total, o.seed)
	if err != nil {
		return err
	}
	out := os.Stdout
	tty := !o.plain && isTerminal(out)
	logf := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

	logf("navius-tuner demo: scenario %s, %v of wall time at %gx (%s simulated)", o.scenario, o.duration, o.speed,
		(time.Duration(total) * time.Second).String())
	logf("starting the local cluster (etcd, kube-apiserver, controller-manager with the real HPA, scheduler, kwok, Prometheus)…")
	began := time.Now()
	env, err := harness.Start(ctx, harness.Options{Speed: o.speed, Keep: o.keep, Progress: os.Stderr})
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
	logf("kubeconfig: %s   (try: KUBECONFIG=%s kubectl get npp -n %s -w)", env.Kubeconfig(), env.Kubeconfig(), demoNamespace)

	w, err := env.AddWorkload(ctx, harness.WorkloadOptions{
		Namespace: demoNamespace,
		HPA:       harness.DefaultHPA(),
		Trace:     trace,
		Seed:      o.seed,
		// The service runs untuned for a window before the profile exists, so
		// that the operator's first baseline (and the "before" column) covers it.
		DeferProfile: true,
	})
	if err != nil {
		return err
	}
	logf("created namespace %s: Deployment orders-api (2 kwok pods, pool 4, no cache), StatefulSet redis, HPA; the PerformanceProfile follows after %v untuned", demoNamespace, harness.ProfileWindow)
	logf("starting the operator (%s)…", cmp.Or(o.manager, "bin/manager"))
	if err := env.StartOperator(ctx, harness.OperatorOptions{Binary: o.manager}); err != nil {
		return err
	}
	logf("operator running (log: %s)", env.OperatorLog())

	rec := newRecorder(w, o)
	view := newView(out, tty, o, env.Kubeconfig())
	runErr := rec.loop(ctx, view)

	fmt.Fprintln(out)
	rec.summary(out)
	if err := writePlot(o.png, rec); err != nil {
		logf("plot: %v", err)
	} else {
		logf("plot of the run: %s", o.png)
	}
	final := env.Cluster().Stats()
	logf("local cluster at the end: %.0f MiB resident, %v CPU used", float64(final.TotalRSSBytes())/(1<<20), final.TotalCPUTime().Round(time.Second))
	if o.keep && ctx.Err() == nil {
		logf("--keep: the cluster keeps running until Ctrl-C; its files stay in %s", env.Cluster().Dir())
		logf("  export KUBECONFIG=%s; kubectl get performanceprofiles.tuning.navius.io -n %s -w", env.Kubeconfig(), demoNamespace)
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
