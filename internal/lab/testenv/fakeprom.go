// This file: the one fake Prometheus of the tests. A real Prometheus
// (StartPrometheus) is what tests scrape through; the fake is for what a real
// one does not give on demand: canned or malformed answers, a server that
// stops, hangs or answers 503, stale or NaN samples, duplicate series, and
// thousands of services at once.

package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// The labels the reader's batch queries put on every series they return;
// internal/prom's tests check that these are the reader's own.
const (
	PartLabel   = "navius_part"
	DeployLabel = "navius_deploy"
	STSLabel    = "navius_sts"
)

// Fault is how a FakeProm misbehaves.
type Fault string

const (
	// FaultNone answers every query.
	FaultNone Fault = ""
	// FaultStopped closes the port: connections are refused.
	FaultStopped Fault = "stopped"
	// FaultUnavailable answers every query with 503 Service Unavailable.
	FaultUnavailable Fault = "503"
	// FaultSlow answers nothing until the client gives up.
	FaultSlow Fault = "slow"
	// FaultNaN makes every value NaN (series answers; timestamps stay).
	FaultNaN Fault = "NaN"
	// FaultStale stamps every sample ten minutes in the past (series answers).
	FaultStale Fault = "stale"
	// FaultSeveralSeries returns every series twice, from two Prometheus
	// replicas (series answers).
	FaultSeveralSeries Fault = "severalSeries"
)

// Series is one sample of an instant vector. A zero At is stamped with the
// time of the answer.
type Series struct {
	Labels map[string]string
	Value  string
	At     time.Time
}

// Query is one query the fake was asked.
type Query struct {
	Text   string
	Header http.Header
	// At is the wall-clock time it arrived.
	At time.Time
}

// FakeProm is a fake Prometheus HTTP API (/api/v1/query) on a loopback port
// that stays the same when the fake is stopped and started again. It answers
// either with raw bodies (AnswerRaw) or with series rendered as a vector
// stamped with its clock (AnswerSeries), records every query, and
// misbehaves on demand (SetFault).
type FakeProm struct {
	t     testing.TB
	clock clock.PassiveClock
	addr  string

	mu      sync.Mutex
	raw     func(q string) (int, string)
	series  func(q string) []Series
	fault   Fault
	srv     *http.Server
	queries []Query
	bytes   int64
	busy    time.Duration
}

// NewFakeProm starts a fake that answers every query with an empty vector
// until told otherwise, stamped with clk (the wall clock when nil). It stops
// when the test ends.
func NewFakeProm(t testing.TB, clk clock.PassiveClock) *FakeProm {
	if clk == nil {
		clk = clock.RealClock{}
	}
	f := &FakeProm{t: t, clock: clk, series: func(string) []Series { return nil }}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.serve(l)
	t.Cleanup(func() { f.SetFault(FaultNone); f.close() })
	return f
}

// URL is the base URL of the fake's API.
func (f *FakeProm) URL() string { return "http://" + f.addr }

// AnswerRaw makes the fake answer each query with fn's status code and
// body; a code of -1 hangs until the client gives up. Faults other than
// FaultStopped, FaultUnavailable and FaultSlow do not apply to raw bodies.
func (f *FakeProm) AnswerRaw(fn func(q string) (code int, body string)) {
	f.mu.Lock()
	f.raw, f.series = fn, nil
	f.mu.Unlock()
}

// AnswerSeries makes the fake answer each query with fn's series as a
// successful instant vector.
func (f *FakeProm) AnswerSeries(fn func(q string) []Series) {
	f.mu.Lock()
	f.raw, f.series = nil, fn
	f.mu.Unlock()
}

// SetFault changes how the fake misbehaves; FaultStopped closes the port,
// anything else (re)opens it at the same address.
func (f *FakeProm) SetFault(fl Fault) {
	f.mu.Lock()
	was := f.fault
	f.fault = fl
	f.mu.Unlock()
	switch {
	case fl == FaultStopped && was != FaultStopped:
		f.close()
	case fl != FaultStopped && was == FaultStopped:
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

// Queries returns the queries asked so far, oldest first.
func (f *FakeProm) Queries() []Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Query(nil), f.queries...)
}

// QueryTexts returns the text of every query asked so far, oldest first.
func (f *FakeProm) QueryTexts() []string {
	var out []string
	for _, q := range f.Queries() {
		out = append(out, q.Text)
	}
	return out
}

// Count is the number of queries asked so far.
func (f *FakeProm) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

// Served returns the bytes of every answer written so far and the time
// spent building and writing them.
func (f *FakeProm) Served() (written int64, busy time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes, f.busy
}

