package tuning

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The HPA's scale reversals after an autoscaling write.
const (
	// maxReversalsPerHour: more reversals than this within reversalWindow
	// after an autoscaling write roll the write back (a calm HPA reverses
	// at most twice an hour on a noisy load).
	maxReversalsPerHour = 2
	// reversalWindow is the window the reversals are counted in.
	reversalWindow = time.Hour
	// MaxRememberedReversals caps the reversal times kept (status.memory.scaling).
	MaxRememberedReversals = 16
)

// WatchScaling follows the HPA's replicas after the newest autoscaling
// write of the history, as each reconcile reads them (replicas: the HPA's
// status.desiredReplicas; known false when there is no HPA or it was not
// read): a change of the replicas against the way they last moved is a
// reversal, kept with its time for reversalWindow. A newer autoscaling
// write starts the watch afresh, at the first replicas read (an unread HPA
// is no start: a move from it would be counted); an undo (a rollback, a
// window's restore) ends it, since an undo is never rolled back. It
// reports whether m changed.
func WatchScaling(m *tuningv1alpha1.Memory, history []tuningv1alpha1.Decision, replicas int32, known bool, now time.Time) bool {
	w := watchedWrite(history)
	if w == nil {
		if m.Scaling == nil {
			return false
		}
		m.Scaling = nil
		return true
	}
	changed := false
	if m.Scaling == nil || !m.Scaling.Write.Equal(&w.Time) {
		if !known { // no replicas to start from: a move from an unread HPA is none
			changed = m.Scaling != nil
			m.Scaling = nil
			return changed
		}
		m.Scaling = &tuningv1alpha1.ScalingWatch{Write: w.Time, Replicas: replicas}
		changed = true
	}
	s := m.Scaling
	if known && replicas != s.Replicas {
		dir := tuningv1alpha1.ScaleUp
		if replicas < s.Replicas {
			dir = tuningv1alpha1.ScaleDown
		}
		if s.Direction != "" && dir != s.Direction {
			s.Reversals = append(s.Reversals, metav1.NewTime(now))
		}
		s.Direction, s.Replicas = dir, replicas
		changed = true
	}
	n := len(s.Reversals)
	s.Reversals = slices.DeleteFunc(s.Reversals, func(t metav1.Time) bool { return now.Sub(t.Time) >= reversalWindow })
	if n := len(s.Reversals); n > MaxRememberedReversals {
		s.Reversals = slices.Clone(s.Reversals[n-MaxRememberedReversals:])
	}
	return changed || len(s.Reversals) != n
}

// Watched reports whether the history has an autoscaling write to watch.
func Watched(history []tuningv1alpha1.Decision) bool { return watchedWrite(history) != nil }

// watchedWrite is the newest autoscaling decision of the history, nil when
// there is none or it is an undo.
func watchedWrite(history []tuningv1alpha1.Decision) *tuningv1alpha1.Decision {
	for i := len(history) - 1; i >= 0; i-- {
		d := &history[i]
		if Family(d.Family) != FamilyAutoscaling || len(d.Changes) == 0 {
			continue
		}
		if IsUndo(d.Diagnosis) || d.Outcome == tuningv1alpha1.OutcomeRolledBack || d.Outcome == tuningv1alpha1.OutcomeReverted {
			return nil
		}
		return d
	}
	return nil
}

// undoFlapping rolls back the autoscaling saving the HPA has reversed more
// than maxReversalsPerHour times since (status.memory.scaling): a write
// that makes the HPA flap (a window shortened on a noisy load, a CPU target
// without headroom for the load's noise) costs more restarts of pods than
// it saves. The rollback is an undo, like a regression's.
func (d *decider) undoFlapping() bool {
	s := d.mem.Scaling
	if s == nil {
		return false
	}
	var recent int
	for _, t := range s.Reversals {
		if d.in.Now.Sub(t.Time) < reversalWindow && !t.Before(&s.Write) {
			recent++
		}
	}
	w := watchedWrite(d.in.History)
	// A saving only: a write for a breach (a higher floor) is what calms
	// the HPA, and its rollback would take capacity away.
	if recent <= maxReversalsPerHour || w == nil || !w.Time.Equal(&s.Write) || Diagnosis(w.Diagnosis) != DiagnosisOverProvisioned {
		return false
	}
	changes := d.restoring(w)
	if len(changes) == 0 {
		return false
	}
	hold := d.adopt(proposal{family: FamilyAutoscaling, diagnosis: DiagnosisFlapping, changes: changes, undo: true,
		reason: fmt.Sprintf("%s; the HPA reversed its scaling %d times within %s after the autoscaling change of %s (at most %d): that change is rolled back",
			d.sloText(), recent, reversalWindow, clock(w.Time.Time), maxReversalsPerHour)})
	if hold != "" {
		d.plan.Holds = append(d.plan.Holds, "rollback of a flapping HPA waits: "+hold)
		return false
	}
	return true
}
