// Package conditions computes a PerformanceProfile's conditions from what
// one reconcile learned, and which of their transitions are announced as
// Events. Every function is pure: no client, no clock. It knows nothing of
// the decision engine: the period package turns a plan into Facts.
package conditions

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Blocker is why a reconcile could not complete.
type Blocker struct {
	// Reason is a condition reason from the API package, such as TargetNotFound.
	Reason string
	// Message says what is wrong and what to do.
	Message string
	// Stalled is true when only a person can fix it (a bad spec); false when
	// navius-tuner waits for a dependency to appear.
	Stalled bool
}

// Conflict is a knob that another field manager took over after navius-tuner applied it.
type Conflict struct {
	Knob    string
	Field   string
	Manager string
	Applied string
	Live    string
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s is owned by %q, which changed it from %s (applied by %s) to %s",
		c.Field, c.Manager, orNone(c.Applied), tuningv1alpha1.FieldManager, orNone(c.Live))
}

func orNone(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

// Facts are what one reconcile learned, from which the conditions follow.
type Facts struct {
	Generation int64
	Now        time.Time
	Mode       tuningv1alpha1.Mode
	Paused     bool
	// Blocker is set when the reconcile stopped early.
	Blocker *Blocker
	// Observed is true when the metrics were read (whatever came back).
	Observed bool
	// SLOMissing lists the SLO signals that could not be read, each with its reason.
	SLOMissing []string
	// FamiliesHeld lists the knob families held for their missing signals,
	// each with its knobs and signals (tuning.Missing.FamilyNotes).
	FamiliesHeld []string
	// MetricsReason is MetricsAvailable's reason when SLO signals are
	// missing; empty means MetricsUnavailable (see MetricsReason).
	MetricsReason string
	// Evaluated is true when the SLOs were evaluated (a plan was made).
	Evaluated bool
	SLOKnown  bool
	SLOMet    bool
	// SLOMessage describes the SLOs' state in words.
	SLOMessage string
	// RolloutInProgress is true while the target Deployment rolls out.
	RolloutInProgress bool
	// Pending is the last adjustment while it settles, nil otherwise.
	Pending *tuningv1alpha1.Decision
	// Conflicts are the knobs another field manager took over.
	Conflicts []Conflict
	// Notes are what a person should know although nothing stops
	// navius-tuner (such as a canary controller on the target); Ready's
	// message carries them while it is True.
	Notes []string
	// BudgetExceeded says how far the pool and maxReplicas exceed the
	// database's connection budget (tuning.Plan.BudgetExceeded); "" when they fit.
	BudgetExceeded string
	// RolloutBudgetSpent says that maxRolloutsPerHour is spent and until when
	// env changes wait (tuning.Plan.RolloutBudgetSpent); "" when one may start.
	RolloutBudgetSpent string
}

func set(conds *[]metav1.Condition, f Facts, typ string, st metav1.ConditionStatus, reason, msg string) {
	if len(msg) > 32768 {
		msg = msg[:32768]
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: st, Reason: reason, Message: msg,
		ObservedGeneration: f.Generation, LastTransitionTime: metav1.NewTime(f.Now),
	})
}

// SetAll sets every condition, Ready (the summary) last.
func SetAll(conds *[]metav1.Condition, f Facts) {
	SetMetricsAvailable(conds, f)
	SetSLOMet(conds, f)
	SetProgressing(conds, f)
	SetStalled(conds, f)
	SetConnectionBudget(conds, f)
	SetRolloutBudget(conds, f)
	SetReady(conds, f)
	SetReconciling(conds, f)
}

// SetConnectionBudget is False, with reason BudgetExceeded, when the pool
// and HPA maxReplicas that someone else set let the pods hold more database
// connections at the worst moment of a rollout than the budget allows. It
// is left as it was when no plan was made.
func SetConnectionBudget(conds *[]metav1.Condition, f Facts) {
	switch {
	case !f.Evaluated:
		return
	case f.BudgetExceeded != "":
		set(conds, f, tuningv1alpha1.ConditionConnectionBudget, metav1.ConditionFalse, tuningv1alpha1.ReasonBudgetExceeded,
			f.BudgetExceeded+". Lower HPA maxReplicas or the pool max, or raise database.maxConnections if the database allows more")
	default:
		set(conds, f, tuningv1alpha1.ConditionConnectionBudget, metav1.ConditionTrue, tuningv1alpha1.ReasonWithinBudget,
			"The connections the pods can hold at the worst moment of a rollout fit the database budget (or no budget is declared)")
	}
}

// SetRolloutBudget is False, with reason RolloutBudgetSpent, while
// maxRolloutsPerHour restarts (rollbacks included) happened in the last hour
// and env changes wait. It is left as it was when no plan was made.
func SetRolloutBudget(conds *[]metav1.Condition, f Facts) {
	switch {
	case !f.Evaluated:
		return
	case f.RolloutBudgetSpent != "":
		set(conds, f, tuningv1alpha1.ConditionRolloutBudget, metav1.ConditionFalse, tuningv1alpha1.ReasonRolloutBudgetSpent,
			"Holding env changes: "+f.RolloutBudgetSpent)
	default:
		set(conds, f, tuningv1alpha1.ConditionRolloutBudget, metav1.ConditionTrue, tuningv1alpha1.ReasonRolloutsAvailable,
			"An env change may restart the pods")
	}
}

