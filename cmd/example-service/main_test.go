package main

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestServesTheMetricContract: after requests, the service exposes the
// series docs/metrics.md reads (the default queries' names), with the pool
// size of DB_POOL_MAX_CONNECTIONS, and a pool smaller than the concurrency
// shows up as waits and latency.
func TestServesTheMetricContract(t *testing.T) {
	reg := prometheus.NewRegistry()
	size, err := poolSizeFromEnv("2")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newService(reg, size, 20*time.Millisecond))
	defer srv.Close()

	// 6 concurrent requests through 2 connections: the last ones wait.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
		})
	}
	wg.Wait()

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]*dto.Metric{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()
	}
	for _, name := range []string{"http_request_duration_seconds", "http_requests_total", "db_pool_connections",
		"db_pool_max_connections", "db_pool_wait_seconds", "db_query_duration_seconds"} {
		if len(got[name]) == 0 {
			t.Errorf("no %s series", name)
		}
	}
	if v := got["db_pool_max_connections"][0].GetGauge().GetValue(); v != 2 {
		t.Errorf("db_pool_max_connections = %v, want 2", v)
	}
	states := map[string]bool{}
	for _, m := range got["db_pool_connections"] {
		for _, l := range m.GetLabel() {
			states[l.GetName()+"="+l.GetValue()] = true
		}
	}
	if !states["state=in_use"] || !states["state=idle"] {
		t.Errorf("db_pool_connections states: %v, want in_use and idle", states)
	}
	if c := got["http_requests_total"][0]; c.GetCounter().GetValue() != 6 || c.GetLabel()[0].GetValue() != "200" {
		t.Errorf("http_requests_total: %v, want 6 with status 200", c)
	}
	wait := got["db_pool_wait_seconds"][0].GetHistogram()
	if wait.GetSampleCount() != 6 || wait.GetSampleSum() < 0.020 {
		t.Errorf("pool waits: %d, %.3fs in all; 6 requests through 2 connections must wait at least one query time", wait.GetSampleCount(), wait.GetSampleSum())
	}
}

func TestPoolSizeFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
		ok   bool
	}{{"", 10, true}, {"25", 25, true}, {"0", 0, false}, {"ten", 0, false}} {
		got, err := poolSizeFromEnv(tc.env)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("poolSizeFromEnv(%q) = %d, %v", tc.env, got, err)
		}
	}
}
