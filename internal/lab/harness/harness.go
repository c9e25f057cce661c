// Package harness runs navius-tuner end to end on one machine: the local
// cluster (real kube-apiserver, controller-manager with the real HPA and
// Deployment controllers, scheduler, kwok pods, Prometheus), simulated
// workloads that follow their pods and serve the metric contract, a
// metrics.k8s.io API fed by the simulated CPU, and the operator binary. Both
// `perfsim demo` and the closed-loop tests in test/e2e use it.
//
//	env, err := harness.Start(ctx, harness.Options{Speed: 5})
//	if err != nil { ... }
//	defer env.Stop()
//	w, err := env.AddWorkload(ctx, harness.WorkloadOptions{Namespace: "shop"})
//	if err := env.StartOperator(ctx); err != nil { ... }
//
// Time: the simulated service runs Speed simulated seconds per wall second
// (its counters are divided by Speed, so Prometheus rates over wall time are
// simulated per-second rates); the controllers' time constants are divided
// by the same factor. The operator and its profile's durations run on wall time.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster/metricsapi"
	"github.com/navius-dev/navius-tuner/internal/lab/nodeagent"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// ScrapeJob is the Prometheus job that scrapes the simulated workloads.
const ScrapeJob = "perfsim"

// Options configure an Env.
type Options struct {
	// Speed is the time compression: simulated seconds per wall second, for
	// the simulated workloads and the controllers' time constants (HPA sync
	// period and stabilisation). Zero: 1.
	Speed float64
	// ScrapeInterval is Prometheus' scrape interval. Zero: 1 s.
	ScrapeInterval time.Duration
	// Dir holds the cluster's files; empty: a temporary directory removed by Stop
	// (unless Keep is set).
	Dir string
	// Keep leaves the cluster's directory in place at Stop.
	Keep bool
	// Nodes and NodeCPU size the fake nodes. Zero: 2 nodes of 32 cores.
	Nodes   int
	NodeCPU string
	// Progress receives progress lines (builds, start-up). Nil: os.Stderr.
	Progress io.Writer
}

// Env is a running local cluster with its simulated workloads and operator.
type Env struct {
	opts      Options
	cluster   *localcluster.Cluster
	client    client.Client
	clientset kubernetes.Interface
	scheme    *runtime.Scheme

	mu        sync.Mutex
	workloads map[string]*Workload // by namespace
	// targetsMu serialises the rewrites of Prometheus' target file.
	targetsMu sync.Mutex
	operator  *process
	// real are the real workloads; agent runs their pods.
	real      []*RealWorkload
	agentOnce sync.Once
	agent     *nodeagent.Agent
	agentErr  error

	stopOnce sync.Once
	stopErr  error
}

func (o Options) withDefaults() Options {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = time.Second
	}
	if o.Nodes <= 0 {
		o.Nodes = 2
	}
	if o.NodeCPU == "" {
		o.NodeCPU = "32"
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	return o
}

// Start builds missing control-plane binaries, starts the local cluster with
// Prometheus and metrics.k8s.io, and installs the CRD. ctx bounds the
// start-up; on error everything started is stopped.
func Start(ctx context.Context, opts Options) (*Env, error) {
	opts = opts.withDefaults()
	e := &Env{opts: opts, scheme: testenv.NewScheme(), workloads: map[string]*Workload{}}
	nodeCPU, err := parseQuantity(opts.NodeCPU)
	if err != nil {
		return nil, fmt.Errorf("node CPU: %w", err)
	}
	dir := opts.Dir
	if dir == "" && opts.Keep {
		if dir, err = os.MkdirTemp("", "navius-demo-"); err != nil {
			return nil, err
		}
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		Dir:             dir,
		Progress:        opts.Progress,
		Nodes:           opts.Nodes,
		NodeCPU:         nodeCPU,
		TimeCompression: opts.Speed,
		Prometheus: &localcluster.PrometheusOptions{
			ScrapeInterval: opts.ScrapeInterval,
			ScrapeConfigs:  []localcluster.ScrapeConfig{{JobName: ScrapeJob}},
			PodDiscovery:   true,
		},
		MetricsSource: metricsapi.PodCPUFunc(e.podCPU),
	})
	if err != nil {
		return nil, err
	}
	e.cluster = c
	if err := e.init(ctx); err != nil {
		return nil, errors.Join(err, e.Stop())
	}
	return e, nil
}

func (e *Env) init(ctx context.Context) error {
	cfg := e.cluster.RESTConfig()
	cfg.QPS, cfg.Burst = 100, 200
	cl, err := client.New(cfg, client.Options{Scheme: e.scheme})
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	e.client, e.clientset = cl, cs
	return InstallCRDs(ctx, cl)
}

// podCPU is the metrics.k8s.io source: each namespace's simulated pods.
func (e *Env) podCPU(namespace string) map[string]int64 {
	e.mu.Lock()
	w := e.workloads[namespace]
	e.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.Model.PodCPUMillis()
}

// Cluster returns the local cluster.
func (e *Env) Cluster() *localcluster.Cluster { return e.cluster }

// Client returns an uncached client that knows the tuning API.
func (e *Env) Client() client.Client { return e.client }

// Clientset returns a client-go clientset.
func (e *Env) Clientset() kubernetes.Interface { return e.clientset }

// Kubeconfig returns the path of the admin kubeconfig.
func (e *Env) Kubeconfig() string { return e.cluster.Kubeconfig() }

// Speed returns the time compression.
func (e *Env) Speed() float64 { return e.opts.Speed }

// updateScrapeTargets gives Prometheus the exposition address of every workload.
func (e *Env) updateScrapeTargets() error {
	e.targetsMu.Lock()
	defer e.targetsMu.Unlock()
	e.mu.Lock()
	targets := make([]string, 0, len(e.workloads))
	for _, w := range e.workloads {
		targets = append(targets, w.addr)
	}
	e.mu.Unlock()
	sort.Strings(targets)
	return e.cluster.SetScrapeTargets(ScrapeJob, targets)
}

// Stop stops the operator, the workloads and the cluster, in that order. It
// is safe to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		e.mu.Lock()
		op := e.operator
		ws := make([]*Workload, 0, len(e.workloads))
		for _, w := range e.workloads {
			ws = append(ws, w)
		}
		real := e.real
		e.mu.Unlock()
		if op != nil {
			errs = append(errs, op.stop(10*time.Second))
		}
		for _, w := range ws {
			w.stop()
		}
		for _, w := range real {
			if w.Load != nil {
				w.Load.Stop()
			}
		}
		if e.agent != nil {
			e.agent.Stop()
		}
		for _, w := range real {
			errs = append(errs, w.stop())
		}
		if e.cluster != nil {
			errs = append(errs, e.cluster.Stop())
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}
