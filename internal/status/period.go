package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// This file is the bookkeeping of one control period around tuning.Decide,
// shared by the manager (controllers) and the benchmark's emulated operator
// (internal/lab/bench), so that tier A measures the code the manager runs:
//
//	percentiles := ObservedPercentiles(spec)      // what to observe
//	plan := tuning.Decide(in)                     // with SLOMetSince(status)
//	Allow(&plan, state.Blocked)                   // never touch a blocked knob
//	if MayWrite(mode, paused, plan) {
//	    routed := tuning.Route(plan.Changes)      // env, HPA fields, Redis replicas
//	    c := Commit(&st, plan, now, writes > 0)   // judge, then record, before writing
//	    ... write; if the first write fails: c.Undo(&st)
//	}
//	PlanFacts(&facts, plan); SetAll(&st.Conditions, facts)

// ObservedPercentiles are the latency signals a profile's period observes:
// those observed for every profile, then those its SLOs name, in order.
func ObservedPercentiles(spec tuningv1alpha1.PerformanceProfileSpec) []signals.Signal {
	out := signals.AlwaysObserved()
	for _, l := range spec.SLO.Latency {
		if s, ok := signals.LatencySignal(string(l.Percentile)); ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Allow drops from the plan the changes to blocked knobs (taken over by
// another manager, or not literal values): they are left alone whatever the
// engine says. A plan left without changes has no family.
func Allow(plan *tuning.Plan, blocked map[tuning.Knob]string) {
	kept := plan.Changes[:0:0]
	for _, c := range plan.Changes {
		if _, ok := blocked[c.Knob]; !ok {
			kept = append(kept, c)
		}
	}
	plan.Changes = kept
	if len(kept) == 0 {
		plan.Family = ""
	}
}

// MayWrite reports whether a plan is written to the cluster: in mode Auto,
// not paused, and only when the SLO signals were read (missing SLO data
// means hold; the plan holds too). Otherwise the plan is only published.
func MayWrite(mode tuningv1alpha1.Mode, paused bool, plan tuning.Plan) bool {
	return mode == tuningv1alpha1.ModeAuto && !paused && len(plan.Missing.SLO) == 0
}

// Committed is what Commit changed in a status.
type Committed struct {
	// Judged is the decision the plan's judgement settled, nil when none.
	Judged *tuningv1alpha1.Decision
	// Recorded is the plan's decision, recorded as Pending; nil when none.
	Recorded *tuningv1alpha1.Decision
	before   struct {
		history []tuningv1alpha1.Decision
		last    *tuningv1alpha1.Decision
		memory  *tuningv1alpha1.Memory
	}
}

// Commit judges the pending decision with the plan's judgement, then (only
// when the period writes something) records the plan's decision as Pending,
// in this order: the judgement is about the decision before this one. The
// caller records the status before its first write, so every write is in
// the history before it happens; when that write fails, Undo takes both
// out again.
func Commit(st *tuningv1alpha1.PerformanceProfileStatus, plan tuning.Plan, now time.Time, writes bool) Committed {
	var c Committed
	cp := st.DeepCopy()
	c.before.history, c.before.last, c.before.memory = cp.History, cp.LastAdjustment, cp.Memory
	if j := plan.Judgement; j != nil {
		if d := Verdict(st, *j); d != nil {
			c.Judged = d.DeepCopy()
		}
	}
	if d := plan.Decision(now); d != nil && writes {
		Record(st, *d)
		c.Recorded = d
	}
	return c
}

// Undo restores the history as it was before Commit.
func (c Committed) Undo(st *tuningv1alpha1.PerformanceProfileStatus) {
	st.History, st.LastAdjustment, st.Memory = c.before.history, c.before.last, c.before.memory
}

// SLOMetSince is when the SLOs started to hold without a break: the
// transition time of the SLOMet condition while it is True; zero otherwise.
func SLOMetSince(st tuningv1alpha1.PerformanceProfileStatus) time.Time {
	c := meta.FindStatusCondition(st.Conditions, tuningv1alpha1.ConditionSLOMet)
	if c == nil || c.Status != metav1.ConditionTrue {
		return time.Time{}
	}
	return c.LastTransitionTime.Time
}

// PlanFacts fills in what a plan says about the SLOs, the missing signals
// and the guardrails.
func PlanFacts(f *Facts, plan tuning.Plan) {
	f.Evaluated, f.SLOKnown, f.SLOMet = true, plan.SLOKnown, plan.SLOMet
	f.SLOMissing, f.FamiliesHeld = plan.Missing.SLO, plan.Missing.FamilyNotes()
	f.BudgetExceeded, f.RolloutBudgetSpent = plan.BudgetExceeded, plan.RolloutBudgetSpent
	f.SLOMessage = ""
	if !plan.SLOMet {
		f.SLOMessage = plan.Reason
	}
}

// ChangesString is a decision's changes as a person reads them in an Event,
// a log line or a benchmark step: "POOL_MAX 10→20, hpa.minReplicas <unset>→3".
func ChangesString(cs []tuningv1alpha1.Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %s→%s", c.Knob, orNone(c.From), c.To)
	}
	return strings.Join(parts, ", ")
}
