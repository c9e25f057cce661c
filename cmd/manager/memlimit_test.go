package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// The manager keeps its heap under 90 % of the container's memory limit,
// unless GOMEMLIMIT says otherwise; without a limit it sets none.
func TestMemoryLimitFollowsTheContainer(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const limit = 512 << 20
	fixed := func() (uint64, error) { return limit, nil }
	none := func() (uint64, error) { return 0, memlimit.ErrNoLimit }

	t.Setenv("GOMEMLIMIT", "")
	if got, err := setMemoryLimit(fixed, slog.New(slog.DiscardHandler)); err != nil || got != limit*9/10 || debug.SetMemoryLimit(-1) != limit*9/10 {
		t.Errorf("a 512 MiB container: GOMEMLIMIT %d (%v), want %d", got, err, limit*9/10)
	}
	if _, err := setMemoryLimit(none, slog.New(slog.DiscardHandler)); err != nil || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("no limit: GOMEMLIMIT %d (%v), want none", debug.SetMemoryLimit(-1), err)
	}

	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // what the runtime read from the environment at start
	if _, err := setMemoryLimit(fixed, slog.New(slog.DiscardHandler)); err != nil || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("GOMEMLIMIT=300MiB: the limit became %d (%v)", debug.SetMemoryLimit(-1), err)
	}
}

// The manager collects at GOGC=35 unless GOGC says otherwise.
func TestGCPercentIsTheManagersUnlessTheEnvironmentSetsOne(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name, env string
		runtime   int // what the runtime applied from the environment at start
		want      int
	}{
		{"unset", "", 100, 35},
		{"GOGC=200", "200", 200, 200},
		{"GOGC=off", "off", -1, -1},
	} {
		debug.SetGCPercent(tc.runtime)
		got := setGCPercent(func(k string) string {
			if k == "GOGC" {
				return tc.env
			}
			return ""
		})
		if now := debug.SetGCPercent(100); got != tc.want || now != tc.want {
			t.Errorf("%s: setGCPercent = %d, in effect %d, want %d", tc.name, got, now, tc.want)
		}
	}
}
