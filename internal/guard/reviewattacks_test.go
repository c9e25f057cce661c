package guard

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
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

// An undo that leaves the worst moment where it is (a cache TTL's rollback,
// the pool unchanged) is allowed while the budget is already exceeded: the
// guard's order puts the undo right after the budget, and it does not raise
// the peak. Refusing it would keep the regressed change during the breach.
// A change that is not an undo still starts no rollout then.
func TestASamePeakUndoOverTheBudgetIsAllowed(t *testing.T) {
	w := base()
	w.State.PodsCeiling = 53 // 53 pods × pool 10 and more: over the budget of 100
	w.State.Values[cacheKnob] = 120
	w.History = []tuningv1alpha1.Decision{{Time: metav1.NewTime(now.Add(-10 * time.Minute)), Family: "cache",
		Outcome: tuningv1alpha1.OutcomePending, Rollout: true, Diagnosis: string(tuning.DiagnosisCacheMisses),
		Changes: []tuningv1alpha1.Change{{Knob: string(cacheKnob), From: "60", To: "120"}}}}
	undo := breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisRegression,
		Changes:   []tuning.Change{change(cacheKnob, 120, 60)},
		Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack}})
	got, refused := Check(w, undo)
	if len(got.Changes) != 1 || len(refused) != 0 {
		t.Errorf("the rollback of a cache TTL over the budget, at the same peak, was refused: %v", refused)
	}
	other := breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisCacheMisses,
		Changes: []tuning.Change{change(cacheKnob, 120, 240)}})
	if got, _ := Check(w, other); len(got.Changes) != 0 {
		t.Errorf("a cache raise started a rollout over the budget")
	}
}
