package tuning

import (
	"slices"
	"testing"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

func TestObservedPercentiles(t *testing.T) {
	spec := tuningv1alpha1.PerformanceProfileSpec{SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99}, {Percentile: tuningv1alpha1.P95}}}}
	got := ObservedPercentiles(spec)
	for _, s := range append(signals.AlwaysObserved(), signals.LatencyP95, signals.LatencyP99) {
		if !slices.Contains(got, s) {
			t.Errorf("%v lacks %s", got, s)
		}
	}
	seen := map[signals.Signal]bool{}
	for _, s := range got {
		if seen[s] {
			t.Errorf("%s twice in %v", s, got)
		}
		seen[s] = true
	}
}
