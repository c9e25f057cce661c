package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
)

func init() {
	commands["bench"] = command{summary: "run the tier-A benchmark scenarios on a virtual clock", run: runBench}
}

// runBench runs the tier-A suite and writes the figures and results.md.
func runBench(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "docs/benchmarks", "directory for the figures (PNG) and results.md")
	scenarios := fs.String("scenarios", "", "comma-separated scenario IDs to run, such as B1,B3 (default: all)")
	seeds := fs.Int("seeds", 3, "seeds per scenario")
	short := fs.Bool("short", false, "shrink every scenario to a fifth of its duration (smoke run only: the operator still starts at 360 s, after its 5-minute SLO window)")
	workers := fs.Int("workers", 2, "runs in parallel")
	if err := fs.Parse(args); err != nil {
		return err
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
	rep, err := bench.RunSuite(bench.Options{Out: *out, Scenarios: ids, Seeds: *seeds, Short: *short,
		Workers: *workers, Log: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Printf("\n## Targets\n\n%s\nwrote %s/results.md and %d figures in %s\n",
		bench.TargetsMarkdown(rep.Targets), *out, len(rep.Figures), rep.Elapsed.Round(1e9))
	return nil
}
