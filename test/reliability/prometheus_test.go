package reliability

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/prom"
)

// poolExporter is a service whose pool is saturated: every batch (ten per
// second) serves 100 requests, 2 of them slow (p99 150 ms), and every
// request waits 40 ms for one of its 10 busy connections.
type poolExporter struct {
	mu                   sync.Mutex
	reg                  *prometheus.Registry
	latency, wait, query prometheus.Histogram
	requests, cpu        prometheus.Counter
}

func newPoolExporter(ns string) *poolExporter {
	const pod = targetName + "-7d9f8b6c5-x2kzq"
	app := prometheus.Labels{"namespace": ns, "service": targetName, "pod": pod}
	e := &poolExporter{reg: prometheus.NewRegistry()}
	e.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "latency",
		Buckets: []float64{0.05, 0.25, 1}, ConstLabels: app})
	e.requests = prometheus.NewCounter(prometheus.CounterOpts{Name: "http_requests_total", Help: "requests",
		ConstLabels: prometheus.Labels{"namespace": ns, "service": targetName, "pod": pod, "status": "200"}})
	e.wait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "db_pool_wait_seconds", Help: "wait", ConstLabels: app})
	e.query = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "db_query_duration_seconds", Help: "db", ConstLabels: app})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "db_pool_connections", Help: "pool", ConstLabels: app}, []string{"state"})
	conns.WithLabelValues("in_use").Set(10)
	conns.WithLabelValues("idle").Set(0)
	maxConns := prometheus.NewGauge(prometheus.GaugeOpts{Name: "db_pool_max_connections", Help: "max", ConstLabels: app})
	maxConns.Set(10)
	e.cpu = prometheus.NewCounter(prometheus.CounterOpts{Name: "container_cpu_usage_seconds_total", Help: "cadvisor",
		ConstLabels: prometheus.Labels{"namespace": ns, "pod": pod, "container": "app"}})
	req := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kube_pod_container_resource_requests", Help: "ksm",
		ConstLabels: prometheus.Labels{"namespace": ns, "pod": pod, "container": "app", "resource": "cpu", "unit": "core"}})
	req.Set(1)
	e.reg.MustRegister(e.latency, e.requests, e.wait, e.query, conns, maxConns, e.cpu, req)
	for range 100 {
		e.batch()
	}
	return e
}

func (e *poolExporter) batch() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range 100 {
		if i < 98 {
			e.latency.Observe(0.02)
		} else {
			e.latency.Observe(0.2)
		}
		e.wait.Observe(0.04)
		e.query.Observe(0.025)
	}
	e.requests.Add(100)
	e.cpu.Add(0.05)
}

func (e *poolExporter) gather() ([]*dto.MetricFamily, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reg.Gather()
}

// proxy forwards TCP connections to the current backend; with no backend
// reachable it closes them, as a stopped Prometheus would.
type proxy struct {
	l       net.Listener
	backend atomic.Value // string
}

func newProxy(t *testing.T) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	p.backend.Store("")
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	b, err := net.DialTimeout("tcp", p.backend.Load().(string), time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
}

func (p *proxy) URL() string { return "http://" + p.l.Addr().String() }

// TestRealPrometheusStopAndRestart runs the reconciler against a real
// Prometheus scraping an exporter whose pool is saturated: the pool is
// raised; with Prometheus stopped MetricsAvailable turns False and nothing is
// written; once a Prometheus answers again at the same address, the first
// reconcile after one batch period reads the metrics again.
func TestRealPrometheusStopAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	ns := namespace(t)
	exp := newPoolExporter(ns)
	testenv.Every(t, 100*time.Millisecond, exp.batch)
	srv := httptest.NewServer(promhttp.HandlerFor(prometheus.GathererFunc(exp.gather), promhttp.HandlerOpts{}))
	defer srv.Close()
	scrape := testenv.PrometheusOptions{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}, ScrapeInterval: time.Second}
	ready := func(s *testenv.Prometheus) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		g.Expect(s.WaitForSeries(ctx, `count_over_time(http_requests_total[10s]) >= 3`)).To(Succeed())
	}
	px := newProxy(t)
	first := testenv.StartPrometheus(t, scrape)
	px.backend.Store(strings.TrimPrefix(first.URL, "http://"))
	ready(first)

	const batchPeriod = 2 * time.Second
	w := &writes{}
	obs := prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(), MaxAttempts: 2,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	r, err := controllers.NewPerformanceProfileReconciler(w.wrap(directClient(t)), controllers.Options{
		Source:  &controllers.PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(obs, prom.BatcherOptions{Period: batchPeriod})},
		Metrics: controllers.NewMetrics(prometheus.NewRegistry()),
	})
	g.Expect(err).NotTo(HaveOccurred())
	reconcile := func() *tuningv1alpha1.PerformanceProfile {
		_, err := r.Reconcile(ctrl.LoggerInto(context.Background(), ctrl.Log),
			ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: profile}})
		g.Expect(err).NotTo(HaveOccurred())
		return getProfile(t, ns)
	}

	deployment(t, ns, "10")
	p := poolProfile(ns, px.URL())
	p.Spec.SLO.Window = metav1.Duration{Duration: time.Minute}
	g.Expect(env.Client.Create(context.Background(), p)).To(Succeed())

	// Saturated pool: the pool is raised.
	g.Eventually(func() string {
		p = reconcile()
		return poolValue(t, ns)
	}).WithTimeout(90*time.Second).WithPolling(batchPeriod).ShouldNot(Equal("10"), "the saturated pool is raised")
	g.Expect(condition(p, tuningv1alpha1.ConditionMetricsAvailable).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(p.Status.SLIs.P99.Duration).To(BeNumerically("~", 150*time.Millisecond, 5*time.Millisecond))
	raised, written := poolValue(t, ns), w.workload.Load()
	rolledOut(t, ns)

	// Prometheus stopped: blind, nothing written.
	g.Expect(first.Stop()).To(Succeed())
	for range 3 {
		time.Sleep(batchPeriod)
		p = reconcile()
		c := condition(p, tuningv1alpha1.ConditionMetricsAvailable)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse), c.Message)
		g.Expect(c.Message).To(ContainSubstring("EndpointDown"))
	}
	g.Expect(w.workload.Load()).To(Equal(written), "no write while blind")
	g.Expect(poolValue(t, ns)).To(Equal(raised))

	// A Prometheus answers again at the same address: one batch period later
	// the metrics are read again.
	second := testenv.StartPrometheus(t, scrape)
	px.backend.Store(strings.TrimPrefix(second.URL, "http://"))
	ready(second)
	time.Sleep(batchPeriod)
	p = reconcile()
	c := condition(p, tuningv1alpha1.ConditionMetricsAvailable)
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "resumed within one period: %s", c.Message)
	g.Expect(p.Status.SLIs.P99).NotTo(BeNil())
}
