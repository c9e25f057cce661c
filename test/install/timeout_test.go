package install_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestPrometheusTimeoutFlagBoundsQueriesOfProfilesWithoutOne: a profile that
// sets no spec.metrics.prometheus.timeout is stored without one (the CRD
// defaults nothing), and the manager bounds its queries with
// --prometheus-timeout: against a Prometheus that never answers, each query is
// cancelled after the flag's 1 s, not after 10 s.
func TestPrometheusTimeoutFlagBoundsQueriesOfProfilesWithoutOne(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()

	var mu sync.Mutex
	var waited []time.Duration
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The server notices a client that gave up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		mu.Lock()
		waited = append(waited, time.Since(start))
		mu.Unlock()
	}))
	t.Cleanup(hang.Close)

	const ns = "shop-timeout"
	ensureNamespace(t, ns)
	profile := ordersProfile(ns, hang.URL)
	g.Expect(env.Client.Create(ctx, profile)).To(Succeed())
	stored := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(profile), stored)).To(Succeed())
	g.Expect(stored.Spec.Metrics.Prometheus.Timeout.Duration).To(BeZero(), "the CRD defaulted the timeout, so --prometheus-timeout never applies")

	runManager(t, buildManager(t), "", "--prometheus-timeout=1s", "--metrics-bind-address=0", "--health-probe-bind-address=0")

	g.Eventually(func(g Gomega) {
		got := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(profile), got)).To(Succeed())
		available := meta.FindStatusCondition(got.Status.Conditions, tuningv1alpha1.ConditionMetricsAvailable)
		g.Expect(available).NotTo(BeNil())
		g.Expect(available.Status).To(Equal(metav1.ConditionFalse))
		mu.Lock()
		defer mu.Unlock()
		g.Expect(waited).NotTo(BeEmpty())
	}, 60*time.Second, 250*time.Millisecond).Should(Succeed())
	mu.Lock()
	defer mu.Unlock()
	for _, d := range waited {
		g.Expect(d).To(BeNumerically("<", 5*time.Second), "a query ran past --prometheus-timeout=1s")
	}
	g.Expect(waited[0]).To(BeNumerically(">=", 900*time.Millisecond), "the first query gave up before the timeout")
}
