// Command perfsim runs the local control plane and the simulated service:
// `perfsim demo` shows navius-tuner tuning it live, `perfsim bench` runs the
// benchmark scenarios on a virtual clock, `perfsim bench-cluster` runs them on
// the local cluster with the real HPA and the real Prometheus.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one perfsim subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands are registered by the files that implement them (demo.go, bench.go, …).
var commands = map[string]command{}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: perfsim <command> [flags]")
	fmt.Fprintln(os.Stderr)
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'perfsim <command> -h' for the flags of a command.")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "perfsim: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	// Ctrl-C cancels the context; every command stops what it started before returning.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "perfsim %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
