package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
)

// envOf turns a map into a lookup function.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromEnv(t *testing.T) {
	g := NewWithT(t)
	cfg, err := configFromEnv(envOf(map[string]string{
		EnvDatabaseURL: "postgres://svc@127.0.0.1:5432/app", EnvPoolMax: "2", EnvL1Items: "1000", EnvL1TTL: "30",
		EnvL2TTL: "0.5", EnvQueryCost: "0.025", EnvKeyDist: "zipf", EnvPodIP: "127.1.0.3",
	}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.PoolMax).To(Equal(int32(2)))
	g.Expect(cfg.L1TTL).To(Equal(30 * time.Second))
	g.Expect(cfg.L2TTL).To(Equal(500 * time.Millisecond))
	g.Expect(cfg.QueryCost).To(Equal(25 * time.Millisecond))
	g.Expect(cfg.KeyCount).To(Equal(uint64(100_000)))
	g.Expect(cfg.Listen).To(Equal("127.1.0.3:8080"))

	_, err = configFromEnv(envOf(map[string]string{EnvPoolMax: "0", EnvL1TTL: "-1", EnvKeyDist: "gauss"}))
	g.Expect(err).To(HaveOccurred())
	for _, name := range []string{EnvDatabaseURL, EnvPoolMax, EnvL1TTL, EnvKeyDist} {
		g.Expect(err.Error()).To(ContainSubstring(name), "the error names every bad variable")
	}
}

