package tuning

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// A decision recorded before its write and then dropped because the write
// never happened leaves the memory as it was: no restart counted, the knob at
// the value navius-tuner had applied to it (the reconciler would otherwise
// see its own unapplied value as "changed by someone else" and the rollout
// budget would be spent on a restart that never was). A first decision
// leaves no value applied: its From was set by someone else.
func TestForgetUndoesRemember(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	earlier := v1.Decision{Time: metav1.NewTime(t0), Family: string(FamilyPool), Diagnosis: string(DiagnosisPoolSaturated), Rollout: true,
		Changes: []v1.Change{{Knob: "DB_POOL_MAX", From: "10", To: "12"}}}
	dropped := v1.Decision{Time: metav1.NewTime(t0.Add(10 * time.Minute)), Family: string(FamilyPool), Diagnosis: string(DiagnosisPoolSaturated), Rollout: true,
		Changes: []v1.Change{{Knob: "DB_POOL_MAX", From: "12", To: "15"}, {Knob: "DB_POOL_MIN", From: "", To: "3"}}}

	for _, tc := range []struct {
		name     string
		before   []v1.Decision
		rollouts int
		pool     string
		min      string
	}{
		{"the first decision", nil, 0, "", ""},
		{"after an earlier one", []v1.Decision{earlier}, 1, "12", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m v1.Memory
			for _, d := range tc.before {
				Remember(&m, d)
			}
			Remember(&m, dropped)
			Forget(&m, dropped, tc.before)
			if got := len(m.Rollouts); got != tc.rollouts {
				t.Errorf("rollouts remembered: got %d, want %d", got, tc.rollouts)
			}
			values := map[string]string{}
			for _, k := range m.Knobs {
				values[k.Knob] = k.LastApplied
			}
			if values["DB_POOL_MAX"] != tc.pool {
				t.Errorf("DB_POOL_MAX last applied: got %q, want %q", values["DB_POOL_MAX"], tc.pool)
			}
			if values["DB_POOL_MIN"] != tc.min {
				t.Errorf("DB_POOL_MIN last applied: got %q, want %q", values["DB_POOL_MIN"], tc.min)
			}
		})
	}
}

// A verdict given, then forgotten because the rollback that carried it out
// was never applied, leaves the back-off and the model's error as the
// verdict found them: given anew, it counts once.
func TestForgetVerdictUndoesRememberVerdict(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	raise := func(at time.Time, from, to string) v1.Decision {
		return v1.Decision{Time: metav1.NewTime(at), Family: string(FamilyPool), Diagnosis: string(DiagnosisPoolSaturated),
			Changes:    []v1.Change{{Knob: "DB_POOL_MAX", From: from, To: to}},
			Prediction: &v1.Prediction{Model: v1.ModelErlang, Observed: "0.002", Error: "0.5"}}
	}
	earlier, judged := raise(t0, "10", "12"), raise(t0.Add(time.Hour), "10", "14")
	for _, tc := range []struct {
		name    string
		before  []v1.Decision // each rolled back before the judged one
		outcome v1.Outcome
		level   int32 // the up back-off's level after forgetting, 0: none
		samples int32
	}{
		{"a first regression leaves no back-off", nil, v1.OutcomeRolledBack, 0, 0},
		{"a second regression goes back to level 1", []v1.Decision{earlier}, v1.OutcomeRolledBack, 1, 1},
		{"a revert is forgotten like a rollback", nil, v1.OutcomeReverted, 0, 0},
		{"a kept verdict is left alone (its reset level stays)", []v1.Decision{earlier}, v1.OutcomeKept, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m v1.Memory
			for _, d := range tc.before {
				RememberVerdict(&m, d, v1.OutcomeRolledBack, 1)
			}
			RememberVerdict(&m, judged, tc.outcome, 1)
			ForgetVerdict(&m, judged, tc.outcome)
			var level int32
			if k := knobMemory(&m, "DB_POOL_MAX"); k.Up != nil {
				level = k.Up.Level
			}
			if level != tc.level {
				t.Errorf("back-off level %d, want %d", level, tc.level)
			}
			var samples int32
			for _, me := range m.Models {
				samples += me.Samples
			}
			if samples != tc.samples {
				t.Errorf("prediction samples %d, want %d", samples, tc.samples)
			}
		})
	}
}
