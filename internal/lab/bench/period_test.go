package bench

import (
	"slices"
	"testing"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// The emulated operator keeps the manager's books after tuning.Decide: the
// shared script (also run by the reconciler, controllers
// TestReconcilerRunsTheSharedPeriodScript) must leave the same history and
// give the engine the same SLOMetSince (issue 15 §1).
func TestControlRunsTheSharedPeriodScript(t *testing.T) {
	sc := Scenarios(true)[2]
	from := int64(sc.Start.Knobs.PoolMax)
	script := testenv.Script(tuning.Knob(sim.EnvPoolMax), from)
	eng := testenv.NewScriptedEngine(script)
	r := newRunner(sc, ArmTuner, 1, nil)
	r.decide = eng.Decide
	r.m.SyncPods(r.d.readySpecs(0))
	interval := tuning.SettingsOf(sc.Profile).Interval.Seconds()
	for i, p := range script {
		r.control(600 + float64(i)*interval)
		if got := testenv.HistoryEntries(r.st); !slices.Equal(got, p.History) {
			t.Fatalf("period %d: history %q, want %q", i, got, p.History)
		}
	}
	if len(eng.Errors) > 0 {
		t.Fatal(eng.Errors)
	}
}
