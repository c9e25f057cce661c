package period

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// A rollback recorded but never applied is dropped, and the raise it judged
// is pending again: the raise's verdict is forgotten with it, so that
// deciding the rollback anew counts the regression once, not twice (twice
// would close the direction until the load moves).
func TestDroppedRollbackForgetsItsVerdict(t *testing.T) {
	p := poolProfile(tuningv1alpha1.ModeAuto)
	raisedAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	load := int64(800)
	Record(&p.Status, tuningv1alpha1.Decision{Time: metav1.NewTime(raisedAt), Family: string(tuning.FamilyPool),
		Diagnosis: string(tuning.DiagnosisPoolSaturated), Outcome: tuningv1alpha1.OutcomePending, Rollout: true,
		Baseline: &tuningv1alpha1.SLIs{Throughput: &load},
		Changes:  []tuningv1alpha1.Change{{Knob: poolEnv, From: "10", To: "15"}}})
	before := p.Status.Memory.DeepCopy()

	rollback := func(at time.Time) {
		Settle(&p.Status, tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack, Observed: "regression: p99 150ms -> 190ms"})
		Record(&p.Status, tuningv1alpha1.Decision{Time: metav1.NewTime(at), Family: string(tuning.FamilyPool),
			Diagnosis: string(tuning.DiagnosisRegression), Outcome: tuningv1alpha1.OutcomePending, Rollout: true,
			Changes: []tuningv1alpha1.Change{{Knob: poolEnv, From: "15", To: "10"}}})
	}
	upLevel := func() int32 {
		for _, k := range p.Status.Memory.Knobs {
			if k.Knob == poolEnv && k.Up != nil {
				return k.Up.Level
			}
		}
		return 0
	}

	rollback(raisedAt.Add(5 * time.Minute))
	if got := upLevel(); got != 1 {
		t.Fatalf("after the first verdict the raise's back-off level is %d, want 1", got)
	}
	// The rollback's write never came: the Deployment still runs 15.
	r := Repair(p, envWorld(t, "15", managedEnv(tuningv1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, raisedAt, poolEnv)), raisedAt.Add(6*time.Minute), true)
	if r.Dropped == nil {
		t.Fatal("the unapplied rollback was not dropped")
	}
	if pd := Pending(p.Status); pd == nil || !pd.Time.Equal(&metav1.Time{Time: raisedAt}) {
		t.Fatalf("pending %+v, want the raise again", pd)
	}
	if got := upLevel(); got != 0 {
		t.Errorf("after the drop the raise's back-off level is %d, want 0 (its verdict forgotten)", got)
	}
	if p.Status.Memory.Knobs[0].LastApplied != before.Knobs[0].LastApplied {
		t.Errorf("last applied %q, want %q", p.Status.Memory.Knobs[0].LastApplied, before.Knobs[0].LastApplied)
	}

	rollback(raisedAt.Add(7 * time.Minute))
	if got := upLevel(); got != 1 {
		t.Errorf("the rollback decided anew counts the regression as level %d, want 1", got)
	}
}
