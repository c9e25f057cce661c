package reliability

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// blindHarness runs the real reconciler with the real Prometheus observer and
// batcher against a fake Prometheus, all on one fake clock.
type blindHarness struct {
	t      *testing.T
	ns     string
	clock  *clocktesting.FakeClock
	prom   *fakeProm
	writes *writes
	r      *controllers.PerformanceProfileReconciler
}

func newBlindHarness(t *testing.T) *blindHarness {
	t.Helper()
	ns, clk := namespace(t), clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	testenv.AutoStep(t, clk, 20*time.Millisecond) // a query that never answers times out after 2 s of fake time
	return newBlindHarnessOn(t, ns, clk, newFakeProm(t, clk, ns))
}

// newBlindHarnessOn makes a reconciler with its own client, observer and
// batcher on an existing namespace, clock and fake Prometheus.
func newBlindHarnessOn(t *testing.T, ns string, clk *clocktesting.FakeClock, fake *fakeProm) *blindHarness {
	t.Helper()
	h := &blindHarness{t: t, ns: ns, clock: clk, prom: fake, writes: &writes{}}
	obs := prom.NewReader(prom.Options{Clock: h.clock, Registerer: prometheus.NewRegistry(),
		Timeout: 2 * time.Second, MaxAttempts: 2, BackoffBase: 100 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	r, err := controllers.NewPerformanceProfileReconciler(h.writes.wrap(directClient(t)), controllers.Options{
		Source: &controllers.PrometheusSource{Secrets: env.Client,
			Batcher: prom.NewBatcher(obs, prom.BatcherOptions{Period: interval})},
		Clock: h.clock, Metrics: controllers.NewMetrics(prometheus.NewRegistry()),
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

// period advances the clock by one interval and reconciles once.
func (h *blindHarness) period() *tuningv1alpha1.PerformanceProfile {
	h.t.Helper()
	h.clock.Step(interval)
	ctx := ctrl.LoggerInto(context.Background(), ctrl.Log)
	_, err := h.r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: profile}})
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	return getProfile(h.t, h.ns)
}

// TestMetricsFaultsHoldAndResume: whatever is wrong with Prometheus, while
// the SLO signals cannot be read nothing is written (no change at all, so no
// reduction either), MetricsAvailable is False with the reason, and the
// first period after Prometheus recovers acts on the data again.
func TestMetricsFaultsHoldAndResume(t *testing.T) {
	for _, tc := range []struct {
		fault  fault
		reason signals.Reason
	}{
		{stopped, signals.ReasonEndpointDown},
		{unavailable, signals.ReasonHTTPError},
		{slow, signals.ReasonTimeout},
		{nanValues, signals.ReasonNaN},
		{stale, signals.ReasonStale},
		{several, signals.ReasonMultipleSeries},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			g := NewWithT(t)
			h := newBlindHarness(t)
			deployment(t, h.ns, "10")
			g.Expect(env.Client.Create(context.Background(), poolProfile(h.ns, h.prom.URL()))).To(Succeed())

			// A healthy period first: the SLOs hold, nothing to do.
			h.prom.set(healthy, steady)
			p := h.period()
			g.Expect(condition(p, tuningv1alpha1.ConditionMetricsAvailable).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(h.writes.workload.Load()).To(BeZero())

			// Blind for four periods (two minutes) while the pool starves:
			// the data would justify a change, but it cannot be trusted.
			h.prom.set(tc.fault, starved)
			for i := range 4 {
				p = h.period()
				c := condition(p, tuningv1alpha1.ConditionMetricsAvailable)
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse), "period %d: %s", i, c.Message)
				g.Expect(c.Reason).To(Equal(tuningv1alpha1.ReasonMetricsUnavailable))
				g.Expect(c.Message).To(ContainSubstring(string(tc.reason)))
				g.Expect(condition(p, tuningv1alpha1.ConditionSLOMet).Status).To(Equal(metav1.ConditionUnknown))
				g.Expect(h.writes.workload.Load()).To(BeZero(), "no write while blind")
				g.Expect(poolValue(t, h.ns)).To(Equal("10"))
				g.Expect(p.Status.History).To(BeEmpty())
			}

			// Prometheus recovers: the very next period acts.
			h.prom.set(healthy, starved)
			p = h.period()
			g.Expect(condition(p, tuningv1alpha1.ConditionMetricsAvailable).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(poolValue(t, h.ns)).NotTo(Equal("10"), "resumed within one period")
			g.Expect(p.Status.History).To(HaveLen(1))
			g.Expect(h.writes.workload.Load()).To(Equal(int64(1)))
		})
	}
}

// TestMetricsLossNeverReducesAnOverProvisionedService: a service with a
// large margin loses its metrics; however long that lasts, nothing is
// trimmed.
func TestMetricsLossNeverReducesAnOverProvisionedService(t *testing.T) {
	g := NewWithT(t)
	h := newBlindHarness(t)
	deployment(t, h.ns, "60")
	g.Expect(env.Client.Create(context.Background(), poolProfile(h.ns, h.prom.URL()))).To(Succeed())
	idle := load{P99: 0.03, Throughput: 800, PoolInUse: 2, PoolMax: 60, PoolWait: 0, DBTime: 0.025}
	h.prom.set(healthy, idle)
	h.period()
	for _, f := range []fault{stopped, unavailable, nanValues, stale, several} {
		h.prom.set(f, idle)
		for range 20 { // ten minutes each
			h.period()
		}
	}
	g.Expect(h.writes.workload.Load()).To(BeZero())
	g.Expect(poolValue(t, h.ns)).To(Equal("60"))
}

// TestStatusWritesAreBounded: in a steady state the status is not written
// at all when the SLIs keep their values, and at most every 5 minutes when
// only the SLI values move; a condition change is written at once.
func TestStatusWritesAreBounded(t *testing.T) {
	g := NewWithT(t)
	h := newBlindHarness(t)
	var patches atomic.Int64
	h.writes.setFault(func(kind string, _ any) error {
		if kind == "status" {
			patches.Add(1)
		}
		return nil
	})
	deployment(t, h.ns, "10")
	g.Expect(env.Client.Create(context.Background(), poolProfile(h.ns, h.prom.URL()))).To(Succeed())
	h.prom.set(healthy, steady)
	h.period()
	g.Expect(patches.Load()).To(Equal(int64(1)))
	for range 20 { // ten minutes, the same values
		h.period()
	}
	g.Expect(patches.Load()).To(Equal(int64(1)), "no write when nothing changed")

	moving := steady
	for i := range 20 { // ten minutes, p99 moving by a millisecond each period
		moving.P99 = steady.P99 + float64(i%2)*0.001
		h.prom.set(healthy, moving)
		h.period()
	}
	g.Expect(patches.Load()).To(BeNumerically("<=", 1+2), "SLI values alone: at most one write per 5 minutes")
	g.Expect(patches.Load()).To(BeNumerically(">=", 2), "but they are refreshed")

	h.prom.set(unavailable, steady)
	before := patches.Load()
	p := h.period()
	g.Expect(patches.Load()).To(Equal(before+1), "a condition change is written at once")
	g.Expect(condition(p, tuningv1alpha1.ConditionMetricsAvailable).Status).To(Equal(metav1.ConditionFalse))
}
