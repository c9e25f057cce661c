package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
)

// A write that fails takes its decision out of the status entirely,
// status.memory included: a memory that kept the value as "last applied"
// would read the field's other owner (here gitops, who set the env) as a
// manager that took the knob over, and block it for good.
func TestFailedWriteLeavesNoMemoryOfIt(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	h.onApply = func() error { return apierrors.NewServiceUnavailable("etcd leader changed") }
	h.clock.Step(30 * time.Second)
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("orders")})
	g.Expect(err).To(HaveOccurred())
	p := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
	g.Expect(p.Status.History).To(BeEmpty(), "the decision was taken out again")
	g.Expect(period.LastApplied(p.Status)).NotTo(HaveKey(poolEnv), "nor is it remembered as applied")

	h.onApply = nil
	_, p = h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse), condition(p, tuningv1alpha1.ConditionStalled).Message)
	g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"), "the raise is decided and applied again")
}
