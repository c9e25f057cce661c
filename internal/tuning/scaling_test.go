package tuning

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The HPA's replicas, read once per reconcile after an autoscaling write:
// each move against the previous one is a reversal, counted for an hour;
// a newer write starts afresh, an undo ends the watch, an unread HPA
// changes nothing.
func TestWatchScalingCountsReversals(t *testing.T) {
	trim := decision(t0, FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false, change(KnobHPATargetCPU, "70", "85"))
	later := decision(t0.Add(20*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomePending, false, change(KnobHPATargetCPU, "85", "80"))
	restore := decision(t0.Add(20*time.Minute), FamilyAutoscaling, DiagnosisLoadSettled, v1.OutcomePending, false, change(KnobHPAScaleDownWindowS, "0", "300"))
	pool := decision(t0.Add(20*time.Minute), FamilyPool, DiagnosisPoolSaturated, v1.OutcomePending, false, change(poolMaxEnv, "10", "14"))
	type read struct {
		after    time.Duration
		replicas int32
		known    bool
	}
	for _, tc := range []struct {
		name      string
		history   []v1.Decision
		reads     []read
		reversals int
		watching  bool
	}{
		{"up, down, up, down: three reversals", []v1.Decision{trim},
			[]read{{0, 8, true}, {time.Minute, 9, true}, {2 * time.Minute, 7, true}, {3 * time.Minute, 8, true}, {4 * time.Minute, 6, true}}, 3, true},
		{"one way only: none", []v1.Decision{trim},
			[]read{{0, 8, true}, {time.Minute, 7, true}, {2 * time.Minute, 7, true}, {3 * time.Minute, 5, true}}, 0, true},
		{"an unread HPA is no move", []v1.Decision{trim},
			[]read{{0, 8, true}, {time.Minute, 9, true}, {2 * time.Minute, 0, false}, {3 * time.Minute, 10, true}}, 0, true},
		{"reversals older than an hour are forgotten", []v1.Decision{trim},
			[]read{{0, 8, true}, {time.Minute, 9, true}, {2 * time.Minute, 7, true}, {3 * time.Minute, 8, true}, {62*time.Minute + 30*time.Second, 8, true}}, 1, true},
		{"a later pool change does not end the watch", []v1.Decision{trim, pool},
			[]read{{0, 8, true}, {time.Minute, 9, true}, {2 * time.Minute, 7, true}}, 1, true},
		{"an undo ends it", []v1.Decision{trim, restore}, []read{{0, 8, true}, {time.Minute, 9, true}, {2 * time.Minute, 7, true}}, 0, false},
		{"no autoscaling write: nothing watched", []v1.Decision{pool}, []read{{0, 8, true}, {time.Minute, 9, true}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m v1.Memory
			for _, r := range tc.reads {
				WatchScaling(&m, tc.history, r.replicas, r.known, t0.Add(r.after))
			}
			if (m.Scaling != nil) != tc.watching {
				t.Fatalf("watching %v, want %v", m.Scaling != nil, tc.watching)
			}
			if m.Scaling != nil && len(m.Scaling.Reversals) != tc.reversals {
				t.Fatalf("reversals %v, want %d", m.Scaling.Reversals, tc.reversals)
			}
		})
	}
	t.Run("a newer write starts afresh", func(t *testing.T) {
		var m v1.Memory
		for i, r := range []int32{8, 9, 7, 8} {
			WatchScaling(&m, []v1.Decision{trim}, r, true, t0.Add(time.Duration(i)*time.Minute))
		}
		if !WatchScaling(&m, []v1.Decision{trim, later}, 8, true, t0.Add(20*time.Minute)) || len(m.Scaling.Reversals) != 0 ||
			!m.Scaling.Write.Equal(&later.Time) {
			t.Fatalf("watch %+v, want a fresh one for the newer write", m.Scaling)
		}
	})
	t.Run("nothing moved: no status write", func(t *testing.T) {
		var m v1.Memory
		WatchScaling(&m, []v1.Decision{trim}, 8, true, t0)
		if WatchScaling(&m, []v1.Decision{trim}, 8, true, t0.Add(time.Minute)) {
			t.Fatal("reported a change although the replicas did not move")
		}
	})
}

// flapping: a CPU-target trim 70 -> 85 kept 40 minutes ago, after which the
// HPA reversed n times (one every 5 minutes, the newest 1 minute ago).
func flapping(n int) func(in *Input) {
	return func(in *Input) {
		comfortable(in)
		in.State.Values[KnobHPATargetCPU] = 85
		trim := decision(t0.Add(-40*time.Minute), FamilyAutoscaling, DiagnosisOverProvisioned, v1.OutcomeKept, false,
			change(KnobHPATargetCPU, "70", "85"))
		rememberAll(in, []v1.Decision{trim})
		in.Memory.Scaling = &v1.ScalingWatch{Write: trim.Time, Replicas: 8, Direction: v1.ScaleUp}
		for i := range n {
			in.Memory.Scaling.Reversals = append(in.Memory.Scaling.Reversals, metav1.NewTime(t0.Add(-time.Duration(1+5*(n-1-i))*time.Minute)))
		}
	}
}

// An autoscaling saving the HPA reverses more than twice an hour after is
// rolled back, as an undo; twice is allowed, and reversals before the write
// are not its doing.
func TestFlappingSavingIsRolledBack(t *testing.T) {
	runRules(t, []ruleCase{
		{"three reversals within the hour: the trim is rolled back", flapping(3), func(t *testing.T, p Plan) {
			wantChange(t, p, KnobHPATargetCPU, 85, 70)
			if p.Diagnosis != DiagnosisFlapping || !IsUndo(string(p.Diagnosis)) {
				t.Fatalf("diagnosis %s, want %s (an undo)", p.Diagnosis, DiagnosisFlapping)
			}
		}},
		{"two reversals: kept", flapping(2), func(t *testing.T, p Plan) {
			if _, ok := changeOf(p, KnobHPATargetCPU); ok && p.Diagnosis == DiagnosisFlapping {
				t.Fatalf("rolled back at two reversals: %+v", p.Changes)
			}
		}},
		{"reversals before the write do not count", func(in *Input) {
			flapping(3)(in)
			in.Memory.Scaling.Reversals[0] = metav1.NewTime(t0.Add(-50 * time.Minute))
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis == DiagnosisFlapping {
				t.Fatalf("rolled back for a reversal before the write: %+v", p.Changes)
			}
		}},
		{"a floor raised for a breach is not rolled back (it calms the HPA; its rollback takes capacity)", func(in *Input) {
			flapping(3)(in)
			in.State.Values[KnobHPATargetCPU] = 70
			in.History[0] = decision(in.History[0].Time.Time, FamilyAutoscaling, DiagnosisCPUSaturated, v1.OutcomeKept, false,
				change(KnobHPAMinReplicas, "3", "8"))
		}, func(t *testing.T, p Plan) {
			if p.Diagnosis == DiagnosisFlapping {
				t.Fatalf("a breach's floor raise was rolled back: %+v", p.Changes)
			}
		}},
	})
}