// TestExpositionNames reads the names the OpenTelemetry SDK's Prometheus
// exporter really produces for the service's instruments, after requests
// that hit the cache tiers and a database that refuses (nothing listens on
// its port): the names the opentelemetry preset and docs/metrics.md rely on.
func TestExpositionNames(t *testing.T) {
	g := NewWithT(t)
	cfg, err := configFromEnv(envOf(map[string]string{
		EnvDatabaseURL: "postgres://svc@127.0.0.1:1/app?connect_timeout=1", EnvPoolMax: "3",
		EnvL1Items: "10", EnvL1TTL: "60", EnvKeyCount: "5",
	}))
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := build(t.Context(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	defer srv.close()
	srv.svc.fillL1(1, "one")
	for _, path := range []string{"/?key=1", "/?key=2"} {
		rec := httptest.NewRecorder()
		srv.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		g.Expect(rec.Code).To(BeElementOf(http.StatusOK, http.StatusInternalServerError))
	}
	rec := httptest.NewRecorder()
	srv.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	g.Expect(err).NotTo(HaveOccurred())
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("families: %v", names)

	g.Expect(families).To(HaveKey("http_server_request_duration_seconds"))
	dur := families["http_server_request_duration_seconds"]
	g.Expect(dur.GetType()).To(Equal(dto.MetricType_HISTOGRAM))
	statuses := map[string]uint64{}
	for _, m := range dur.Metric {
		statuses[label(m, "http_response_status_code")] += m.GetHistogram().GetSampleCount()
	}
	g.Expect(statuses).To(Equal(map[string]uint64{"200": 1, "500": 1}), "the hit answered 200, the refused database 500")
	var bounds []float64
	for _, b := range dur.Metric[0].GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	g.Expect(bounds).To(Equal(durationBounds), "the declared bounds, in seconds")
	g.Expect(bounds).To(ContainElements(0.03, 0.04), "bounds inside the 25-50 ms bucket, where the lab's 40 ms objective lies")

	g.Expect(families).To(HaveKey("db_client_connection_count"))
	states := map[string]float64{}
	for _, m := range families["db_client_connection_count"].Metric {
		states[label(m, "db_client_connection_state")] = m.GetGauge().GetValue()
		g.Expect(label(m, "db_client_connection_pool_name")).To(Equal(PoolName))
	}
	g.Expect(states).To(HaveKey("used"))
	g.Expect(states).To(HaveKey("idle"))
	g.Expect(families).To(HaveKey("db_client_connection_max"))
	g.Expect(families["db_client_connection_max"].Metric[0].GetGauge().GetValue()).To(Equal(3.0))
	// use_time appears with the first connection returned (the real-database test).
	g.Expect(families).To(HaveKey("db_client_connection_wait_time_seconds"))
	g.Expect(families["db_client_connection_wait_time_seconds"].GetType()).To(Equal(dto.MetricType_HISTOGRAM))
	g.Expect(families["db_client_connection_wait_time_seconds"].Metric[0].GetHistogram().GetSampleCount()).To(Equal(uint64(1)))

	g.Expect(families).To(HaveKey("cache_requests_total"))
	cache := map[string]float64{}
	for _, m := range families["cache_requests_total"].Metric {
		cache[label(m, "tier")+"/"+label(m, "result")] = m.GetCounter().GetValue()
	}
	g.Expect(cache).To(Equal(map[string]float64{"memory/hit": 1, "memory/miss": 1}))
	g.Expect(families).NotTo(HaveKey(HavePrefix("db_client_operation")), "no database call duration: dbTime stays missing")
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestOnRealDatabases serves keys from a real PostgreSQL through the pool
// and both cache tiers: a key's first read is a database call (a miss in L1
// and Redis, holding a connection for the query cost), the next comes from
// L1; with L1 off, from Redis. The pool never opens more connections than its
// size, however many requests are in flight.
func TestOnRealDatabases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and Redis")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	pg, err := localcluster.StartPostgres(ctx, localcluster.PostgresOptions{Role: "svc", RoleConnectionLimit: 5, Items: 100})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = pg.Stop() }()
	rs, err := localcluster.StartRedis(ctx, localcluster.RedisOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = rs.Stop() }()

	serve := func(env map[string]string) *server {
		env[EnvDatabaseURL], env[EnvRedisURL], env[EnvKeyCount] = pg.URL(), rs.URL(), "100"
		cfg, err := configFromEnv(envOf(env))
		g.Expect(err).NotTo(HaveOccurred())
		srv, err := build(ctx, cfg)
		g.Expect(err).NotTo(HaveOccurred())
		return srv
	}
	get := func(srv *server, path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	scrape := func(srv *server) map[string]*dto.MetricFamily {
		rec := httptest.NewRecorder()
		srv.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
		g.Expect(err).NotTo(HaveOccurred())
		return fams
	}

	both := serve(map[string]string{EnvPoolMax: "2", EnvL1Items: "100", EnvL1TTL: "60", EnvL2TTL: "60", EnvQueryCost: "0.02"})
	defer both.close()
	start := time.Now()
	code, v := get(both, "/?key=7")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(v).To(HaveLen(32), "md5 of the id")
	g.Expect(time.Since(start)).To(BeNumerically(">=", 20*time.Millisecond), "the database call paid the query cost")
	code, again := get(both, "/?key=7")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(again).To(Equal(v))
	code, _ = get(both, "/?key=100000")
	g.Expect(code).To(Equal(http.StatusNotFound))
	fams := scrape(both)
	cache := map[string]float64{}
	for _, m := range fams["cache_requests_total"].Metric {
		cache[label(m, "tier")+"/"+label(m, "result")] = m.GetCounter().GetValue()
	}
	g.Expect(cache).To(Equal(map[string]float64{"memory/hit": 1, "memory/miss": 2, "redis/miss": 2}))
	g.Expect(fams).To(HaveKey("db_client_connection_use_time_seconds"))
	use := fams["db_client_connection_use_time_seconds"].Metric[0].GetHistogram()
	g.Expect(use.GetSampleCount()).To(Equal(uint64(2)))
	g.Expect(use.GetSampleSum()).To(BeNumerically(">=", 0.04), "each use held the connection for the query cost")

	// L1 off: the second read of a key is a Redis hit.
	redisOnly := serve(map[string]string{EnvPoolMax: "2", EnvL2TTL: "60", EnvUseTime: "false"})
	defer redisOnly.close()
	code, fromRedis := get(redisOnly, "/?key=7")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(fromRedis).To(Equal(v))
	cache = map[string]float64{}
	for _, m := range scrape(redisOnly)["cache_requests_total"].Metric {
		cache[label(m, "tier")+"/"+label(m, "result")] = m.GetCounter().GetValue()
	}
	g.Expect(cache).To(Equal(map[string]float64{"redis/hit": 1}), "key 7 was written to Redis by the first server")
	code, _ = get(redisOnly, "/?key=8")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(scrape(redisOnly)).NotTo(HaveKey("db_client_connection_use_time_seconds"), "no use time: no database time for the preset")

	// 20 concurrent misses on a pool of 2: the role never has more than 2
	// connections of this server (the first server's pool is idle).
	before, err := pg.RoleConnections(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	noCache := serve(map[string]string{EnvPoolMax: "2", EnvQueryCost: "0.05"})
	defer noCache.close()
	done := make(chan int, 20)
	for i := range 20 {
		go func() { c, _ := get(noCache, "/?key="+strconv.Itoa(i+1)); done <- c }()
	}
	peak := 0
	for range 10 {
		n, err := pg.RoleConnections(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		peak = max(peak, n-before)
		time.Sleep(30 * time.Millisecond)
	}
	for range 20 {
		g.Expect(<-done).To(Equal(http.StatusOK))
	}
	g.Expect(peak).To(BeNumerically("<=", 2))
	g.Expect(pg.RefusedConnections()).To(BeZero())
}
