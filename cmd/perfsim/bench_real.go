package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/demo"
)

func init() {
	commands["bench-real"] = command{
		summary: "run B8: the operator tunes the lab's real service (PostgreSQL, Redis, processes for pods), idle and with one core busy",
		run:     runBenchReal,
	}
}

// runBenchReal runs B8 once per machine load and writes B8-<variant>.md.
func runBenchReal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("perfsim bench-real", flag.ContinueOnError)
	out := fs.String("out", "docs/benchmarks", "directory of the report")
	variant := fs.String("variant", demo.RealPool, "pool (100k uniform keys, 25 ms queries) or cache (Zipf keys, 100 ms misses)")
	duration := fs.Duration("duration", 6*time.Minute, "wall time of each run from the profile's creation")
	loads := fs.String("load", "idle,busy", "machine loads to run: idle, busy (one core kept busy by another process), or both")
	manager := fs.String("manager", "", "operator binary to run (default: bin/manager, built when missing)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	report := "# B8 real service\n\nThe lab's real service (`cmd/real-service`: pgxpool on PostgreSQL, an LRU L1, Redis L2, " +
		"OpenTelemetry metrics) as processes for pods, tuned by the operator from pool 2 per pod. Latency is wall-clock, from the load generator; " +
		"`status p99` is what the operator read from Prometheus. Written by `make bench-real`.\n\n"
	for _, load := range splitList(*loads) {
		if load != "idle" && load != "busy" {
			return fmt.Errorf("unknown load %q (idle, busy)", load)
		}
		r, err := demo.RunReal(ctx, demo.RealOptions{Variant: *variant, Duration: *duration, Busy: load == "busy", Manager: *manager})
		if err != nil {
			return err
		}
		report += r.Markdown() + "\n"
	}
	path := filepath.Join(*out, "B8-"+*variant+".md")
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
