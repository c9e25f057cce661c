package bench

import "math"

// HPA emulates the upstream HorizontalPodAutoscaler controller for one CPU
// utilisation metric with the default behaviour: a sync every 15 s, a 10 %
// tolerance, no scale-up stabilisation, a 300 s scale-down stabilisation
// window, scale-up limited to max(100 %, 4 pods) per 15 s and scale-down to
// 100 % per 15 s. Unready pods count as 0 % usage when scaling up, as upstream.
type HPA struct {
	Min, Max  int32
	TargetPct int32
	// DownWindow is the scale-down stabilisation window in seconds when
	// DownWindowSet (0 is then no stabilisation, as upstream's
	// stabilizationWindowSeconds: 0); unset, the upstream default of 300 s.
	DownWindow    float64
	DownWindowSet bool
	// Desired is status.desiredReplicas after the last sync.
	Desired int32
	// Stabilized is true when the scale-down stabilisation window kept the
	// replicas above the last sync's recommendation (upstream's AbleToScale
	// condition with reason ScaleDownStabilized).
	Stabilized bool

	recs   []hpaRec
	events []hpaRec // scale events: time and replicas before the change
}

type hpaRec struct {
	t float64
	n int32
}

// Upstream defaults.
const (
	HPASyncPeriod   = 15.0
	hpaTolerance    = 0.1
	hpaDownWindow   = 300.0
	hpaUpPods       = 4
	hpaPolicyPeriod = 15.0
)

// Sync computes the replicas at time now from the current spec replicas, the
// CPU use (millicores, averaged since the last sync) of the ready pods, the
// number of pods not ready yet, and the CPU request of a pod.
func (h *HPA) Sync(now float64, current int32, readyUsage []float64, unready int, requestMillis int64) int32 {
	desired := current
	if n := len(readyUsage); n > 0 && requestMillis > 0 && h.TargetPct > 0 {
		var usage float64
		for _, u := range readyUsage {
			usage += u
		}
		target := float64(h.TargetPct) / 100
		ratio := usage / (float64(n) * float64(requestMillis)) / target
		switch {
		case unready > 0 && ratio > 1:
			all := n + unready
			r2 := usage / (float64(all) * float64(requestMillis)) / target
			if math.Abs(r2-1) > hpaTolerance && r2 > 1 {
				desired = int32(math.Ceil(r2 * float64(all)))
			}
		case math.Abs(ratio-1) > hpaTolerance:
			desired = int32(math.Ceil(ratio * float64(n)))
		}
		// never move against the direction of the usage ratio
		if (ratio > 1 && desired < current) || (ratio < 1 && desired > current) {
			desired = current
		}
	}
	return h.normalize(now, current, desired)
}

// Window is the scale-down stabilisation window in force, in seconds.
func (h *HPA) Window() float64 {
	if !h.DownWindowSet {
		return hpaDownWindow
	}
	return h.DownWindow
}

// normalize applies the stabilisation windows, the rate limits and the bounds.
func (h *HPA) normalize(now float64, current, desired int32) int32 {
	win := h.Window()
	h.recs = append(h.recs, hpaRec{now, desired})
	keep := h.recs[:0]
	down := desired
	for _, r := range h.recs {
		if now-r.t <= win {
			keep = append(keep, r)
			down = max(down, r.n)
		}
	}
	h.recs = keep
	up := desired // scale-up stabilisation window 0
	stab := current
	if stab < up {
		stab = up
	}
	if stab > down {
		stab = down
	}
	// rate limits over the policy period
	start := current
	for _, e := range h.events {
		if now-e.t < hpaPolicyPeriod {
			start = e.n
			break
		}
	}
	if stab > current {
		stab = min(stab, max(2*start, start+hpaUpPods))
	}
	stab = min(max(stab, h.Min), h.Max)
	if stab != current {
		h.events = append(h.events, hpaRec{now, current})
		ev := h.events[:0]
		for _, e := range h.events {
			if now-e.t < hpaPolicyPeriod {
				ev = append(ev, e)
			}
		}
		h.events = ev
	}
	h.Desired = stab
	h.Stabilized = stab > min(max(desired, h.Min), h.Max)
	return stab
}
