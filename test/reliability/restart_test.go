package reliability

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/period"
)

// restart replaces the reconciler by a fresh one (new client, new
// observer and batcher, new counters): the operator was killed and started
// again. The fake Prometheus and the clock stay.
func (h *blindHarness) restart() {
	h.t.Helper()
	fresh := newBlindHarnessOn(h.t, h.ns, h.clock, h.prom)
	h.writes, h.r = fresh.writes, fresh.r
}

// statusPatchFailsAfterWrite makes the first status patch after a write to
// the workload fail (the API server is unavailable), as if the operator
// died between its writes and its final status patch. (A conflict is not a
// crash: the reconciler retries it at once with the newer profile.)
func statusPatchFailsAfterWrite(w *writes) {
	wrote, used := false, false
	w.setFault(func(kind string, _ any) error {
		if kind == "apply" {
			wrote = true
		}
		if kind != "status" || !wrote || used {
			return nil
		}
		used = true
		return apierrors.NewServiceUnavailable("the API server went away before the status patch")
	})
}

// crashingPeriod is a period whose final status patch fails after the writes.
func (h *blindHarness) crashingPeriod() {
	h.t.Helper()
	statusPatchFailsAfterWrite(h.writes)
	h.clock.Step(interval)
	_, err := h.r.Reconcile(ctrl.LoggerInto(context.Background(), ctrl.Log),
		ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: profile}})
	NewWithT(h.t).Expect(err).To(HaveOccurred(), "the status patch was refused")
}

// TestRestartAfterApplyBeforeStatus: a change was applied as navius-tuner
// and never recorded (an operator version that wrote before recording died
// between the two; the reconciler now records first). The fresh operator
// finds the change in the cluster (navius-tuner owns the field, its value
// is not the one the status knew), records it as pending instead of
// changing again, waits the settle time, and rolls it back when it made
// things worse.
func TestRestartAfterApplyBeforeStatus(t *testing.T) {
	g := NewWithT(t)
	h2 := newBlindHarness(t)
	deployment(t, h2.ns, "10")
	g.Expect(env.Client.Create(context.Background(), poolProfile(h2.ns, h2.prom.URL()))).To(Succeed())
	h2.prom.set(healthy, steady)
	p := h2.period()
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "10"))

	h2.prom.set(healthy, starved)
	const raised = "15"
	g.Expect(actuate.Apply(context.Background(), env.Client, actuate.DeploymentEnv(h2.ns, targetName, "app", map[string]string{poolEnv: raised}))).To(Succeed())
	h2.clock.Step(interval)
	g.Expect(getProfile(t, h2.ns).Status.History).To(BeEmpty(), "not recorded")
	changedAt := h2.clock.Now()

	h2.restart()
	p = h2.period()
	g.Expect(p.Status.History).To(HaveLen(1), "the lost change is recorded, not made again")
	d := p.Status.History[0]
	g.Expect(d.Outcome).To(Equal(tuningv1alpha1.OutcomePending))
	g.Expect(d.Changes).To(ConsistOf(tuningv1alpha1.Change{Knob: poolEnv, From: "10", To: raised}))
	g.Expect(d.Reason).To(Equal(period.ReasonUnrecorded))
	g.Expect(d.Baseline).NotTo(BeNil())
	g.Expect(condition(p, tuningv1alpha1.ConditionProgressing).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(h2.writes.workload.Load()).To(BeZero())

	// The rollout finishes and the pool still starves: nothing moves until
	// the settle time (3m by default) has passed since the change was found.
	rolledOut(t, h2.ns)
	settleEnd := d.Time.Add(3 * time.Minute)
	g.Expect(d.Time.Time).To(BeTemporally(">=", changedAt), "the settle timer starts no earlier than the change")
	for h2.clock.Now().Add(interval).Before(settleEnd) {
		p = h2.period()
		g.Expect(poolValue(t, h2.ns)).To(Equal(raised), "settling at %s", h2.clock.Now())
		g.Expect(p.Status.History).To(HaveLen(1))
	}
	g.Expect(h2.writes.workload.Load()).To(BeZero())

	// Judged after the settle time: p99 got far worse, so it is rolled back.
	h2.prom.set(healthy, worse)
	p = h2.period()
	g.Expect(poolValue(t, h2.ns)).To(Equal("10"), "rolled back to the value before the lost change")
	g.Expect(p.Status.History).To(HaveLen(2))
	g.Expect(p.Status.History[0].Outcome).To(Equal(tuningv1alpha1.OutcomeRolledBack))
	g.Expect(h2.writes.workload.Load()).To(Equal(int64(1)))
}

// TestRestartDuringRollback: the operator rolls a change back and dies
// before its final status patch. The fresh operator neither applies the
// change again nor loses the rollback: the history says RolledBack, the pool
// keeps the old value, and the rolled-back move stays blocked.
func TestRestartDuringRollback(t *testing.T) {
	g := NewWithT(t)
	h := newBlindHarness(t)
	deployment(t, h.ns, "10")
	g.Expect(env.Client.Create(context.Background(), poolProfile(h.ns, h.prom.URL()))).To(Succeed())
	h.prom.set(healthy, steady)
	h.period()
	h.prom.set(healthy, starved)
	p := h.period()
	g.Expect(p.Status.History).To(HaveLen(1))
	raised := poolValue(t, h.ns)
	g.Expect(raised).NotTo(Equal("10"))

	// Killed after the status patch: the fresh operator continues from the
	// status and the cluster, and holds while the change settles.
	h.restart()
	rolledOut(t, h.ns)
	for range 5 {
		p = h.period()
		g.Expect(p.Status.History).To(HaveLen(1))
	}
	g.Expect(h.writes.workload.Load()).To(BeZero(), "no repeated change")

	// Settled, and worse: the rollback is recorded and applied, then the
	// operator dies before its final status patch.
	h.prom.set(healthy, worse)
	h.crashingPeriod()
	g.Expect(poolValue(t, h.ns)).To(Equal("10"), "rolled back")
	g.Expect(getProfile(t, h.ns).Status.History).To(HaveLen(2), "recorded before it was applied")

	h.restart()
	rolledOut(t, h.ns)
	h.prom.set(healthy, starved)
	for range 10 {
		p = h.period()
	}
	g.Expect(poolValue(t, h.ns)).To(Equal("10"), "the rollback is kept and the move stays blocked")
	g.Expect(p.Status.History).To(HaveLen(2))
	g.Expect(p.Status.History[0].Outcome).To(Equal(tuningv1alpha1.OutcomeRolledBack))
	g.Expect(p.Status.History[1].Changes).To(ConsistOf(tuningv1alpha1.Change{Knob: poolEnv, From: raised, To: "10"}))
	g.Expect(h.writes.workload.Load()).To(BeZero())
}
