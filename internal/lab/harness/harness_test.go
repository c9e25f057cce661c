package harness_test

import (
	"context"
	"math"
	"net/http"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// TestHarness brings the whole environment up without the operator: the
// simulated workload follows its kwok pods and Redis replicas, Prometheus
// scrapes it at simulated rates, and the real HPA scales on its CPU.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local cluster")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	const speed = 4
	e, err := harness.Start(ctx, harness.Options{Speed: speed})
	g.Expect(err).NotTo(HaveOccurred())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = e.Stop()
		}
	})
	t.Logf("\n%s", e.Cluster().Stats())

	// 300 req/s on 2 pods of 250m: about 450m each, so the HPA (50 %) scales out.
	w, err := e.AddWorkload(ctx, harness.WorkloadOptions{
		Namespace: "harness",
		HPA:       &harness.HPAOptions{MinReplicas: 2, MaxReplicas: 6, TargetCPU: 50},
		Trace:     sim.Constant(300),
		NoProfile: true,
	})
	g.Expect(err).NotTo(HaveOccurred())

	t.Run("the model follows the pods and Redis", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			g.Expect(len(w.Model.Pods())).To(BeNumerically(">=", 2))
			snap, err := w.Snapshot(ctx, 10)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(snap.Last.RedisReplicas).To(Equal(1))
			g.Expect(snap.Env[sim.EnvPoolMax]).To(Equal("4"))
			g.Expect(snap.Last.Requests).To(BeNumerically(">", 0))
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	})

	t.Run("Prometheus scrapes simulated per-second rates", func(t *testing.T) {
		prom := e.Cluster().PrometheusURL()
		NewWithT(t).Eventually(func(g Gomega) {
			v := harness.PromScalar(ctx, http.DefaultClient, prom, `sum(rate(http_requests_total{namespace="harness",service="orders-api"}[10s]))`)
			g.Expect(math.IsNaN(v)).To(BeFalse(), "no answer from Prometheus")
			// The counters are divided by the speed: the wall-time rate is the simulated rate.
			g.Expect(v).To(BeNumerically("~", 300, 60))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	t.Run("the real HPA scales on the simulated CPU", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			snap, err := w.Snapshot(ctx, 10)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(snap.Replicas).To(BeNumerically(">", 2))
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	pids := e.Cluster().PIDs()
	g.Expect(e.Stop()).To(Succeed())
	stopped = true
	for name, pid := range pids {
		g.Expect(syscall.Kill(pid, 0)).To(MatchError(syscall.ESRCH), "%s (pid %d) is gone", name, pid)
	}
}
