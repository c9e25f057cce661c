// This file: a script of control periods that the manager's
// reconciler (controllers) and the benchmark's emulated operator
// (internal/lab/bench) both run with a scripted engine: both must leave the same
// status history and report the same SLOMetSince, so a change to one path's
// bookkeeping after tuning.Decide that the other does not share fails both
// tests.

package testenv

import (
	"fmt"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Period is one control period of the script.
type Period struct {
	// Plan is the engine's answer in this period.
	Plan tuning.Plan
	// History is the status history after the period, one entry per
	// decision: "family outcome changes".
	History []string
	// Since is the period (0-based) whose time SLOMetSince must be when the
	// engine is asked in this period; -1 when it must be zero.
	Since int
}

// Script is the periods for an env knob (a pool knob of the profile) whose
// value is from at the start.
func Script(knob tuning.Knob, from int64) []Period {
	up, up2 := from*2, from*3
	ch := func(a, b int64) []tuning.Change {
		return []tuning.Change{{Knob: knob, From: a, HasFrom: true, To: b}}
	}
	str := func(a, b int64) string { return fmt.Sprintf("%s %d→%d", knob, a, b) }
	met := tuning.Plan{SLOKnown: true, SLOMet: true, Reason: "every SLO held"}
	breach := func(p tuning.Plan) tuning.Plan {
		p.SLOKnown, p.Reason = true, "p99 over its threshold"
		if p.Diagnosis == "" {
			p.Diagnosis = tuning.DiagnosisPoolSaturated
		}
		return p
	}
	pending := func(a, b int64) string { return "pool Pending " + str(a, b) }
	return []Period{
		// The SLOs hold: nothing to do.
		{Plan: met, Since: -1},
		// A breach raises the pool: recorded Pending.
		{Plan: breach(tuning.Plan{Family: tuning.FamilyPool, Changes: ch(from, up), Rollout: true}),
			Since: 0, History: []string{pending(from, up)}},
		// Settling: no changes, nothing recorded.
		{Plan: met, Since: -1, History: []string{pending(from, up)}},
		// The change is judged Kept; the SLOs still hold.
		{Plan: tuning.Plan{SLOKnown: true, SLOMet: true, Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "p99 better"}},
			Since: 2, History: []string{"pool Kept " + str(from, up)}},
		// The SLO signals are missing: the plan's changes and its judgement
		// wait, and SLOMet is no longer known.
		{Plan: tuning.Plan{Family: tuning.FamilyPool, Changes: ch(up, up2), Missing: tuning.Missing{SLO: []string{"p99: no samples"}},
			Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack, Observed: "must not be used"}},
			Since: 2, History: []string{"pool Kept " + str(from, up)}},
		// A breach raises the pool again.
		{Plan: breach(tuning.Plan{Family: tuning.FamilyPool, Changes: ch(up, up2), Rollout: true}),
			Since: -1, History: []string{"pool Kept " + str(from, up), pending(up, up2)}},
		// A change to the value the knob has writes nothing: not recorded,
		// though its judgement is.
		{Plan: breach(tuning.Plan{Family: tuning.FamilyPool, Changes: ch(up2, up2),
			Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "held"}}),
			Since: -1, History: []string{"pool Kept " + str(from, up), "pool Kept " + str(up, up2)}},
		// A change back (a regression of the last one) is recorded after the verdict on it.
		{Plan: breach(tuning.Plan{Family: tuning.FamilyPool, Changes: ch(up2, up), Rollout: true, Diagnosis: tuning.DiagnosisRegression}),
			Since: -1, History: []string{"pool Kept " + str(from, up), "pool Kept " + str(up, up2), pending(up2, up)}},
	}
}

// HistoryEntries is a status history in the script's form.
func HistoryEntries(st tuningv1alpha1.PerformanceProfileStatus) []string {
	var out []string
	for _, d := range st.History {
		out = append(out, fmt.Sprintf("%s %s %s", d.Family, d.Outcome, status.ChangesString(d.Changes)))
	}
	return out
}

// ScriptedEngine answers with the script's plans and checks what it is asked: the
// periods' times, and SLOMetSince against the script.
type ScriptedEngine struct {
	script []Period
	times  []time.Time
	// Errors are the mismatches seen.
	Errors []string
}

// NewScriptedEngine returns an engine playing script.
func NewScriptedEngine(script []Period) *ScriptedEngine { return &ScriptedEngine{script: script} }

// Decide implements the engine for the period it is asked in.
func (e *ScriptedEngine) Decide(in tuning.Input) tuning.Plan {
	i := len(e.times)
	e.times = append(e.times, in.Now)
	if i >= len(e.script) {
		e.Errors = append(e.Errors, fmt.Sprintf("asked %d times, the script has %d periods", i+1, len(e.script)))
		return tuning.Plan{}
	}
	want := time.Time{}
	if k := e.script[i].Since; k >= 0 {
		want = e.times[k]
	}
	if !in.SLOMetSince.Equal(want) {
		e.Errors = append(e.Errors, fmt.Sprintf("period %d: SLOMetSince %v, want %v", i, in.SLOMetSince, want))
	}
	p := e.script[i].Plan
	p.Changes = append([]tuning.Change(nil), p.Changes...)
	return p
}
