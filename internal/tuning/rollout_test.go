package tuning

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// A failed rollout is the engine's input: navius-tuner's own pending env
// change is undone (judged RolledBack), anyone else's is held; either way
// the plan keeps what it knew (the families held for missing signals, the
// budget), where a plan replaced after the engine lost them.
func TestFailedRolloutIsAnsweredByTheEngine(t *testing.T) {
	raisedAt := t0.Add(-15 * time.Minute)
	pending := v1.Decision{Time: metav1.NewTime(raisedAt), Family: string(FamilyPool), Diagnosis: string(DiagnosisPoolSaturated),
		Rollout: true, Outcome: v1.OutcomePending, Changes: []v1.Change{{Knob: string(poolMaxEnv), From: "10", To: "20"}}}
	input := func(ours bool) Input {
		vals := fullValues()
		vals[poolMaxEnv] = 20
		obs := healthy(t0)
		obs.SetMissing(signals.RedisHitRatio, signals.ReasonEmpty, "no series") // the cache family is held
		spec := fullSpec()
		spec.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: 100} // 12 pods × 20 is over it
		return Input{Spec: spec, Observation: obs, Now: t0, History: []v1.Decision{pending},
			State: State{Values: vals, RolloutInProgress: true, HasHPA: true, Replicas: 4, Blocked: map[Knob]string{},
				RolloutFailed: &RolloutFailure{Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet has timed out", Ours: ours}}}
	}
	ours := Decide(input(true))
	if len(ours.Changes) != 1 || ours.Changes[0] != (Change{Knob: poolMaxEnv, From: 20, HasFrom: true, To: 10}) || !ours.Rollout {
		t.Errorf("navius-tuner's own failed rollout: changes %+v, want %s 20→10", ours.Changes, poolMaxEnv)
	}
	if j := ours.Judgement; j == nil || j.Outcome != v1.OutcomeRolledBack || !strings.Contains(j.Observed, "ProgressDeadlineExceeded") {
		t.Errorf("judgement %+v, want RolledBack with the Deployment's reason", j)
	}
	if !strings.Contains(ours.RolloutFailed, "restores "+string(poolMaxEnv)+"=10") {
		t.Errorf("RolloutFailed %q", ours.RolloutFailed)
	}
	theirs := Decide(input(false))
	if len(theirs.Changes) != 0 || theirs.Judgement != nil || !strings.Contains(theirs.RolloutFailed, "does not undo it") {
		t.Errorf("someone else's failed rollout: changes %+v judgement %+v RolloutFailed %q", theirs.Changes, theirs.Judgement, theirs.RolloutFailed)
	}
	for name, p := range map[string]Plan{"ours": ours, "theirs": theirs} {
		if len(p.Missing.Families) == 0 || !strings.Contains(strings.Join(p.Holds, "; "), "missing data, held: cache") {
			t.Errorf("%s: the held cache family is lost: missing %+v holds %q", name, p.Missing, p.Holds)
		}
		if p.BudgetExceeded == "" {
			t.Errorf("%s: the budget overshoot is lost", name)
		}
	}
}

// Decide's steps run in the order the list names, each alone: a step that
// does not apply leaves the plan as it found it and lets the next one run.
func TestStepsAreANamedList(t *testing.T) {
	var names []string
	for _, s := range steps {
		names = append(names, s.name)
	}
	want := []string{"answer a failed rollout", "hold before acting", "create the managed HPA",
		"raise the floor again in the same breach", "judge the pending decision",
		"roll back an autoscaling write the HPA flaps on", "relieve a breach",
		"give knobs their starting point", "widen a thin margin", "trim cost"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("steps %q, want %q", names, want)
	}
	// Alone: without a failed rollout the first step does nothing.
	d := &decider{in: Input{Spec: fullSpec(), State: State{Values: fullValues()}}, ks: knobsOf(fullSpec())}
	if steps[0].run(d) || len(d.plan.Holds) != 0 || len(d.plan.Changes) != 0 {
		t.Errorf("the failed-rollout step acted without a failed rollout: %+v", d.plan)
	}
}
