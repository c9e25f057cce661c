package controllers

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env) { env = e })
}

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	poolEnv    = "DB_POOL_MAX_CONNECTIONS"
	targetName = "orders-api"
)

// stubSource returns the observation the test sets, stamped with the clock.
type stubSource struct {
	mu     sync.Mutex
	clock  *clocktesting.FakeClock
	values map[signals.Signal]float64
	down   bool
}

func (o *stubSource) set(values map[signals.Signal]float64, down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.values, o.down = values, down
}

func (o *stubSource) Observe(_ context.Context, _ *tuningv1alpha1.PerformanceProfile) (signals.Observation, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clock.Now()
	obs := signals.NewObservation(now)
	for s, v := range o.values {
		if o.down {
			obs.SetMissing(s, signals.ReasonEndpointDown, "connection refused")
			continue
		}
		obs.Set(s, v, now)
	}
	return obs, nil
}

// steady is a service inside its SLOs without the margin that savings need.
func steady() map[signals.Signal]float64 {
	return map[signals.Signal]float64{
		signals.LatencyP50: 0.030, signals.LatencyP95: 0.068, signals.LatencyP99: 0.085,
		signals.ErrorRate: 0.001, signals.Throughput: 800,
		signals.PoolInUse: 6, signals.PoolMax: 10, signals.PoolWait: 0.0002,
		signals.DBTime: 0.005, signals.DBCallRate: 400,
		signals.MemoryHitRatio: 0.92, signals.RedisHitRatio: 0.7,
		signals.CPUUtilization: 0.5, signals.RedisCPU: 0.3, signals.Pods: 4,
	}
}

// starvedPool breaches p99 with a saturated pool.
func starvedPool() map[signals.Signal]float64 {
	v := steady()
	for s, x := range map[signals.Signal]float64{
		signals.LatencyP99: 0.180, signals.LatencyP95: 0.120,
		signals.PoolInUse: 10, signals.PoolWait: 0.040,
		signals.DBCallRate: 1600, signals.DBTime: 0.025,
	} {
		v[s] = x
	}
	return v
}

// harness runs the reconciler against the real API server in its own namespace.
type harness struct {
	t        *testing.T
	g        Gomega
	ctx      context.Context
	ns       string
	clock    *clocktesting.FakeClock
	observer *stubSource
	recorder *events.FakeRecorder
	registry *prometheus.Registry
	r        *PerformanceProfileReconciler
	// workloadWrites counts writes to anything but the profile.
	workloadWrites atomic.Int64
	// statusWrites counts the patches of the profile's status.
	statusWrites atomic.Int64
	// cachedGet, when set, answers the reconciler's cached reads (not its
	// API reader) in place of the API server: a lagging cache.
	cachedGet func(key client.ObjectKey, obj client.Object) (answered bool)
	// statusPatch, when set, is called before each status patch of the
	// profile; an error it returns is the patch's answer.
	statusPatch func() error
	// onApply, when set, is called before each server-side apply; an
	// error it returns is the apply's answer.
	onApply func() error
}

var nsCounter atomic.Int64

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, g: NewWithT(t), ctx: ctrl.LoggerInto(context.Background(), ctrl.Log),
		clock: clocktesting.NewFakeClock(t0), recorder: events.NewFakeRecorder(100), registry: prometheus.NewRegistry()}
	h.ns = fmt.Sprintf("ctl-%d", nsCounter.Add(1))
	h.g.Expect(env.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}})).To(Succeed())
	h.observer = &stubSource{clock: h.clock, values: steady()}
	count := func(obj any) {
		if _, ok := obj.(*tuningv1alpha1.PerformanceProfile); !ok {
			h.workloadWrites.Add(1)
		}
	}
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	h.g.Expect(err).NotTo(HaveOccurred())
	c := interceptor.NewClient(direct, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if h.cachedGet != nil && h.cachedGet(key, obj) {
				return nil
			}
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			// The reconciler's client reads as the manager's cache does:
			// trimmed by the cache transforms (the API reader is not).
			for kind, by := range CacheTransforms() {
				if reflect.TypeOf(kind) == reflect.TypeOf(obj) {
					if _, err := by.Transform(obj); err != nil {
						return err
					}
				}
			}
			return nil
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if h.statusPatch != nil {
				if err := h.statusPatch(); err != nil {
					return err
				}
			}
			h.statusWrites.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if h.onApply != nil {
				if err := h.onApply(); err != nil {
					return err
				}
			}
			h.workloadWrites.Add(1)
			return c.Apply(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			count(obj)
			return c.Patch(ctx, obj, p, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count(obj)
			return c.Update(ctx, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count(obj)
			return c.Create(ctx, obj, opts...)
		},
	})
	r, err := NewPerformanceProfileReconciler(c, Options{
		Source: h.observer, APIReader: direct, Clock: h.clock, Recorder: h.recorder, Metrics: NewMetrics(h.registry),
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	h.g.Expect(err).NotTo(HaveOccurred())
	// The per-profile series of this test's namespace, read from the API
	// server (the manager reads its cache).
	r.opts.Metrics.readProfiles(client.NewNamespacedClient(env.Client, h.ns), nil)
	h.r = r
	return h
}

func (h *harness) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: h.ns, Name: name}
}

