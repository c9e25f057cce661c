package tuning

import (
	"fmt"
	"strings"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// undoFailedRollout answers a failed rollout of the target. When
// navius-tuner's pending env change alone started it (State.RolloutFailed.Ours),
// the plan restores the values before that change and judges it RolledBack
// with the Deployment's reason, so the cool-off keeps the engine from trying
// that move again without new evidence. A rollout someone else started (or
// navius-tuner's own rollback: an undo is never undone) is reported, and the
// plan holds: the Deployment's owner decides.
func (d *decider) undoFailedRollout() {
	f := *d.in.State.RolloutFailed
	target := d.in.Spec.TargetRef.Name
	pd := Pending(d.in.History)
	restore := d.failedRolloutRestore(pd, f)
	if len(restore) == 0 {
		hold := "the rollout of Deployment " + target + " failed"
		d.plan.Holds = append(d.plan.Holds, hold)
		d.plan.Reason = d.sloText() + "; holding: " + hold
		d.plan.RolloutFailed = fmt.Sprintf(
			"The rollout of Deployment %s failed (%s). navius-tuner does not undo it (it did not start it, or it was navius-tuner's own rollback) and leaves it to the Deployment's owner; tuning holds until the Deployment progresses again",
			target, f)
		return
	}
	when := clock(pd.Time.Time)
	d.plan.Family, d.plan.Changes, d.plan.Diagnosis, d.plan.Rollout = Family(pd.Family), restore, DiagnosisRegression, true
	d.plan.Reason = fmt.Sprintf("the rollout of the %s change of %s failed (%s); restoring the values before it", pd.Family, when, f.Reason)
	d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack, Observed: tuningv1alpha1.Truncate("the rollout failed: "+f.String(), tuningv1alpha1.MaxNoteLength)}
	parts := make([]string, len(restore))
	for i, c := range restore {
		parts[i] = fmt.Sprintf("%s=%d", c.Knob, c.To)
	}
	d.plan.RolloutFailed = fmt.Sprintf(
		"The rollout that navius-tuner started with the %s change of %s failed (%s). navius-tuner restores %s and does not try that change again without new evidence",
		pd.Family, when, f, strings.Join(parts, ", "))
}

// failedRolloutRestore are the changes that undo the pending decision whose
// rollout failed; nil when it is not navius-tuner's env change alone, is
// itself an undo, or a value before it is unknown.
func (d *decider) failedRolloutRestore(pd *tuningv1alpha1.Decision, f RolloutFailure) []Change {
	if !f.Ours || pd == nil || !pd.Rollout || IsUndo(pd.Diagnosis) {
		return nil
	}
	var out []Change
	for _, c := range pd.Changes {
		from, _, ok := ChangeValues(c)
		if !ok {
			return nil // no known value to go back to
		}
		if k, declared := d.ks.get(Knob(c.Knob)); declared {
			from = k.clamp(from) // never outside the profile's bounds, even to restore
		}
		cur, has := d.in.State.Values[Knob(c.Knob)]
		if !has || cur != from {
			out = append(out, Change{Knob: Knob(c.Knob), From: cur, HasFrom: has, To: from})
		}
	}
	return out
}
