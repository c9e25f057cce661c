package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/lab/sim/kube"
)

// Names of the objects a workload consists of (the Deployment's name is
// WorkloadOptions.Name).
const (
	Container = "app"
	RedisName = "redis"
	// FieldManager is the field manager of the objects the harness creates,
	// so that the operator's writes (as navius-tuner) are told apart.
	FieldManager = "navius-harness"
)

// HPAOptions configure the workload's HorizontalPodAutoscaler.
type HPAOptions struct {
	MinReplicas, MaxReplicas, TargetCPU int32
}

// WorkloadOptions describe one simulated service in its own namespace.
type WorkloadOptions struct {
	// Namespace to create; required.
	Namespace string
	// Name of the Deployment, HPA, service label and profile. Empty: orders-api.
	Name string
	// Replicas of the Deployment at creation. Zero: 2.
	Replicas int32
	// Knobs are the env values of the pods at creation. Zero: the guide's case
	// study "before" (pool 4, min 2, no cache).
	Knobs *sim.Knobs
	// CPURequest and CPULimit of the container. Empty: 250m and 1.
	CPURequest, CPULimit string
	// HPA, when not nil, creates an HPA; DefaultHPA is what most want.
	HPA *HPAOptions
	// KnobsFromConfigMap puts the knobs' env values in a ConfigMap
	// (<name>-settings) that the container takes with envFrom, as many
	// services keep their settings, instead of literal env entries.
	KnobsFromConfigMap bool
	// SidecarFirst lists a sidecar container before the service's own.
	SidecarFirst bool
	// RedisReplicas of the Redis StatefulSet. Zero: 1.
	RedisReplicas int32
	// Trace is the load in simulated time from the workload's creation. Nil: 100 req/s.
	Trace sim.Trace
	// Seed of the workload model. Zero: 1.
	Seed uint64
	// SimConfig, when not nil, adjusts the model's configuration.
	SimConfig func(*sim.Config)
	// Profile, when not nil, adjusts the PerformanceProfile before it is
	// created; NoProfile creates none.
	Profile   func(*tuningv1alpha1.PerformanceProfile)
	NoProfile bool
	// DeferProfile leaves the profile to a later CreateProfile call, so that
	// the service can run untuned for a while first (as a real one has before
	// someone tunes it; the operator's first baseline then covers a whole window).
	DeferProfile bool
}

// DefaultHPA is 2 to 10 replicas at 70 % CPU of the request.
func DefaultHPA() *HPAOptions { return &HPAOptions{MinReplicas: 2, MaxReplicas: 10, TargetCPU: 70} }

