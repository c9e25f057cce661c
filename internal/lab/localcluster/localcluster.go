// Package localcluster runs a real Kubernetes control plane on loopback
// without containers: etcd, kube-apiserver, kube-controller-manager (the
// Deployment, ReplicaSet and HPA controllers and what they need),
// kube-scheduler and kwok, whose fake nodes run pods without containers, and
// optionally Prometheus and a metrics.k8s.io API fed by a callback, so that
// the real HPA controller scales on simulated load.
//
// The binaries come from bin/k8s/<KubernetesVersion>, built from Go modules
// by hack/build-tools.sh (which Start runs when one is missing). Every
// process runs in its own process group with a parent-death signal, so none
// outlives the program; Stop terminates them in order.
//
//	c, err := localcluster.Start(ctx, localcluster.Options{TimeCompression: 10})
//	if err != nil { ... }
//	defer c.Stop()
//	cl := c.Client()
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster/metricsapi"
)

// Names of the components, as used in Stats and in the log file names.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
	Prometheus        = "prometheus"
)

const (
	// serviceCIDR is the service IP range; firstServiceIP is the
	// kubernetes Service's address.
	serviceCIDR    = "10.0.0.0/24"
	firstServiceIP = "10.0.0.1"
	// stopGrace is how long components get to exit after SIGTERM; apiserver
	// and etcd can take over 2 s.
	stopGrace = 10 * time.Second
)

// Cluster is a running local cluster.
type Cluster struct {
	opts       Options
	dir        string
	ownDir     bool
	logDir     string
	pki        *pki
	host       string
	kubeconfig string
	restCfg    *rest.Config
	client     client.Client
	promURL    string
	buildTime  time.Duration
	began      time.Time

	mu      sync.Mutex
	procs   map[string]*process
	order   []string // start order
	ready   map[string]time.Duration
	startup time.Duration
	metrics *metricsapi.Server

	stopOnce sync.Once
	stopErr  error
}

// Start builds missing binaries, starts the cluster and waits until every
// component is ready. ctx bounds the start-up only; the cluster runs until
// Stop. On error, everything started is stopped again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, procs: map[string]*process{}, ready: map[string]time.Duration{}}
	buildStart := time.Now()
	if err := EnsureBinaries(ctx, opts.BinDir, opts.binaries(), opts.Progress); err != nil {
		return nil, err
	}
	c.buildTime = time.Since(buildStart).Round(time.Millisecond)
	c.began = time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := c.start(ctx); err != nil {
		c.ownDir = false // keep the logs for diagnosis
		stopErr := c.Stop()
		return nil, errors.Join(fmt.Errorf("starting local cluster in %s: %w", c.dir, err), stopErr)
	}
	if opts.MetricsSource != nil {
		if err := c.ServeMetricsAPI(ctx, opts.MetricsSource); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}
	c.mu.Lock()
	c.startup = time.Since(c.began)
	c.mu.Unlock()
	return c, nil
}

// start runs the start-up sequence.
func (c *Cluster) start(ctx context.Context) error {
	if err := c.prepare(); err != nil {
		return err
	}
	if c.opts.Prometheus != nil {
		if err := c.startPrometheus(); err != nil {
			return err
		}
	}
	etcdURL, err := c.startEtcd(ctx)
	if err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, etcdURL); err != nil {
		return err
	}
	var checks []readyCheck
	if !c.opts.DisableControllerManager {
		if checks, err = c.appendStarted(checks, c.startControllerManager); err != nil {
			return err
		}
	}
	if !c.opts.DisableScheduler {
		if checks, err = c.appendStarted(checks, c.startScheduler); err != nil {
			return err
		}
	}
	if !c.opts.DisableKwok {
		if checks, err = c.appendStarted(checks, c.startKwok); err != nil {
			return err
		}
		if err := c.createFakeNodes(ctx); err != nil {
			return err
		}
	}
	if c.opts.Prometheus != nil {
		checks = append(checks, readyCheck{Prometheus, httpGetOK(insecureHTTP(), c.promURL+"/-/ready")})
	}
	return c.waitAll(ctx, checks)
}

