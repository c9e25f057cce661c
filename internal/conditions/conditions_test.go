package conditions

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func base() Facts {
	return Facts{Generation: 3, Now: now, Mode: v1.ModeAuto, Observed: true, Evaluated: true, SLOKnown: true, SLOMet: true}
}

func TestSetters(t *testing.T) {
	conflict := Conflict{Knob: "DB_POOL_MAX_CONNECTIONS", Field: "Deployment orders-api spec.template.spec.containers[app].env[DB_POOL_MAX_CONNECTIONS]",
		Manager: "argocd-controller", Applied: "20", Live: "10"}
	for _, tc := range []struct {
		name   string
		facts  func(*Facts)
		set    func(*[]metav1.Condition, Facts)
		typ    string
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"ready when tuning", func(*Facts) {}, SetReady, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded, ""},
		{"ready false on a missing target", func(f *Facts) {
			f.Blocker = &Blocker{Reason: v1.ReasonTargetNotFound, Message: "Deployment shop/x not found"}
		},
			SetReady, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonTargetNotFound, "shop/x"},
		{"ready false on a conflict", func(f *Facts) { f.Conflicts = []Conflict{conflict} },
			SetReady, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonFieldConflict, "argocd-controller"},
		{"ready false without SLO signals", func(f *Facts) { f.SLOMissing = []string{"latencyP99: EndpointDown"} },
			SetReady, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonMetricsUnavailable, ""},
		{"ready when paused", func(f *Facts) { f.Paused = true }, SetReady, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPaused, ""},
		{"connection budget within", func(*Facts) {}, SetConnectionBudget, v1.ConditionConnectionBudget, metav1.ConditionTrue, v1.ReasonWithinBudget, ""},
		{"connection budget exceeded names the overshoot", func(f *Facts) {
			f.BudgetExceeded = "connection budget: a rollout at 20 pods peaks at 25 running + 10 terminating pods × 10 = 350 of 300: 50 connections over the budget"
		}, SetConnectionBudget, v1.ConditionConnectionBudget, metav1.ConditionFalse, v1.ReasonBudgetExceeded, "50 connections over"},
		{"rollout budget available", func(*Facts) {}, SetRolloutBudget, v1.ConditionRolloutBudget, metav1.ConditionTrue, v1.ReasonRolloutsAvailable, ""},
		{"rollout budget spent says until when", func(f *Facts) {
			f.RolloutBudgetSpent = "3 of 2 restarts in the last hour (rollbacks count): env changes wait until 12:40:00"
		}, SetRolloutBudget, v1.ConditionRolloutBudget, metav1.ConditionFalse, v1.ReasonRolloutBudgetSpent, "until 12:40:00"},
		{"ready in mode Off", func(f *Facts) { f.Mode = v1.ModeOff }, SetReady, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonModeOff, ""},
		{"ready in mode Recommend", func(f *Facts) { f.Mode = v1.ModeRecommend }, SetReady, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonRecommending, ""},
		{"ready carries a note", func(f *Facts) { f.Notes = []string{"Deployment orders-api is managed by Flagger"} },
			SetReady, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonSucceeded, "Tuning within the declared bounds. Note: Deployment orders-api is managed by Flagger"},
		{"ready false on a failed rollout", func(f *Facts) {
			f.Blocker = &Blocker{Reason: v1.ReasonRolloutFailed, Message: "ProgressDeadlineExceeded"}
			f.Notes = []string{"managed by Flagger"}
		},
			SetReady, v1.ConditionReady, metav1.ConditionFalse, v1.ReasonRolloutFailed, "ProgressDeadlineExceeded"},
		{"slo met", func(*Facts) {}, SetSLOMet, v1.ConditionSLOMet, metav1.ConditionTrue, v1.ReasonSLOMet, ""},
		{"slo breached", func(f *Facts) { f.SLOMet, f.SLOMessage = false, "p99 180ms > 100ms" },
			SetSLOMet, v1.ConditionSLOMet, metav1.ConditionFalse, v1.ReasonSLOBreached, "180ms"},
		{"slo unknown without signals", func(f *Facts) { f.SLOKnown = false }, SetSLOMet, v1.ConditionSLOMet, metav1.ConditionUnknown, v1.ReasonMetricsUnavailable, ""},
		{"slo not evaluated when blocked", func(f *Facts) {
			f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonHPANotFound, Message: "no HPA"}
		},
			SetSLOMet, v1.ConditionSLOMet, metav1.ConditionUnknown, v1.ReasonHPANotFound, "no HPA"},
		{"metrics read", func(*Facts) {}, SetMetricsAvailable, v1.ConditionMetricsAvailable, metav1.ConditionTrue, v1.ReasonMetricsRead, ""},
		{"a knob family held for its signals", func(f *Facts) { f.FamiliesHeld = []string{"pool (holds DB_POOL_MAX): poolWait: Empty"} },
			SetMetricsAvailable, v1.ConditionMetricsAvailable, metav1.ConditionTrue, v1.ReasonFamiliesHeld, "pool (holds DB_POOL_MAX): poolWait: Empty"},
		{"metrics unavailable", func(f *Facts) { f.SLOMissing = []string{"latencyP99: EndpointDown: refused"} },
			SetMetricsAvailable, v1.ConditionMetricsAvailable, metav1.ConditionFalse, v1.ReasonMetricsUnavailable, "EndpointDown"},
		{"metrics not read", func(f *Facts) { f.Observed = false }, SetMetricsAvailable, v1.ConditionMetricsAvailable, metav1.ConditionUnknown, v1.ReasonReconciling, ""},
		{"progressing while rolling out", func(f *Facts) { f.RolloutInProgress = true }, SetProgressing, v1.ConditionProgressing, metav1.ConditionTrue, v1.ReasonRollingOut, ""},
		{"progressing while settling", func(f *Facts) { f.Pending = &v1.Decision{Family: "pool", Time: metav1.NewTime(now)} },
			SetProgressing, v1.ConditionProgressing, metav1.ConditionTrue, v1.ReasonSettling, "pool"},
		{"idle", func(*Facts) {}, SetProgressing, v1.ConditionProgressing, metav1.ConditionFalse, v1.ReasonIdle, ""},
		{"stalled on a bad spec", func(f *Facts) {
			f.Blocker = &Blocker{Reason: v1.ReasonInvalidSpec, Message: "no container", Stalled: true}
		},
			SetStalled, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonInvalidSpec, "no container"},
		{"stalled on a conflict", func(f *Facts) { f.Conflicts = []Conflict{conflict} },
			SetStalled, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonFieldConflict, "env[DB_POOL_MAX_CONNECTIONS] is owned by \"argocd-controller\""},
		{"not stalled while waiting", func(f *Facts) { f.Blocker = &Blocker{Reason: v1.ReasonTargetNotFound} },
			SetStalled, v1.ConditionStalled, metav1.ConditionFalse, v1.ReasonSucceeded, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := base()
			tc.facts(&f)
			var conds []metav1.Condition
			tc.set(&conds, f)
			g.Expect(conds).To(HaveLen(1))
			c := conds[0]
			g.Expect(c.Type).To(Equal(tc.typ))
			g.Expect(c.Status).To(Equal(tc.status))
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Message).To(ContainSubstring(tc.msg))
			g.Expect(c.ObservedGeneration).To(Equal(int64(3)))
			g.Expect(c.LastTransitionTime.Time).To(Equal(now))
		})
	}
}

