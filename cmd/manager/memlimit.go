package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memLimitRatio is the share of the container's memory limit the Go runtime
// keeps the heap under (GOMEMLIMIT): it collects garbage harder as the heap
// nears it, instead of growing to twice the live heap (GOGC) past the limit
// and being OOM-killed. The rest is for what the runtime does not count
// (stacks of goroutines in flight, memory not yet returned to the kernel).
const memLimitRatio = 0.9

// setMemoryLimit sets GOMEMLIMIT to memLimitRatio of the memory limit the
// provider reads (the container's cgroup limit in the cluster). A GOMEMLIMIT
// set in the environment wins; no limit (a run outside a container) leaves
// the runtime's default.
func setMemoryLimit(provider memlimit.Provider, log *slog.Logger) (int64, error) {
	return memlimit.Set(memlimit.WithRatio(memLimitRatio), memlimit.WithProvider(provider), memlimit.WithLogger(log))
}

// gcPercent is the manager's GOGC unless the environment sets one. The
// runtime's default, 100, lets the heap grow to twice what the last
// collection left live before the next one. At 10,000 profiles (B5, with
// Prometheus scraping the manager every 30 s) about 110 MB stays live
// between refreshes and up to 140 MB while the period's refresh is read,
// and a collection that marks then sets the next heap goal: at 50 the
// peak RSS was 268 MiB, at 35 246 MiB, for 0.338 cores in the steady
// state against 0.307 (test/scale; docs/operations.md, GOGC).
const gcPercent = 35

// setGCPercent sets GOGC to gcPercent unless getenv("GOGC") is set, which
// the runtime has applied already; it returns the percent in effect.
func setGCPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}
