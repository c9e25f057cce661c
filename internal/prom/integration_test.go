package prom

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// exporter is a small service whose metrics have known contents: every batch
// adds the same 100 requests, so every rate is a multiple of one batch and
// every ratio and quantile is known exactly.
type exporter struct {
	mu       sync.Mutex
	reg      *prometheus.Registry
	latency  *prometheus.HistogramVec
	requests *prometheus.CounterVec
	wait     prometheus.Histogram
	dbTime   prometheus.Histogram
	cache    *prometheus.CounterVec
	cpu      *prometheus.CounterVec
	redisCPU *prometheus.CounterVec
	redisOps *prometheus.CounterVec
}

var (
	latencyBounds = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	// latencyBatch is one batch: value -> number of requests.
	latencyBatch = []struct {
		v float64
		n int
	}{{0.02, 40}, {0.04, 30}, {0.08, 15}, {0.2, 10}, {0.4, 4}, {2, 1}}
)

const (
	batchRequests = 100
	batchErrors   = 3     // 2 × 500, 1 × 503
	cpuPerBatch   = 0.005 // core-seconds of the app container (about 40 % of its 0.25-core request)
	opsPerBatch   = 40    // Redis commands per replica
	appPod        = "orders-7d9f8b6c5-x2kzq"
)

func newExporter() *exporter {
	e := &exporter{reg: prometheus.NewRegistry()}
	app := prometheus.Labels{"namespace": "shop", "service": "orders", "pod": appPod}
	e.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "latency", Buckets: latencyBounds, ConstLabels: app}, nil)
	e.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "requests", ConstLabels: app}, []string{"status"})
	e.wait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "db_pool_wait_seconds", Help: "wait", ConstLabels: app})
	e.dbTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "db_query_duration_seconds", Help: "db", ConstLabels: app})
	e.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cache_requests_total", Help: "cache", ConstLabels: app}, []string{"tier", "result"})
	inUse := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "db_pool_connections", Help: "pool", ConstLabels: app}, []string{"state"})
	inUse.WithLabelValues("in_use").Set(7)
	inUse.WithLabelValues("idle").Set(3)
	maxConns := prometheus.NewGauge(prometheus.GaugeOpts{Name: "db_pool_max_connections", Help: "max", ConstLabels: app})
	maxConns.Set(10)
	e.cpu = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "container_cpu_usage_seconds_total", Help: "cadvisor"},
		[]string{"namespace", "pod", "container"})
	cpuReq := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kube_pod_container_resource_requests", Help: "ksm"},
		[]string{"namespace", "pod", "container", "resource", "unit"})
	cpuReq.WithLabelValues("shop", appPod, "app", "cpu", "core").Set(0.25)
	cpuReq.WithLabelValues("shop", appPod, "app", "memory", "byte").Set(1e9)
	redis := []string{"namespace", "pod"}
	e.redisCPU = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redis_cpu_sys_seconds_total", Help: "redis"}, redis)
	redisUser := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redis_cpu_user_seconds_total", Help: "redis"}, redis)
	e.redisOps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redis_commands_processed_total", Help: "redis"}, redis)
	clients := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "redis_connected_clients", Help: "redis"}, redis)
	for _, p := range []string{"redis-0", "redis-1"} {
		clients.WithLabelValues("shop", p).Set(5)
		redisUser.WithLabelValues("shop", p).Add(0)
	}
	e.reg.MustRegister(e.latency, e.requests, e.wait, e.dbTime, e.cache, inUse, maxConns, e.cpu, cpuReq,
		e.redisCPU, redisUser, e.redisOps, clients)
	// A large history first, so rate() never extrapolates towards zero.
	for range 2000 {
		e.batch()
	}
	return e
}

