package controllers

import (
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// ReasonUnrecorded is the start of the reason of a decision rebuilt by
// unrecordedDecisions.
const ReasonUnrecorded = "applied by navius-tuner but not recorded (the operator stopped between the write and the status patch)"

// recoverUnrecorded records in p's status the changes navius-tuner applied
// without recording them (see unrecordedDecisions). A pending decision that
// such a change followed was judged before the restart: when the change
// restores its previous values it was rolled back, otherwise it was kept.
func recoverUnrecorded(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, now time.Time) []tuningv1alpha1.Decision {
	found := unrecordedDecisions(p, cs, now)
	for i := range found {
		d := &found[i]
		if pd := status.Pending(p.Status); pd != nil {
			if reverts(d.Changes, pd.Changes) {
				d.Diagnosis = string(tuning.DiagnosisRegression)
				status.Judge(&p.Status, tuningv1alpha1.OutcomeRolledBack, "previous values restored before a restart; the verdict's details were not recorded")
			} else {
				status.Judge(&p.Status, tuningv1alpha1.OutcomeKept, "judged before a restart; the verdict's details were not recorded")
			}
		}
		status.Record(&p.Status, *d)
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

// unrecordedDecisions finds changes navius-tuner applied without recording
// them: the operator stopped (or the status patch failed) after the write.
// Such a knob's field is still owned by navius-tuner (any other writer would
// have taken it over), and its live value differs from the value the status
// last knew: the newest applied value in the history, else status.current.
// Each family's changes become one Pending decision stamped now, so the
// settle timer starts again, the change is judged against the SLIs the
// status held before it, and a regression rolls it back to the known value.
func unrecordedDecisions(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, now time.Time) []tuningv1alpha1.Decision {
	known := knownValues(p.Status.Current)
	for k, v := range status.LastApplied(p.Status) {
		known[k] = v
	}
	byFamily := map[string][]tuningv1alpha1.Change{}
	add := func(k, was string) {
		f, ok := cs.field(tuning.Knob(k))
		if !ok || f.live == "" || f.live == was || !f.own.Owns(tuningv1alpha1.FieldManager, f.path) {
			return
		}
		if fam := knobFamily(p.Spec, tuning.Knob(k)); fam != "" {
			byFamily[fam] = append(byFamily[fam], tuningv1alpha1.Change{Knob: k, From: was, To: f.live})
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
		for k := range cs.state.Values {
			f, ok := cs.field(k)
			if !ok || !appliedSince(f.own, p.CreationTimestamp.Time) {
				continue
			}
			add(string(k), "")
		}
	}
	families := make([]string, 0, len(byFamily))
	for f := range byFamily {
		families = append(families, f)
	}
	slices.Sort(families)
	var out []tuningv1alpha1.Decision
	for _, fam := range families {
		changes := byFamily[fam]
		slices.SortFunc(changes, func(a, b tuningv1alpha1.Change) int {
			if a.Knob < b.Knob {
				return -1
			}
			return 1
		})
		d := tuningv1alpha1.Decision{
			Time: metav1.NewTime(now), Family: fam, Changes: changes,
			Diagnosis: string(tuning.DiagnosisUnknown), Reason: ReasonUnrecorded,
			Baseline: p.Status.SLIs.DeepCopy(), Outcome: tuningv1alpha1.OutcomePending,
			Rollout: tuning.IsEnvFamily(tuning.Family(fam)),
		}
		out = append(out, d)
	}
	return out
}

// knownValues are the knob values status.current holds.
func knownValues(cur *tuningv1alpha1.KnobValues) map[string]string {
	out := map[string]string{}
	if cur == nil {
		return out
	}
	for k, v := range cur.Env {
		out[k] = v
	}
	i32 := func(k tuning.Knob, v *int32) {
		if v != nil {
			out[string(k)] = strconv.FormatInt(int64(*v), 10)
		}
	}
	i32(tuning.KnobRedisReplicas, cur.RedisReplicas)
	if h := cur.HPA; h != nil {
		set := actuate.HPASettings{MinReplicas: h.MinReplicas, TargetCPUUtilization: h.TargetCPUUtilization,
			ScaleDownWindowSeconds: h.ScaleDownStabilizationSeconds}
		if h.MaxReplicas > 0 {
			set.MaxReplicas = &h.MaxReplicas
		}
		for _, k := range hpaKnobs {
			i32(k, *hpaSlot(&set, k))
		}
	}
	return out
}

// knobFamily is the family a knob of the spec belongs to (from the
// catalogue); "" when the spec has no such env knob.
func knobFamily(spec tuningv1alpha1.PerformanceProfileSpec, k tuning.Knob) string {
	return string(tuning.FamilyOf(spec, k))
}

// appliedSince reports whether navius-tuner's server-side apply to the object
// happened at or after t (managedFields times have a one-second resolution).
func appliedSince(own actuate.Ownership, t time.Time) bool {
	for _, o := range own {
		if o.Manager == tuningv1alpha1.FieldManager && o.Operation == metav1.ManagedFieldsOperationApply {
			return !o.Time.IsZero() && !o.Time.Before(t.Truncate(time.Second))
		}
	}
	return false
}

// unapplied is the newest decision of p's status when it is Pending and
// navius-tuner never wrote it: every knob still holds the value before it,
// and navius-tuner has not applied to its object since the decision was
// made. That is a decision recorded before its write, whose write then
// failed or never came (the operator stopped between the two, or taking the
// record out again failed). nil when there is none.
func unapplied(p *tuningv1alpha1.PerformanceProfile, cs *clusterState) *tuningv1alpha1.Decision {
	n := len(p.Status.History)
	if n == 0 || p.Status.History[n-1].Outcome != tuningv1alpha1.OutcomePending || len(p.Status.History[n-1].Changes) == 0 {
		return nil
	}
	d := &p.Status.History[n-1]
	for _, c := range d.Changes {
		f, ok := cs.field(tuning.Knob(c.Knob))
		if !ok || f.live == c.To || f.live != c.From || appliedSince(f.own, d.Time.Time) {
			return nil
		}
	}
	return d
}

// dropUnapplied takes the unapplied decision out of p's status: left in
// place it would settle and be judged as if it had been applied. When it was
// a rollback, the decision it judged is pending again, so the rollback is
// decided anew. It returns the dropped decision, nil when there is none.
func dropUnapplied(p *tuningv1alpha1.PerformanceProfile, cs *clusterState) *tuningv1alpha1.Decision {
	u := unapplied(p, cs)
	if u == nil {
		return nil
	}
	d := *u
	st := &p.Status
	n := len(st.History)
	st.History = st.History[:n-1]
	if st.Memory != nil {
		tuning.Forget(st.Memory, d)
	}
	st.LastAdjustment = nil
	if n > 1 {
		prev := &st.History[n-2]
		if tuning.IsUndo(d.Diagnosis) && (prev.Outcome == tuningv1alpha1.OutcomeRolledBack || prev.Outcome == tuningv1alpha1.OutcomeReverted) {
			prev.Outcome, prev.Observed = tuningv1alpha1.OutcomePending, ""
		}
		last := *prev
		st.LastAdjustment = &last
	}
	return &d
}
