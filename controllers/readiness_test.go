package controllers

import (
	"testing"

	. "github.com/onsi/gomega"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// status.readiness is on the API server after the first reconcile of a
// profile, before its target exists, and follows the signals as they come
// and go (what `kubectl navius check` prints before a profile is applied).
func TestReadinessInStatusFromTheFirstReconcile(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	vals := steady()
	delete(vals, signals.PoolWait)
	h.observer.set(vals, false)
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))

	_, p := h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonTargetNotFound))
	g.Expect(p.Status.Readiness).To(Equal([]tuningv1alpha1.FamilyReadiness{{Family: "pool", Tunable: false,
		Knobs: []string{poolEnv}, Found: []string{"latencyP99", "latencyP95", "poolInUse"}, Missing: []string{"poolWait: not observed"}}}))

	h.observer.set(steady(), false)
	_, p = h.period("orders")
	g.Expect(p.Status.Readiness).To(Equal([]tuningv1alpha1.FamilyReadiness{{Family: "pool", Tunable: true,
		Knobs: []string{poolEnv}, Found: []string{"latencyP99", "latencyP95", "poolInUse", "poolWait"}}}))
}
