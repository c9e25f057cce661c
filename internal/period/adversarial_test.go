package period

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// Invariant 5: `kubectl set image` (manager kubectl-set) in the same second
// as navius-tuner's env apply. managedFields times have one-second
// resolution and WroteAfter needs a strictly later time, so the failed
// rollout (bad image) is blamed on navius-tuner's pool change: Ours.
func TestAWriteInTheSameSecondIsNotClaimedAsOurs(t *testing.T) {
	applied := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	image := metav1.ManagedFieldsEntry{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate,
		Time: ptr.To(metav1.NewTime(applied)), APIVersion: "apps/v1", FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`)}
	w := envWorld(t, "15", managedEnv(tuningv1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, applied, poolEnv), image)
	st := tuningv1alpha1.PerformanceProfileStatus{History: []tuningv1alpha1.Decision{{
		Time: metav1.NewTime(applied.Add(300 * time.Millisecond)), Family: "pool", Rollout: true, Outcome: tuningv1alpha1.OutcomePending,
		Diagnosis: "PoolSaturated", Changes: []tuningv1alpha1.Change{{Knob: poolEnv, From: "10", To: "15"}}}}}
	if f := RolloutFailure(st, w, "ProgressDeadlineExceeded", "ReplicaSet has timed out progressing"); f.Ours {
		t.Errorf("a failed rollout whose template kubectl-set changed in the same second is blamed on navius-tuner: %+v", f)
	}
}
