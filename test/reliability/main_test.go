// Package reliability proves how navius-tuner behaves when things go wrong:
// Prometheus down, slow or lying, the API server refusing writes, the
// operator killed in the middle of a change, two replicas competing for
// leadership, hostile specs. Every test runs the real reconciler against a
// real API server (envtest) and asserts on the cluster state and the
// profile's status, not on the calls made.
package reliability

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logOutput())))
	testenv.Main(m, func(e *testenv.Env) { env = e })
}

const (
	poolEnv    = "DB_POOL_MAX_CONNECTIONS"
	targetName = "orders-api"
	profile    = "orders"
	interval   = 30 * time.Second
)

var nsCounter atomic.Int64

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("rel-%d-%d", os.Getpid()%10000, nsCounter.Add(1))
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// deployment creates the target with the pool env (owned by "gitops") and a finished rollout.
func deployment(t *testing.T, ns, pool string) {
	t.Helper()
	g := NewWithT(t)
	labels := map[string]string{"app": targetName}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: targetName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "orders:1", Env: []corev1.EnvVar{{Name: poolEnv, Value: pool}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
				}}},
			},
		},
	}
	g.Expect(env.Client.Create(context.Background(), d, client.FieldOwner("gitops"))).To(Succeed())
	rolledOut(t, ns)
}

// rolledOut marks the target's rollout finished (envtest runs no Deployment controller).
func rolledOut(t *testing.T, ns string) {
	t.Helper()
	g := NewWithT(t)
	d := &appsv1.Deployment{}
	g.Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: targetName}, d)).To(Succeed())
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
		ReadyReplicas: n, AvailableReplicas: n}
	g.Expect(env.Client.Status().Update(context.Background(), d)).To(Succeed())
}

// poolValue is the live value of the pool env.
func poolValue(t *testing.T, ns string) string {
	t.Helper()
	d := &appsv1.Deployment{}
	NewWithT(t).Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: targetName}, d)).To(Succeed())
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == poolEnv {
			return e.Value
		}
	}
	return ""
}

// poolProfile is a profile of the target in mode Auto that tunes the pool
// size, with a p99 and a throughput objective, reading promURL.
func poolProfile(ns, promURL string) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: profile},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: targetName, Container: "app"},
			Mode:      tuningv1alpha1.ModeAuto,
			Interval:  metav1.Duration{Duration: interval},
			SLO: tuningv1alpha1.SLO{
				Latency: []tuningv1alpha1.LatencyObjective{
					{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
				},
				MinThroughput: ptr.To[int32](100),
				Window:        metav1.Duration{Duration: time.Minute},
			},
			// A change settles for the longer of settleTime and the window: 3 minutes.
			Guardrails: tuningv1alpha1.Guardrails{SettleTime: metav1.Duration{Duration: 3 * time.Minute}},
			Metrics: tuningv1alpha1.MetricsSource{
				Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: promURL, Timeout: metav1.Duration{Duration: 2 * time.Second}},
				Labels:     map[string]string{"namespace": ns, "service": targetName},
			},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: poolEnv, Min: 5, Max: 100},
			},
		},
	}
}

func getProfile(t *testing.T, ns string) *tuningv1alpha1.PerformanceProfile {
	t.Helper()
	p := &tuningv1alpha1.PerformanceProfile{}
	NewWithT(t).Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: profile}, p)).To(Succeed())
	return p
}

func condition(p *tuningv1alpha1.PerformanceProfile, typ string) metav1.Condition {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// writes counts the writes to objects other than PerformanceProfiles, and
// lets a test inject errors into any write.
type writes struct {
	workload atomic.Int64
	// fail, when set, decides the error of a write: kind is "apply",
	// "patch", "update", "create" or "status"; nil lets the write through.
	fail atomic.Pointer[func(kind string, obj any) error]
}

func (w *writes) inject(kind string, obj any) error {
	if f := w.fail.Load(); f != nil {
		return (*f)(kind, obj)
	}
	return nil
}

func (w *writes) setFault(f func(kind string, obj any) error) {
	if f == nil {
		w.fail.Store(nil)
		return
	}
	w.fail.Store(&f)
}

func isProfile(obj any) bool {
	_, ok := obj.(*tuningv1alpha1.PerformanceProfile)
	return ok
}

// wrap returns c with the counters and the fault injection.
func (w *writes) wrap(c client.WithWatch) client.WithWatch {
	count := func(obj any) {
		if !isProfile(obj) {
			w.workload.Add(1)
		}
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if err := w.inject("apply", obj); err != nil {
				return err
			}
			err := c.Apply(ctx, obj, opts...)
			if err == nil {
				w.workload.Add(1)
			}
			return err
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			if err := w.inject("patch", obj); err != nil {
				return err
			}
			count(obj)
			return c.Patch(ctx, obj, p, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := w.inject("update", obj); err != nil {
				return err
			}
			count(obj)
			return c.Update(ctx, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := w.inject("create", obj); err != nil {
				return err
			}
			count(obj)
			return c.Create(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if err := w.inject("status", obj); err != nil {
				return err
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
}

// directClient is an uncached client of the test API server.
func directClient(t *testing.T) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logOutput is stderr when RELIABILITY_LOG is set, otherwise nothing.
func logOutput() io.Writer {
	if os.Getenv("RELIABILITY_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
