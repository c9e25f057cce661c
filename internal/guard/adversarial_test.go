package guard

// Shapes an adversarial read found that the guard's first tests never built. Each test states the
// invariant it expects; a failure is a defect.

import (
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Invariant 1 with no pool value anywhere (no env, a Secret, or valueFrom;
// the pods do not report it): the guard cannot compute the peak and lets
// a maxReplicas raise 10 -> 200 through against a budget of 100.
func TestAnUnknownPoolSizeRefusesMorePods(t *testing.T) {
	w := base()
	delete(w.State.Values, poolKnob) // e.g. pool set from a Secret: Unknown, or never set
	w.Unknown = map[tuning.Knob]string{poolKnob: "container app takes env from Secret app-env"}
	w.State.Values[tuning.KnobHPAMaxReplicas] = 10
	got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisHPAAtMax,
		Changes: []tuning.Change{change(tuning.KnobHPAMaxReplicas, 10, 200)}}))
	if len(got.Changes) != 0 {
		t.Errorf("maxReplicas 10->200 allowed with a budget of 100 and an unknown pool (refused %v): the budget check fails open", refused)
	}
}

// Invariant 1 with a pool value whose product overflows int64: the peak
// wraps negative and a maxReplicas raise passes a budget of 100.
func TestHugePoolSizesAreNotBudgeted(t *testing.T) {
	w := base()
	w.State.Values[poolKnob] = math.MaxInt64 / 4 // what `DB_POOL_MAX_CONNECTIONS=2305843009213693951` reads as
	w.State.Values[tuning.KnobHPAMaxReplicas] = 6
	got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisHPAAtMax,
		Changes: []tuning.Change{change(tuning.KnobHPAMaxReplicas, 6, 200)}}))
	if len(got.Changes) != 0 {
		t.Errorf("maxReplicas 6->200 allowed over a budget of 100 (refused %v): the peak overflowed", refused)
	}
}

// Invariant 2: creating the managed HPA (no From) with a maximum below the
// pods the Deployment runs cuts capacity during a breach; the guard never
// checks a change without From for an HPA knob.
func TestHPACreationBelowTheRunningPodsWaitsInABreach(t *testing.T) {
	w := base()
	w.Spec = budgetSpec(10000)
	w.State.PodsCeiling, w.State.Replicas = 20, 20 // spec.replicas 20, no HPA yet
	got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisCPUSaturated,
		Changes: []tuning.Change{{Knob: tuning.KnobHPAMinReplicas, To: 2}, {Knob: tuning.KnobHPAMaxReplicas, To: 4}}}))
	if len(got.Changes) != 0 {
		t.Errorf("an HPA 2..4 created over 20 running pods during a breach was allowed (refused %v): capacity 20 -> 4", refused)
	}
}

// Invariant 3: an env knob set through valueFrom (secretKeyRef) is Blocked
// in State, never put in World.Unknown by readTarget, so the guard lets a
// literal value be written over it as the bottleneck of a breach.
func TestABlockedKnobIsRefusedByTheGuard(t *testing.T) {
	w := base()
	w.Spec = budgetSpec(1000)
	delete(w.State.Values, cacheKnob)
	w.State.Blocked = map[tuning.Knob]string{cacheKnob: "env CACHE_TTL_SECONDS is set through valueFrom"}
	got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisCacheMisses,
		Changes: []tuning.Change{{Knob: cacheKnob, To: 300}}}))
	if len(got.Changes) != 0 {
		t.Errorf("a knob set through valueFrom (value unknown) was allowed to be written (refused %v)", refused)
	}
}

