package tuning

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// aboveTop is how a latency above the histogram's top bucket reads in words.
const aboveTop = "above the top bucket"

// roundTrip is the SLIs as the status stores them and reads them back.
func roundTrip(t *testing.T, s *v1.SLIs) *v1.SLIs {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out v1.SLIs
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// A latency above the histogram's top bucket is stored as the largest
// duration and read back as +Inf, both by SLISeconds and by the verdict's
// baseline, after a trip through the stored status.
func TestAboveTheTopBucketReadsBackAsInfinity(t *testing.T) {
	o := signals.NewObservation(t0)
	o.Set(signals.LatencyP99, math.Inf(1), t0)
	o.Set(signals.LatencyP50, 0.020, t0)
	stored := roundTrip(t, SLIsOf(o))
	if v, ok := SLISeconds(stored.P99); !ok || !math.IsInf(v, 1) {
		t.Errorf("SLISeconds(p99) = %v %v, want +Inf", v, ok)
	}
	if v, ok := baselineGetter(stored)(signals.LatencyP99); !ok || !math.IsInf(v, 1) {
		t.Errorf("baseline p99 = %v %v, want +Inf", v, ok)
	}
	if v, ok := baselineGetter(stored)(signals.LatencyP50); !ok || v != 0.020 {
		t.Errorf("baseline p50 = %v %v, want 0.02", v, ok)
	}
}

func TestAboveTheTopBucketIsSaidInWords(t *testing.T) {
	if got := fmtSeconds(math.Inf(1)); got != aboveTop {
		t.Errorf("fmtSeconds(+Inf) = %q, want %q", got, aboveTop)
	}
	o := healthy(t0)
	o.Set(signals.LatencyP99, math.Inf(1), t0)
	if _, sli := WorstObjective(fullSpec().SLO, o); sli != aboveTop || len(sli) > 32 {
		t.Errorf("worstSLI = %q, want %q within the API's 32 characters", sli, aboveTop)
	}
}

func TestVerdictOnABaselineAboveTheTopBucket(t *testing.T) {
	aboveBefore := func(after float64) func(in *Input) {
		return func(in *Input) {
			onlyObjective(in, v1.P99, 100*time.Millisecond)
			pendingRaise(in, map[signals.Signal]float64{signals.LatencyP99: math.Inf(1)},
				map[signals.Signal]float64{signals.LatencyP99: after})
			in.History[0].Baseline = roundTrip(t, in.History[0].Baseline)
		}
	}
	runRules(t, []ruleCase{
		{"a change made above the top bucket that stays there is no regression", aboveBefore(math.Inf(1)),
			func(t *testing.T, p Plan) {
				if p.Judgement != nil && p.Judgement.Outcome == v1.OutcomeRolledBack {
					t.Fatalf("rolled back: %q", p.Judgement.Observed)
				}
				if p.Judgement != nil && strings.Contains(p.Judgement.Observed, "9220000000s") {
					t.Fatalf("observed %q reads the stored baseline as seconds", p.Judgement.Observed)
				}
			}},
		{"a change made above the top bucket that brings p99 under it is kept and said in words", aboveBefore(0.090),
			func(t *testing.T, p Plan) {
				outcome(t, p, v1.OutcomeKept)
				if want := "p99 " + aboveTop + " -> 90ms"; !strings.Contains(p.Judgement.Observed, want) {
					t.Fatalf("observed %q, want %q", p.Judgement.Observed, want)
				}
			}},
	})
}
