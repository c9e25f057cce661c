package prom

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// FuzzObserveResponse feeds arbitrary answers (status code and body) to the
// Reader for every query of a batch. Whatever the endpoint says, Observe
// must not panic, and every signal of the target must end up either as a
// finite number or as missing with a reason: never both, never neither.
func FuzzObserveResponse(f *testing.F) {
	for _, fam := range []string{famLatency, famTraffic, famPool, famCache, famWorkload} {
		_, body := healthy("orders", "payments")(familyQuery(fam))
		f.Add(uint8(0), body)
	}
	for _, body := range []string{
		"", "{}", "null", `{"status":"success"}`, `{"status":"success","data":null}`,
		`{"status":"success","data":{"resultType":"vector","result":null}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}`,
		`{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"shop","service":"orders","navius_part":"bucket","le":"abc"},"value":[1,"1"]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"shop","service":"orders","navius_part":"requests"},"value":[1,"-Inf"]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"shop","service":"orders","navius_part":"ts"},"value":[1,"1e308"]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"shop","service":"orders","navius_part":"max"},"value":["x","1"]}]}}`,
		badQueryJSON, `{"status":"error","errorType":"timeout","error":"query timed out"}`,
		`<html>502 Bad Gateway</html>`, strings.Repeat("[", 10000),
	} {
		f.Add(uint8(0), body)
	}
	f.Add(uint8(1), unavailable)
	f.Add(uint8(2), `{"status":"error","errorType":"unavailable","error":"x"}`)
	f.Add(uint8(3), "")

	var mu sync.Mutex
	var code int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		c, b := code, body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c)
		_, _ = io.WriteString(w, b)
	}))
	f.Cleanup(srv.Close)
	o, _, _ := testReader(f, Options{MaxAttempts: 1})
	ep := Endpoint{URL: srv.URL}
	codes := []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusBadRequest, http.StatusUnauthorized,
		http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusNoContent, http.StatusMovedPermanently}
	targets := []Target{orders("shop/orders", "orders"), orders("shop/payments", "payments"),
		{Key: "bare", Labels: LabelsOf(map[string]string{"service": "x"})}}

	f.Fuzz(func(t *testing.T, c uint8, b string) {
		mu.Lock()
		code, body = codes[int(c)%len(codes)], b
		mu.Unlock()
		got := o.Observe(context.Background(), ep, targets)
		for _, tg := range targets {
			obs, ok := got[tg.Key]
			if !ok {
				t.Fatalf("no observation for %s", tg.Key)
			}
			for _, s := range targetSignals(tg) {
				v, has := obs.Values[s]
				m, missing := obs.Missing[s]
				switch {
				case has && missing:
					t.Fatalf("%s/%s is both set (%v) and missing (%s)", tg.Key, s, v.Value, m)
				case !has && !missing:
					t.Fatalf("%s/%s is neither set nor missing", tg.Key, s)
				case has && (math.IsNaN(v.Value) || math.IsInf(v.Value, 0)):
					t.Fatalf("%s/%s = %v: not a finite number", tg.Key, s, v.Value)
				case missing && (m.Reason == "" || m.Message == ""):
					t.Fatalf("%s/%s missing without a reason or a message: %+v", tg.Key, s, m)
				}
			}
		}
	})
}

// familyQuery is a query text that family() classifies as fam.
func familyQuery(fam string) string {
	switch fam {
	case famLatency:
		return "http_request_duration_seconds_bucket"
	case famTraffic:
		return "http_requests_total"
	case famPool:
		return "db_pool_max_connections"
	case famCache:
		return "cache_requests_total"
	case famWorkload:
		return "container_cpu_usage_seconds_total"
	}
	return ""
}

// TestResponseSizeIsBounded: an endpoint that streams an endless body makes
// the signals Malformed once the limit is read, instead of exhausting memory.
func TestResponseSizeIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		chunk := strings.Repeat(`{"metric":{"a":"b"},"value":[1,"1"]},`, 1000)
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	// No series cap here: the byte limit is what this test is about.
	o, _, _ := testReader(t, Options{MaxAttempts: 1, MaxResponseBytes: 1 << 20, MaxSeriesPerProfile: 1 << 30})
	obs := o.Observe(context.Background(), Endpoint{URL: srv.URL}, []Target{orders("k", "orders")})["k"]
	m := obs.Missing[signals.Throughput]
	if m.Reason != signals.ReasonMalformed || !strings.Contains(m.Message, "larger than") {
		t.Fatalf("want Malformed (too large), got %s", m)
	}
}