// prepare creates the directories, the PKI and the kubeconfigs.
func (c *Cluster) prepare() error {
	c.dir = c.opts.Dir
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "navius-localcluster-")
		if err != nil {
			return err
		}
		c.dir, c.ownDir = dir, true
	}
	c.logDir = c.opts.LogDir
	if c.logDir == "" {
		c.logDir = filepath.Join(c.dir, "logs")
	}
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return err
	}
	p, err := newPKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		return fmt.Errorf("generating PKI: %w", err)
	}
	c.pki = p
	port, err := freePort()
	if err != nil {
		return err
	}
	c.host = "https://127.0.0.1:" + strconv.Itoa(port)
	c.kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	for path, user := range map[string]string{
		c.kubeconfig:                 adminUser,
		c.path("controller-manager"): controllerManagerUser,
		c.path("scheduler"):          schedulerUser,
		c.path("kwok"):               kwokUser,
	} {
		if err := p.writeKubeconfig(path, c.host, user); err != nil {
			return err
		}
	}
	c.restCfg = p.restConfig(c.host, adminUser)
	c.client, err = client.New(c.restCfg, client.Options{Scheme: scheme.Scheme})
	return err
}

// path returns the kubeconfig path of a component.
func (c *Cluster) path(component string) string {
	return filepath.Join(c.dir, component+".kubeconfig")
}

// run starts a component's binary and records it.
func (c *Cluster) run(name string, args ...string) (*process, error) {
	return c.runEnv(name, nil, args...)
}

// runEnv starts a component's binary with extra environment and records it.
func (c *Cluster) runEnv(name string, env []string, args ...string) (*process, error) {
	p, err := startProcess(name, filepath.Join(c.opts.BinDir, name), args, env, c.logDir)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs[name] = p
	c.order = append(c.order, name)
	c.mu.Unlock()
	return p, nil
}

// markReady records when a component became ready.
func (c *Cluster) markReady(name string) {
	c.mu.Lock()
	c.ready[name] = time.Since(c.began)
	c.mu.Unlock()
}

// Kubeconfig returns the path of the admin kubeconfig.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.restCfg) }

// Client returns an uncached admin client with client-go's scheme.
func (c *Cluster) Client() client.Client { return c.client }

// PrometheusURL returns the base URL of Prometheus, or "" when not running.
func (c *Cluster) PrometheusURL() string { return c.promURL }

// Dir returns the directory of the cluster's files.
func (c *Cluster) Dir() string { return c.dir }

// LogDir returns the directory of the components' logs.
func (c *Cluster) LogDir() string { return c.logDir }

// HPASyncPeriod returns the HPA controller's sync period after time compression.
func (c *Cluster) HPASyncPeriod() time.Duration { return c.opts.compress(15*time.Second, time.Second) }

// PIDs returns the process id of each component.
func (c *Cluster) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make(map[string]int, len(c.procs))
	for name, p := range c.procs {
		pids[name] = p.pid()
	}
	return pids
}

// ServeMetricsAPI serves src as the metrics.k8s.io API in this process and
// registers it with the aggregator, waiting until it is available. A later
// call replaces the source.
func (c *Cluster) ServeMetricsAPI(ctx context.Context, src metricsapi.PodCPUSource) error {
	cert, err := c.pki.serving("localhost", metricsapi.ServiceName+"."+metricsapi.ServiceNamespace+".svc")
	if err != nil {
		return err
	}
	srv, err := metricsapi.Start(src, c.client, cert)
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := c.metrics
	c.metrics = srv
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if err := metricsapi.Register(ctx, c.client, srv.Port()); err != nil {
		return fmt.Errorf("registering metrics.k8s.io: %w", err)
	}
	return nil
}

// Stop stops every component (dependants first, then kube-apiserver, then
// etcd; SIGTERM, then SIGKILL after a grace period) and removes the
// directory if Start created it. It is safe to call more than once and from
// t.Cleanup.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	srv := c.metrics
	procs := c.procs
	c.mu.Unlock()
	var errs []error
	if srv != nil {
		errs = append(errs, srv.Close())
	}
	var dependants []*process
	for _, name := range []string{Prometheus, Kwok, Scheduler, ControllerManager} {
		if p := procs[name]; p != nil {
			dependants = append(dependants, p)
		}
	}
	errs = append(errs, stopAll(dependants))
	for _, name := range []string{APIServer, Etcd} {
		if p := procs[name]; p != nil {
			errs = append(errs, p.stop(stopGrace))
		}
	}
	if c.ownDir && c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// stopAll stops processes in parallel.
func stopAll(procs []*process) error {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.stop(stopGrace) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
