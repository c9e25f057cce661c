package prom

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestIntegrationThroughputNowCountsANewPod: a real Prometheus scrapes a
// service of one pod at 100 req/s for a full saturation window, then a
// second pod (a new series) at 100 req/s as well. As soon as the new pod
// has two samples, the rate over the saturation window (Throughput) still
// divides its requests by a window it did not exist for and reads far less
// than the 200 req/s offered; the newest scrape interval (ThroughputNow)
// reads them.
func TestIntegrationThroughputNowCountsANewPod(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	const perPod = 100.0 // req/s, a counter that grows with the wall clock: exact whatever the scheduling
	const window = 12 * time.Second
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	started := map[string]time.Time{}
	addPod := func(pod string) {
		mu.Lock()
		started[pod] = time.Now()
		mu.Unlock()
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "http_requests_total", Help: "requests",
			ConstLabels: prometheus.Labels{"namespace": "shop", "service": "orders", "pod": pod, "status": "200"}},
			func() float64 {
				mu.Lock()
				defer mu.Unlock()
				return perPod * time.Since(started[pod]).Seconds()
			}))
	}
	addPod("orders-7d9f8b6c5-x2kzq")
	prom := scrape(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	g.Expect(prom.WaitForSeries(ctx, `count_over_time(http_requests_total[12s]) >= 11`)).To(Succeed())

	addPod("orders-7d9f8b6c5-b4tnw")
	g.Expect(prom.WaitForSeries(ctx, `count_over_time(http_requests_total{pod="orders-7d9f8b6c5-b4tnw"}[12s]) >= 2`)).To(Succeed())
	target := Target{Key: "shop/orders", Labels: LabelsOf(map[string]string{"namespace": "shop", "service": "orders"}),
		Window: window, SaturationWindow: window}
	o := NewReader(Options{Registerer: prometheus.NewRegistry()}).Observe(ctx, Endpoint{URL: prom.URL, Timeout: 10 * time.Second}, []Target{target})[target.Key]
	g.Expect(o.Has(signals.Throughput, signals.ThroughputNow)).To(BeTrue(), "missing: %v", o.Missing)
	t.Logf("offered %.0f req/s: throughput %.1f, throughputNow %.1f", 2*perPod, val(o, signals.Throughput), val(o, signals.ThroughputNow))
	g.Expect(val(o, signals.ThroughputNow)).To(BeNumerically("~", 2*perPod, 0.05*2*perPod), "the newest scrape interval counts the new pod")
	g.Expect(val(o, signals.Throughput)).To(BeNumerically("<", 0.85*2*perPod), "the window's rate under-reads the new pod: the bias the test shows")
}
