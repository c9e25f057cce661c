package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
)

// Each rollout navius-tuner starts carries kubernetes.io/change-cause on
// the Deployment (what `kubectl rollout history` shows from its
// ReplicaSet), naming navius-tuner, the profile and the change, in place of
// the cause an earlier rollout left there; an Event on the Deployment says
// the same.
func TestRolloutCarriesItsChangeCause(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	d := &appsv1.Deployment{}
	g.Expect(env.Client.Get(h.ctx, h.key(targetName), d)).To(Succeed())
	d.Annotations = map[string]string{actuate.ChangeCauseAnnotation: "kubectl set image deployment/orders-api app=orders:1"}
	g.Expect(env.Client.Update(h.ctx, d)).To(Succeed())
	h.rolledOut(targetName)
	time.Sleep(1100 * time.Millisecond) // see raisedPool
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	h.period("orders")
	raised := h.envValue(targetName, poolEnv)
	g.Expect(raised).NotTo(Equal("10"), "navius-tuner raises a starved pool")

	// One Event per rollout, on the Deployment, says the same.
	g.Expect(hasEvent(h.drainEvents(), "Normal", EventRolloutStarted,
		"navius-tuner, PerformanceProfile "+h.ns+"/orders: "+poolEnv+" 10→"+raised)).To(BeTrue())

	got := &appsv1.Deployment{}
	g.Expect(env.Client.Get(h.ctx, h.key(targetName), got)).To(Succeed())
	g.Expect(got.Annotations).To(HaveKeyWithValue(actuate.ChangeCauseAnnotation,
		"navius-tuner, PerformanceProfile "+h.ns+"/orders: "+poolEnv+" 10→"+raised))
}
