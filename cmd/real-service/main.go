// Command real-service is a real Go service of the kind navius-tuner tunes,
// run by the lab's node agent as the process of a pod: a pgxpool pool on a
// real PostgreSQL, an in-process LRU cache with a TTL (L1), Redis as L2, and
// metrics in the OpenTelemetry semantic conventions through the OpenTelemetry
// SDK and its Prometheus exporter (http_server_request_duration_seconds,
// db_client_connection_count{db_client_connection_state="used"|"idle"},
// db_client_connection_max, db_client_connection_wait_time_seconds,
// db_client_connection_use_time_seconds), plus the cache counter
// cache_requests_total{tier,result}. METRICS_CONNECTION_USE_TIME=false leaves
// out the use time, which the opentelemetry preset reads as the database
// call time (dbTime), for a service that exports none.
//
// Each GET / draws a key (uniform or Zipf over KEY_COUNT keys) and reads it
// through L1, Redis and PostgreSQL; a database call holds its connection for
// QUERY_COST_SECONDS on the server (pg_sleep). The env variables are listed in
// config.go; the knobs (pool size, cache sizes and TTLs) are read at start, so
// a changed value takes effect when the pod is replaced, as in Kubernetes.
// cmd/example-service stays the image of the kind path.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	cfg, err := configFromEnv(lookupEnv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := build(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.close()
	httpSrv := &http.Server{Addr: cfg.Listen, Handler: srv.mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.ListenAndServe() }()
	log.Printf("real-service on %s: pool %d (min %d), L1 %d items for %s, L2 TTL %s, %s per query, %d %s keys",
		cfg.Listen, cfg.PoolMax, cfg.PoolMin, cfg.L1Items, cfg.L1TTL, cfg.L2TTL, cfg.QueryCost, cfg.KeyCount, cfg.KeyDist)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is the wired service: its handler and what close releases.
type server struct {
	mux   *http.ServeMux
	svc   *service
	close func()
}

// build connects the pool and Redis (neither dials before the first
// request) and wires the handler, /metrics and /healthz.
func build(ctx context.Context, cfg config) (*server, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
	}
	pcfg.MaxConns, pcfg.MinConns = cfg.PoolMax, cfg.PoolMin
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		ropts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("%s: %w", EnvRedisURL, err)
		}
		rdb = redis.NewClient(ropts)
	}
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		pool.Close()
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	m, err := newInstruments(provider.Meter("github.com/navius-dev/navius-tuner/cmd/real-service"), pool, cfg.UseTime)
	if err != nil {
		pool.Close()
		return nil, err
	}
	svc := newService(cfg, pool, rdb, m)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", svc)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return &server{mux: mux, svc: svc, close: func() {
		_ = provider.Shutdown(context.Background())
		if rdb != nil {
			_ = rdb.Close()
		}
		pool.Close()
	}}, nil
}
