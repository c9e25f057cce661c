package bench

import (
	"fmt"
	"math"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// profileAllows reports whether the profile lets the tuner reach a fixed
// configuration, and why not: the replica count within the HPA's minimum
// and maximum ranges, every knob within its range, and Σ pool max within
// the database budget. static-best is searched only among these, so it
// is what the user allowed, not a point the tuner may not go to.
func profileAllows(spec tuningv1alpha1.PerformanceProfileSpec, fc sim.FixedConfig) (bool, string) {
	k := fc.Knobs
	intIn := func(name string, v int, knob *tuningv1alpha1.IntEnvKnob) string {
		if knob != nil && (v < int(knob.Min) || v > int(knob.Max)) {
			return fmt.Sprintf("%s %d outside %d–%d", name, v, knob.Min, knob.Max)
		}
		return ""
	}
	durIn := func(name string, secs float64, knob *tuningv1alpha1.DurationEnvKnob) string {
		if knob != nil && (secs < knob.Min.Seconds() || secs > knob.Max.Seconds()) {
			return fmt.Sprintf("%s %.0fs outside %v–%v", name, secs, knob.Min.Duration, knob.Max.Duration)
		}
		return ""
	}
	var why []string
	add := func(s string) {
		if s != "" {
			why = append(why, s)
		}
	}
	if a := spec.Autoscaling; a != nil {
		lo, hi := int32(1), int32(math.MaxInt32)
		if a.MinReplicas != nil {
			lo = a.MinReplicas.Min
		}
		if a.MaxReplicas != nil {
			hi = a.MaxReplicas.Max
		}
		if int32(fc.Replicas) < max(lo, 1) || int32(fc.Replicas) > hi {
			add(fmt.Sprintf("%d pods outside %d–%d", fc.Replicas, max(lo, 1), hi))
		}
	}
	if p := spec.ConnectionPool; p != nil {
		add(intIn("pool max", k.PoolMax, p.MaxConnections))
		add(intIn("pool min", k.PoolMin, p.MinConnections))
		if b, ok := dbBudget(spec); ok && fc.Replicas*k.PoolMax > b {
			add(fmt.Sprintf("Σ pool max %d over the budget %d", fc.Replicas*k.PoolMax, b))
		}
	}
	if c := spec.Cache; c != nil {
		if m := c.Memory; m != nil {
			add(intIn("L1 items", k.L1Items, m.MaxItems))
			add(durIn("L1 TTL", k.L1TTL, m.TTL))
		}
		if r := c.Redis; r != nil {
			add(durIn("L2 TTL", k.L2TTL, r.TTL))
			if rr := r.Replicas; rr != nil && (fc.RedisReplicas < int(rr.Min) || fc.RedisReplicas > int(rr.Max)) {
				add(fmt.Sprintf("%d Redis replicas outside %d–%d", fc.RedisReplicas, rr.Min, rr.Max))
			}
		}
	}
	if len(why) > 0 {
		return false, fmt.Sprint(why)
	}
	return true, ""
}

// cpuCap is the profile's cap on the HPA's CPU target as a share of the
// request (0: none): a fixed configuration whose pods run busier than the
// user lets the HPA keep them is outside what the user allowed.
func cpuCap(spec tuningv1alpha1.PerformanceProfileSpec) float64 {
	if a := spec.Autoscaling; a != nil && a.TargetCPUUtilization != nil {
		return float64(a.TargetCPUUtilization.Max) / 100
	}
	return 0
}
