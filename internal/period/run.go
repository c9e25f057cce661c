package period

import (
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Writer carries a plan's changes to the cluster, for Apply.
type Writer interface {
	// Prepare builds the writes of the changes and returns how many objects
	// they change: 0 when every value is already in place. The manager
	// reads the objects again from the API server here.
	Prepare(changes []tuning.Change) (int, error)
	// Record keeps the status, with the decision about to be written, before
	// anything is written (the manager patches it under the optimistic lock).
	Record() error
	// Write writes what Prepare built, in order, and returns how many writes
	// took effect before the first error.
	Write() (int, error)
}

// Gate is who may write: the profile's mode and pause.
type Gate struct {
	Mode   tuningv1alpha1.Mode
	Paused bool
}

// Apply carries a plan to the cluster through w when the gate lets it
// (MayWrite), in the one order that keeps every write in the history
// before it happens: prepare the writes, settle the pending decision and
// record the plan's (Commit), keep that record (w.Record), then write. When
// keeping the record fails, or the first write fails, the ledger is as it
// was before. written is false when the gate kept the plan to publishing.
func Apply(st *tuningv1alpha1.PerformanceProfileStatus, plan tuning.Plan, g Gate, now time.Time, w Writer) (c Committed, written bool, err error) {
	if !MayWrite(g.Mode, g.Paused, plan) {
		return Committed{}, false, nil
	}
	n, err := w.Prepare(plan.Changes)
	if err != nil {
		return Committed{}, true, err
	}
	c = Commit(st, plan, now, n > 0)
	if c.Recorded != nil {
		if err := w.Record(); err != nil {
			c.Undo(st)
			return Committed{}, true, err
		}
	}
	if n == 0 {
		return c, true, nil
	}
	if done, err := w.Write(); err != nil {
		if done == 0 {
			// Nothing was written: the record is taken out again.
			c.Undo(st)
		}
		return c, true, err
	}
	return c, true, nil
}
