package period

import (
	"fmt"
	"slices"
	"testing"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// A period is: the engine's input (EngineInput), one call of the engine,
// Apply through a writer, and Summarize. The manager's reconciler and tier
// A's emulated operator both run exactly these functions; this script of
// periods checks the history they leave and the SLOMetSince the engine is
// given, with a scripted engine and a writer that holds one knob.
func TestPeriodScript(t *testing.T) {
	const knob = tuning.Knob("DB_POOL_MAX_CONNECTIONS")
	spec := tuningv1alpha1.PerformanceProfileSpec{
		TargetRef: tuningv1alpha1.TargetRef{Name: "orders"},
		SLO:       tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99}}},
	}
	sc := script(knob, 10)
	eng := newScriptedEngine(sc)
	w := &valueWriter{values: tuning.Values{knob: 10}}
	p := &tuningv1alpha1.PerformanceProfile{Spec: spec}
	for i, want := range sc {
		now := periodT0.Add(time.Duration(i) * time.Minute)
		obs := signals.Observation{Time: now}
		plan := eng.Decide(EngineInput(p.Spec, p.Status, p.Generation, obs, tuning.State{Values: w.values}, now))
		if _, _, err := Apply(&p.Status, plan, Gate{Mode: tuningv1alpha1.ModeAuto}, now, w); err != nil {
			t.Fatalf("period %d: %v", i, err)
		}
		Summarize(p, Summary{Now: now, Mode: tuningv1alpha1.ModeAuto, Observation: &obs, Plan: &plan})
		if got := historyEntries(p.Status); !slices.Equal(got, want.History) {
			t.Fatalf("period %d: history %q, want %q", i, got, want.History)
		}
	}
	if len(eng.Errors) > 0 {
		t.Fatal(eng.Errors)
	}
	if got := w.values[knob]; got != 20 {
		t.Errorf("the knob is %d after the script, want 20 (the last change wrote it back)", got)
	}
}

// valueWriter holds knob values, and counts a write per change of one.
type valueWriter struct {
	values  tuning.Values
	pending []tuning.Change
}

func (w *valueWriter) Prepare(changes []tuning.Change) (int, error) {
	w.pending = nil
	for _, c := range changes {
		if w.values[c.Knob] != c.To {
			w.pending = append(w.pending, c)
		}
	}
	return len(w.pending), nil
}

func (w *valueWriter) Record() error { return nil }

func (w *valueWriter) Write() (int, error) {
	for _, c := range w.pending {
		w.values[c.Knob] = c.To
	}
	return len(w.pending), nil
}

// scriptPeriod is one control period of the script.
type scriptPeriod struct {
	// Plan is the engine's answer in this period.
	Plan tuning.Plan
	// History is the status history after the period, one entry per
	// decision: "family outcome changes".
	History []string
	// Since is the period (0-based) whose time SLOMetSince must be when the
	// engine is asked in this period; -1 when it must be zero.
	Since int
}

// script is the periods for an env knob (a pool knob of the profile) whose
// value is from at the start.
func script(knob tuning.Knob, from int64) []scriptPeriod {
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
	return []scriptPeriod{
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

// historyEntries is a status history in the script's form.
func historyEntries(st tuningv1alpha1.PerformanceProfileStatus) []string {
	var out []string
	for _, d := range st.History {
		out = append(out, fmt.Sprintf("%s %s %s", d.Family, d.Outcome, ChangesString(d.Changes)))
	}
	return out
}

// scriptedEngine answers with the script's plans and checks what it is asked: the
// periods' times, and SLOMetSince against the script.
type scriptedEngine struct {
	script []scriptPeriod
	times  []time.Time
	// Errors are the mismatches seen.
	Errors []string
}

// newScriptedEngine returns an engine playing script.
func newScriptedEngine(script []scriptPeriod) *scriptedEngine { return &scriptedEngine{script: script} }

// Decide implements the engine for the period it is asked in.
func (e *scriptedEngine) Decide(in tuning.Input) tuning.Plan {
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