// SetMetricsAvailable is True when every SLO signal was read.
func SetMetricsAvailable(conds *[]metav1.Condition, f Facts) {
	switch {
	case !f.Observed:
		set(conds, f, tuningv1alpha1.ConditionMetricsAvailable, metav1.ConditionUnknown, tuningv1alpha1.ReasonReconciling,
			"The metrics were not read yet")
	case len(f.SLOMissing) > 0:
		set(conds, f, tuningv1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, orDefault(f.MetricsReason, tuningv1alpha1.ReasonMetricsUnavailable),
			"SLO signals missing, holding every knob: "+strings.Join(f.SLOMissing, "; "))
	case len(f.FamiliesHeld) > 0:
		set(conds, f, tuningv1alpha1.ConditionMetricsAvailable, metav1.ConditionTrue, tuningv1alpha1.ReasonFamiliesHeld,
			"SLO signals read; these knob families hold for their missing signals, the others are tuned: "+strings.Join(f.FamiliesHeld, "; "))
	default:
		set(conds, f, tuningv1alpha1.ConditionMetricsAvailable, metav1.ConditionTrue, tuningv1alpha1.ReasonMetricsRead,
			"Every needed signal was read")
	}
}

// SetSLOMet says whether the SLOs held in the latest observation.
func SetSLOMet(conds *[]metav1.Condition, f Facts) {
	switch {
	case !f.Evaluated && f.Blocker != nil:
		set(conds, f, tuningv1alpha1.ConditionSLOMet, metav1.ConditionUnknown, f.Blocker.Reason,
			"The SLOs were not evaluated: "+f.Blocker.Message)
	case !f.Evaluated || !f.SLOKnown:
		set(conds, f, tuningv1alpha1.ConditionSLOMet, metav1.ConditionUnknown, tuningv1alpha1.ReasonMetricsUnavailable,
			"The SLOs cannot be judged without their signals")
	case f.SLOMet:
		set(conds, f, tuningv1alpha1.ConditionSLOMet, metav1.ConditionTrue, tuningv1alpha1.ReasonSLOMet, orDefault(f.SLOMessage, "Every SLO held"))
	default:
		set(conds, f, tuningv1alpha1.ConditionSLOMet, metav1.ConditionFalse, tuningv1alpha1.ReasonSLOBreached, orDefault(f.SLOMessage, "An SLO was breached"))
	}
}

// SetProgressing is True while a rollout runs or an adjustment settles.
func SetProgressing(conds *[]metav1.Condition, f Facts) {
	switch {
	case f.RolloutInProgress:
		set(conds, f, tuningv1alpha1.ConditionProgressing, metav1.ConditionTrue, tuningv1alpha1.ReasonRollingOut,
			"The target Deployment is rolling out")
	case f.Pending != nil:
		set(conds, f, tuningv1alpha1.ConditionProgressing, metav1.ConditionTrue, tuningv1alpha1.ReasonSettling,
			fmt.Sprintf("The %s change made at %s is settling before it is judged", f.Pending.Family, f.Pending.Time.UTC().Format(time.RFC3339)))
	default:
		set(conds, f, tuningv1alpha1.ConditionProgressing, metav1.ConditionFalse, tuningv1alpha1.ReasonIdle, "No change is settling")
	}
}

// SetStalled is True when a person must act: a bad spec or a field conflict.
func SetStalled(conds *[]metav1.Condition, f Facts) {
	switch {
	case f.Blocker != nil && f.Blocker.Stalled:
		set(conds, f, tuningv1alpha1.ConditionStalled, metav1.ConditionTrue, f.Blocker.Reason, f.Blocker.Message)
	case len(f.Conflicts) > 0:
		set(conds, f, tuningv1alpha1.ConditionStalled, metav1.ConditionTrue, tuningv1alpha1.ReasonFieldConflict, conflictMessage(f.Conflicts))
	default:
		set(conds, f, tuningv1alpha1.ConditionStalled, metav1.ConditionFalse, tuningv1alpha1.ReasonSucceeded, "Nothing stops navius-tuner")
	}
}

// SetReady summarises the others: True when navius-tuner does its job for the profile.
func SetReady(conds *[]metav1.Condition, f Facts) {
	switch {
	case f.Blocker != nil:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionFalse, f.Blocker.Reason, f.Blocker.Message)
	case len(f.Conflicts) > 0:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionFalse, tuningv1alpha1.ReasonFieldConflict, conflictMessage(f.Conflicts))
	case len(f.SLOMissing) > 0:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionFalse, tuningv1alpha1.ReasonMetricsUnavailable,
			"Holding every knob until the SLO signals are back")
	case f.Paused:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonPaused,
			withNotes(fmt.Sprintf("Paused by the %s annotation: only status is written", tuningv1alpha1.PausedAnnotation), f))
	case f.Mode == tuningv1alpha1.ModeOff:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonModeOff, withNotes("Mode Off: reporting SLIs only", f))
	case f.Mode == tuningv1alpha1.ModeRecommend:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonRecommending,
			withNotes("Mode Recommend: status.recommendation holds what Auto would apply", f))
	default:
		set(conds, f, tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded, withNotes("Tuning within the declared bounds", f))
	}
}

