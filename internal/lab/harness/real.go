package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/nodeagent"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// Env variables of cmd/real-service that are not knobs (cmd/real-service/config.go).
const (
	realEnvDatabaseURL = "DATABASE_URL"
	realEnvRedisURL    = "REDIS_URL"
	realEnvQueryCost   = "QUERY_COST_SECONDS"
	realEnvKeyCount    = "KEY_COUNT"
	realEnvKeyDist     = "KEY_DISTRIBUTION"
	realEnvUseTime     = "METRICS_CONNECTION_USE_TIME"
	realEnvPodIP       = "POD_IP"
	realEnvPort        = "PORT"
	// RealPort is the container port the real service listens on.
	RealPort = 8080
	// MetricsPreset is the metric preset of the real service's profile: its
	// metrics follow the OpenTelemetry semantic conventions.
	MetricsPreset = "opentelemetry"
)

// RealWorkloadOptions describe a real service: cmd/real-service run by the
// node agent as the process of each pod of its Deployment, on a real
// PostgreSQL and Redis, under an open-loop load.
type RealWorkloadOptions struct {
	// Namespace to create; required.
	Namespace string
	// Name of the Deployment, its app label and the profile. Empty: real-api.
	Name string
	// Replicas of the Deployment. Zero: 2.
	Replicas int32
	// Knobs are the pods' env at creation (pool, L1 items and TTL, Redis TTL). Nil:
	// pool 2, L1 1,000 items for 30 s, Redis 60 s.
	Knobs *sim.Knobs
	// QueryCost is what each database call costs on the server. Zero: 25 ms.
	QueryCost time.Duration
	// Keys is the number of keys (rows); KeyDistribution uniform or zipf.
	// Zero and empty: 100,000 uniform.
	Keys            int
	KeyDistribution string
	// Rate is the load in requests per second, spread over the ready pods.
	// Zero: 300.
	Rate float64
	// DBMaxConnections is PostgreSQL's max_connections and the profile's
	// database maxConnections; DBReserved the profile's reserved. The
	// service's role gets CONNECTION LIMIT maxConnections − reserved: the
	// budget, which PostgreSQL enforces. Zero: 60 and 10.
	DBMaxConnections, DBReserved int
	// WithoutDBTime leaves out the connection use time, the only series the
	// opentelemetry preset reads the database call time from.
	WithoutDBTime bool
	// Profile, when not nil, adjusts the profile before it is created.
	Profile func(*tuningv1alpha1.PerformanceProfile)
}

func (o RealWorkloadOptions) withDefaults() RealWorkloadOptions {
	if o.Name == "" {
		o.Name = "real-api"
	}
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	if o.Knobs == nil {
		o.Knobs = &sim.Knobs{PoolMax: 2, PoolMin: 0, L1Items: 1000, L1TTL: 30, L2TTL: 60}
	}
	if o.QueryCost <= 0 {
		o.QueryCost = 25 * time.Millisecond
	}
	if o.Keys <= 0 {
		o.Keys = 100_000
	}
	if o.KeyDistribution == "" {
		o.KeyDistribution = "uniform"
	}
	if o.Rate <= 0 {
		o.Rate = 300
	}
	if o.DBMaxConnections <= 0 {
		o.DBMaxConnections = 60
	}
	if o.DBReserved <= 0 {
		o.DBReserved = 10
	}
	return o
}

// RealWorkload is a real service in its namespace.
type RealWorkload struct {
	Namespace, Name string
	// Postgres and Redis are the service's database and cache.
	Postgres *localcluster.PostgresServer
	Redis    *localcluster.RedisServer
	// Load is the load generator.
	Load *LoadGenerator

	env  *Env
	opts RealWorkloadOptions
}

// Budget is the role's connection limit: the profile's maxConnections − reserved.
func (w *RealWorkload) Budget() int { return w.opts.DBMaxConnections - w.opts.DBReserved }

// RealServiceBinary returns bin/real-service under the module root.
func RealServiceBinary() (string, error) {
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "real-service"), nil
}

