package tuning

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestSLIsOfKeepsMissingWithinTheAPILimit: status.slis.missing entries are
// at most 256 characters in the CRD; a long reason message (a Prometheus
// parse error, a refused Secret) must not make the status patch invalid.
func TestSLIsOfKeepsMissingWithinTheAPILimit(t *testing.T) {
	o := signals.NewObservation(time.Now())
	o.SetMissing(signals.LatencyP99, signals.ReasonBadQuery, strings.Repeat("x", 1000))
	for _, m := range SLIsOf(o).Missing {
		if n := utf8.RuneCountInString(m); n > 256 {
			t.Errorf("missing entry of %d characters: %.40s…", n, m)
		}
	}
}

// TestLatencyAboveTheTopBucket: a percentile above the highest bucket bound
// is +Inf (internal/prom). The engine reads it as a breach, never as room
// to save; a pool starved that far is still relieved; and status shows it
// as the largest duration rather than an overflowed, negative one.
func TestLatencyAboveTheTopBucket(t *testing.T) {
	inf := math.Inf(1)

	healthyButInf := baseInput()
	healthyButInf.set(map[signals.Signal]float64{signals.LatencyP99: inf})
	p := Decide(healthyButInf)
	if p.SLOMet || !p.SLOKnown {
		t.Errorf("p99 above every bucket: SLOMet=%v SLOKnown=%v, want a known breach (%s)", p.SLOMet, p.SLOKnown, p.Reason)
	}
	for _, c := range p.Changes {
		if c.HasFrom && c.To < c.From {
			t.Errorf("reduced %s from %d to %d with p99 above every bucket", c.Knob, c.From, c.To)
		}
	}

	starved := baseInput()
	starvedPool(&starved)
	starved.set(map[signals.Signal]float64{signals.LatencyP99: inf})
	if c, ok := changeOf(Decide(starved), poolMaxEnv); !ok || c.To <= c.From {
		t.Errorf("a starved pool with p99 above every bucket is not relieved: %+v", Decide(starved).Changes)
	}

	if d := SLIsOf(healthyButInf.Observation).P99; d == nil || d.Duration != time.Duration(math.MaxInt64) {
		t.Errorf("status p99 = %v, want the largest duration", d)
	}
}