// Check's own contract: "A plan whose undo loses a change loses its verdict
// too (the pending decision stays pending and is decided again)". When only
// part of an undo is refused, the rest is still applied without the
// verdict: committed, the history gets a second Pending decision and the
// first one is orphaned Pending forever (tuning.Pending reads only the last).
func TestAPartlyRefusedUndoIsRefusedWhole(t *testing.T) {
	w := base()
	w.Spec = budgetSpec(1000)
	pending := tuningv1alpha1.Decision{Time: metav1.NewTime(now.Add(-10 * time.Minute)), Family: "cache", Outcome: tuningv1alpha1.OutcomePending,
		Rollout: true, Diagnosis: string(tuning.DiagnosisCacheMisses), Changes: []tuningv1alpha1.Change{
			{Knob: string(cacheKnob), From: "60", To: "120"},
			{Knob: "CACHE_MEMORY_MAX_ITEMS", From: "1000", To: "2000"}, // the profile no longer declares it
		}}
	w.History = []tuningv1alpha1.Decision{pending}
	w.State.Values[cacheKnob] = 120
	plan := breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisRegression,
		Changes:   []tuning.Change{change(cacheKnob, 120, 60), change("CACHE_MEMORY_MAX_ITEMS", 2000, 1000)},
		Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack, Observed: "the rollout failed"}})
	got, refused := Check(w, plan)
	st := tuningv1alpha1.PerformanceProfileStatus{History: w.History}
	period.Commit(&st, got, now, len(got.Changes) > 0)
	pendings := 0
	for _, d := range st.History {
		if d.Outcome == tuningv1alpha1.OutcomePending {
			pendings++
		}
	}
	if pendings > 1 {
		t.Errorf("partial undo (kept %v, refused %v, judgement %v): history has %d Pending decisions; the regressed one is never judged again",
			got.Changes, refused, got.Judgement, pendings)
	}
}

// A refused undo keeps the plan's words: the RolloutFailed condition says
// navius-tuner restores values it does not restore.
func TestARefusedRestoreSaysItWasRefused(t *testing.T) {
	w := base()
	w.Spec = budgetSpec(100)
	w.State.PodsCeiling = 6
	pending := tuningv1alpha1.Decision{Time: metav1.NewTime(now.Add(-10 * time.Minute)), Family: "pool", Outcome: tuningv1alpha1.OutcomePending,
		Rollout: true, Diagnosis: string(tuning.DiagnosisOverProvisioned), Changes: []tuningv1alpha1.Change{{Knob: string(poolKnob), From: "14", To: "10"}}}
	w.History = []tuningv1alpha1.Decision{pending}
	plan := breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisRegression,
		Changes:       []tuning.Change{change(poolKnob, 10, 14)},
		RolloutFailed: "The rollout that navius-tuner started ... navius-tuner restores DB_POOL_MAX_CONNECTIONS=14",
		Reason:        "restoring the values before it",
		Judgement:     &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack}})
	got, refused := Check(w, plan)
	if len(refused) > 0 && got.RolloutFailed == plan.RolloutFailed {
		t.Errorf("restore refused (%v) but the plan still reports %q", refused, got.RolloutFailed)
	}
}

var _ = signals.PoolMax

// Invariant 1 with DB_POOL_MAX_CONNECTIONS=0 or -1 (database/sql's
// SetMaxOpenConns(0) means unlimited; many pools read <=0 as "default"):
// the value is "known", the peak is computed as 0 or negative, and any
// maxReplicas raise passes.
func TestAPoolOfZeroOrLessIsNotBudgeted(t *testing.T) {
	for _, pool := range []int64{0, -1} {
		w := base()
		w.State.Values[poolKnob] = pool
		w.State.Values[tuning.KnobHPAMaxReplicas] = 6
		got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisHPAAtMax,
			Changes: []tuning.Change{change(tuning.KnobHPAMaxReplicas, 6, 200)}}))
		if len(got.Changes) != 0 {
			t.Errorf("pool %d: maxReplicas 6->200 allowed against a budget of 100 (refused %v)", pool, refused)
		}
	}
}

// A managed HPA created while another autoscaler drives the Deployment (a
// KEDA ScaledObject whose HPA does not exist while it is paused, seen by
// readScaledObjects only in the guard; or an HPA the cache has not listed
// yet): the guard knows (State.HasHPA, PodsCeiling) but lets the creation
// through, and two autoscalers then fight over one Deployment.
func TestNoManagedHPABesideAnotherScaler(t *testing.T) {
	w := base()
	w.Spec = budgetSpec(10000)
	w.State.HasHPA, w.State.PodsCeiling = true, 40 // as readScaledObjects leaves it
	got, refused := Check(w, breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisStartingPoint,
		Changes: []tuning.Change{{Knob: tuning.KnobHPAMinReplicas, To: 2}, {Knob: tuning.KnobHPAMaxReplicas, To: 10}}}))
	if len(got.Changes) != 0 {
		t.Errorf("a second autoscaler created for a Deployment another one drives (refused %v)", refused)
	}
}
