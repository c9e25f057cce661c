package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

const timedOut = `ReplicaSet "orders-api-7d9c" has timed out progressing.`

// failRollout sets the Deployment status as the Deployment controller does
// when the rollout of its current template passed its progress deadline
// (envtest runs no controller-manager): one new pod that never became
// ready, the old ones still up.
func (h *harness) failRollout(name string) {
	h.t.Helper()
	d := h.getDeployment(name)
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n + 1, UpdatedReplicas: 1,
		ReadyReplicas: n, AvailableReplicas: n, UnavailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: progressDeadlineExceeded, Message: timedOut,
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}}
	h.g.Expect(env.Client.Status().Update(h.ctx, d)).To(Succeed())
}

// A rollout navius-tuner started that passes its progress deadline is undone:
// the previous value comes back, the change is recorded RolledBack with the
// Deployment's reason, Ready and a Warning Event say why, and the same raise
// is not tried again while its cool-off lasts.
func TestFailedRolloutOfOwnChangeIsReverted(t *testing.T) {
	h := newHarness(t)
	g := h.g
	raised := h.raisedPool()
	h.drainEvents()

	h.failRollout(targetName)
	_, p := h.period("orders")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"), "navius-tuner's failed change is undone")
	g.Expect(p.Status.History).To(HaveLen(2))
	failed, undo := p.Status.History[0], p.Status.History[1]
	g.Expect(failed.Outcome).To(Equal(tuningv1alpha1.OutcomeRolledBack))
	g.Expect(failed.Observed).To(ContainSubstring(progressDeadlineExceeded))
	g.Expect(undo.Diagnosis).To(Equal(string(tuning.DiagnosisRegression)))
	g.Expect(undo.Changes).To(ConsistOf(tuningv1alpha1.Change{Knob: poolEnv, From: raised, To: "10"}))
	ready := condition(p, tuningv1alpha1.ConditionReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(tuningv1alpha1.ReasonRolloutFailed))
	g.Expect(ready.Message).To(ContainSubstring(timedOut))
	evs := h.drainEvents()
	g.Expect(hasEvent(evs, "Warning", tuningv1alpha1.ReasonRolloutFailed, progressDeadlineExceeded)).To(BeTrue(), "%v", evs)
	g.Expect(hasEvent(evs, "Warning", EventRolledBack)).To(BeTrue(), "%v", evs)

	// The rollback rolls out; the pool is still starved, but the raise that
	// failed is not tried again while its cool-off lasts.
	h.rolledOut(targetName)
	for range 20 { // 10 minutes
		_, p = h.period("orders")
		g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))
	}
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).NotTo(Equal(tuningv1alpha1.ReasonRolloutFailed))
}

// A failed rollout that someone else started (here: `kubectl set image`
// after navius-tuner's change, a field manager that owns no tuned field, so
// the cache's trimmed managedFields do not show it) is reported and left
// alone.
func TestFailedRolloutSomeoneElseStartedIsReported(t *testing.T) {
	h := newHarness(t)
	g := h.g
	raised := h.raisedPool()

	time.Sleep(1100 * time.Millisecond) // managedFields times have a one-second resolution
	d := h.getDeployment(targetName)
	d.Spec.Template.Spec.Containers[0].Image = "orders:2"
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("kubectl-set"))).To(Succeed())
	h.failRollout(targetName)
	writes := h.workloadWrites.Load()
	h.drainEvents()

	_, p := h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(Equal(writes), "someone else's rollout is not reverted")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal(raised))
	g.Expect(p.Status.History).To(HaveLen(1))
	g.Expect(p.Status.History[0].Outcome).To(Equal(tuningv1alpha1.OutcomePending))
	ready := condition(p, tuningv1alpha1.ConditionReady)
	g.Expect(ready.Reason).To(Equal(tuningv1alpha1.ReasonRolloutFailed))
	g.Expect(ready.Message).To(ContainSubstring("does not undo it"))
	g.Expect(hasEvent(h.drainEvents(), "Warning", tuningv1alpha1.ReasonRolloutFailed)).To(BeTrue())
}
