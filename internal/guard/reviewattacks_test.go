package guard

import (
	"testing"

	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Invariant 1 for a pool max with no value anywhere (the application's
// built-in default, not reported): the worst moment before the change
// cannot be counted, but the pods after it run the new value, and 6 pods
// × 50 connections are over a budget of 100 whatever the default was.
func TestAFirstPoolValueOverTheBudgetIsRefused(t *testing.T) {
	w := base()
	delete(w.State.Values, poolKnob)
	got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
		Changes: []tuning.Change{{Knob: poolKnob, To: 50}}}))
	if len(got.Changes) != 0 {
		t.Errorf("a first pool max of 50 on 6 pods was allowed against a budget of 100 (refused %v)", refused)
	}
	got, refused = Check(w, breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
		Changes: []tuning.Change{{Knob: poolKnob, To: 10}}}))
	if len(got.Changes) != 1 {
		t.Errorf("a first pool max of 10 on 6 pods, 60 of 100 after the rollout, was refused: %v", refused)
	}
}
