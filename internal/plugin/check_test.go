package plugin

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// service is a small exposition of a service that speaks the navius metric
// contract for its requests, its pool and its L1 cache, but exports no
// db_query_duration_seconds: 400 requests/s, 1 in 200 above 100 ms, 3 of
// 10 connections in use, waits of 0.5 ms.
func service(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"namespace": "shop", "service": "orders"}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}}, []string{"namespace", "service"})
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total"}, []string{"namespace", "service", "status"})
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "db_pool_connections"}, []string{"namespace", "service", "state"})
	poolMax := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "db_pool_max_connections"}, []string{"namespace", "service"})
	wait := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "db_pool_wait_seconds"}, []string{"namespace", "service"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cache_requests_total"}, []string{"namespace", "service", "tier", "result"})
	reg.MustRegister(lat, reqs, conns, poolMax, wait, cache)
	conns.With(merge(labels, "state", "in_use")).Set(3)
	conns.With(merge(labels, "state", "idle")).Set(7)
	poolMax.With(labels).Set(10)
	var mu sync.Mutex
	testenv.Every(t, 50*time.Millisecond, func() {
		mu.Lock()
		defer mu.Unlock()
		for i := range 20 {
			d := 0.020
			if i == 0 && time.Now().UnixNano()%10 == 0 {
				d = 0.3 // 1 in 200
			}
			lat.With(labels).Observe(d)
			reqs.With(merge(labels, "status", "200")).Inc()
			wait.With(labels).Observe(0.0005)
			result := "miss"
			if i%2 == 0 {
				result = "hit"
			}
			cache.With(merge(merge(labels, "tier", "memory"), "result", result)).Inc()
		}
	})
	return reg
}

func merge(l prometheus.Labels, k, v string) prometheus.Labels {
	out := prometheus.Labels{k: v}
	for a, b := range l {
		out[a] = b
	}
	return out
}

// profileYAML is a profile as a user writes it, pointed at a Prometheus
// that does not exist: check is given the real one with --prometheus.
const profileYAML = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: tuning.navius.io/v1alpha1
kind: PerformanceProfile
metadata: {name: orders, namespace: shop}
spec:
  targetRef: {kind: Deployment, name: orders, container: app}
  slo:
    latency:
      - {percentile: p99, threshold: 100ms}
    window: 10s
  metrics:
    prometheus: {url: http://prometheus.monitoring:9090}
    labels: {namespace: shop, service: orders}
    saturationWindow: 10s
  connectionPool:
    maxConnections: {env: DB_POOL_MAX_CONNECTIONS, min: 5, max: 100}
`

const cacheYAML = `
  cache:
    memory:
      maxItems: {env: CACHE_MEMORY_MAX_ITEMS, min: 1000, max: 200000}
`

// checkRun runs `kubectl navius check` without a cluster (no kubeconfig).
func checkRun(t *testing.T, args ...string) (string, string, int) {
	var o, e bytes.Buffer
	opts := &Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &o, ErrOut: &e},
		Flags: genericclioptions.NewConfigFlags(true), Now: time.Now}
	cmd := opts.command()
	cmd.SetArgs(append([]string{"check", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, args...))
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		e.WriteString("Error: " + err.Error() + "\n")
	}
	return o.String(), e.String(), ExitCode(err)
}

func writeFile(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "profile.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckAgainstPrometheus: a real Prometheus scrapes the service; check
// runs the reader's queries through it and says which families the metrics
// let navius-tuner tune, with the exit code a pipeline can gate on.
func TestCheckAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	srv := httptest.NewServer(promhttp.HandlerFor(service(t), promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	p := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{strings.TrimPrefix(srv.URL, "http://")}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// p99 needs 1,000 requests in the 10s window: 400/s gives them after 3 s.
	g.Expect(p.WaitForSeries(ctx, `sum(increase(http_request_duration_seconds_count[10s])) > 2000`)).To(Succeed())

	// Pool only: tunable, exit 0.
	var out, errOut string
	var code int
	poolOnly := writeFile(t, profileYAML)
	g.Eventually(func() int {
		out, errOut, code = checkRun(t, "-f", poolOnly, "--prometheus", p.URL)
		return code
	}).WithTimeout(30*time.Second).WithPolling(time.Second).Should(Equal(0), "%s%s", out, errOut)
	g.Expect(out).To(HavePrefix("PerformanceProfile shop/orders, Prometheus " + p.URL + "\nSLO signals (every family needs them):\n  found    latencyP99 = "))
	g.Expect(out).To(MatchRegexp(`(?m)^pool: tunable \(DB_POOL_MAX_CONNECTIONS\)\n  found    poolInUse = 3\n  found    poolWait = 500µs\nEvery declared family can be tuned\.$`))

	// Pool and L1 cache: the service exports no dbTime, but the cache's
	// miss cost is estimated from the pool's hold time (connections in use
	// over the requests that miss), so the cache is tunable too: exit 0.
	both := writeFile(t, profileYAML+cacheYAML)
	out, errOut, code = checkRun(t, "-f", both, "--prometheus", p.URL)
	g.Expect(code).To(Equal(0), "%s%s", out, errOut)
	g.Expect(out).To(ContainSubstring("pool: tunable (DB_POOL_MAX_CONNECTIONS)\n"))
	g.Expect(out).To(MatchRegexp(`(?m)^cache: tunable \(CACHE_MEMORY_MAX_ITEMS\)\n  found    memoryHitRatio = 50\.0%\n`))
	g.Expect(out).To(HaveSuffix("Every declared family can be tuned.\n"))

	// The profile's own labels select nothing: every signal is Empty.
	other := writeFile(t, strings.ReplaceAll(profileYAML, "service: orders", "service: payments"))
	out, _, code = checkRun(t, "-f", other, "--prometheus", p.URL)
	g.Expect(code).To(Equal(ExitNotTunable))
	g.Expect(out).To(ContainSubstring("  missing  latencyP99: Empty"))
	g.Expect(out).To(ContainSubstring("No knob can be tuned on these metrics"))
}

// Bad input and an unreachable Prometheus are errors (exit 1), not a verdict.
func TestCheckRefuses(t *testing.T) {
	for _, c := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"unknown field", strings.Replace(profileYAML, "  slo:", "  slos: {}\n  slo:", 1), nil, `document 2: error unmarshaling JSON: while decoding JSON: json: unknown field "slos"`},
		{"no profile", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n", nil, "holds no PerformanceProfile (tuning.navius.io/v1alpha1)"},
		{"another version", strings.Replace(profileYAML, "tuning.navius.io/v1alpha1", "tuning.navius.io/v1beta9", 1), nil,
			"apiVersion tuning.navius.io/v1beta9 is not served by this plugin"},
		{"Prometheus down", profileYAML, []string{"--prometheus", "http://127.0.0.1:1", "--timeout", "5s"},
			"PerformanceProfile shop/orders: Prometheus at http://127.0.0.1:1 could not be queried: EndpointDown"},
		{"credentials without a cluster", strings.Replace(profileYAML, "prometheus: {url: http://prometheus.monitoring:9090}",
			"prometheus: {url: http://prometheus.monitoring:9090, authSecretRef: {name: token}}", 1), nil,
			"the profile names a Secret, which is read from the cluster"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			out, errOut, code := checkRun(t, append([]string{"-f", writeFile(t, c.file)}, c.args...)...)
			g.Expect(code).To(Equal(1), out)
			g.Expect(errOut).To(ContainSubstring(c.want))
		})
	}
}
