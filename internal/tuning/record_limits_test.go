package tuning

import (
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
	o := signals.New(time.Now())
	o.SetMissing(signals.LatencyP99, signals.ReasonBadQuery, strings.Repeat("x", 1000))
	for _, m := range SLIsOf(o).Missing {
		if n := utf8.RuneCountInString(m); n > 256 {
			t.Errorf("missing entry of %d characters: %.40s…", n, m)
		}
	}
}