// deployment creates the target with the pool env and marks its rollout complete.
func (h *harness) deployment(name string, envVars ...corev1.EnvVar) *appsv1.Deployment {
	h.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "orders:1", Env: envVars,
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
				}}},
			},
		},
	}
	h.g.Expect(env.Client.Create(h.ctx, d, client.FieldOwner("gitops"))).To(Succeed())
	h.rolledOut(name)
	return d
}

// rolledOut sets the Deployment status as a finished rollout (envtest runs no controller-manager).
func (h *harness) rolledOut(name string) {
	h.t.Helper()
	d := &appsv1.Deployment{}
	h.g.Expect(env.Client.Get(h.ctx, h.key(name), d)).To(Succeed())
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
		ReadyReplicas: n, AvailableReplicas: n}
	h.g.Expect(env.Client.Status().Update(h.ctx, d)).To(Succeed())
}

func (h *harness) envValue(name, key string) string {
	d := &appsv1.Deployment{}
	h.g.Expect(env.Client.Get(h.ctx, h.key(name), d)).To(Succeed())
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == key {
			return e.Value
		}
	}
	return ""
}

func poolProfile(ns string, mode tuningv1alpha1.Mode) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: targetName, Container: "app"},
			Mode:      mode,
			Interval:  metav1.Duration{Duration: 30 * time.Second},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
				{Percentile: tuningv1alpha1.P95, Threshold: metav1.Duration{Duration: 80 * time.Millisecond}},
			}},
			Metrics: tuningv1alpha1.MetricsSource{Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: "http://prometheus.invalid:9090"}},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: poolEnv, Min: 5, Max: 100},
			},
		},
	}
}

func (h *harness) create(p *tuningv1alpha1.PerformanceProfile) {
	h.t.Helper()
	h.g.Expect(env.Client.Create(h.ctx, p)).To(Succeed())
}

// period advances the clock by one interval and reconciles.
func (h *harness) period(name string) (ctrl.Result, *tuningv1alpha1.PerformanceProfile) {
	h.t.Helper()
	h.clock.Step(30 * time.Second)
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key(name)})
	h.g.Expect(err).NotTo(HaveOccurred())
	p := &tuningv1alpha1.PerformanceProfile{}
	h.g.Expect(env.Client.Get(h.ctx, h.key(name), p)).To(Succeed())
	return res, p
}

func condition(p *tuningv1alpha1.PerformanceProfile, typ string) metav1.Condition {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// drainEvents returns the events recorded so far.
func (h *harness) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(evs []string, parts ...string) bool {
	for _, e := range evs {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(e, p)
		}
		if all {
			return true
		}
	}
	return false
}

// raisedPool starts a profile in mode Auto on a Deployment whose pool (10)
// is starved, and runs one period: navius-tuner raises the pool. It returns
// the raised value.
func (h *harness) raisedPool() string {
	h.t.Helper()
	h.deployment(targetName, poolVar("10"))
	// managedFields times have a one-second resolution: a write in the same
	// second as the Deployment's creation could be either's, and navius-tuner
	// then never claims a failed rollout as its own.
	time.Sleep(1100 * time.Millisecond)
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	h.period("orders")
	raised := h.envValue(targetName, poolEnv)
	h.g.Expect(raised).NotTo(Equal("10"), "navius-tuner raises a starved pool")
	return raised
}