// withNotes appends the facts' notes to a message.
func withNotes(msg string, f Facts) string {
	if len(f.Notes) == 0 {
		return msg
	}
	return msg + ". Note: " + strings.Join(f.Notes, "; ")
}

// SetReconciling follows Ready and Stalled, so that kstatus reads the
// profile right: True (InProgress) while Ready is False for a reason
// navius-tuner waits out itself, such as a missing target or missing
// metrics; False when Ready is True (Current) or Stalled is True (Failed:
// kstatus reads Reconciling=True first, so it must not hide a stall). A
// change settling is not Reconciling: tuning never ends, and a GitOps tool
// waiting for Current would wait on every adjustment. Call it after SetReady
// and SetStalled.
func SetReconciling(conds *[]metav1.Condition, f Facts) {
	ready := meta.FindStatusCondition(*conds, tuningv1alpha1.ConditionReady)
	stalled := meta.FindStatusCondition(*conds, tuningv1alpha1.ConditionStalled)
	switch {
	case stalled != nil && stalled.Status == metav1.ConditionTrue:
		set(conds, f, tuningv1alpha1.ConditionReconciling, metav1.ConditionFalse, stalled.Reason,
			"Stalled: waiting for a change by a person")
	case ready == nil:
		set(conds, f, tuningv1alpha1.ConditionReconciling, metav1.ConditionTrue, tuningv1alpha1.ReasonReconciling,
			"Not reconciled yet")
	case ready.Status == metav1.ConditionTrue:
		set(conds, f, tuningv1alpha1.ConditionReconciling, metav1.ConditionFalse, ready.Reason, "Reconciled")
	default:
		set(conds, f, tuningv1alpha1.ConditionReconciling, metav1.ConditionTrue, ready.Reason, ready.Message)
	}
}

func conflictMessage(cs []Conflict) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return "navius-tuner stopped tuning these knobs: " + strings.Join(parts, "; ") +
		". Tell the other manager to ignore the field (see docs/gitops.md), then annotate the profile with " +
		tuningv1alpha1.ReconcileRequestedAnnotation + "=<RFC 3339 time> to resume"
}

// actionable are the reasons of a missing signal that a person fixes in a
// known place, so MetricsAvailable names them rather than MetricsUnavailable.
var actionable = map[signals.Reason]string{
	signals.ReasonTooManySeries:         tuningv1alpha1.ReasonTooManySeries,
	signals.ReasonBucketsTooCoarse:      tuningv1alpha1.ReasonBucketsTooCoarse,
	signals.ReasonTooFewSamples:         tuningv1alpha1.ReasonTooFewSamples,
	signals.ReasonCredentialsNotAllowed: tuningv1alpha1.ReasonCredentialsNotAllowed,
}

// MetricsReason is MetricsAvailable's reason for SLO signals missing for
// these reasons: the first actionable one, in order, else MetricsUnavailable.
func MetricsReason(reasons []signals.Reason) string {
	for _, r := range reasons {
		if c, ok := actionable[r]; ok {
			return c
		}
	}
	return tuningv1alpha1.ReasonMetricsUnavailable
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Transitions lists the conditions of next whose status or reason differs from prev.
func Transitions(prev, next []metav1.Condition) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range next {
		p := meta.FindStatusCondition(prev, c.Type)
		if p == nil || p.Status != c.Status || p.Reason != c.Reason {
			out = append(out, c)
		}
	}
	return out
}

// Announced lists the transitions from prev to next that are announced as
// Events: every one but Progressing, Stalled and Reconciling, whose news
// Ready carries too (an Event for each would say the same thing twice), and
// but a condition's first status when it is good news (a new profile that
// is Ready says nothing its status does not: three Normal Events for each
// new profile were most of the requests of a start with thousands of them).
// A first status that is bad news is announced.
func Announced(prev, next []metav1.Condition) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range Transitions(prev, next) {
		switch c.Type {
		case tuningv1alpha1.ConditionProgressing, tuningv1alpha1.ConditionStalled, tuningv1alpha1.ConditionReconciling:
			continue
		}
		if meta.FindStatusCondition(prev, c.Type) == nil && Healthy(c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Healthy reports whether a condition in its current status is good news
// (Normal event) rather than bad (Warning event).
func Healthy(c metav1.Condition) bool {
	if c.Type == tuningv1alpha1.ConditionStalled {
		return c.Status != metav1.ConditionTrue
	}
	if c.Reason == tuningv1alpha1.ReasonFamiliesHeld {
		return false // knobs hold until their signals come back
	}
	if c.Type == tuningv1alpha1.ConditionRolloutBudget {
		return true // the guardrail doing its job, not a fault
	}
	return c.Status != metav1.ConditionFalse
}
