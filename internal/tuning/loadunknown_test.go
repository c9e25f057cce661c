package tuning

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Without the throughput, before or after, the verdict cannot tell a change
// that slowed the service from a load that grew: it holds, naming the
// missing throughput, instead of rolling a raise back in a breach; after
// the wait it keeps the change, not comparable.
func TestVerdictWithoutThroughputHolds(t *testing.T) {
	worse := func(in *Input) {
		onlyObjective(in, v1.P99, 100*time.Millisecond)
		pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150},
			map[signals.Signal]float64{signals.LatencyP99: 0.190})
	}
	missingNow := func(in *Input) {
		worse(in)
		in.Observation.SetMissing(signals.Throughput, signals.ReasonEmpty, "no series")
	}
	missingBefore := func(in *Input) {
		worse(in)
		in.History[0].Baseline.Throughput = nil
	}
	holdsNamingThroughput := func(t *testing.T, p Plan) {
		if p.Judgement != nil {
			t.Fatalf("judged %s: %q, want a hold", p.Judgement.Outcome, p.Judgement.Observed)
		}
		noChanges(t, p)
		holdsMention(t, p, "throughput")
	}
	runRules(t, []ruleCase{
		{"a raise judged in a breach without the throughput now holds", missingNow, holdsNamingThroughput},
		{"a raise judged in a breach without the baseline's throughput holds", missingBefore, holdsNamingThroughput},
		{"after the wait the raise is kept, not comparable", func(in *Input) {
			missingNow(in)
			in.Now = in.History[0].Time.Add(time.Hour)
			in.Observation.Time = in.Now
		}, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if !strings.Contains(p.Judgement.Observed, "throughput") {
				t.Fatalf("observed %q does not name the throughput", p.Judgement.Observed)
			}
		}},
		{"with the throughput the same raise is rolled back", worse, func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
		}},
	})
}

// The verdict compares the loads of the window its latencies are measured
// over: a burst in the last minute (the one-minute throughput) neither makes
// a regression incomparable nor hides one.
func TestVerdictComparesLoadsOverTheSLOWindow(t *testing.T) {
	slower := func(minute, window float64) func(in *Input) {
		return func(in *Input) {
			onlyObjective(in, v1.P99, 100*time.Millisecond)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: 0.150, signals.ThroughputWindow: 800},
				map[signals.Signal]float64{signals.LatencyP99: 0.190, signals.Throughput: minute, signals.ThroughputWindow: window})
		}
	}
	runRules(t, []ruleCase{
		{"a one-minute burst over a steady window load: the regression is judged", slower(1100, 830), func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeRolledBack)
			if !strings.Contains(p.Judgement.Observed, "p99 150ms -> 190ms") {
				t.Fatalf("observed %q", p.Judgement.Observed)
			}
		}},
		{"a window load that moved 40 % while the last minute is back: not comparable", slower(800, 1120), func(t *testing.T, p Plan) {
			outcome(t, p, v1.OutcomeKept)
			if want := "load 800/s -> 1120/s"; !strings.Contains(p.Judgement.Observed, want) {
				t.Fatalf("observed %q, want %q", p.Judgement.Observed, want)
			}
		}},
	})
}
