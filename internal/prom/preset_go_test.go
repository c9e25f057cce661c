package prom

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/pgxpoolprometheus"
	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestPresetGo: a Go service as the go preset expects it: client_golang's
// promhttp middleware counts and times real HTTP requests, and
// github.com/IBM/pgxpoolprometheus exports the statistics of a real pgxpool
// on a real PostgreSQL, scraped by a real Prometheus. The expected values
// are the service's own: its request outcomes, and the acquire and hold
// times its workers measure around the pool.
func TestPresetGo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus and PostgreSQL")
	}
	g := NewWithT(t)
	dsn := startPostgres(t)
	reg := prometheus.NewRegistry()

	// HTTP: 19 of every 20 requests answered 200, 1 answered 500; buckets
	// whose first bound (250 ms) is above every in-process request, so the
	// percentiles are exact: q × 250 ms.
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
		Help: "HTTP request latencies.", Buckets: []float64{0.25, 0.5, 1, 2.5}}, []string{"code", "method"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
		Help: "HTTP requests."}, []string{"code", "method"})
	reg.MustRegister(duration, requests)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	app := httptest.NewServer(promhttp.InstrumentHandlerDuration(duration, promhttp.InstrumentHandlerCounter(requests, mux)))
	t.Cleanup(app.Close)

	// The pool: 3 connections for 4 workers, each holding a connection for
	// a 20 ms query, so the pool is saturated and acquisitions wait.
	cfg, err := pgxpool.ParseConfig(dsn)
	g.Expect(err).NotTo(HaveOccurred())
	cfg.MaxConns = 3
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(pool.Close)
	reg.MustRegister(pgxpoolprometheus.NewCollector(pool, nil))

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	var acquires, acquireNanos, holdNanos atomic.Int64
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				conn, err := pool.Acquire(ctx)
				if err != nil {
					return
				}
				acquired := time.Now()
				_, _ = conn.Exec(ctx, "SELECT pg_sleep(0.02)")
				conn.Release()
				acquires.Add(1)
				acquireNanos.Add(int64(acquired.Sub(start)))
				holdNanos.Add(int64(time.Since(acquired)))
			}
		})
	}
	var sent, failed atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i := range 20 {
				path := "/ok"
				if i == 0 {
					path = "/fail"
				}
				resp, err := http.Get(app.URL + path)
				if err != nil {
					continue
				}
				_ = resp.Body.Close()
				sent.Add(1)
				if i == 0 {
					failed.Add(1)
				}
			}
		}
	})

	prom := scrapeApp(t, reg)
	target := presetTarget(tuningv1alpha1.PresetGo)
	// Enough requests in the window for p99 (1,000): 400/s over 5 s.
	got := observeWhen(t, prom, `count_over_time(pgxpool_acquire_count[10s]) >= 5`, []Target{target},
		signals.LatencyP99, signals.ErrorRate, signals.PoolInUse, signals.PoolWait, signals.DBTime, signals.DBCallRate)
	o := got[target.Key]
	n, acq, hold := float64(acquires.Load()), float64(acquireNanos.Load())/1e9, float64(holdNanos.Load())/1e9

	for _, p := range target.Percentiles {
		q, _ := signals.Quantile(p)
		expectNear(t, o, p, q*0.25, 1e-6)
	}
	expectNear(t, o, signals.ErrorRate, float64(failed.Load())/float64(sent.Load()), 0.05)
	expectNear(t, o, signals.Pods, 1, 0)
	expectNear(t, o, signals.PoolMax, 3, 0)
	// The gauge is sampled at each scrape: nearly always 3 in use.
	expectNear(t, o, signals.PoolInUse, 3, 0.15)
	// Means over the window against the workers' own means over the run.
	expectNear(t, o, signals.PoolWait, acq/n, 0.3)
	expectNear(t, o, signals.DBTime, hold/n, 0.3)
	expectNear(t, o, signals.DBCallRate, 3/(hold/n), 0.3)
	// pgxpool has no wait histogram: the tail is missing, and says so;
	// its absence is no error of the read.
	g.Expect(o.Missing[signals.PoolWaitTail].Reason).To(Equal(signals.ReasonNotConfigured))
	g.Expect(o.Missing[signals.PoolWaitTail].Message).To(ContainSubstring("no wait-time histogram"))
}

// startPostgres runs a PostgreSQL server (Debian's postgresql package) for
// the test in a temporary directory, as the postgres user when the test
// runs as root (PostgreSQL refuses to run as root), and returns its DSN.
func startPostgres(t *testing.T) string {
	t.Helper()
	bin := postgresBin(t)
	dir, err := os.MkdirTemp("", "navius-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running PostgreSQL as root needs the postgres user (Debian's postgresql package): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := command("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	server := command("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=20")
	server.Stdout, server.Stderr = logFile, logFile
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = server.Process.Signal(syscall.SIGINT) // fast shutdown
		_ = server.Wait()
		_ = logFile.Close()
	})
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pool, err := pgxpool.New(ctx, dsn)
		if err == nil {
			err = pool.Ping(ctx)
			pool.Close()
		}
		cancel()
		if err == nil {
			return dsn
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("PostgreSQL did not accept connections within 30s: %v\n%s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// postgresBin is the directory of PostgreSQL's server programs: Debian
// installs them under /usr/lib/postgresql/<version>/bin, off the PATH.
func postgresBin(t *testing.T) string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatal("no PostgreSQL server programs (initdb): install Debian's postgresql package")
	return ""
}
