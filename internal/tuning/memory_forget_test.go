package tuning

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// A decision recorded before its write and then dropped because the write
// never happened leaves the memory as it was: no restart counted, the knob at
// the value it had (the reconciler would otherwise see its own unapplied
// value as "changed by someone else" and the rollout budget would be spent on
// a restart that never was).
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
		{"the first decision", nil, 0, "12", ""},
		{"after an earlier one", []v1.Decision{earlier}, 1, "12", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m v1.Memory
			for _, d := range tc.before {
				Remember(&m, d)
			}
			Remember(&m, dropped)
			Forget(&m, dropped)
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
