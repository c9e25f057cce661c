package period

import (
	"fmt"
	"math"
	"strings"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// This file is the decision ledger: status.history, status.lastAdjustment
// and status.memory, written only through these functions.

// MaxHistory is how many decisions status.history keeps. The rules that
// look back further than the newest decisions read status.memory
// (tuning.Remember keeps it; tuning's horizons list what each rule needs).
const MaxHistory = tuningv1alpha1.MaxHistoryItems

// memory is the status' memory, rebuilt from the history when the status
// was written before the memory existed.
func memory(st *tuningv1alpha1.PerformanceProfileStatus) *tuningv1alpha1.Memory {
	if st.Memory == nil {
		m := tuning.MemoryFrom(st.History, st.ObservedGeneration)
		st.Memory = &m
	}
	return st.Memory
}

// Record appends an applied decision to the history, keeping the newest
// MaxHistory, remembers it in status.memory, and makes it the last adjustment.
func Record(st *tuningv1alpha1.PerformanceProfileStatus, d tuningv1alpha1.Decision) {
	tuning.Remember(memory(st), d)
	st.History = append(st.History, d)
	if n := len(st.History); n > MaxHistory {
		st.History = append([]tuningv1alpha1.Decision(nil), st.History[n-MaxHistory:]...)
	}
	last := d
	st.LastAdjustment = &last
}

// Settle gives the pending decision its verdict: its outcome, what was
// observed and the checked prediction (whose error joins the model's
// running error), in the history and, when it is the same decision, the
// last adjustment. It returns the settled decision, nil when none was pending.
func Settle(st *tuningv1alpha1.PerformanceProfileStatus, j tuning.Judgement) *tuningv1alpha1.Decision {
	d := tuning.Pending(st.History)
	if d == nil {
		return nil
	}
	m := memory(st)
	d.Outcome, d.Observed = j.Outcome, j.Observed
	if j.Prediction != nil {
		d.Prediction = j.Prediction.DeepCopy()
	}
	tuning.RememberVerdict(m, *d, j.Outcome, st.ObservedGeneration)
	if la := st.LastAdjustment; la != nil && la.Time.Equal(&d.Time) && la.Family == d.Family {
		la.Outcome, la.Observed, la.Prediction = d.Outcome, d.Observed, d.Prediction.DeepCopy()
	}
	return d
}

// Pending is the decision still settling, nil when there is none (tuning.Pending).
func Pending(st tuningv1alpha1.PerformanceProfileStatus) *tuningv1alpha1.Decision {
	return tuning.Pending(st.History)
}

// LastApplied maps every knob to the value navius-tuner last applied to it:
// from status.memory, which keeps every knob however long ago it changed
// (Record keeps it up to date), else from the history.
func LastApplied(st tuningv1alpha1.PerformanceProfileStatus) map[string]string {
	out := map[string]string{}
	if st.Memory != nil {
		for _, k := range st.Memory.Knobs {
			if k.LastApplied != "" {
				out[k.Knob] = k.LastApplied
			}
		}
		return out
	}
	for _, d := range st.History {
		for _, c := range d.Changes {
			out[c.Knob] = c.To
		}
	}
	return out
}

// SLIsRefresh is how often status.slis is rewritten when nothing else in
// the status changed (the reconciler's write rule): a status write per
// profile and period would cost, at 10,000 profiles and 30 s, over 300
// writes per second.
const SLIsRefresh = 5 * time.Minute

// learnShare: the learned CPU per request is rewritten alone when it moved
// by more than this share of the stored value.
const learnShare = 0.05

// Learn keeps what the engine learned with this period's observation
// (tuning.Plan.CPU, the CPU time per request) in status.memory, in every
// mode: nil leaves the memory as it is. It does not rewrite it every
// period, which would be a status write per profile and period: only
//   - when it moved by more than learnShare (5 %: the pods it sizes are
//     ceil(load × cost ÷ …), so a smaller error rarely changes a count);
//   - while its sample count grows, up to tuning.MaxCPUSamples (at most 19
//     writes over a profile's life, 10 minutes at 30 s): the count is the
//     running average's weight, and the first samples move it most;
//   - or when the SLIs' refresh writes the status anyway (SLIsRefresh after
//     status.slis was written, whose time st still holds when Learn runs
//     first): the samples between two writes are dropped (the engine folds
//     each one into the stored average), but a slow drift is still learned,
//     one sample per refresh, at no extra write.
func Learn(st *tuningv1alpha1.PerformanceProfileStatus, cpu *tuningv1alpha1.LearnedCPU, now time.Time) {
	if cpu == nil {
		return
	}
	m := memory(st)
	if old := m.CPU; old != nil && old.Samples >= cpu.Samples && old.PerRequest.Duration > 0 &&
		math.Abs(float64(cpu.PerRequest.Duration-old.PerRequest.Duration)) <= learnShare*float64(old.PerRequest.Duration) &&
		(st.SLIs == nil || st.SLIs.ObservedAt == nil || now.Sub(st.SLIs.ObservedAt.Time) < SLIsRefresh) {
		return
	}
	m.CPU = cpu.DeepCopy()
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

// Commit settles the pending decision with the plan's judgement, then (only
// when the period writes something) records the plan's decision as Pending,
// in this order: the judgement is about the decision before this one, and
// the history keeps at most one Pending decision, the newest.
func Commit(st *tuningv1alpha1.PerformanceProfileStatus, plan tuning.Plan, now time.Time, writes bool) Committed {
	var c Committed
	cp := st.DeepCopy()
	c.before.history, c.before.last, c.before.memory = cp.History, cp.LastAdjustment, cp.Memory
	if j := plan.Judgement; j != nil {
		if d := Settle(st, *j); d != nil {
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

// ChangesString is a decision's changes as a person reads them in an Event,
// a log line or a benchmark step: "POOL_MAX 10→20, hpa.minReplicas <unset>→3".
func ChangesString(cs []tuningv1alpha1.Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %s→%s", c.Knob, orNone(c.From), c.To)
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}
