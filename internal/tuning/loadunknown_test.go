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
