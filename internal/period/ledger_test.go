package period

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Every rule that looks back must find what it reads for as long as it
// looks. A rule that reads status.history is checked on the engine itself
// (tuning's TestNoRuleReadsTheHistoryFurtherThanTheStatusKeeps: the same
// plan from the whole of a long history and from the MaxHistory decisions
// the status keeps); here, a rule that reads status.memory must look back
// no further than the memory keeps what it reads, at the defaults and at
// the API's limits.
func TestNoRuleLooksBackFurtherThanTheStatusKeeps(t *testing.T) {
	if MaxHistory != v1.MaxHistoryItems {
		t.Fatalf("the status keeps %d decisions, the engine's horizon test assumes %d", MaxHistory, v1.MaxHistoryItems)
	}
	settings := map[string]tuning.Settings{
		"defaults": tuning.SettingsOf(v1.PerformanceProfileSpec{}),
		"shortest": tuning.SettingsOf(v1.PerformanceProfileSpec{Interval: metav1.Duration{Duration: 5 * time.Second},
			SLO:        v1.SLO{Window: metav1.Duration{Duration: time.Minute}},
			Guardrails: v1.Guardrails{SettleTime: metav1.Duration{Duration: 5 * time.Second}, MaxRolloutsPerHour: 60}}),
		"longest": tuning.SettingsOf(v1.PerformanceProfileSpec{Interval: metav1.Duration{Duration: time.Hour},
			SLO:        v1.SLO{Window: metav1.Duration{Duration: 24 * time.Hour}},
			Guardrails: v1.Guardrails{SettleTime: metav1.Duration{Duration: 24 * time.Hour}}}),
	}
	for name, s := range settings {
		for _, h := range tuning.Horizons() {
			back := h.Back(s)
			if !h.History && h.Kept > 0 && back > h.Kept {
				t.Errorf("%s: %q looks back %s, but status.memory keeps what it reads for %s", name, h.Rule, back, h.Kept)
			}
		}
	}
	// A spent budget plus the rollback that safety requires must still be counted.
	if tuning.MaxRememberedRollouts < 60+1 {
		t.Errorf("status.memory keeps %d restarts; maxRolloutsPerHour may be 60, plus a rollback", tuning.MaxRememberedRollouts)
	}
}

