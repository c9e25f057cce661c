package prom

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// t0 is the fake clock's start; canned samples are stamped with it.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeProm is an httptest Prometheus that answers /api/v1/query with canned JSON.
type fakeProm struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
	headers []http.Header
	handle  func(q string) (int, string)
}

func newFakeProm(t testing.TB, handle func(q string) (int, string)) *fakeProm {
	f := &fakeProm{handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProm) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	q := form.Get("query")
	if q == "" {
		q = r.URL.Query().Get("query")
	}
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.headers = append(f.headers, r.Header.Clone())
	handle := f.handle
	f.mu.Unlock()
	code, out := handle(q)
	if code == -1 { // hang until the client gives up
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, out)
}

func (f *fakeProm) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

func (f *fakeProm) allQueries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.queries...)
}

// sample is one canned series.
type sample struct {
	labels map[string]string
	value  string
	at     time.Time
}

func s(value string, kv ...string) sample {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return sample{labels: l, value: value, at: t0}
}

func vectorJSON(ss ...sample) string {
	type res struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	out := make([]res, 0, len(ss))
	for _, x := range ss {
		out = append(out, res{Metric: x.labels, Value: [2]any{float64(x.at.UnixMilli()) / 1000, x.value}})
	}
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out}})
	return string(b)
}

const (
	badQueryJSON = `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected identifier"}`
	unavailable  = "Service Unavailable"
)

func ok(ss ...sample) (int, string) { return http.StatusOK, vectorJSON(ss...) }

// testReader returns a Reader on a fake clock that steps itself
// whenever a timer waits, with a private registry.
func testReader(t testing.TB, opts Options) (*Reader, *testingclock.FakeClock, *prometheus.Registry) {
	clk := testingclock.NewFakeClock(t0)
	reg := prometheus.NewRegistry()
	opts.Clock, opts.Registerer = clk, reg
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0.5 }
	}
	return NewReader(opts), clk, reg
}

// val returns a signal's value, NaN when missing.
func val(o signals.Observation, s signals.Signal) float64 {
	v, ok := o.Get(s)
	if !ok {
		return math.NaN()
	}
	return v
}

// autoStep advances clk by step every few milliseconds while something waits
// on it, until the test ends. Keep step small against the query timeout: a
// query in flight also waits on the clock (its timeout), so the timeout fires
// only after timeout/step ticks (5 ms each) of real time.
func autoStep(t testing.TB, clk *testingclock.FakeClock, step time.Duration) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				if clk.HasWaiters() {
					clk.Step(step)
				}
			}
		}
	}()
}

// family names the batch family of a query, for canned handlers.
func family(q string) string {
	switch {
	case strings.Contains(q, "http_request_duration_seconds_bucket"):
		return famLatency
	case strings.Contains(q, "http_requests_total"):
		return famTraffic
	case strings.Contains(q, "db_pool_max_connections"):
		return famPool
	case strings.Contains(q, "cache_requests_total"):
		return famCache
	case strings.Contains(q, "container_cpu_usage_seconds_total"), strings.Contains(q, "redis_connected_clients"):
		return famWorkload
	}
	return famOverride
}

// app returns label pairs of an app series of a target with the given service.
func app(service, part string, kv ...string) []string {
	return append([]string{"namespace", "shop", "service", service, partLabel, part}, kv...)
}

// healthy answers every family with a known, valid set of series for the
// services given, scaled by their index (1, 2, ...), stamped at t0.
func healthy(services ...string) func(q string) (int, string) {
	return func(q string) (int, string) {
		var out []sample
		for i, svc := range services {
			k := float64(i + 1)
			f := func(v float64) string { return fmt.Sprint(v) }
			switch family(q) {
			case famLatency:
				for _, b := range [][2]string{{"0.05", f(50 * k)}, {"0.1", f(90 * k)}, {"0.25", f(99 * k)}, {"+Inf", f(100 * k)}} {
					out = append(out, s(b[1], app(svc, "bucket", "le", b[0])...))
				}
				out = append(out, s(f(4*k), app(svc, "sum")...), s(f(100*k), app(svc, "count")...),
					s(fmt.Sprint(t0.Unix()-5), app(svc, "ts")...))
			case famTraffic:
				out = append(out, s(f(100*k), app(svc, "requests")...), s(f(k), app(svc, "errors")...),
					s(f(100*k), app(svc, "throughput")...),
					s("3", app(svc, "pods")...), s(fmt.Sprint(t0.Unix()), app(svc, "ts")...))
			case famPool:
				out = append(out, s(f(6*k), app(svc, "in_use")...), s("10", app(svc, "max")...),
					s(f(0.2*k), app(svc, "wait_sum")...), s("20", app(svc, "wait_count")...),
					s("0.5", app(svc, "db_sum")...), s("50", app(svc, "db_count")...))
			case famCache:
				out = append(out, s(f(80), app(svc, "cache", "tier", "memory", "result", "hit")...),
					s(f(20), app(svc, "cache", "tier", "memory", "result", "miss")...),
					s(f(10), app(svc, "cache", "tier", "redis", "result", "hit")...),
					s(f(10*k), app(svc, "cache", "tier", "redis", "result", "miss")...))
			case famWorkload:
				out = append(out,
					s(f(0.5*k), "namespace", "shop", deployLabel, svc, "container", "app", partLabel, "cpu_usage"),
					s("1", "namespace", "shop", deployLabel, svc, "container", "app", partLabel, "cpu_requests"),
					s("0.1", "namespace", "shop", deployLabel, svc, "container", "sidecar", partLabel, "cpu_usage"),
					s("0.1", "namespace", "shop", deployLabel, svc, "container", "sidecar", partLabel, "cpu_requests"))
				if i > 0 {
					continue
				}
				out = append(out,
					s("0.6", "namespace", "shop", stsLabel, "redis", partLabel, "redis_cpu"),
					s("3000", "namespace", "shop", stsLabel, "redis", partLabel, "redis_ops"),
					s("2", "namespace", "shop", stsLabel, "redis", partLabel, "redis_pods"))
			}
		}
		return ok(out...)
	}
}
