package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The watches and field indexes: a profile waiting for its target is
// reconciled as soon as the Deployment appears, not a period later.
func TestManagerWatchesTheTarget(t *testing.T) {
	h := newHarness(t)
	g := h.g
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:         env.Scheme,
		Metrics:        metricsserver.Options{BindAddress: "0"},
		LeaderElection: false,
	})
	g.Expect(err).NotTo(HaveOccurred())
	clk := clocktesting.NewFakeClock(time.Now())
	obs := &stubSource{clock: clk, values: steady()}
	r, err := NewPerformanceProfileReconciler(mgr.GetClient(), Options{
		Source: obs, Clock: clk, Metrics: NewMetrics(prometheus.NewRegistry()),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()

	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	reason := func() string {
		p := &tuningv1alpha1.PerformanceProfile{}
		if err := env.Client.Get(ctx, h.key("orders"), p); err != nil {
			return err.Error()
		}
		return condition(p, tuningv1alpha1.ConditionReady).Reason
	}
	g.Eventually(reason, 20*time.Second, 100*time.Millisecond).Should(Equal(tuningv1alpha1.ReasonTargetNotFound))

	h.deployment(targetName, poolVar("10"))
	g.Eventually(reason, 10*time.Second, 100*time.Millisecond).Should(Equal(tuningv1alpha1.ReasonSucceeded))

	// Pausing is an annotation change: it is seen without a spec change.
	p := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(ctx, h.key("orders"), p)).To(Succeed())
	before := p.DeepCopy()
	p.Annotations = map[string]string{tuningv1alpha1.PausedAnnotation: "true"}
	g.Expect(env.Client.Patch(ctx, p, client.MergeFrom(before))).To(Succeed()) // the manager writes the status meanwhile
	g.Eventually(reason, 10*time.Second, 100*time.Millisecond).Should(Equal(tuningv1alpha1.ReasonPaused))
}
