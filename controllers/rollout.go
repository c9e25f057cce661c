package controllers

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// progressDeadlineExceeded is the Progressing reason of a Deployment whose
// rollout made no progress within spec.progressDeadlineSeconds: its new pods
// cannot be scheduled, crash-loop or never become ready
// (k8s.io/kubernetes/pkg/controller/deployment/util.TimedOutReason).
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// rolloutFailure is the Deployment controller's verdict that the rollout of
// the current pod template failed.
type rolloutFailure struct {
	reason, message string
}

func (f rolloutFailure) String() string {
	if f.message == "" {
		return f.reason
	}
	return f.reason + ": " + f.message
}

// failedRollout is the failure of d's rollout of its current template; nil
// when it did not fail (or the controller has not looked at that template yet).
func failedRollout(d *appsv1.Deployment) *rolloutFailure {
	if d.Status.ObservedGeneration < d.Generation {
		return nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == progressDeadlineExceeded {
			return &rolloutFailure{reason: c.Reason, message: c.Message}
		}
	}
	return nil
}

// failedRolloutPlan turns a failed rollout of the target into the plan and
// the report. When navius-tuner started that rollout (its pending env change
// is live, it owns those fields, and nobody wrote the Deployment after it),
// the plan restores the values before that change, and the pending decision
// is judged RolledBack with the Deployment's reason, so the engine's
// cool-off keeps it from trying that move again without new evidence. A
// rollout that someone else started is reported, and the plan holds.
func failedRolloutPlan(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, f rolloutFailure, plan *tuning.Plan) *status.Blocker {
	target := cs.target.Name
	pd := status.Pending(p.Status)
	restore := restoreChanges(pd, cs)
	if len(restore) == 0 {
		plan.Changes, plan.Family, plan.Judgement = nil, "", nil
		plan.Holds = append(plan.Holds, "the rollout of Deployment "+target+" failed")
		return &status.Blocker{Reason: tuningv1alpha1.ReasonRolloutFailed, Message: fmt.Sprintf(
			"The rollout of Deployment %s failed (%s). navius-tuner does not undo it (it did not start it, or it was navius-tuner's own rollback) and leaves it to the Deployment's owner; tuning holds until the Deployment progresses again",
			target, f)}
	}
	when := pd.Time.UTC().Format(time.TimeOnly)
	observed := truncate("the rollout failed: "+f.String(), 256)
	*plan = tuning.Plan{
		Family: tuning.Family(pd.Family), Changes: restore, Diagnosis: tuning.DiagnosisRegression, Rollout: true,
		Reason:    fmt.Sprintf("the rollout of the %s change of %s failed (%s); restoring the values before it", pd.Family, when, f.reason),
		Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack, Observed: observed},
		SLOMet:    plan.SLOMet, SLOKnown: plan.SLOKnown, Baseline: plan.Baseline,
	}
	parts := make([]string, len(restore))
	for i, c := range restore {
		parts[i] = fmt.Sprintf("%s=%d", c.Knob, c.To)
	}
	return &status.Blocker{Reason: tuningv1alpha1.ReasonRolloutFailed, Message: fmt.Sprintf(
		"The rollout that navius-tuner started with the %s change of %s failed (%s). navius-tuner restores %s and does not try that change again without new evidence",
		pd.Family, when, f, strings.Join(parts, ", "))}
}

// restoreChanges are the changes that undo the pending decision when the
// rollout in progress is navius-tuner's own; nil otherwise.
func restoreChanges(pd *tuningv1alpha1.Decision, cs *clusterState) []tuning.Change {
	if pd == nil || !pd.Rollout || tuning.IsUndo(pd.Diagnosis) {
		return nil // not an env change, or itself a rollback: never undo an undo
	}
	var out []tuning.Change
	for _, c := range pd.Changes {
		f, ok := cs.field(tuning.Knob(c.Knob))
		if !ok || f.live != c.To || !f.own.Owns(tuningv1alpha1.FieldManager, f.path) {
			return nil // the live template is not (only) navius-tuner's change
		}
		from, to, ok := tuning.ChangeValues(c)
		if !ok {
			return nil // no known value to go back to
		}
		out = append(out, tuning.Change{Knob: tuning.Knob(c.Knob), From: to, HasFrom: true, To: from})
	}
	if wroteAfter(cs, pd.Time.Time) {
		return nil
	}
	return out
}

// wroteAfter reports whether another field manager wrote the target after
// navius-tuner's last apply to it (and after t): then the rollout in progress
// is not navius-tuner's alone.
func wroteAfter(cs *clusterState, t time.Time) bool {
	ours := t.Truncate(time.Second)
	for _, o := range cs.targetOwn {
		if o.Manager == tuningv1alpha1.FieldManager && o.Time.After(ours) {
			ours = o.Time
		}
	}
	for _, o := range cs.targetOwn {
		if o.Manager != tuningv1alpha1.FieldManager && o.Time.After(ours) {
			return true
		}
	}
	return false
}

// progressiveDelivery names the controller that turns a change of the
// target's pod template into a canary analysis; "" when none is seen.
// Flagger copies a target it manages to <target>-primary, owned by its
// Canary; Argo Rollouts marks what it manages with rollout.argoproj.io
// annotations or owns it. A workloadRef Rollout does neither, so it is not
// always seen (docs/gitops.md).
func progressiveDelivery(d, primary *appsv1.Deployment) string {
	for _, o := range d.OwnerReferences {
		switch {
		case o.Kind == "Rollout" && apiGroup(o.APIVersion) == "argoproj.io":
			return "Argo Rollouts (Rollout " + o.Name + " owns it)"
		case o.Kind == "Canary" && apiGroup(o.APIVersion) == "flagger.app":
			return "Flagger (it is the primary of Canary " + o.Name + ", and Flagger overwrites it on each promotion)"
		}
	}
	for _, m := range []map[string]string{d.Annotations, d.Labels, d.Spec.Template.Annotations} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch {
			case strings.HasPrefix(k, "rollout.argoproj.io/"):
				return "Argo Rollouts (annotation " + k + ")"
			case strings.HasPrefix(k, "flagger.app/"):
				return "Flagger (annotation " + k + ")"
			}
		}
	}
	if primary != nil {
		for _, o := range primary.OwnerReferences {
			if o.Kind == "Canary" && apiGroup(o.APIVersion) == "flagger.app" {
				return "Flagger (Canary " + o.Name + " promotes it to " + primary.Name + ")"
			}
		}
	}
	return ""
}

// apiGroup is the group of an apiVersion such as keda.sh/v1alpha1.
func apiGroup(apiVersion string) string {
	g, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return ""
	}
	return g
}

// kedaScaledObject is the KEDA ScaledObject that owns hpa; "" when none does.
func kedaScaledObject(hpa client.Object) string {
	for _, o := range hpa.GetOwnerReferences() {
		if o.Kind == "ScaledObject" && apiGroup(o.APIVersion) == "keda.sh" {
			return o.Name
		}
	}
	return ""
}
