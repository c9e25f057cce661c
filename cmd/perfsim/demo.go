package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/demo"
)

func init() {
	commands["demo"] = command{
		summary: "start a local cluster, a simulated orders-api and the operator, and watch it tune live",
		run:     runDemo,
	}
}

// runDemo parses the demo's flags; internal/lab/demo runs it.
func runDemo(ctx context.Context, args []string) error {
	var o demo.Options
	fs := flag.NewFlagSet("perfsim demo", flag.ContinueOnError)
	fs.StringVar(&o.Scenario, "scenario", "case-study",
		"load: case-study (100 req/s, then growing to 500), step (100 -> 500), diurnal (100..500..100), spike (150 with a 500 burst), constant (100), csv:FILE (time,rps in simulated seconds), or real and real-cache: the real service on PostgreSQL and Redis (pool 2, 300 req/s, p99 <= 40 ms; real-cache: Zipf keys, 100 ms misses), in real time")
	fs.DurationVar(&o.Duration, "duration", 8*time.Minute, "wall time of the run")
	fs.Float64Var(&o.Speed, "speed", 5, "time compression: simulated seconds per wall second (the service and the HPA; the operator runs on wall time)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the cluster running after the run (until Ctrl-C) and keep its files; the kubeconfig path is printed")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the simulated service and the load noise")
	fs.StringVar(&o.PNG, "png", "", "where to write the plot of the run (default: bin/demo-<scenario>.png under the module root)")
	fs.DurationVar(&o.Refresh, "refresh", 2*time.Second, "how often the table is refreshed")
	fs.StringVar(&o.Manager, "manager", "", "operator binary to run (default: bin/manager, built when missing)")
	fs.BoolVar(&o.Plain, "plain", false, "print plain lines instead of redrawing the table (the default when stdout is not a terminal)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if variant, ok := strings.CutPrefix(o.Scenario, "real"); ok {
		variant = strings.TrimPrefix(variant, "-")
		if variant == "" {
			variant = demo.RealPool
		}
		r, err := demo.RunReal(ctx, demo.RealOptions{Variant: variant, Duration: o.Duration, Manager: o.Manager})
		if r != nil {
			fmt.Println()
			fmt.Print(r.Markdown())
		}
		return err
	}
	return demo.Run(ctx, o)
}