// A verdict records the checked prediction in the decision and folds its
// error into the model's running error (newest weighted 1/2), one entry per
// model; a status without memory rebuilds the same from its history.
func TestVerdictKeepsARunningErrorPerModel(t *testing.T) {
	st := &v1.PerformanceProfileStatus{}
	predict := func(at time.Time, m v1.Model, value string) {
		Record(st, v1.Decision{Time: metav1.NewTime(at), Family: "pool", Diagnosis: "PoolSaturated", Outcome: v1.OutcomePending,
			Changes:    []v1.Change{{Knob: "DB_POOL_MAX_CONNECTIONS", From: "10", To: "15"}},
			Prediction: &v1.Prediction{Model: m, Signal: "poolWait", Value: v1.Decimal(value)}})
	}
	judge := func(m v1.Model, observed, e string) *v1.Decision {
		return Settle(st, tuning.Judgement{Outcome: v1.OutcomeKept, Observed: "ok",
			Prediction: &v1.Prediction{Model: m, Signal: "poolWait", Value: "0.001", Observed: v1.Decimal(observed), Error: v1.Decimal(e)}})
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	predict(t0, v1.ModelErlang, "0.001")
	if d := judge(v1.ModelErlang, "0.003", "2"); d == nil || d.Prediction.Observed != "0.003" || st.LastAdjustment.Prediction.Error != "2" {
		t.Fatalf("checked prediction not recorded: %+v / %+v", d, st.LastAdjustment)
	}
	predict(t0.Add(5*time.Minute), v1.ModelErlang, "0.001")
	judge(v1.ModelErlang, "0.001", "0")
	predict(t0.Add(10*time.Minute), v1.ModelChe, "0.9")
	judge(v1.ModelChe, "0.85", "0.5")
	want := []v1.ModelError{
		{Model: v1.ModelErlang, Error: "1", Samples: 2, LastPrediction: &metav1.Time{Time: t0.Add(5 * time.Minute)}},
		{Model: v1.ModelChe, Error: "0.5", Samples: 1, LastPrediction: &metav1.Time{Time: t0.Add(10 * time.Minute)}},
	}
	check := func(what string, got []v1.ModelError) {
		if len(got) != len(want) {
			t.Fatalf("%s: models %+v, want %+v", what, got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Model != w.Model || g.Error != w.Error || g.Samples != w.Samples || !g.LastPrediction.Equal(w.LastPrediction) {
				t.Fatalf("%s: model %d = %+v, want %+v", what, i, g, w)
			}
		}
	}
	check("memory", st.Memory.Models)
	check("rebuilt from the history", tuning.MemoryFrom(st.History, 0).Models)
}
func TestHistoryIsBoundedAndJudged(t *testing.T) {
	g := NewWithT(t)
	st := &v1.PerformanceProfileStatus{}
	for i := range 12 {
		Record(st, v1.Decision{Time: metav1.NewTime(now.Add(time.Duration(i) * time.Minute)), Family: "pool",
			Outcome: v1.OutcomeKept, Changes: []v1.Change{{Knob: "A", From: "1", To: string(rune('a' + i))}}})
	}
	Record(st, v1.Decision{Time: metav1.NewTime(now.Add(time.Hour)), Family: "cache", Outcome: v1.OutcomePending,
		Changes: []v1.Change{{Knob: "B", From: "1", To: "2"}}})
	g.Expect(st.History).To(HaveLen(MaxHistory))
	g.Expect(Pending(*st).Family).To(Equal("cache"))
	g.Expect(LastApplied(*st)).To(Equal(map[string]string{"A": "l", "B": "2"}))

	d := Settle(st, tuning.Judgement{Outcome: v1.OutcomeRolledBack, Observed: "p99 worse"})
	g.Expect(d).NotTo(BeNil())
	g.Expect(st.LastAdjustment.Outcome).To(Equal(v1.OutcomeRolledBack))
	g.Expect(Pending(*st)).To(BeNil())
	g.Expect(Settle(st, tuning.Judgement{Outcome: v1.OutcomeKept})).To(BeNil())
}

// status.history keeps 10 decisions, but what the rules need for longer
// stays in status.memory: an env saving 3 h ago, the restarts of the last
// hour, the value last applied to a knob changed once, long ago.
func TestMemoryOutlivesTheHistory(t *testing.T) {
	g := NewWithT(t)
	st := &v1.PerformanceProfileStatus{}
	at := func(m int) metav1.Time { return metav1.NewTime(now.Add(time.Duration(m) * time.Minute)) }
	Record(st, v1.Decision{Time: at(0), Family: "pool", Diagnosis: "OverProvisioned", Rollout: true, Outcome: v1.OutcomePending,
		Changes: []v1.Change{{Knob: "POOL", From: "20", To: "14"}}})
	Settle(st, tuning.Judgement{Outcome: v1.OutcomeKept})
	for i := range 20 {
		Record(st, v1.Decision{Time: at(60 + 6*i), Family: "autoscaling", Outcome: v1.OutcomeKept,
			Changes: []v1.Change{{Knob: "hpa.targetCPUUtilization", From: "60", To: "61"}}})
	}
	Record(st, v1.Decision{Time: at(180), Family: "cache", Rollout: true, Outcome: v1.OutcomePending,
		Changes: []v1.Change{{Knob: "TTL", From: "60", To: "120"}}})
	g.Expect(st.History).To(HaveLen(MaxHistory))
	for _, d := range st.History {
		g.Expect(d.Family).NotTo(Equal("pool"), "the saving left the history")
	}
	g.Expect(st.Memory.LastEnvSaving.Time).To(Equal(now))
	g.Expect(st.Memory.Rollouts).To(HaveLen(1), "only the restart of the last hour is kept")
	g.Expect(LastApplied(*st)).To(HaveKeyWithValue("POOL", "14"))
}

// The CPU per request the engine learns is kept in status.memory.cpu, and a
// period that learned nothing leaves it as it was.
func TestLearnKeepsTheCPUPerRequest(t *testing.T) {
	g := NewWithT(t)
	st := &v1.PerformanceProfileStatus{}
	Learn(st, &v1.LearnedCPU{PerRequest: metav1.Duration{Duration: 8 * time.Millisecond}, Samples: 3}, now)
	Learn(st, nil, now)
	g.Expect(st.Memory).NotTo(BeNil())
	g.Expect(st.Memory.CPU).To(Equal(&v1.LearnedCPU{PerRequest: metav1.Duration{Duration: 8 * time.Millisecond}, Samples: 3}))
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
