package rolling

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestRollout(t *testing.T) {
	pct := intstr.FromString
	cases := []struct {
		name            string
		r               Rollout
		n               int64
		wantPods        int64 // most pods at once
		mixed           bool  // old and new pods at once
		lastsAtLeastSec int
	}{
		// n + surge run; the unavailable pod scaled down still holds its
		// connections in that second while its successor starts.
		{name: "default fence", r: Rollout{MaxSurge: pct("25%"), MaxUnavailable: pct("25%")}, n: 4, wantPods: 7, mixed: true},
		// Both 0 means one unavailable pod, as the Deployment controller does.
		{name: "both zero", r: Rollout{MaxSurge: intstr.FromInt32(0), MaxUnavailable: intstr.FromInt32(0)}, n: 3, wantPods: 4, mixed: true},
		{name: "recreate waits for the grace period", r: Rollout{Recreate: true, GraceSeconds: 30}, n: 3, wantPods: 3, lastsAtLeastSec: 30},
		// Every old pod stopped within the grace period still holds its pool.
		{name: "long grace keeps every old pod", r: Rollout{MaxSurge: intstr.FromInt32(1), MaxUnavailable: intstr.FromInt32(0), GraceSeconds: 300, StepSeconds: 5},
			n: 4, wantPods: 8, mixed: true, lastsAtLeastSec: 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			moments := tc.r.Simulate(tc.n)
			var most int64
			mixed := false
			for _, m := range moments {
				most = max(most, m.Old+m.New)
				mixed = mixed || (m.Old > 0 && m.New > 0)
			}
			if most != tc.wantPods || mixed != tc.mixed {
				t.Errorf("most pods %d (want %d), mixed %v (want %v)", most, tc.wantPods, mixed, tc.mixed)
			}
			if len(moments) < tc.lastsAtLeastSec {
				t.Errorf("the rollout ended after %d s, within the grace period of %d s", len(moments), tc.lastsAtLeastSec)
			}
			if last := moments[len(moments)-1]; last.Old != 0 || last.New != tc.n {
				t.Errorf("the rollout ends at %+v, want every pod new", last)
			}
		})
	}
}
