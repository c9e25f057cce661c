package scale

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// service is one simulated service: a Deployment named name in namespace ns.
// A starved service breaches its p99 objective with a saturated connection
// pool, so the engine acts on it (raises the pool).
type service struct {
	ns, name string
	starved  bool
}

// starvedEvery makes one service in starvedEvery starved (10 %).
const starvedEvery = 10

// batchProm is a fake Prometheus that answers each batched family query of
// the navius-tuner Observer with the series of every service at once: most
// of them steady (SLOs met without the margin that savings need), the
// starved ones breaching; it counts the queries and their latency.
type batchProm struct {
	mu       sync.Mutex
	services []service
	queries  atomic.Int64
	bytes    atomic.Int64
	nanos    atomic.Int64
	// asked holds when each query arrived.
	asked []time.Time
}

func (p *batchProm) setServices(s []service) {
	p.mu.Lock()
	p.services = s
	p.mu.Unlock()
}

func (p *batchProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	q := form.Get("query")
	if q == "" {
		q = r.URL.Query().Get("query")
	}
	p.mu.Lock()
	svcs := p.services
	p.asked = append(p.asked, start)
	p.mu.Unlock()
	var buf bytes.Buffer
	writeAnswer(&buf, q, svcs, time.Now())
	w.Header().Set("Content-Type", "application/json")
	n, _ := w.Write(buf.Bytes())
	p.queries.Add(1)
	p.bytes.Add(int64(n))
	p.nanos.Add(int64(time.Since(start)))
}

// maxPerPeriod is the most queries asked in one period since t: the most
// asked within 25 s of a query that starts a batch (the first after t, or
// the first more than 5 s after the one before). A 25 s window cannot hold
// the next regular batch (one period, 30 s, later) but holds any refresh
// the period added; counting queries over the whole span instead and
// dividing by its length counts 3 batches in 65 s when they fall at its
// start and end.
func (p *batchProm) maxPerPeriod(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var since []time.Time
	for _, a := range p.asked {
		if !a.Before(t) {
			since = append(since, a)
		}
	}
	most := 0
	for i, a := range since {
		if i > 0 && a.Sub(since[i-1]) <= 5*time.Second {
			continue // inside a batch
		}
		n := 0
		for _, b := range since[i:] {
			if b.Sub(a) < 25*time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// writeAnswer streams the vector of one family for every service.
func writeAnswer(buf *bytes.Buffer, q string, svcs []service, now time.Time) {
	ts := float64(now.UnixMilli()) / 1000
	buf.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	first := true
	emit := func(labels map[string]string, v string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		l, _ := json.Marshal(labels)
		fmt.Fprintf(buf, `{"metric":%s,"value":[%.3f,%q]}`, l, ts, v)
	}
	for _, s := range svcs {
		app := func(part string, kv ...string) map[string]string {
			m := map[string]string{"namespace": s.ns, "service": s.name, "navius_part": part}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		switch {
		case strings.Contains(q, "http_request_duration_seconds_bucket"):
			// p99 = 85 ms of a 100 ms objective; starved: p99 about 0.9 s.
			buckets := [][2]string{{"0.05", "98"}, {"0.12", "100"}, {"1", "100"}, {"+Inf", "100"}}
			if s.starved {
				buckets = [][2]string{{"0.05", "60"}, {"0.12", "90"}, {"1", "100"}, {"+Inf", "100"}}
			}
			for _, b := range buckets {
				emit(app("bucket", "le", b[0]), b[1])
			}
			emit(app("sum"), "3")
			emit(app("count"), "100")
			emit(app("ts"), fmt.Sprint(now.Unix()))
		case strings.Contains(q, "http_requests_total"):
			emit(app("requests"), "800")
			emit(app("throughput"), "800")
			emit(app("errors"), "0.8")
			emit(app("pods"), "4")
			emit(app("ts"), fmt.Sprint(now.Unix()))
		case strings.Contains(q, "db_pool_max_connections") && s.starved:
			// Every connection in use, 40 ms waits for one.
			emit(app("in_use"), "10")
			emit(app("max"), "10")
			emit(app("wait_sum"), "0.8")
			emit(app("wait_count"), "20")
			emit(app("db_sum"), "2")
			emit(app("db_count"), "400")
		case strings.Contains(q, "db_pool_max_connections"):
			emit(app("in_use"), "6")
			emit(app("max"), "10")
			emit(app("wait_sum"), "0.004")
			emit(app("wait_count"), "20")
			emit(app("db_sum"), "2")
			emit(app("db_count"), "400")
		case strings.Contains(q, "cache_requests_total"):
			emit(app("cache", "tier", "memory", "result", "hit"), "92")
			emit(app("cache", "tier", "memory", "result", "miss"), "8")
		case strings.Contains(q, "container_cpu_usage_seconds_total"):
			wl := func(part, v string) {
				emit(map[string]string{"namespace": s.ns, "navius_deploy": s.name, "container": "app", "navius_part": part}, v)
			}
			wl("cpu_usage", "2")
			wl("cpu_requests", "4")
		}
	}
	buf.WriteString(`]}}`)
}