func TestTransitionTimeMovesOnlyOnStatusChange(t *testing.T) {
	g := NewWithT(t)
	var conds []metav1.Condition
	f := base()
	SetAll(&conds, f)
	g.Expect(conds).To(HaveLen(8))
	later := f
	later.Now, later.Generation = now.Add(time.Minute), 4
	SetAll(&conds, later)
	for _, c := range conds {
		g.Expect(c.LastTransitionTime.Time).To(Equal(now), c.Type)
		g.Expect(c.ObservedGeneration).To(Equal(int64(4)), c.Type)
	}
	breached := later
	breached.SLOMet = false
	prev := append([]metav1.Condition(nil), conds...)
	SetAll(&conds, breached)
	changed := Transitions(prev, conds)
	g.Expect(changed).To(HaveLen(1))
	g.Expect(changed[0].Type).To(Equal(v1.ConditionSLOMet))
	g.Expect(Healthy(changed[0])).To(BeFalse())
}

// An overshoot is bad news (a Warning Event); a spent rollout budget is the
// guardrail doing its job (a Normal Event).
func TestBudgetConditionsEventKinds(t *testing.T) {
	g := NewWithT(t)
	var conds []metav1.Condition
	SetAll(&conds, base())
	f := base()
	f.BudgetExceeded, f.RolloutBudgetSpent = "over by 10", "2 of 2 restarts"
	prev := append([]metav1.Condition(nil), conds...)
	SetAll(&conds, f)
	healthy := map[string]bool{}
	for _, c := range Transitions(prev, conds) {
		healthy[c.Reason] = Healthy(c)
	}
	g.Expect(healthy).To(Equal(map[string]bool{v1.ReasonBudgetExceeded: false, v1.ReasonRolloutBudgetSpent: true}))
}

