package reliability

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// loadSource reports a load, stamped with the real clock.
type loadSource struct {
	mu sync.Mutex
	l  load
}

func (o *loadSource) Observe(context.Context, *tuningv1alpha1.PerformanceProfile) (signals.Observation, error) {
	o.mu.Lock()
	l := o.l
	o.mu.Unlock()
	now := time.Now()
	obs := signals.NewObservation(now)
	for s, v := range map[signals.Signal]float64{
		signals.LatencyP50: 0.02, signals.LatencyP95: l.P99 * 0.8, signals.LatencyP99: l.P99, signals.LatencyMean: 0.03,
		signals.ErrorRate: 0.001, signals.Throughput: l.Throughput, signals.Pods: 4,
		signals.PoolInUse: l.PoolInUse, signals.PoolMax: l.PoolMax, signals.PoolWait: l.PoolWait,
		signals.DBTime: 0.025, signals.DBCallRate: 1600, signals.MemoryHitRatio: 0.92, signals.CPUUtilization: 0.5,
	} {
		obs.Set(s, v, now)
	}
	return obs, nil
}

// testManager is an in-process navius-tuner manager on the test API server.
type testManager struct {
	mgr      ctrl.Manager
	writes   *writes
	registry *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error
}

type managerOptions struct {
	ns       string
	observer controllers.SignalSource
	// leaderElectionID enables leader election with short leases.
	leaderElectionID string
	lease            time.Duration
	// faults is injected into every write from the start.
	faults func(kind string, obj any) error
}

const retryPeriod = 300 * time.Millisecond

func startManager(t *testing.T, o managerOptions) *testManager {
	t.Helper()
	tm := &testManager{writes: &writes{}, registry: prometheus.NewRegistry(), done: make(chan error, 1)}
	if o.faults != nil {
		tm.writes.setFault(o.faults)
	}
	opts := ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The shipped cache: trimmed objects (controllers.CacheTransforms).
		Cache:      cache.Options{DefaultNamespaces: map[string]cache.Config{o.ns: {}}, ByObject: controllers.CacheTransforms()},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		NewClient: func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return tm.writes.wrap(c), nil
		},
	}
	if o.leaderElectionID != "" {
		renew := o.lease * 2 / 3
		retry := retryPeriod
		opts.LeaderElection, opts.LeaderElectionID, opts.LeaderElectionNamespace = true, o.leaderElectionID, o.ns
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = &o.lease, &renew, &retry
		// Killed, not stopped: the lease is not released, the other replica must wait for it to expire.
		opts.LeaderElectionReleaseOnCancel = false
	}
	mgr, err := ctrl.NewManager(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := controllers.NewPerformanceProfileReconciler(mgr.GetClient(), controllers.Options{
		Source: o.observer, Metrics: controllers.NewMetrics(tm.registry), MaxConcurrentReconciles: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), ctrl.Log))
	tm.mgr, tm.cancel = mgr, cancel
	go func() { tm.done <- mgr.Start(ctx) }()
	t.Cleanup(tm.stop)
	return tm
}

// stop kills the manager and waits until it has stopped.
func (tm *testManager) stop() {
	if tm.cancel == nil {
		return
	}
	tm.cancel()
	tm.cancel = nil
	select {
	case err := <-tm.done:
		_ = err // a stopped manager returns context.Canceled, which says nothing here
	case <-time.After(30 * time.Second):
	}
}

// reconciles counts the reconciles so far, from the reconciler's duration histogram.
func (tm *testManager) reconciles() uint64 {
	mfs, err := tm.registry.Gather()
	if err != nil {
		return 0
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "navius_tuner_reconcile_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += histogramCount(m)
		}
	}
	return n
}

func histogramCount(m *dto.Metric) uint64 {
	if h := m.GetHistogram(); h != nil {
		return h.GetSampleCount()
	}
	return 0
}