func (f *FakeProm) serve(l net.Listener) {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (f *FakeProm) close() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// ServeHTTP answers one query; a test can mount the fake on its own server
// (TLS, for one).
func (f *FakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	q := form.Get("query")
	if q == "" {
		q = r.URL.Query().Get("query")
	}
	f.mu.Lock()
	f.queries = append(f.queries, Query{Text: q, Header: r.Header.Clone(), At: start})
	fl, raw, series := f.fault, f.raw, f.series
	f.mu.Unlock()

	code, out := http.StatusOK, ""
	switch {
	case fl == FaultUnavailable:
		code, out = http.StatusServiceUnavailable, "Service Unavailable\n"
	case fl == FaultSlow:
		<-r.Context().Done()
		return
	case raw != nil:
		code, out = raw(q)
	default:
		now := f.clock.Now()
		out = VectorJSON(now, StampTimes(now, applyFault(fl, now, series(q)))...)
	}
	if code == -1 {
		<-r.Context().Done()
		return
	}
	if code == http.StatusOK || strings.HasPrefix(out, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	n, _ := io.WriteString(w, out)
	f.mu.Lock()
	f.bytes += int64(n)
	f.busy += time.Since(start)
	f.mu.Unlock()
}

// applyFault changes series as fl says; now is the answer's time.
func applyFault(fl Fault, now time.Time, ss []Series) []Series {
	switch fl {
	case FaultNaN:
		for i := range ss {
			if ss[i].Labels[PartLabel] != "ts" {
				ss[i].Value = "NaN"
			}
		}
	case FaultStale:
		for i := range ss {
			if ss[i].At.IsZero() {
				ss[i].At = now.Add(-10 * time.Minute)
			}
		}
	case FaultSeveralSeries:
		n := len(ss)
		for i := range n {
			dup := Series{Labels: map[string]string{"prometheus_replica": "b"}, Value: ss[i].Value, At: ss[i].At}
			for k, v := range ss[i].Labels {
				dup.Labels[k] = v
			}
			ss[i].Labels["prometheus_replica"] = "a"
			ss = append(ss, dup)
		}
	}
	return ss
}

// VectorJSON renders a successful instant-vector answer; a series without a
// time is stamped at.
func VectorJSON(at time.Time, ss ...Series) string {
	var buf bytes.Buffer
	buf.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i, s := range ss {
		if i > 0 {
			buf.WriteByte(',')
		}
		ts := s.At
		if ts.IsZero() {
			ts = at
		}
		labels, _ := json.Marshal(s.Labels)
		buf.WriteString(`{"metric":`)
		buf.Write(labels)
		buf.WriteString(`,"value":[`)
		buf.WriteString(strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', -1, 64))
		buf.WriteByte(',')
		value, _ := json.Marshal(s.Value)
		buf.Write(value)
		buf.WriteString(`]}`)
	}
	buf.WriteString(`]}}`)
	return buf.String()
}

// QueryFamily names the batch family a query of the reader belongs to, by
// the metric it reads (the metric contract of docs/metrics.md): latency,
// traffic, pool, cache, workload, or "" for anything else.
func QueryFamily(q string) string {
	switch {
	case strings.Contains(q, "http_request_duration_seconds_bucket"):
		return "latency"
	case strings.Contains(q, "http_requests_total"):
		return "traffic"
	case strings.Contains(q, "db_pool_max_connections"):
		return "pool"
	case strings.Contains(q, "cache_requests_total"):
		return "cache"
	case strings.Contains(q, "container_cpu_usage_seconds_total"), strings.Contains(q, "redis_connected_clients"):
		return "workload"
	}
	return ""
}

// Load is the state of a simulated service as the fake reports it.
type Load struct {
	// P99 in seconds (between 50 ms and 1 s): the bucket counts are chosen
	// so that Prometheus' interpolation gives it.
	P99 float64
	// Mean latency in seconds [0.4 × P99].
	Mean       float64
	Throughput float64
	PoolInUse  float64
	PoolMax    float64
	// PoolWait is the mean wait for a connection, in seconds.
	PoolWait float64
	// DBTime is the mean time a query holds its connection, in seconds.
	DBTime float64
}

// Service is one simulated service: a Deployment and a service label of
// Name in Namespace, with 4 pods requesting 4 CPUs and using 2, and an
// in-memory cache hit ratio of 0.92.
type Service struct {
	Namespace, Name string
	Load            Load
}

// ServiceSeries answers one batch query of the reader with the series of
// every service.
func ServiceSeries(q string, svcs ...Service) []Series {
	var out []Series
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, s := range svcs {
		app := func(part, v string, kv ...string) Series {
			m := map[string]string{"namespace": s.Namespace, "service": s.Name, PartLabel: part}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return Series{Labels: m, Value: v}
		}
		l := s.Load
		switch QueryFamily(q) {
		case "latency":
			for _, b := range latencyBuckets(l.P99) {
				out = append(out, app("bucket", b[1], "le", b[0]))
			}
			mean := l.Mean
			if mean == 0 {
				mean = 0.4 * l.P99
			}
			out = append(out, app("sum", num(mean*100)), app("count", "100"), app("ts", "")) // ts: see StampTimes
		case "traffic":
			out = append(out, app("requests", num(l.Throughput)), app("errors", num(l.Throughput/1000)),
				app("throughput", num(l.Throughput)), app("pods", "4"), app("ts", ""))
		case "pool":
			out = append(out, app("in_use", num(l.PoolInUse)), app("max", num(l.PoolMax)),
				app("wait_sum", num(l.PoolWait*20)), app("wait_count", "20"),
				app("db_sum", num(l.DBTime*400)), app("db_count", "400"))
		case "cache":
			out = append(out, app("cache", "92", "tier", "memory", "result", "hit"),
				app("cache", "8", "tier", "memory", "result", "miss"))
		case "workload":
			wl := func(part, v string) Series {
				return Series{Labels: map[string]string{"namespace": s.Namespace, DeployLabel: s.Name, "container": "app", PartLabel: part}, Value: v}
			}
			out = append(out, wl("cpu_usage", "2"), wl("cpu_requests", "4"))
		}
	}
	return out
}

// StampTimes sets the value of every "ts" series (the newest sample's
// time, which the reader checks for staleness) to the series' own stamp, or
// to at when it has none.
func StampTimes(at time.Time, ss []Series) []Series {
	for i := range ss {
		if ss[i].Labels[PartLabel] == "ts" {
			t := ss[i].At
			if t.IsZero() {
				t = at
			}
			ss[i].Value = strconv.FormatInt(t.Unix(), 10)
		}
	}
	return ss
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
		// rank 99 sits halfway through the second bucket: solve its bound.
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
