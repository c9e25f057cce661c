package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/navius-dev/navius-tuner/internal/lab/benchcluster"
)

func init() {
	commands["bench-cluster"] = command{
		summary: "run the tier-B benchmark scenarios on the local cluster (real HPA, real Prometheus, the operator binary)",
		run:     runBenchCluster,
	}
}

// runBenchCluster runs tier B and writes tier-b.md and the tierb-*.png figures.
func runBenchCluster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-cluster", flag.ContinueOnError)
	out := fs.String("out", "docs/benchmarks", "directory for tier-b.md and the figures (tierb-*.png)")
	scenarios := fs.String("scenarios", strings.Join(benchcluster.DefaultScenarios, ","), "comma-separated scenario IDs (B1–B4, B7)")
	speed := fs.Float64("speed", 5, "time compression for every arm: simulated seconds per wall second")
	seed := fs.Uint64("seed", 1, "seed of the traces and the simulated services")
	scale := fs.Float64("duration-scale", 1, "stretch every scenario's durations by this factor (tier A is replayed on the same)")
	manager := fs.String("manager", "", "the operator binary (default: bin/manager under the module root, built when missing)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *speed <= 0 || *speed > 15 {
		return fmt.Errorf("--speed must be in (0, 15] (the profile's interval has a 5 s floor), got %v", *speed)
	}
	if *scale <= 0 {
		return fmt.Errorf("--duration-scale must be positive, got %v", *scale)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var ids []string
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ids = append(ids, s)
		}
	}
	rep, err := benchcluster.Run(ctx, benchcluster.Options{Out: *out, Scenarios: ids, Speed: *speed, Seed: *seed,
		DurationScale: *scale, Log: os.Stdout, Manager: *manager})
	if err != nil {
		return err
	}
	for _, s := range rep.Scenarios {
		fmt.Printf("\n## %s %s (tier B)\n\n%s", s.Scenario.ID, s.Scenario.Title, s.TierBTable().Markdown())
	}
	fmt.Printf("\nwrote %s/tier-b.md and %d figures in %s\n", *out, len(rep.Scenarios), rep.Elapsed.Round(1e9))
	return nil
}