func (o WorkloadOptions) withDefaults() WorkloadOptions {
	if o.Name == "" {
		o.Name = "orders-api"
	}
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	if o.Knobs == nil {
		k := sim.CaseStudyBefore
		o.Knobs = &k
	}
	if o.CPURequest == "" {
		o.CPURequest = "250m"
	}
	if o.CPULimit == "" {
		o.CPULimit = "1"
	}
	if o.RedisReplicas <= 0 {
		o.RedisReplicas = 1
	}
	if o.Trace == nil {
		o.Trace = sim.Constant(100)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Workload is one simulated service: its Kubernetes objects, the model that
// follows their pods, and the exposition Prometheus scrapes.
type Workload struct {
	Namespace, Name string
	// Model is the simulated service; its History and Window are the ground truth.
	Model *sim.Model
	// Clock maps wall time to the model's simulated time.
	Clock sim.Clock

	env    *Env
	opts   WorkloadOptions
	mu     sync.Mutex
	trace  sim.Trace
	addr   string
	srv    *http.Server
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// AddWorkload creates the namespace, the Deployment (kwok pods with the
// knobs in their env), the Redis StatefulSet, the HPA and the
// PerformanceProfile, starts the model following the pods, and adds its
// exposition to Prometheus' targets. The model runs until Stop.
func (e *Env) AddWorkload(ctx context.Context, opts WorkloadOptions) (*Workload, error) {
	if opts.Namespace == "" {
		return nil, errors.New("a namespace is required")
	}
	opts = opts.withDefaults()
	e.mu.Lock()
	_, dup := e.workloads[opts.Namespace]
	e.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("namespace %s already has a workload", opts.Namespace)
	}
	objs, err := workloadObjects(opts)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := e.client.Create(ctx, o, client.FieldOwner(FieldManager)); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}

	cfg := sim.Config{Namespace: opts.Namespace, Service: opts.Name, RedisName: RedisName, Container: Container, Seed: opts.Seed}
	if opts.SimConfig != nil {
		opts.SimConfig(&cfg)
	}
	model := sim.New(cfg)
	model.SetTrace(opts.Trace)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", model.Handler(sim.ExpositionOptions{Speed: e.opts.Speed}))
	wctx, cancel := context.WithCancel(context.Background())
	w := &Workload{Namespace: opts.Namespace, Name: opts.Name, Model: model, env: e, opts: opts, trace: opts.Trace,
		addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, cancel: cancel}
	w.done.Go(func() { _ = w.srv.Serve(ln) })
	target := kube.Target{Namespace: opts.Namespace, Selector: labels.SelectorFromSet(podLabels(opts.Name)),
		Container: Container, RedisStatefulSet: RedisName}
	if err := kube.Follow(wctx, e.clientset, model, target, 30*time.Second); err != nil {
		w.stop()
		return nil, fmt.Errorf("following the pods of %s/%s: %w", opts.Namespace, opts.Name, err)
	}
	w.Clock = sim.Clock{Start: time.Now(), Speed: e.opts.Speed}
	w.done.Go(func() { w.run(wctx) })

	e.mu.Lock()
	e.workloads[opts.Namespace] = w
	e.mu.Unlock()
	if err := e.updateScrapeTargets(); err != nil {
		return nil, err
	}
	if !opts.NoProfile && !opts.DeferProfile {
		if err := w.CreateProfile(ctx); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// CreateProfile creates the workload's PerformanceProfile: DefaultProfile
// adjusted by WorkloadOptions.Profile.
func (w *Workload) CreateProfile(ctx context.Context) error {
	p := DefaultProfile(w.Namespace, w.Name, w.env.cluster.PrometheusURL(), w.opts.HPA != nil)
	if w.opts.Profile != nil {
		w.opts.Profile(p)
	}
	if err := w.env.client.Create(ctx, p, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("creating the PerformanceProfile: %w", err)
	}
	return nil
}

// run steps the model in one-second simulated steps, keeping up with the clock.
func (w *Workload) run(ctx context.Context) {
	period := time.Duration(float64(time.Second) / w.Clock.Speed)
	period = max(period, 20*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			target := w.Clock.SimSeconds(now)
			for i := 0; i < 60 && w.Model.Now()+1 <= target; i++ {
				w.Model.Step(1)
			}
		}
	}
}

// SimNow is the workload's simulated time in seconds.
func (w *Workload) SimNow() float64 { return w.Model.Now() }

// SetTrace replaces the load; the trace's time is the model's simulated time.
func (w *Workload) SetTrace(t sim.Trace) {
	w.mu.Lock()
	w.trace = t
	w.mu.Unlock()
	w.Model.SetTrace(t)
}

// Trace is the current load trace.
func (w *Workload) Trace() sim.Trace {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trace
}

// Addr is the host:port of the workload's exposition (/metrics).
func (w *Workload) Addr() string { return w.addr }

func (w *Workload) stop() {
	w.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = w.srv.Shutdown(ctx)
	w.done.Wait()
}

func podLabels(name string) map[string]string { return map[string]string{"app": name} }

// workloadObjects are the namespace, Deployment, Redis StatefulSet, HPA and profile.
func workloadObjects(o WorkloadOptions) ([]client.Object, error) {
	req, err := resource.ParseQuantity(o.CPURequest)
	if err != nil {
		return nil, fmt.Errorf("CPU request: %w", err)
	}
	limit, err := resource.ParseQuantity(o.CPULimit)
	if err != nil {
		return nil, fmt.Errorf("CPU limit: %w", err)
	}
	env := o.Knobs.Env()
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	vars := make([]corev1.EnvVar, 0, len(names))
	for _, n := range names {
		vars = append(vars, corev1.EnvVar{Name: n, Value: env[n]})
	}
	ns := o.Namespace
	var settings *corev1.ConfigMap
	var envFrom []corev1.EnvFromSource
	if o.KnobsFromConfigMap {
		settings = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.Name + "-settings"}, Data: env}
		envFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: settings.Name}}}}
		vars = nil
	}
	containers := []corev1.Container{{
		Name:    Container,
		Image:   "example.invalid/" + o.Name + ":1",
		Env:     vars,
		EnvFrom: envFrom,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: req, corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: limit, corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
	}}
	if o.SidecarFirst {
		// The sidecar carries the same knob names, so that a write to the
		// wrong container would show.
		sidecar := corev1.Container{Name: "proxy", Image: "example.invalid/proxy:1", Env: slices.Clone(vars), EnvFrom: envFrom}
		containers = append([]corev1.Container{sidecar}, containers...)
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.Name, Labels: podLabels(o.Name)},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(o.Replicas),
				Selector: &metav1.LabelSelector{MatchLabels: podLabels(o.Name)},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: podLabels(o.Name)},
					Spec: corev1.PodSpec{
						Tolerations: []corev1.Toleration{localcluster.FakeNodeToleration()},
						Containers:  containers,
					},
				},
			},
		},
		redisStatefulSet(ns, o.RedisReplicas),
	}
	if settings != nil {
		objs = append([]client.Object{objs[0], settings}, objs[1:]...)
	}
	if o.HPA != nil {
		objs = append(objs, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.Name},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: o.Name},
				MinReplicas:    ptr.To(o.HPA.MinReplicas),
				MaxReplicas:    o.HPA.MaxReplicas,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{
						Name:   corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(o.HPA.TargetCPU)},
					},
				}},
			},
		})
	}
	return objs, nil
}

func redisStatefulSet(ns string, replicas int32) *appsv1.StatefulSet {
	l := map[string]string{"app": RedisName}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: RedisName, Labels: l},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         RedisName,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{
					Tolerations: []corev1.Toleration{localcluster.FakeNodeToleration()},
					Containers: []corev1.Container{{
						Name:  "redis",
						Image: "example.invalid/redis:7",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
						}},
					}},
				},
			},
		},
	}
}