// AddRealWorkload starts PostgreSQL (max_connections and the role's limit
// from the options, the keys as rows) and Redis, the node agent when it is
// not running yet (building bin/real-service), and creates the namespace,
// the ConfigMap of the service's connection settings, the Deployment on the
// agent's node, and starts the load. The profile is left to CreateProfile,
// so that the service can run untuned first.
func (e *Env) AddRealWorkload(ctx context.Context, opts RealWorkloadOptions) (*RealWorkload, error) {
	if opts.Namespace == "" {
		return nil, errors.New("a namespace is required")
	}
	opts = opts.withDefaults()
	if err := e.ensureAgent(ctx); err != nil {
		return nil, err
	}
	w := &RealWorkload{Namespace: opts.Namespace, Name: opts.Name, env: e, opts: opts}
	var err error
	w.Postgres, err = localcluster.StartPostgres(ctx, localcluster.PostgresOptions{
		LogDir: filepath.Join(e.cluster.LogDir(), opts.Namespace), MaxConnections: opts.DBMaxConnections,
		Role: "app", RoleConnectionLimit: w.Budget(), Items: opts.Keys,
	})
	if err != nil {
		return nil, err
	}
	w.Redis, err = localcluster.StartRedis(ctx, localcluster.RedisOptions{LogDir: filepath.Join(e.cluster.LogDir(), opts.Namespace)})
	if err != nil {
		return nil, errors.Join(err, w.Postgres.Stop())
	}
	e.mu.Lock()
	e.real = append(e.real, w)
	e.mu.Unlock()
	for _, o := range w.objects() {
		if err := e.client.Create(ctx, o, client.FieldOwner(FieldManager)); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	w.Load = startLoad(opts.Rate, func() []string { return e.readyAddrs(opts.Namespace) })
	return w, nil
}

// ensureAgent builds bin/real-service and starts the node agent, once.
func (e *Env) ensureAgent(ctx context.Context) error {
	e.agentOnce.Do(func() {
		bin, err := RealServiceBinary()
		if err == nil {
			err = BuildBinary(ctx, "./cmd/real-service", bin, e.opts.Progress)
		}
		if err == nil {
			e.agent, err = nodeagent.Start(ctx, nodeagent.Options{
				Client: e.clientset, Binary: bin, LogDir: filepath.Join(e.cluster.LogDir(), "pods"),
			})
		}
		e.agentErr = err
	})
	return e.agentErr
}

// readyAddrs are the host:port of the namespace's ready pods on the agent's
// node: where a Service would route.
func (e *Env) readyAddrs(namespace string) []string {
	if e.agent == nil {
		return nil
	}
	var out []string
	for _, p := range e.agent.Pods() {
		if p.Namespace == namespace && p.Ready {
			out = append(out, p.IP+":"+strconv.Itoa(RealPort))
		}
	}
	return out
}

// Agent returns the node agent, or nil before the first real workload.
func (e *Env) Agent() *nodeagent.Agent { return e.agent }

func (w *RealWorkload) stop() error {
	if w.Load != nil {
		w.Load.Stop()
	}
	var errs []error
	if w.Redis != nil {
		errs = append(errs, w.Redis.Stop())
	}
	if w.Postgres != nil {
		errs = append(errs, w.Postgres.Stop())
	}
	return errors.Join(errs...)
}

// objects are the namespace, the ConfigMap and the Deployment.
func (w *RealWorkload) objects() []client.Object {
	o := w.opts
	labels := podLabels(o.Name)
	env := o.Knobs.Env()
	vars := []corev1.EnvVar{
		{Name: realEnvPodIP, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: realEnvPort, Value: strconv.Itoa(RealPort)},
	}
	for _, n := range []string{sim.EnvPoolMax, sim.EnvPoolMin, sim.EnvL1Items, sim.EnvL1TTL, sim.EnvL2TTL} {
		vars = append(vars, corev1.EnvVar{Name: n, Value: env[n]})
	}
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name + "-settings"},
			Data: map[string]string{
				realEnvDatabaseURL: w.Postgres.URL(),
				realEnvRedisURL:    w.Redis.URL(),
				realEnvQueryCost:   strconv.FormatFloat(o.QueryCost.Seconds(), 'f', -1, 64),
				realEnvKeyCount:    strconv.Itoa(o.Keys),
				realEnvKeyDist:     o.KeyDistribution,
				realEnvUseTime:     strconv.FormatBool(!o.WithoutDBTime),
			},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(o.Replicas),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
						"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(RealPort),
					}},
					Spec: corev1.PodSpec{
						NodeSelector:                  nodeagent.NodeSelector(),
						Tolerations:                   []corev1.Toleration{nodeagent.Toleration()},
						TerminationGracePeriodSeconds: ptr.To[int64](5),
						Containers: []corev1.Container{{
							Name:    Container,
							Image:   "example.invalid/real-service:1",
							Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: RealPort}},
							Env:     vars,
							EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: o.Name + "-settings"}}}},
							ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
								HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(RealPort)},
							}},
							Resources: corev1.ResourceRequirements{
								Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							},
						}},
					},
				},
			},
		},
	}
}