// batch adds one batch of known observations, atomically with respect to scrapes.
func (e *exporter) batch() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range latencyBatch {
		for range b.n {
			e.latency.WithLabelValues().Observe(b.v)
		}
	}
	e.requests.WithLabelValues("200").Add(batchRequests - batchErrors)
	e.requests.WithLabelValues("500").Add(2)
	e.requests.WithLabelValues("503").Add(1)
	for range 100 { // enough for the wait's p99 (1,000 in a 5s window)
		e.wait.Observe(0.005)
	}
	for range 50 {
		e.dbTime.Observe(0.01)
	}
	e.cache.WithLabelValues("memory", "hit").Add(80)
	e.cache.WithLabelValues("memory", "miss").Add(20)
	e.cache.WithLabelValues("redis", "hit").Add(12)
	e.cache.WithLabelValues("redis", "miss").Add(8)
	e.cpu.WithLabelValues("shop", appPod, "app").Add(cpuPerBatch)
	for _, p := range []string{"redis-0", "redis-1"} {
		e.redisCPU.WithLabelValues("shop", p).Add(0.002)
		e.redisOps.WithLabelValues("shop", p).Add(opsPerBatch)
	}
}

func (e *exporter) gather() ([]*dto.MetricFamily, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reg.Gather()
}

func TestIntegrationRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	exp := runExporter(t)
	prom := scrape(t, prometheus.GathererFunc(exp.gather))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	obs := NewReader(Options{Registerer: prometheus.NewRegistry()})
	ep := Endpoint{URL: prom.URL, Timeout: 10 * time.Second}
	target := Target{
		Key:    "shop/orders",
		Labels: LabelsOf(map[string]string{"namespace": "shop", "service": "orders"}),
		Window: 5 * time.Second,
		// Same window for the saturation signals: the expected values below
		// are ratios of rates taken over one window.
		SaturationWindow: 5 * time.Second,
		Percentiles:      []signals.Signal{signals.LatencyP50, signals.LatencyP90, signals.LatencyP95, signals.LatencyP99},
		Workload:         &Workload{Namespace: "shop", Name: "orders", Container: "app"},
		Redis:            &Workload{Namespace: "shop", Name: "redis", Kind: "StatefulSet"},
	}
	injected := Target{Key: "evil", Labels: LabelsOf(map[string]string{"namespace": "shop", "service": `orders"} or vector(1) or x{a="`}), Window: 5 * time.Second}
	regex := Target{Key: "regex", Labels: LabelsOf(map[string]string{"namespace": "shop", "service": "ord.*"}), Window: 5 * time.Second}

	var got map[string]signals.Observation
	all := append(append([]signals.Signal{}, target.Percentiles...), signals.LatencyMean, signals.ErrorRate,
		signals.Throughput, signals.Pods, signals.PoolInUse, signals.PoolMax, signals.PoolWait, signals.PoolWaitTail, signals.DBTime,
		signals.DBCallRate, signals.MemoryHitRatio, signals.RedisHitRatio, signals.CPUUtilization,
		signals.RedisCPU, signals.RedisOpsRate)
	// Wait for at least five scrapes, so the 5s window is full.
	g.Expect(prom.WaitForSeries(ctx, `count_over_time(http_requests_total{status="200"}[10s]) >= 5`)).To(Succeed())
	// Every signal but ThroughputNoise, which a 5 s window cannot give at
	// the default 1m scrape interval (it needs three rates of two scrape
	// intervals in the window).
	g.Eventually(func() []string {
		got = obs.Observe(ctx, ep, []Target{target, injected, regex})
		var missing []string
		for s, m := range got[target.Key].Missing {
			if s != signals.ThroughputNoise || m.Reason != signals.ReasonNotConfigured {
				missing = append(missing, string(s)+": "+m.Message)
			}
		}
		return missing
	}).WithContext(ctx).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(BeEmpty())
	o := got[target.Key]
	g.Expect(o.Has(all...)).To(BeTrue())

	// Expected quantiles: the same interpolation over one batch's buckets.
	cum := make([]float64, len(latencyBounds)+1)
	var sum float64
	for _, b := range latencyBatch {
		sum += b.v * float64(b.n)
		for i, ub := range append(append([]float64{}, latencyBounds...), math.Inf(1)) {
			if b.v <= ub {
				cum[i] += float64(b.n)
			}
		}
	}
	bounds := append(append([]float64{}, latencyBounds...), math.Inf(1))
	for _, p := range target.Percentiles {
		q, _ := signals.Quantile(p)
		want := BucketQuantile(q, bounds, cum)
		g.Expect(val(o, p)).To(BeNumerically("~", want, want*1e-6), string(p))
		t.Logf("%s = %.6f s (expected %.6f s by bucket interpolation)", p, val(o, p), want)
	}
	near := func(s signals.Signal, want, rel float64) {
		t.Helper()
		g.Expect(val(o, s)).To(BeNumerically("~", want, math.Abs(want)*rel), string(s))
		t.Logf("%s = %.6f (expected %.6f)", s, val(o, s), want)
	}
	near(signals.LatencyMean, sum/batchRequests, 1e-6)
	near(signals.ErrorRate, float64(batchErrors)/batchRequests, 1e-6)
	near(signals.MemoryHitRatio, 0.8, 1e-6)
	near(signals.RedisHitRatio, 0.6, 1e-6)
	near(signals.PoolInUse, 7, 1e-9)
	near(signals.PoolMax, 10, 1e-9)
	near(signals.PoolWait, 0.005, 1e-6)
	// Every wait in the first default bucket (0, 5 ms]: p99 = 0.99 × 5 ms.
	near(signals.PoolWaitTail, 0.99*0.005, 1e-6)
	near(signals.DBTime, 0.01, 1e-6)
	near(signals.Pods, 1, 0)
	// Rates depend on how many batches the ticker made: compare them with
	// the measured batch rate (throughput / 100 per batch).
	batches := val(o, signals.Throughput) / batchRequests
	g.Expect(batches).To(BeNumerically("~", 20, 8), "about 20 batches/s")
	near(signals.DBCallRate, 50*batches, 1e-6)
	near(signals.CPUUtilization, cpuPerBatch*batches/0.25, 1e-6)
	near(signals.RedisOpsRate, opsPerBatch*batches, 1e-6)
	near(signals.RedisCPU, 0.002*batches, 1e-6)

	// Label values are matched literally: no injection, no regex.
	for _, k := range []string{"evil", "regex"} {
		g.Expect(got[k].Values).To(BeEmpty(), k)
		g.Expect(got[k].Missing[signals.Throughput].Reason).To(Equal(signals.ReasonEmpty), k)
	}

	// Overrides run as they are and must return one series.
	withOverride := target
	withOverride.Key = "override"
	withOverride.Overrides = &tuningv1alpha1.QueryOverrides{}
	withOverride.Overrides.LatencyP99 = `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="orders"}[5s])))`
	withOverride.Overrides.Throughput = `sum by (status) (rate(http_requests_total[5s]))`
	ov := obs.Observe(ctx, ep, []Target{withOverride})["override"]
	g.Expect(val(ov, signals.LatencyP99)).To(BeNumerically("~", val(o, signals.LatencyP99), 1e-6), "histogram_quantile agrees")
	g.Expect(ov.Missing[signals.Throughput].Reason).To(Equal(signals.ReasonMultipleSeries))

	// A bad override is refused by Prometheus as a bad query.
	withOverride.Overrides.Throughput = `sum(rate(http_requests_total[5s]`
	ov = obs.Observe(ctx, ep, []Target{withOverride})["override"]
	g.Expect(ov.Missing[signals.Throughput].Reason).To(Equal(signals.ReasonBadQuery))

	// Prometheus stopped: every signal is missing, none is guessed.
	g.Expect(prom.Stop()).To(Succeed())
	down := NewReader(Options{Registerer: prometheus.NewRegistry(), MaxAttempts: 1}).Observe(ctx, ep, []Target{target})[target.Key]
	g.Expect(down.Values).To(BeEmpty())
	g.Expect(down.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonEndpointDown))
}
