package main

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	g.Expect(bounds).To(Equal(durationBounds), "the semantic conventions' bounds, in seconds")

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
