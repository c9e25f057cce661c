package period

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

var (
	periodT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	poolUp   = tuning.Change{Knob: "POOL_MAX", From: 10, HasFrom: true, To: 20}
	ttlUp    = tuning.Change{Knob: "L1_TTL", From: 60, HasFrom: true, To: 120}
)

func TestMayWrite(t *testing.T) {
	missing := tuning.Plan{Missing: tuning.Missing{SLO: []string{"p99: no samples"}}}
	for _, tc := range []struct {
		name   string
		mode   v1.Mode
		paused bool
		plan   tuning.Plan
		want   bool
	}{
		{"auto", v1.ModeAuto, false, tuning.Plan{}, true},
		{"auto, paused", v1.ModeAuto, true, tuning.Plan{}, false},
		{"recommend", v1.ModeRecommend, false, tuning.Plan{}, false},
		{"off", v1.ModeOff, false, tuning.Plan{}, false},
		{"auto, SLO signals missing", v1.ModeAuto, false, missing, false},
		{"auto, only a family's signals missing", v1.ModeAuto, false,
			tuning.Plan{Missing: tuning.Missing{Families: []tuning.FamilyMissing{{Family: tuning.FamilyCache}}}}, true},
	} {
		if got := MayWrite(tc.mode, tc.paused, tc.plan); got != tc.want {
			t.Errorf("%s: MayWrite = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// outcomes is a history as "family outcome" entries.
func outcomes(st v1.PerformanceProfileStatus) []string {
	var out []string
	for _, d := range st.History {
		out = append(out, d.Family+" "+string(d.Outcome))
	}
	return out
}

func TestCommitJudgesThenRecords(t *testing.T) {
	kept := &tuning.Judgement{Outcome: v1.OutcomeKept, Observed: "p99 better"}
	pendingPool := func() v1.PerformanceProfileStatus {
		var st v1.PerformanceProfileStatus
		Record(&st, *tuning.Plan{Family: tuning.FamilyPool, Changes: []tuning.Change{poolUp}}.Decision(periodT0))
		return st
	}
	for _, tc := range []struct {
		name         string
		st           v1.PerformanceProfileStatus
		plan         tuning.Plan
		writes       bool
		want         []string
		judged, recd bool
	}{
		{"a change that writes is recorded Pending", v1.PerformanceProfileStatus{},
			tuning.Plan{Family: tuning.FamilyCache, Changes: []tuning.Change{ttlUp}}, true, []string{"cache Pending"}, false, true},
		{"a change that writes nothing is not recorded", v1.PerformanceProfileStatus{},
			tuning.Plan{Family: tuning.FamilyCache, Changes: []tuning.Change{ttlUp}}, false, nil, false, false},
		{"the verdict is on the decision before, not on the new one", pendingPool(),
			tuning.Plan{Family: tuning.FamilyCache, Changes: []tuning.Change{ttlUp}, Judgement: kept}, true,
			[]string{"pool Kept", "cache Pending"}, true, true},
		{"a verdict without a change", pendingPool(), tuning.Plan{Judgement: kept}, false, []string{"pool Kept"}, true, false},
		{"a verdict with nothing pending", v1.PerformanceProfileStatus{}, tuning.Plan{Judgement: kept}, false, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			c := Commit(&st, tc.plan, periodT0.Add(time.Minute), tc.writes)
			if got := outcomes(st); !slices.Equal(got, tc.want) {
				t.Errorf("history %v, want %v", got, tc.want)
			}
			if (c.Judged != nil) != tc.judged || (c.Recorded != nil) != tc.recd {
				t.Errorf("judged %v recorded %v, want %v %v", c.Judged != nil, c.Recorded != nil, tc.judged, tc.recd)
			}
			if c.Recorded != nil && (st.LastAdjustment == nil || st.LastAdjustment.Family != c.Recorded.Family) {
				t.Errorf("last adjustment %v, want the recorded decision", st.LastAdjustment)
			}
		})
	}
}

// Undo leaves the status as it was before Commit: the history, the last
// adjustment and the memory (which LastApplied and conflict detection read).
func TestCommitUndo(t *testing.T) {
	var st v1.PerformanceProfileStatus
	Record(&st, *tuning.Plan{Family: tuning.FamilyPool, Changes: []tuning.Change{poolUp}}.Decision(periodT0))
	before := st.DeepCopy()
	c := Commit(&st, tuning.Plan{Family: tuning.FamilyCache, Changes: []tuning.Change{ttlUp},
		Judgement: &tuning.Judgement{Outcome: v1.OutcomeRolledBack}}, periodT0.Add(time.Minute), true)
	if _, ok := LastApplied(st)["L1_TTL"]; !ok || c.Recorded == nil {
		t.Fatal("the commit recorded nothing")
	}
	c.Undo(&st)
	if got, want := outcomes(st), outcomes(*before); !slices.Equal(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	if _, ok := LastApplied(st)["L1_TTL"]; ok {
		t.Error("the memory still holds the undone change as applied")
	}
	if st.LastAdjustment == nil || st.LastAdjustment.Outcome != v1.OutcomePending {
		t.Errorf("last adjustment %v, want the pending pool decision", st.LastAdjustment)
	}
}

func TestSLOMetSince(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		want  time.Time
	}{
		{"no condition", nil, time.Time{}},
		{"true", []metav1.Condition{{Type: v1.ConditionSLOMet, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(periodT0)}}, periodT0},
		{"false", []metav1.Condition{{Type: v1.ConditionSLOMet, Status: metav1.ConditionFalse, LastTransitionTime: metav1.NewTime(periodT0)}}, time.Time{}},
		{"unknown", []metav1.Condition{{Type: v1.ConditionSLOMet, Status: metav1.ConditionUnknown, LastTransitionTime: metav1.NewTime(periodT0)}}, time.Time{}},
	} {
		if got := SLOMetSince(v1.PerformanceProfileStatus{Conditions: tc.conds}); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The SLOMet condition set from PlanFacts keeps its transition time while
// the SLOs keep holding: SLOMetSince is when they started to.
func TestSLOMetSinceFollowsThePlans(t *testing.T) {
	var st v1.PerformanceProfileStatus
	met := tuning.Plan{SLOKnown: true, SLOMet: true}
	for i, tc := range []struct {
		plan tuning.Plan
		want int // the period SLOMetSince is from, -1 for none
	}{
		{met, 0}, {met, 0}, {tuning.Plan{SLOKnown: true}, -1}, {tuning.Plan{}, -1}, {met, 4}, {met, 4},
	} {
		now := periodT0.Add(time.Duration(i) * time.Minute)
		f := conditions.Facts{Now: now, Mode: v1.ModeAuto, Observed: true}
		PlanFacts(&f, tc.plan)
		conditions.SetAll(&st.Conditions, f)
		want := time.Time{}
		if tc.want >= 0 {
			want = periodT0.Add(time.Duration(tc.want) * time.Minute)
		}
		if got := SLOMetSince(st); !got.Equal(want) {
			t.Errorf("period %d: %v, want %v", i, got, want)
		}
	}
}

func TestPlanFacts(t *testing.T) {
	plan := tuning.Plan{SLOKnown: true, Reason: "p99 180ms over 100ms", BudgetExceeded: "over", RolloutBudgetSpent: "until 13:00",
		Missing: tuning.Missing{SLO: []string{"p95: no samples"}, Families: []tuning.FamilyMissing{{Family: tuning.FamilyCache}}}}
	f := conditions.Facts{SLOMessage: "stale"}
	PlanFacts(&f, plan)
	if !f.Evaluated || !f.SLOKnown || f.SLOMet || f.SLOMessage != plan.Reason || f.BudgetExceeded != "over" ||
		f.RolloutBudgetSpent != "until 13:00" || !slices.Equal(f.SLOMissing, plan.Missing.SLO) || len(f.FamiliesHeld) != 1 {
		t.Errorf("facts %+v from plan %+v", f, plan)
	}
	PlanFacts(&f, tuning.Plan{SLOKnown: true, SLOMet: true, Reason: "held"})
	if !f.SLOMet || f.SLOMessage != "" || f.SLOMissing != nil || f.BudgetExceeded != "" {
		t.Errorf("facts %+v keep the previous plan's", f)
	}
}

func TestChangesString(t *testing.T) {
	got := ChangesString([]v1.Change{{Knob: "POOL_MAX", From: "10", To: "20"}, {Knob: "hpa.minReplicas", To: "3"}})
	if want := "POOL_MAX 10→20, hpa.minReplicas <unset>→3"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
