package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// BenchmarkScrape is one scrape of the manager's /metrics handler (encoded,
// the body discarded) with 1,000 profiles shaped like the scale test's (a pool
// and an HPA, one objective), each with every condition, its knob values
// and a period's SLIs, read from a real informer cache of the API server.
func BenchmarkScrape(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	ns := fmt.Sprintf("bench-scrape-%d", time.Now().UnixNano())
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	var conds []metav1.Condition
	for _, c := range []string{tuningv1alpha1.ConditionReady, tuningv1alpha1.ConditionSLOMet, tuningv1alpha1.ConditionMetricsAvailable,
		tuningv1alpha1.ConditionProgressing, tuningv1alpha1.ConditionStalled, tuningv1alpha1.ConditionConnectionBudget,
		tuningv1alpha1.ConditionRolloutBudget, tuningv1alpha1.ConditionReconciling} {
		conds = append(conds, cond(c, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded))
	}
	profiles := make([]*tuningv1alpha1.PerformanceProfile, n)
	var eg errgroup.Group
	eg.SetLimit(8)
	for i := range profiles {
		eg.Go(func() error {
			p := poolProfile(ns, tuningv1alpha1.ModeAuto)
			p.Name = fmt.Sprintf("svc-%d", i)
			p.Spec.SLO.Latency = p.Spec.SLO.Latency[:1]
			p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{HPARef: &corev1.LocalObjectReference{Name: p.Name},
				MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 6}, MaxReplicas: &tuningv1alpha1.Int32Range{Min: 6, Max: 20}}
			if err := env.Client.Create(ctx, p); err != nil {
				return err
			}
			p.Status = tuningv1alpha1.PerformanceProfileStatus{Conditions: conds, Current: &tuningv1alpha1.KnobValues{
				Env: map[string]string{poolEnv: "20"}, HPA: &tuningv1alpha1.HPAValues{MinReplicas: ptr.To[int32](2), MaxReplicas: 10}}}
			profiles[i] = p
			return env.Client.Status().Update(ctx, p)
		})
	}
	if err := eg.Wait(); err != nil {
		b.Fatal(err)
	}
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}, ByObject: CacheTransforms()})
	if err != nil {
		b.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = c.Start(cctx) }()
	if _, err := c.GetInformer(ctx, &tuningv1alpha1.PerformanceProfile{}); err != nil {
		b.Fatal(err)
	}
	c.WaitForCacheSync(ctx)

	reg := prometheus.NewRegistry()
	m := newMetrics(reg) // the manager's: the per-profile series served by its handler
	m.readProfiles(c, nil)
	// The signals the scale test's service exports.
	obs := signals.NewObservation(t0)
	for _, s := range []signals.Signal{signals.LatencyP50, signals.LatencyP95, signals.LatencyP99, signals.ErrorRate, signals.Throughput,
		signals.PoolWait, signals.CPUUtilization, signals.MemoryHitRatio, signals.RedisHitRatio} {
		obs.Set(s, 0.1, t0)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, p := range profiles {
		m.report(p, &obs, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// What the metrics keep of the profiles between scrapes.
	series := prometheus.NewRegistry()
	series.MustRegister(m.profiles)
	perProfile, err := testutil.GatherAndCount(series, "navius_tuner_slo_compliance", "navius_tuner_sli", "navius_tuner_field_conflicts",
		"navius_tuner_profile_condition", "navius_tuner_profile_paused", "navius_tuner_profile_mode", "navius_tuner_knob_value")
	if err != nil {
		b.Fatal(err)
	}

	h := m.handler(reg)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(&discardResponse{header: http.Header{}}, req)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "kept-B/profile")
	b.ReportMetric(float64(scrapeInFlight(h, req))/(1<<20), "in-flight-MiB")
	b.ReportMetric(float64(perProfile)/n, "series/profile")
}

// scrapeInFlight is the most a scrape holds at once: the live heap after
// collections made one after another while it runs, less the live heap
// before it.
func scrapeInFlight(h http.Handler, req *http.Request) uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	base, peak := m.HeapAlloc, m.HeapAlloc
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(&discardResponse{header: http.Header{}}, req)
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		runtime.GC()
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
	}
	return peak - base
}

// discardResponse is a scrape's connection that reads nothing back.
type discardResponse struct{ header http.Header }

func (d *discardResponse) Header() http.Header         { return d.header }
func (d *discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardResponse) WriteHeader(int)             {}
