package main

import (
	"log/slog"

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
