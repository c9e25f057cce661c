// Package rolling counts, second by second, the pods of each version a
// Deployment runs while a rolling update replaces them, and the database
// connections they hold. It re-derives the Deployment controller's
// arithmetic (maxSurge rounded up, maxUnavailable rounded down, both 0
// meaning one unavailable; Recreate stopping every old pod first) from the
// Kubernetes documentation, and shares nothing with the engine or the guard:
// it is the oracle their budget checks are tested against, and it is itself
// checked against the real controller-manager on the local cluster.
package rolling

import (
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rollout is how a Deployment replaces its pods.
type Rollout struct {
	MaxSurge, MaxUnavailable intstr.IntOrString
	Recreate                 bool
	// GraceSeconds is terminationGracePeriodSeconds: how long a stopped pod
	// may still hold its connections. StepSeconds is the least time a new pod
	// takes to become available (minReadySeconds, readiness delays).
	GraceSeconds, StepSeconds int64
	// Terminating is the pods already terminating when the rollout starts:
	// they hold the old pool for up to GraceSeconds.
	Terminating int64
}

// Fence resolves maxSurge (rounded up) and maxUnavailable (rounded down) at
// n replicas, as the Deployment controller does; both 0 means 1 unavailable.
func Fence(surge, unavail intstr.IntOrString, n int64) (int64, int64) {
	res := func(v intstr.IntOrString, up bool) int64 {
		if v.Type == intstr.Int {
			return int64(v.IntVal)
		}
		p, _ := strconv.ParseFloat(strings.TrimSuffix(v.StrVal, "%"), 64)
		x := p * float64(n) / 100
		if up {
			return int64(math.Ceil(x))
		}
		return int64(math.Floor(x))
	}
	s, u := res(surge, true), res(unavail, false)
	if s == 0 && u == 0 {
		u = 1
	}
	return s, u
}

// Moment is one second of a rollout: the pods of each version that exist
// (old ones still running or terminating, new ones from their creation).
type Moment struct{ Old, New int64 }

// Simulate rolls n replicas from the old template to the new one, one
// second at a time, and returns every second's pods. Old pods that run or
// still terminate (for GraceSeconds) count as old, new pods count from their
// creation, and the pods already terminating count as old for GraceSeconds.
func (r Rollout) Simulate(n int64) []Moment {
	readyAfter := max(r.StepSeconds, 1)
	// A stopped pod holds its connections until its process is gone: for
	// the grace period, and with a grace of 0 still in the second it is
	// stopped (the kubelet kills it, the pod object goes after that; the
	// real controller-manager creates the next new pod meanwhile).
	holds := max(r.GraceSeconds, 1)
	oldRunning := n
	var newPods, gone []int64 // the second each pod was created / stopped
	surge, unavail := Fence(r.MaxSurge, r.MaxUnavailable, n)
	var out []Moment
	for t := int64(0); t < 100000; t++ {
		avail := int64(0)
		for _, at := range newPods {
			if t-at >= readyAfter {
				avail++
			}
		}
		if r.Recreate {
			for range oldRunning {
				gone = append(gone, t)
			}
			oldRunning = 0
			stillGoing := false
			for _, at := range gone {
				if t-at < holds {
					stillGoing = true
				}
			}
			for !stillGoing && int64(len(newPods)) < n {
				newPods = append(newPods, t)
			}
		} else {
			// The controller syncs again as soon as a ReplicaSet changes, so
			// within one second it scales up and down until neither can move:
			// an old pod scaled down makes room for the next new one at once,
			// while the stopped pod still holds its connections.
			for moved := true; moved; {
				moved = false
				for int64(len(newPods)) < n && oldRunning+int64(len(newPods)) < n+surge {
					newPods = append(newPods, t)
					moved = true
				}
				newUnavailable := int64(len(newPods)) - avail
				down := min(oldRunning, oldRunning+int64(len(newPods))-(n-unavail)-newUnavailable)
				for range max(down, 0) {
					gone = append(gone, t)
					oldRunning--
					moved = true
				}
			}
		}
		m := Moment{Old: oldRunning, New: int64(len(newPods))}
		draining := false
		for _, at := range gone {
			if t-at < holds {
				m.Old++
				draining = true
			}
		}
		if t < holds {
			m.Old += r.Terminating
			draining = true
		}
		out = append(out, m)
		if oldRunning == 0 && avail == n && !draining {
			break
		}
	}
	return out
}

// PeakConnections is the most connections the database holds at once while
// n replicas roll from pool old to pool next.
func (r Rollout) PeakConnections(n, old, next int64) int64 {
	peak := int64(0)
	for _, m := range r.Simulate(n) {
		peak = max(peak, m.Old*old+m.New*next)
	}
	return peak
}