// TestSetReconciling: Reconciling follows Ready and Stalled as SetAll computes them.
func TestSetReconciling(t *testing.T) {
	conflict := Conflict{Knob: "DB_POOL_MAX_CONNECTIONS", Field: "env[DB_POOL_MAX_CONNECTIONS]", Manager: "flux"}
	for _, tc := range []struct {
		name   string
		facts  func(*Facts)
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"not while tuning", func(*Facts) {}, metav1.ConditionFalse, v1.ReasonSucceeded, "Reconciled"},
		{"not while a change settles", func(f *Facts) { f.Pending = &v1.Decision{Family: "pool", Time: metav1.NewTime(now)} },
			metav1.ConditionFalse, v1.ReasonSucceeded, ""},
		{"not when paused", func(f *Facts) { f.Paused = true }, metav1.ConditionFalse, v1.ReasonPaused, ""},
		{"while the target is missing", func(f *Facts) {
			f.Blocker = &Blocker{Reason: v1.ReasonTargetNotFound, Message: "Deployment shop/x not found"}
		}, metav1.ConditionTrue, v1.ReasonTargetNotFound, "shop/x"},
		{"while SLO signals are missing", func(f *Facts) { f.SLOMissing = []string{"latencyP99: EndpointDown"} },
			metav1.ConditionTrue, v1.ReasonMetricsUnavailable, ""},
		{"after a reconcile error", func(f *Facts) { f.Blocker = &Blocker{Reason: v1.ReasonReconciling, Message: "timeout"} },
			metav1.ConditionTrue, v1.ReasonReconciling, "timeout"},
		{"not when stalled on a bad spec", func(f *Facts) {
			f.Blocker = &Blocker{Reason: v1.ReasonInvalidSpec, Message: "no container", Stalled: true}
		}, metav1.ConditionFalse, v1.ReasonInvalidSpec, "Stalled"},
		{"not when stalled on a conflict", func(f *Facts) { f.Conflicts = []Conflict{conflict} },
			metav1.ConditionFalse, v1.ReasonFieldConflict, "Stalled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := base()
			tc.facts(&f)
			var conds []metav1.Condition
			SetAll(&conds, f)
			c := meta.FindStatusCondition(conds, v1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(tc.status))
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Message).To(ContainSubstring(tc.msg))
			g.Expect(c.ObservedGeneration).To(Equal(f.Generation))
		})
	}
	// Alone, before Ready was ever computed, it says so.
	g := NewWithT(t)
	var conds []metav1.Condition
	SetReconciling(&conds, base())
	g.Expect(conds).To(ConsistOf(HaveField("Status", metav1.ConditionTrue)))
}

// A new profile's first conditions are announced only when they are bad
// news; a later transition to good news is announced.
func TestFirstConditionsAnnouncedOnlyWhenBad(t *testing.T) {
	ready := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonSucceeded}
	sloMet := metav1.Condition{Type: v1.ConditionSLOMet, Status: metav1.ConditionTrue, Reason: "SLOMet"}
	notFound := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1.ReasonTargetNotFound}
	for _, tc := range []struct {
		name       string
		prev, next []metav1.Condition
		want       []string
	}{
		{"a new healthy profile", nil, []metav1.Condition{ready, sloMet}, nil},
		{"a new profile without its target", nil, []metav1.Condition{notFound, sloMet}, []string{v1.ReasonTargetNotFound}},
		{"its target appears", []metav1.Condition{notFound, sloMet}, []metav1.Condition{ready, sloMet}, []string{v1.ReasonSucceeded}},
		{"nothing changes", []metav1.Condition{ready, sloMet}, []metav1.Condition{ready, sloMet}, nil},
	} {
		var got []string
		for _, c := range Announced(tc.prev, tc.next) {
			got = append(got, c.Reason)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: announced %v, want %v", tc.name, got, tc.want)
		}
	}
}
