package period

import (
	"maps"
	"slices"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// This file repairs the ledger against the cluster: the status and the
// cluster disagree when the operator stopped between a record and its
// write, or between a write and its record, or when another manager took a
// field over.

// World is the profile's objects as one read of the cluster found them.
type World struct {
	Objects *actuate.Objects
	// Values are the knob values the engine sees (tuning.State.Values).
	Values tuning.Values
}

// Repaired is what Repair found in one read of the cluster, and did.
type Repaired struct {
	// NeedLive is true when a read from the cache disagrees with the
	// status: the objects must be read again from the API server (a cache
	// that has not yet seen navius-tuner's own last write shows exactly
	// that), and nothing was repaired.
	NeedLive bool
	// Dropped is the recorded decision that was never applied, taken out.
	Dropped *tuningv1alpha1.Decision
	// Recorded are the changes navius-tuner applied without recording
	// them, now recorded.
	Recorded []tuningv1alpha1.Decision
	// Conflicts are the knobs another field manager took over: the caller
	// blocks them.
	Conflicts []conditions.Conflict
}

// Repair brings p's ledger in line with the cluster as w shows it. live
// says whether w was read from the API server: a read from the cache that
// disagrees with the status repairs nothing and asks for a live read
// instead. In order: a decision recorded but never applied is dropped, the
// knobs another manager took over are found, and the changes navius-tuner
// applied without recording them are recorded. Each is looked for once.
func Repair(p *tuningv1alpha1.PerformanceProfile, w World, now time.Time, live bool) Repaired {
	if !live {
		if unapplied(p.Status, w) != nil || len(Conflicts(p, w)) > 0 || len(unrecorded(p, w, now)) > 0 {
			return Repaired{NeedLive: true}
		}
		return Repaired{}
	}
	var r Repaired
	r.Dropped = dropUnapplied(&p.Status, w)
	r.Conflicts = Conflicts(p, w)
	r.Recorded = recordUnrecorded(p, w, now)
	return r
}

// ReasonUnrecorded is the start of the reason of a decision rebuilt by Repair.
const ReasonUnrecorded = "applied by navius-tuner but not recorded (the operator stopped between the write and the status patch)"

// recordUnrecorded records in p's status the changes navius-tuner applied
// without recording them (see unrecorded). A pending decision that such a
// change followed was judged before the restart: when the change restores
// its previous values it was rolled back, otherwise it was kept.
func recordUnrecorded(p *tuningv1alpha1.PerformanceProfile, w World, now time.Time) []tuningv1alpha1.Decision {
	found := unrecorded(p, w, now)
	for i := range found {
		d := &found[i]
		if pd := Pending(p.Status); pd != nil {
			if reverts(d.Changes, pd.Changes) {
				d.Diagnosis = string(tuning.DiagnosisRegression)
				Settle(&p.Status, tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack,
					Observed: "previous values restored before a restart; the verdict's details were not recorded"})
			} else {
				Settle(&p.Status, tuning.Judgement{Outcome: tuningv1alpha1.OutcomeKept,
					Observed: "judged before a restart; the verdict's details were not recorded"})
			}
		}
		Record(&p.Status, *d)
	}
	return found
}

// reverts reports whether changes set every knob of prev back to its From value.
func reverts(changes, prev []tuningv1alpha1.Change) bool {
	to := map[string]string{}
	for _, c := range changes {
		to[c.Knob] = c.To
	}
	for _, c := range prev {
		if v, ok := to[c.Knob]; !ok || v != c.From {
			return false
		}
	}
	return len(prev) > 0
}

// unrecorded finds changes navius-tuner applied without recording them: the
// operator stopped (or the status patch failed) after the write. Such a
// knob's field is still owned by navius-tuner (any other writer would have
// taken it over), and its live value differs from the value the status last
// knew: the newest applied value in the history, else status.current. Each
// family's changes become one Pending decision stamped now, so the settle
// timer starts again, the change is judged against the SLIs the status held
// before it, and a regression rolls it back to the known value.
func unrecorded(p *tuningv1alpha1.PerformanceProfile, w World, now time.Time) []tuningv1alpha1.Decision {
	known := actuate.KnownValues(p.Status.Current)
	for k, v := range LastApplied(p.Status) {
		known[k] = v
	}
	byFamily := map[string][]tuningv1alpha1.Change{}
	add := func(k, was string) {
		f, ok := w.Objects.Field(tuning.Knob(k))
		if !ok || f.Live == "" || f.Live == was || !f.Ours() {
			return
		}
		if fam := tuning.FamilyOf(p.Spec, tuning.Knob(k)); fam != "" {
			byFamily[string(fam)] = append(byFamily[string(fam)], tuningv1alpha1.Change{Knob: k, From: was, To: f.Live})
		}
	}
	for k, was := range known {
		add(k, was)
	}
	// No status was ever written: a field navius-tuner applied since the
	// profile was created was applied by the very first reconcile(s), whose
	// status patch failed. The value before is unknown (From ""): the change
	// settles, but cannot be rolled back.
	if p.Status.Current == nil && len(p.Status.History) == 0 {
		for k := range w.Values {
			f, ok := w.Objects.Field(k)
			if !ok || !appliedSince(f.Own, p.CreationTimestamp.Time) {
				continue
			}
			add(string(k), "")
		}
	}
	var out []tuningv1alpha1.Decision
	for _, fam := range slices.Sorted(maps.Keys(byFamily)) {
		changes := byFamily[fam]
		slices.SortFunc(changes, func(a, b tuningv1alpha1.Change) int {
			if a.Knob < b.Knob {
				return -1
			}
			return 1
		})
		out = append(out, tuningv1alpha1.Decision{
			Time: metav1.NewTime(now), Family: fam, Changes: changes,
			Diagnosis: string(tuning.DiagnosisUnknown), Reason: ReasonUnrecorded,
			Baseline: p.Status.SLIs.DeepCopy(), Outcome: tuningv1alpha1.OutcomePending,
			Rollout: tuning.IsEnvFamily(tuning.Family(fam)),
		})
	}
	return out
}