func conflictErr() error {
	return apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, targetName,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// fastProfile creates a namespace with the target and a pool profile with
// the shortest interval (5s), for tests that run a manager in real time.
func fastProfile(t *testing.T) (string, *tuningv1alpha1.PerformanceProfile) {
	t.Helper()
	ns := namespace(t)
	deployment(t, ns, "10")
	p := poolProfile(ns, "http://prometheus.invalid:9090")
	p.Spec.Interval = metav1.Duration{Duration: 5 * time.Second}
	NewWithT(t).Expect(env.Client.Create(context.Background(), p)).To(Succeed())
	return ns, p
}

// TestAPIFaultsBoundedRetriesNoHotLoopNoDoubleApply: with writes refused
// (409 conflicts and 503s, then 5 % of them), the change is applied exactly
// once and recorded exactly once, and the reconcile rate stays bounded by
// the backoff; with every status patch refused, the reconciles back off
// exponentially instead of spinning.
func TestAPIFaultsBoundedRetriesNoHotLoopNoDoubleApply(t *testing.T) {
	g := NewWithT(t)
	ns, p := fastProfile(t)

	// The first two applies are refused (409, then 503), and so are the
	// first three status patches (the change is recorded before it is
	// applied, so a refused record stops the apply). After that, 5 % of all
	// writes are refused.
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	refused := 0
	faults := func(kind string, obj any) error {
		mu.Lock()
		defer mu.Unlock()
		seen[kind]++
		var err error
		switch {
		case kind == "apply" && seen[kind] == 1, kind == "status" && seen[kind] == 2:
			err = conflictErr()
		case kind == "apply" && seen[kind] == 2, kind == "status" && seen[kind] <= 3:
			err = apierrors.NewServiceUnavailable("etcd leader changed")
		case rnd.Float64() < 0.05:
			err = conflictErr()
		}
		if err != nil {
			refused++
		}
		return err
	}
	tm := startManager(t, managerOptions{ns: ns, observer: &loadSource{l: starved}, faults: faults})

	// The pool is raised once, and the raise is recorded once.
	g.Eventually(func() []tuningv1alpha1.Decision { return getProfile(t, ns).Status.History }).
		WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(HaveLen(1))
	start, startCount := time.Now(), tm.reconciles()
	time.Sleep(10 * time.Second)
	span, n := time.Since(start), tm.reconciles()-startCount
	h := getProfile(t, ns).Status.History
	g.Expect(h).To(HaveLen(1), "nothing applied twice")
	g.Expect(h[0].Reason).NotTo(Equal(period.ReasonUnrecorded), "recorded before it was applied: no change to recover")
	g.Expect(poolValue(t, ns)).To(Equal(h[0].Changes[0].To))
	g.Expect(tm.writes.workload.Load()).To(Equal(int64(1)), "one write to the Deployment in all")
	mu.Lock()
	t.Logf("faults: %d writes refused (%v attempts by kind); %d reconciles in %s after the change (interval 5s)", refused, seen, n, span.Round(time.Second))
	mu.Unlock()
	g.Expect(n).To(BeNumerically("<=", 20), "no hot loop")

	// Every status patch refused: exponential backoff, not a spin.
	tm.writes.setFault(func(kind string, _ any) error {
		if kind == "status" {
			return apierrors.NewServiceUnavailable("etcd leader changed")
		}
		return nil
	})
	// A spec change makes the status differ, so every reconcile must patch it.
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)).To(Succeed())
	p.Spec.SLO.Latency[0].Threshold = metav1.Duration{Duration: 120 * time.Millisecond}
	g.Expect(env.Client.Update(context.Background(), p)).To(Succeed())
	start, startCount = time.Now(), tm.reconciles()
	time.Sleep(12 * time.Second)
	span, n = time.Since(start), tm.reconciles()-startCount
	t.Logf("every status patch refused: %d reconciles in %s", n, span.Round(time.Second))
	g.Expect(n).To(BeNumerically(">=", 3), "it keeps retrying")
	g.Expect(n).To(BeNumerically("<=", 20), "with exponential backoff (5 ms doubling), not in a hot loop")
	g.Expect(tm.writes.workload.Load()).To(Equal(int64(1)))
	tm.writes.setFault(nil)
	g.Eventually(func() int64 { return getProfile(t, ns).Status.ObservedGeneration }).
		WithTimeout(30*time.Second).Should(Equal(p.Generation), "recovers once the API server accepts the patch")
}

// TestLeaderElectionHandover: two managers, one lease. Only the leader
// writes; killing it (no lease release) hands over within the lease
// duration, and the new leader continues from the status without acting
// twice.
func TestLeaderElectionHandover(t *testing.T) {
	g := NewWithT(t)
	ns, _ := fastProfile(t)
	obs := &loadSource{l: starved}
	lease := 3 * time.Second
	a := startManager(t, managerOptions{ns: ns, observer: obs, leaderElectionID: "navius-tuner-test", lease: lease})
	select {
	case <-a.mgr.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the first manager was not elected")
	}
	b := startManager(t, managerOptions{ns: ns, observer: obs, leaderElectionID: "navius-tuner-test", lease: lease})

	g.Eventually(func() []tuningv1alpha1.Decision { return getProfile(t, ns).Status.History }).
		WithTimeout(30 * time.Second).Should(HaveLen(1))
	time.Sleep(2 * time.Second)
	g.Expect(a.writes.workload.Load()).To(Equal(int64(1)))
	g.Expect(b.writes.workload.Load()).To(BeZero(), "the follower writes nothing")
	g.Expect(b.reconciles()).To(BeZero(), "the follower does not even reconcile")
	select {
	case <-b.mgr.Elected():
		t.Fatal("two leaders")
	default:
	}

	killed := time.Now()
	a.stop()
	select {
	case <-b.mgr.Elected():
	case <-time.After(lease + 10*retryPeriod + 5*time.Second):
		t.Fatalf("no handover %s after the leader was killed", time.Since(killed))
	}
	handover := time.Since(killed)
	t.Logf("handover after %s (lease %s, retry period %s)", handover.Round(10*time.Millisecond), lease, retryPeriod)
	g.Expect(handover).To(BeNumerically("<=", lease+3*retryPeriod+time.Second), "within the lease time")

	// The new leader reconciles, sees the pending change and its rollout, and holds.
	g.Eventually(b.reconciles).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 2))
	time.Sleep(6 * time.Second)
	g.Expect(getProfile(t, ns).Status.History).To(HaveLen(1), "no double actuation")
	g.Expect(b.writes.workload.Load()).To(BeZero())
	g.Expect(condition(getProfile(t, ns), tuningv1alpha1.ConditionProgressing).Status).To(Equal(metav1.ConditionTrue))
}
