package period

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

func observed(values map[signals.Signal]float64) *signals.Observation {
	o := signals.NewObservation(periodT0)
	for k, v := range values {
		o.Set(k, v, periodT0)
	}
	return &o
}

func steady() map[signals.Signal]float64 {
	return map[signals.Signal]float64{
		signals.LatencyP50: 0.030, signals.LatencyP95: 0.068, signals.LatencyP99: 0.085,
		signals.ErrorRate: 0.001, signals.Throughput: 800,
		signals.PoolInUse: 6, signals.PoolMax: 10, signals.PoolWait: 0.0002,
		signals.DBTime: 0.005, signals.DBCallRate: 400,
		signals.MemoryHitRatio: 0.92, signals.RedisHitRatio: 0.7,
		signals.CPUUtilization: 0.5, signals.RedisCPU: 0.3, signals.Pods: 4,
	}
}

// The facts and the status Summarize assembles from what a period learned.
func TestSummarize(t *testing.T) {
	raise := tuning.Change{Knob: poolEnv, From: 10, HasFrom: true, To: 14}
	breach := tuning.Plan{SLOKnown: true, Reason: "p99 over", Family: tuning.FamilyPool, Changes: []tuning.Change{raise}}
	for _, tc := range []struct {
		name  string
		mode  tuningv1alpha1.Mode
		s     Summary
		check func(t *testing.T, f conditions.Facts, st tuningv1alpha1.PerformanceProfileStatus)
	}{
		{"stopped before observing", tuningv1alpha1.ModeAuto, Summary{
			Block: &conditions.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "no Deployment"}}, func(t *testing.T, f conditions.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			if f.Observed || f.Evaluated || st.SLIs != nil || st.Current != nil || st.Recommendation != nil {
				t.Errorf("facts %+v status %+v", f, st)
			}
			ready := findCond(st, tuningv1alpha1.ConditionReady)
			if ready.Status != metav1.ConditionFalse || ready.Reason != tuningv1alpha1.ReasonTargetNotFound {
				t.Errorf("Ready %+v", ready)
			}
		}},
		{"observed, stopped before deciding: missing from the engine's rule", tuningv1alpha1.ModeAuto, Summary{
			Observation: observed(nil),
			Block:       &conditions.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "no Deployment"}}, func(t *testing.T, f conditions.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			if !f.Observed || f.Evaluated || len(f.SLOMissing) == 0 || st.SLIs == nil {
				t.Errorf("facts %+v", f)
			}
		}},
		{"decided in Auto: breach, conflict, canary note", tuningv1alpha1.ModeAuto, Summary{
			Observation: observed(steady()), Plan: &breach,
			Cluster: &Read{Current: envWorld(t, "10").Objects.Current(tuning.Values{poolEnv: 10}), RolloutInProgress: true,
				Conflicts: []conditions.Conflict{{Knob: "L1_TTL", Manager: "argocd-controller"}},
				Notes:     []string{DeliveryNote(targetName, "Flagger")}}}, func(t *testing.T, f conditions.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			if !f.Evaluated || !f.SLOKnown || f.SLOMet || f.SLOMessage != "p99 over" || !f.RolloutInProgress || len(f.Conflicts) != 1 || len(f.Notes) != 1 {
				t.Errorf("facts %+v", f)
			}
			if st.ObservedGeneration != 3 || st.Current == nil || st.Current.Env[poolEnv] != "10" || st.Recommendation != nil {
				t.Errorf("status %+v", st)
			}
			if c := findCond(st, tuningv1alpha1.ConditionStalled); c.Reason != tuningv1alpha1.ReasonFieldConflict {
				t.Errorf("Stalled %+v", c)
			}
		}},
		{"decided in Recommend: the plan is published", tuningv1alpha1.ModeRecommend, Summary{
			Observation: observed(steady()), Plan: &breach, Recommended: breach.Changes,
			Cluster: &Read{Current: envWorld(t, "10").Objects.Current(tuning.Values{poolEnv: 10})}}, func(t *testing.T, f conditions.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			r := st.Recommendation
			if r == nil || len(r.Changes) != 1 || r.Changes[0] != raise.API() || !r.Time.Time.Equal(periodT0) {
				t.Errorf("recommendation %+v", r)
			}
			if c := findCond(st, tuningv1alpha1.ConditionReady); c.Reason != tuningv1alpha1.ReasonRecommending {
				t.Errorf("Ready %+v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := poolProfile(tc.mode)
			p.Generation = 3
			tc.s.Now, tc.s.Mode = periodT0, tc.mode
			f := Summarize(p, tc.s)
			tc.check(t, f, p.Status)
		})
	}
}

// A recommendation whose content did not change keeps its time.
func TestRecommendationKeepsItsTime(t *testing.T) {
	plan := tuning.Plan{Reason: "hold"}
	s := Summary{Now: periodT0, Mode: tuningv1alpha1.ModeRecommend, Plan: &plan}
	prev := &tuningv1alpha1.Recommendation{Time: metav1.NewTime(periodT0.Add(-time.Hour)), Reason: "hold"}
	if got := recommendation(s, prev); !got.Time.Equal(&prev.Time) {
		t.Errorf("time %v, want %v", got.Time, prev.Time)
	}
	plan.Reason = "other"
	if got := recommendation(s, prev); !got.Time.Time.Equal(periodT0) {
		t.Errorf("time %v, want now", got.Time)
	}
}

func findCond(st tuningv1alpha1.PerformanceProfileStatus, typ string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// status.readiness is written from the first observation on, before any
// decision (a target that does not exist yet), with each missing signal's
// reason and not its message, which changes from period to period.
func TestSummarizeWritesReadiness(t *testing.T) {
	p := poolProfile(tuningv1alpha1.ModeAuto)
	obs := observed(steady())
	obs.SetMissing(signals.PoolWait, signals.ReasonStale, "newest sample is 93s older than the query")
	Summarize(p, Summary{Now: periodT0, Mode: tuningv1alpha1.ModeAuto, Observation: obs,
		Block: &conditions.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "no Deployment"}})
	want := []tuningv1alpha1.FamilyReadiness{{Family: "pool", Tunable: false, Knobs: []string{poolEnv},
		Found: []string{"latencyP99", "latencyP95", "poolInUse"}, Missing: []string{"poolWait: Stale"}}}
	if !equality.Semantic.DeepEqual(p.Status.Readiness, want) {
		t.Errorf("readiness %+v, want %+v", p.Status.Readiness, want)
	}
	Summarize(p, Summary{Now: periodT0, Mode: tuningv1alpha1.ModeAuto, Observation: observed(steady())})
	if r := p.Status.Readiness; len(r) != 1 || !r[0].Tunable || len(r[0].Missing) != 0 {
		t.Errorf("readiness once poolWait is back: %+v", r)
	}
}
