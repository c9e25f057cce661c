package status

import (
	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// MaxHistory is how many decisions status.history keeps. The rules that
// look back further than the newest decisions read status.memory
// (tuning.Remember keeps it; tuning's horizons list what each rule needs).
const MaxHistory = 10

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

// Judge sets the outcome of the newest pending decision (in the history and,
// when it is the same, the last adjustment). It returns the judged decision,
// nil when none was pending.
func Judge(st *tuningv1alpha1.PerformanceProfileStatus, outcome tuningv1alpha1.Outcome, observed string) *tuningv1alpha1.Decision {
	return Verdict(st, tuning.Judgement{Outcome: outcome, Observed: observed})
}

// Verdict is Judge for the engine's judgement: it also records the checked
// prediction in the decision, and its error in the model's running error.
func Verdict(st *tuningv1alpha1.PerformanceProfileStatus, j tuning.Judgement) *tuningv1alpha1.Decision {
	for i := len(st.History) - 1; i >= 0; i-- {
		d := &st.History[i]
		if d.Outcome != tuningv1alpha1.OutcomePending {
			continue
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
	return nil
}

// Pending is the newest decision still settling, nil when there is none.
func Pending(st tuningv1alpha1.PerformanceProfileStatus) *tuningv1alpha1.Decision {
	for i := len(st.History) - 1; i >= 0; i-- {
		if st.History[i].Outcome == tuningv1alpha1.OutcomePending {
			return &st.History[i]
		}
	}
	return nil
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

// Learn keeps what the engine learned with this period's observation
// (tuning.Plan.CPU, the CPU time per request) in status.memory, in every
// mode: nil leaves the memory as it is.
func Learn(st *tuningv1alpha1.PerformanceProfileStatus, cpu *tuningv1alpha1.LearnedCPU) {
	if cpu != nil {
		memory(st).CPU = cpu.DeepCopy()
	}
}
