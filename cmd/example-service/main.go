// Command example-service is a tiny real HTTP service that serves navius-tuner's
// metric contract (docs/metrics.md): request latency and count, and a database
// connection pool whose size is the env variable DB_POOL_MAX_CONNECTIONS, the
// knob a PerformanceProfile tunes. The "database" is a sleep that holds a pool
// connection, so a pool that is too small shows up as pool waits and latency.
// It sends itself a steady load so that a fresh cluster has traffic to measure.
// hack/kind-e2e.sh builds it into an image (hack/kind/example-service.Dockerfile)
// and runs it in kind behind a Prometheus.
//
// Its series carry no namespace, service or pod labels: Prometheus adds them
// from the pod (hack/kind/prometheus.yaml), as it would for any service.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	addr := flag.String("listen", ":8080", "Address to serve / (a request) and /metrics on.")
	rps := flag.Float64("load", 20, "Requests per second the service sends itself (0: none).")
	query := flag.Duration("query-time", 20*time.Millisecond, "How long one request holds a pool connection.")
	flag.Parse()
	poolSize, err := poolSizeFromEnv(os.Getenv("DB_POOL_MAX_CONNECTIONS"))
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc := newService(reg, poolSize, *query)
	mux := http.NewServeMux()
	mux.Handle("/", svc)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if *rps > 0 {
		go selfLoad("http://127.0.0.1"+portOf(*addr)+"/", *rps)
	}
	log.Printf("example-service on %s: pool of %d connections, %s per request, %.0f requests/s of load", *addr, poolSize, *query, *rps)
	log.Fatal(srv.ListenAndServe())
}

// poolSizeFromEnv reads DB_POOL_MAX_CONNECTIONS; unset means 10.
func poolSizeFromEnv(v string) (int, error) {
	if v == "" {
		return 10, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("DB_POOL_MAX_CONNECTIONS=%q: want a positive integer", v)
	}
	return n, nil
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i:]
		}
	}
	return ":80"
}

// service answers each request after holding one pool connection for the query time.
type service struct {
	pool  chan struct{}
	query time.Duration

	requests  *prometheus.CounterVec
	latency   prometheus.Histogram
	poolWait  prometheus.Histogram
	queryTime prometheus.Histogram
}

func newService(reg prometheus.Registerer, poolSize int, query time.Duration) *service {
	s := &service{
		pool:  make(chan struct{}, poolSize),
		query: query,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "Requests by HTTP status.",
		}, []string{"status"}),
		// Bounds that bracket the usual SLO thresholds (a percentile is never
		// more precise than its bucket).
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Request latency.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5},
		}),
		poolWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "db_pool_wait_seconds", Help: "Time waited for a pool connection.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}),
		queryTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "db_query_duration_seconds", Help: "Database call time, holding a connection.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}),
	}
	inUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "db_pool_connections", Help: "Pool connections by state.", ConstLabels: prometheus.Labels{"state": "in_use"},
	}, func() float64 { return float64(len(s.pool)) })
	idle := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "db_pool_connections", Help: "Pool connections by state.", ConstLabels: prometheus.Labels{"state": "idle"},
	}, func() float64 { return float64(cap(s.pool) - len(s.pool)) })
	max := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "db_pool_max_connections", Help: "Pool maximum size.",
	}, func() float64 { return float64(cap(s.pool)) })
	reg.MustRegister(s.requests, s.latency, s.poolWait, s.queryTime, inUse, idle, max)
	return s
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	select {
	case s.pool <- struct{}{}:
	case <-r.Context().Done():
		s.requests.WithLabelValues("503").Inc()
		http.Error(w, "gave up waiting for a connection", http.StatusServiceUnavailable)
		return
	}
	got := time.Now()
	s.poolWait.Observe(got.Sub(start).Seconds())
	time.Sleep(s.query)
	s.queryTime.Observe(time.Since(got).Seconds())
	<-s.pool
	s.requests.WithLabelValues("200").Inc()
	s.latency.Observe(time.Since(start).Seconds())
	_, _ = w.Write([]byte("ok\n"))
}

// selfLoad sends rps requests per second to url, each in its own goroutine, forever.
func selfLoad(url string, rps float64) {
	c := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rps))
	defer tick.Stop()
	for range tick.C {
		go func() {
			resp, err := c.Get(url)
			if err != nil {
				if !errors.Is(err, http.ErrServerClosed) {
					log.Printf("load: %v", err)
				}
				return
			}
			_ = resp.Body.Close()
		}()
	}
}