// appliedSince reports whether navius-tuner's server-side apply to the object
// happened at or after t (managedFields times have a one-second resolution).
func appliedSince(own actuate.Ownership, t time.Time) bool {
	at, ok := own.AppliedAt(tuningv1alpha1.FieldManager)
	return ok && !at.Before(t.Truncate(time.Second))
}

// unapplied is the newest decision of the status when it is Pending and
// navius-tuner never wrote it: every knob still holds the value before it,
// and navius-tuner has not applied to its object since the decision was
// made. That is a decision recorded before its write, whose write then
// failed or never came (the operator stopped between the two, or taking the
// record out again failed). nil when there is none.
func unapplied(st tuningv1alpha1.PerformanceProfileStatus, w World) *tuningv1alpha1.Decision {
	d := tuning.Pending(st.History)
	if d == nil || len(d.Changes) == 0 {
		return nil
	}
	for _, c := range d.Changes {
		f, ok := w.Objects.Field(tuning.Knob(c.Knob))
		if !ok || f.Live == c.To || f.Live != c.From || appliedSince(f.Own, d.Time.Time) {
			return nil
		}
	}
	return d
}

// dropUnapplied takes the unapplied decision out of the status: left in
// place it would settle and be judged as if it had been applied. When it was
// a rollback, the decision it judged is pending again, so the rollback is
// decided anew, and that decision's verdict is forgotten from the memory
// (tuning.ForgetVerdict) so that it counts once. It returns the dropped decision, nil when there is none.
func dropUnapplied(st *tuningv1alpha1.PerformanceProfileStatus, w World) *tuningv1alpha1.Decision {
	u := unapplied(*st, w)
	if u == nil {
		return nil
	}
	d := *u
	n := len(st.History)
	st.History = st.History[:n-1]
	if st.Memory != nil {
		tuning.Forget(st.Memory, d, st.History)
	}
	st.LastAdjustment = nil
	if n > 1 {
		prev := &st.History[n-2]
		if tuning.IsUndo(d.Diagnosis) && (prev.Outcome == tuningv1alpha1.OutcomeRolledBack || prev.Outcome == tuningv1alpha1.OutcomeReverted) {
			if st.Memory != nil { // its verdict is given anew: counted once
				tuning.ForgetVerdict(st.Memory, *prev, prev.Outcome)
			}
			prev.Outcome, prev.Observed = tuningv1alpha1.OutcomePending, ""
		}
		last := *prev
		st.LastAdjustment = &last
	}
	return &d
}

// Conflicts finds the knobs another field manager took over: after
// navius-tuner applied a value (the newest in the history), another manager
// owns the field and the live value differs from it. Such a knob is left
// alone until the conflict is gone: the live value is what navius-tuner
// applied again, navius-tuner owns the field again, or a person set the
// reconcile-requested-at annotation to a time (RFC 3339) after the other
// manager's last write, to say the other manager now ignores the field.
func Conflicts(p *tuningv1alpha1.PerformanceProfile, w World) []conditions.Conflict {
	ack, _ := time.Parse(time.RFC3339, p.Annotations[tuningv1alpha1.ReconcileRequestedAnnotation])
	applied := LastApplied(p.Status)
	knobs := make([]string, 0, len(applied))
	for k := range applied {
		knobs = append(knobs, k)
	}
	sort.Strings(knobs)
	var out []conditions.Conflict
	for _, k := range knobs {
		f, ok := w.Objects.Field(tuning.Knob(k))
		if !ok || f.Live == applied[k] || f.Ours() {
			continue
		}
		others := f.Own.Others(tuningv1alpha1.FieldManager, f.Path)
		if len(others) == 0 || (!ack.IsZero() && !ack.Before(others[0].Time)) {
			continue
		}
		out = append(out, conditions.Conflict{Knob: k, Field: f.Name, Manager: others[0].Manager, Applied: applied[k], Live: f.Live})
	}
	return out
}

// RolloutFailure is the engine's view of a failed rollout of the target
// (reason and message are the Deployment's): whether navius-tuner's pending
// env change alone started it. Only then may the engine undo it: its values
// are live, navius-tuner owns their fields, and no other manager wrote the
// Deployment after navius-tuner's last apply.
func RolloutFailure(st tuningv1alpha1.PerformanceProfileStatus, w World, reason, message string) *tuning.RolloutFailure {
	f := &tuning.RolloutFailure{Reason: reason, Message: message}
	pd := Pending(st)
	if pd == nil || !pd.Rollout {
		return f
	}
	for _, c := range pd.Changes {
		fl, ok := w.Objects.Field(tuning.Knob(c.Knob))
		if !ok || fl.Live != c.To || !fl.Ours() {
			return f // the live template is not (only) navius-tuner's change
		}
	}
	f.Ours = !w.Objects.TargetOwn.WroteAfter(tuningv1alpha1.FieldManager, pd.Time.Time)
	return f
}