// RealProfile is the real service's PerformanceProfile: a p99 objective,
// the pool (with the database budget the role's limit enforces) and both
// cache tiers' env knobs, the harness's short timing, and the
// opentelemetry metric preset, scoped by the namespace and the app label
// that pod discovery copies from the pods.
func (w *RealWorkload) RealProfile(p99 time.Duration) *tuningv1alpha1.PerformanceProfile {
	p := DefaultProfile(w.Namespace, w.Name, w.env.cluster.PrometheusURL(), false)
	p.Spec.SLO.Latency = []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99, Threshold: dur(p99)}}
	p.Spec.Metrics.Labels = map[string]string{"namespace": w.Namespace, "app": w.Name}
	p.Spec.ConnectionPool.MinConnections = nil
	p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{
		MaxConnections: int32(w.opts.DBMaxConnections), Reserved: int32(w.opts.DBReserved),
	}
	p.Spec.Cache.Redis.Replicas = nil
	if w.opts.Profile != nil {
		w.opts.Profile(p)
	}
	return p
}

// CreateProfile creates RealProfile(p99) with spec.metrics.preset set to
// MetricsPreset. The preset is written as a field of the object, not of
// the Go type, so that the profile is the one a user would apply.
func (w *RealWorkload) CreateProfile(ctx context.Context, p99 time.Duration) error {
	p := w.RealProfile(p99)
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(tuningv1alpha1.GroupVersion.String())
	u.SetKind("PerformanceProfile")
	if err := unstructured.SetNestedField(u.Object, MetricsPreset, "spec", "metrics", "preset"); err != nil {
		return err
	}
	if err := w.env.client.Create(ctx, u, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("creating the PerformanceProfile: %w", err)
	}
	return nil
}

// BuildBinary builds a package of the module into bin (through a temporary
// file, so a concurrent reader never sees half a binary).
func BuildBinary(ctx context.Context, pkg, bin string, progress interface{ Write([]byte) (int, error) }) error {
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("building %s: %w", pkg, err)
	}
	return os.Rename(tmp, bin)
}

// LoadGenerator sends requests at a constant rate (open loop: a slow
// service does not slow it down), each to the next ready pod in turn.
type LoadGenerator struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
	// Sent, OK, Failed count the requests (Failed: no answer or a 5xx), and
	// NoTarget the ticks without a ready pod.
	Sent, OK, Failed, NoTarget atomic.Int64

	mu      sync.Mutex
	samples []sample // answered requests, in order of their answer
}

// sample is one answered request: when it was answered, how long it took,
// whether it failed.
type sample struct {
	at     time.Time
	took   time.Duration
	failed bool
}

// LoadWindow is what the load generator saw over a window: its own
// wall-clock latencies (every request, failed ones included).
type LoadWindow struct {
	Answered, Failed int
	// Rate is answered requests per second.
	Rate     float64
	P50, P99 time.Duration
}

// Window summarises the requests answered in the last d.
func (l *LoadGenerator) Window(d time.Duration) LoadWindow {
	since := time.Now().Add(-d)
	l.mu.Lock()
	i := sort.Search(len(l.samples), func(i int) bool { return !l.samples[i].at.Before(since) })
	recent := append([]sample(nil), l.samples[i:]...)
	l.mu.Unlock()
	w := LoadWindow{Answered: len(recent), Rate: float64(len(recent)) / d.Seconds()}
	if len(recent) == 0 {
		return w
	}
	took := make([]time.Duration, len(recent))
	for j, s := range recent {
		took[j] = s.took
		if s.failed {
			w.Failed++
		}
	}
	slices.Sort(took)
	w.P50 = took[(len(took)-1)/2]
	w.P99 = took[int(math.Ceil(0.99*float64(len(took))))-1]
	return w
}

// record keeps an answered request, dropping those older than 30 minutes.
func (l *LoadGenerator) record(start time.Time, failed bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, sample{at: now, took: now.Sub(start), failed: failed})
	if len(l.samples) > 1<<20 {
		cut := sort.Search(len(l.samples), func(i int) bool { return now.Sub(l.samples[i].at) < 30*time.Minute })
		l.samples = append(l.samples[:0], l.samples[cut:]...)
	}
}

func startLoad(rate float64, targets func() []string) *LoadGenerator {
	ctx, cancel := context.WithCancel(context.Background())
	l := &LoadGenerator{cancel: cancel}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	l.done.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		var addrs []string
		refreshed := time.Time{}
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if now.Sub(refreshed) > 200*time.Millisecond {
					addrs, refreshed = targets(), now
				}
				if len(addrs) == 0 {
					l.NoTarget.Add(1)
					continue
				}
				n++
				url := "http://" + addrs[n%len(addrs)] + "/"
				l.Sent.Add(1)
				l.done.Go(func() {
					start := time.Now()
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					resp, err := hc.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							l.Failed.Add(1)
							l.record(start, true)
						}
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					failed := resp.StatusCode >= 500
					if failed {
						l.Failed.Add(1)
					} else {
						l.OK.Add(1)
					}
					l.record(start, failed)
				})
			}
		}
	})
	return l
}

// Stop stops the load and waits for the requests in flight.
func (l *LoadGenerator) Stop() {
	l.cancel()
	l.done.Wait()
}
