package status

import (
	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// MaxHistory is how many decisions status.history keeps.
const MaxHistory = 10

// Record appends an applied decision to the history, keeping the newest
// MaxHistory, and makes it the last adjustment.
func Record(st *tuningv1alpha1.PerformanceProfileStatus, d tuningv1alpha1.Decision) {
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
	for i := len(st.History) - 1; i >= 0; i-- {
		d := &st.History[i]
		if d.Outcome != tuningv1alpha1.OutcomePending {
			continue
		}
		d.Outcome, d.Observed = outcome, observed
		if la := st.LastAdjustment; la != nil && la.Time.Equal(&d.Time) && la.Family == d.Family {
			la.Outcome, la.Observed = outcome, observed
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

// LastApplied maps every knob in the history to the value navius-tuner last applied to it.
func LastApplied(history []tuningv1alpha1.Decision) map[string]string {
	out := map[string]string{}
	for _, d := range history {
		for _, c := range d.Changes {
			out[c.Knob] = c.To
		}
	}
	return out
}
