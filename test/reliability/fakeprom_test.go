package reliability

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// fault is how the fake Prometheus misbehaves.
type fault string

const (
	healthy     fault = ""
	stopped     fault = "stopped"       // the port is closed: connection refused
	unavailable fault = "503"           // every query answers 503 Service Unavailable
	slow        fault = "slow"          // no answer until the client gives up
	nanValues   fault = "NaN"           // every value is NaN
	stale       fault = "stale"         // every sample is ten minutes old
	several     fault = "severalSeries" // every series comes twice, from two Prometheus replicas
)

// load is the state of the simulated service the fake Prometheus reports.
type load struct {
	p99        float64 // seconds: the bucket counts are chosen to give it
	throughput float64
	poolInUse  float64
	poolMax    float64
	poolWait   float64 // mean seconds
}

var (
	starved = load{p99: 0.235, throughput: 800, poolInUse: 10, poolMax: 10, poolWait: 0.040}
	// worse is a regression against starved: p99 far above its baseline.
	worse = load{p99: 0.9, throughput: 800, poolInUse: 10, poolMax: 10, poolWait: 0.040}
	// steady meets the SLOs without the margin that savings need.
	steady = load{p99: 0.085, throughput: 800, poolInUse: 6, poolMax: 10, poolWait: 0.0002}
)

// fakeProm answers the Observer's batch queries with canned series of one
// service (namespace ns, service and Deployment targetName), stamped with
// the clock, and can misbehave on demand. It listens on a fixed port, so
// that it can be stopped and started again at the same address.
type fakeProm struct {
	t     *testing.T
	clock clock.PassiveClock
	ns    string
	addr  string

	mu    sync.Mutex
	fault fault
	load  load
	srv   *http.Server
}

func newFakeProm(t *testing.T, clk clock.PassiveClock, ns string) *fakeProm {
	f := &fakeProm{t: t, clock: clk, ns: ns, load: starved}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.serve(l)
	t.Cleanup(func() { f.set(healthy, f.current()); f.close() })
	return f
}

func (f *fakeProm) URL() string { return "http://" + f.addr }

func (f *fakeProm) current() load {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load
}

// set changes the fault and the load; stopped closes the port, anything
// else (re)opens it.
func (f *fakeProm) set(fl fault, l load) {
	f.mu.Lock()
	was := f.fault
	f.fault, f.load = fl, l
	f.mu.Unlock()
	switch {
	case fl == stopped && was != stopped:
		f.close()
	case fl != stopped && was == stopped:
		var l net.Listener
		var err error
		for range 50 { // the port was just released
			if l, err = net.Listen("tcp", f.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			f.t.Fatalf("reopening %s: %v", f.addr, err)
		}
		f.serve(l)
	}
}

func (f *fakeProm) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(f.handle), ReadHeaderTimeout: 5 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (f *fakeProm) close() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (f *fakeProm) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	q := form.Get("query")
	if q == "" {
		q = r.URL.Query().Get("query")
	}
	f.mu.Lock()
	fl, l := f.fault, f.load
	f.mu.Unlock()
	switch fl {
	case unavailable:
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	case slow:
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, f.answer(q, fl, l))
}

type series struct {
	labels map[string]string
	value  string
}

// answer builds the batch answer of one query family for the one service.
func (f *fakeProm) answer(q string, fl fault, l load) string {
	now := f.clock.Now()
	at := now
	if fl == stale {
		at = now.Add(-10 * time.Minute)
	}
	app := func(part string, kv ...string) map[string]string {
		m := map[string]string{"namespace": f.ns, "service": targetName, "navius_part": part}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	num := func(v float64) string { return fmt.Sprint(v) }
	var out []series
	switch {
	case strings.Contains(q, "http_request_duration_seconds_bucket"):
		// 100 requests: 50 below 50 ms, the rest spread so that the p99 lands on l.p99.
		for _, b := range latencyBuckets(l.p99) {
			out = append(out, series{app("bucket", "le", b[0]), b[1]})
		}
		out = append(out, series{app("sum"), num(l.p99 * 40)}, series{app("count"), "100"},
			series{app("ts"), num(float64(at.Unix()))})
	case strings.Contains(q, "http_requests_total"):
		out = append(out, series{app("requests"), num(l.throughput)}, series{app("errors"), num(l.throughput / 1000)},
			series{app("throughput"), num(l.throughput)},
			series{app("pods"), "4"}, series{app("ts"), num(float64(at.Unix()))})
	case strings.Contains(q, "db_pool_max_connections"):
		out = append(out, series{app("in_use"), num(l.poolInUse)}, series{app("max"), num(l.poolMax)},
			series{app("wait_sum"), num(l.poolWait * 20)}, series{app("wait_count"), "20"},
			series{app("db_sum"), num(0.025 * 1600)}, series{app("db_count"), "1600"})
	case strings.Contains(q, "cache_requests_total"):
		out = append(out, series{app("cache", "tier", "memory", "result", "hit"), "92"},
			series{app("cache", "tier", "memory", "result", "miss"), "8"})
	case strings.Contains(q, "container_cpu_usage_seconds_total"):
		wl := func(part, v string) series {
			return series{map[string]string{"namespace": f.ns, "navius_deploy": targetName, "container": "app", "navius_part": part}, v}
		}
		out = append(out, wl("cpu_usage", "2"), wl("cpu_requests", "4"))
	}
	if fl == nanValues {
		for i := range out {
			if out[i].labels["navius_part"] != "ts" {
				out[i].value = "NaN"
			}
		}
	}
	if fl == several {
		n := len(out)
		for i := range n {
			dup := series{labels: map[string]string{"prometheus_replica": "b"}, value: out[i].value}
			for k, v := range out[i].labels {
				dup.labels[k] = v
			}
			out[i].labels["prometheus_replica"] = "a"
			out = append(out, dup)
		}
	}
	type res struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	rs := make([]res, 0, len(out))
	for _, s := range out {
		rs = append(rs, res{Metric: s.labels, Value: [2]any{float64(at.UnixMilli()) / 1000, s.value}})
	}
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": rs}})
	return string(b)
}

// latencyBuckets are cumulative counts of 100 requests whose p99 is p99
// (between 50 ms and 1 s) by Prometheus' linear interpolation.
func latencyBuckets(p99 float64) [][2]string {
	// 98 requests below 50 ms, 2 in the bucket that holds p99.
	bounds := []float64{0.05, 0.25, 1}
	counts := []float64{98, 100, 100}
	if p99 <= 0.05 {
		counts = []float64{100, 100, 100}
	} else if p99 <= 0.25 {
		// rank 99 sits halfway through (0.05, 0.25] at 98+1: solve the bucket bound instead.
		bounds = []float64{0.05, 0.05 + 2*(p99-0.05), 1}
	} else {
		bounds = []float64{0.05, 0.25, 0.25 + 2*(p99-0.25)}
		counts = []float64{98, 98, 100}
	}
	out := make([][2]string, 0, 4)
	for i, b := range bounds {
		out = append(out, [2]string{fmt.Sprint(b), fmt.Sprint(counts[i])})
	}
	return append(out, [2]string{"+Inf", "100"})
}
