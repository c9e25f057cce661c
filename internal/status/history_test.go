package status

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Every rule that looks back must find what it reads for as long as it
// looks: a rule that reads status.history is sure of no more than MaxHistory
// decisions one settle time apart (a decision waits for the previous one to
// settle), and a rule that reads status.memory of no more than the memory
// keeps. The horizons are checked at the defaults and at the API's limits.
func TestNoRuleLooksBackFurtherThanTheStatusKeeps(t *testing.T) {
	settings := map[string]tuning.Settings{
		"defaults": tuning.SettingsOf(v1.PerformanceProfileSpec{}),
		"shortest": tuning.SettingsOf(v1.PerformanceProfileSpec{Interval: metav1.Duration{Duration: 5 * time.Second},
			SLO:        v1.SLO{Window: metav1.Duration{Duration: time.Minute}},
			Guardrails: v1.Guardrails{SettleTime: metav1.Duration{Duration: 5 * time.Second}, MaxRolloutsPerHour: 60}}),
		"longest": tuning.SettingsOf(v1.PerformanceProfileSpec{Interval: metav1.Duration{Duration: time.Hour},
			SLO:        v1.SLO{Window: metav1.Duration{Duration: 24 * time.Hour}},
			Guardrails: v1.Guardrails{SettleTime: metav1.Duration{Duration: 24 * time.Hour}}}),
	}
	for name, s := range settings {
		for _, h := range tuning.Horizons() {
			back := h.Back(s)
			switch {
			case h.History && back > MaxHistory*s.SettleFor:
				t.Errorf("%s: %q looks back %s, but status.history's %d decisions may cover only %s",
					name, h.Rule, back, MaxHistory, MaxHistory*s.SettleFor)
			case !h.History && h.Kept > 0 && back > h.Kept:
				t.Errorf("%s: %q looks back %s, but status.memory keeps what it reads for %s", name, h.Rule, back, h.Kept)
			}
		}
	}
	// A spent budget plus the rollback that safety requires must still be counted.
	if tuning.MaxRememberedRollouts < 60+1 {
		t.Errorf("status.memory keeps %d restarts; maxRolloutsPerHour may be 60, plus a rollback", tuning.MaxRememberedRollouts)
	}
}
