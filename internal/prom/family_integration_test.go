package prom

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// TestIntegrationExporterWithoutAFamily: a real Prometheus scrapes a service
// whose exporter has no DB time and no Redis CPU (the series of one family
// each). The reader marks exactly those signals missing, and the engine, on
// what the reader returned, tunes the family it can see and holds, and
// names, the ones it cannot.
func TestIntegrationExporterWithoutAFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	exp := runExporter(t)
	lacking := map[string]bool{"db_query_duration_seconds": true, "redis_cpu_sys_seconds_total": true, "redis_cpu_user_seconds_total": true}
	gather := func() ([]*dto.MetricFamily, error) {
		all, err := exp.gather()
		var out []*dto.MetricFamily
		for _, mf := range all {
			if !lacking[mf.GetName()] {
				out = append(out, mf)
			}
		}
		return out, err
	}
	prom := scrape(t, prometheus.GathererFunc(gather))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	obs := NewReader(Options{Registerer: prometheus.NewRegistry()})
	ep := Endpoint{URL: prom.URL, Timeout: 10 * time.Second}
	target := Target{
		Key:      "shop/orders",
		Labels:   LabelsOf(map[string]string{"namespace": "shop", "service": "orders"}),
		Window:   5 * time.Second,
		Workload: &Workload{Namespace: "shop", Name: "orders", Container: "app"},
		Redis:    &Workload{Namespace: "shop", Name: "redis", Kind: "StatefulSet"},
	}
	g.Expect(prom.WaitForSeries(ctx, `count_over_time(http_requests_total{status="200"}[10s]) >= 5`)).To(Succeed())
	var o signals.Observation
	g.Eventually(func() bool {
		o = obs.Observe(ctx, ep, []Target{target})[target.Key]
		return o.Has(signals.LatencyP99, signals.LatencyP95, signals.PoolInUse, signals.PoolWait, signals.CPUUtilization, signals.MemoryHitRatio)
	}).WithContext(ctx).WithTimeout(60*time.Second).WithPolling(time.Second).Should(BeTrue(), "%v", o.MissingSignals())
	g.Expect(o.Missing[signals.DBTime].Reason).To(Equal(signals.ReasonEmpty))
	g.Expect(o.Missing[signals.RedisCPU].Reason).To(Equal(signals.ReasonEmpty))

	// p99 ≈ 500 ms against 80 ms; the pool waits 5 ms (≥ 5 % of 80 ms): saturated.
	dur := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	spec := tuningv1alpha1.PerformanceProfileSpec{
		TargetRef: tuningv1alpha1.TargetRef{Name: "orders"},
		SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
			{Percentile: tuningv1alpha1.P99, Threshold: dur(80 * time.Millisecond)}}, Window: dur(time.Minute)},
		ConnectionPool: &tuningv1alpha1.ConnectionPool{MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX", Min: 5, Max: 100}},
	}
	decide := func(spec tuningv1alpha1.PerformanceProfileSpec, vals tuning.Values) tuning.Plan {
		return tuning.Decide(tuning.Input{Spec: spec, Observation: o, Now: o.Time,
			State: tuning.State{Values: vals, Replicas: 1, CPULimitMillis: 250, RedisReady: true}})
	}

	// Pool and Redis replicas: Redis cannot cause the pool's saturation, so the pool is raised; Redis holds.
	withRedis := spec
	withRedis.Cache = &tuningv1alpha1.Cache{Redis: &tuningv1alpha1.RedisCache{Replicas: &tuningv1alpha1.RedisReplicas{
		TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: "redis"}, Min: 1, Max: 5}}}
	p := decide(withRedis, tuning.Values{"DB_POOL_MAX": 10, tuning.KnobRedisReplicas: 2})
	g.Expect(p.Family).To(Equal(tuning.FamilyPool), p.Reason)
	g.Expect(p.Changes).To(HaveLen(1))
	g.Expect(p.Changes[0].To).To(BeNumerically(">", 10))
	g.Expect(p.Reason).To(ContainSubstring("unknown (not measured): redis (redisCPU: Empty"))
	g.Expect(p.Missing.FamilyNotes()).To(ConsistOf(HavePrefix("redis (holds redisReplicas): redisCPU: Empty")))

	// Pool and an L1 cache without DB time: the cache's miss cost is
	// estimated from the pool's hold time instead (connections in use over
	// the requests that miss), so the cache family is not held for the
	// absent series and the breach is acted on.
	withCache := spec
	withCache.Cache = &tuningv1alpha1.Cache{Memory: &tuningv1alpha1.MemoryCache{
		MaxItems: &tuningv1alpha1.IntEnvKnob{Env: "CACHE_ITEMS", Min: 1000, Max: 100000}}}
	p = decide(withCache, tuning.Values{"DB_POOL_MAX": 10, "CACHE_ITEMS": 10000})
	g.Expect(p.Changes).NotTo(BeEmpty(), p.Reason)
	g.Expect(p.Missing.FamilyNotes()).To(BeEmpty(), "no family holds for the missing dbTime")
	t.Logf("with Redis: %s", decide(withRedis, tuning.Values{"DB_POOL_MAX": 10, tuning.KnobRedisReplicas: 2}).Reason)
	t.Logf("with the cache: %s", p.Reason)
}

// runExporter starts an exporter that adds a batch every 50 ms until the test ends.
func runExporter(t *testing.T) *exporter {
	exp := newExporter()
	testenv.Every(t, 50*time.Millisecond, exp.batch)
	return exp
}

// scrape serves the gatherer over HTTP and starts a real Prometheus that scrapes it.
func scrape(t *testing.T, gatherer prometheus.Gatherer) *testenv.Prometheus {
	srv := httptest.NewServer(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}})
}
