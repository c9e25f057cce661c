package localcluster

import (
	"io"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster/metricsapi"
)

// Options configures a local cluster. The zero value runs the whole control
// plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
// with one fake node) without Prometheus and without metrics.k8s.io, in real
// time, in a temporary directory.
type Options struct {
	// Dir holds the PKI, kubeconfigs, etcd data and (by default) the logs.
	// Empty: a new temporary directory that Stop removes.
	Dir string
	// LogDir receives one <component>.log per process. Empty: Dir/logs.
	LogDir string
	// BinDir holds the binaries. Empty: bin/k8s/<KubernetesVersion> under the
	// module root. Missing binaries are built with hack/build-tools.sh.
	BinDir string
	// Progress receives the output of a build of missing binaries.
	// Nil: os.Stderr.
	Progress io.Writer

	// Nodes is the number of fake kwok nodes. Zero: 1.
	Nodes int
	// NodeCPU is the CPU capacity of each fake node. Zero: 16 cores.
	NodeCPU resource.Quantity
	// NodeMemory is the memory capacity of each fake node. Zero: 64Gi.
	NodeMemory resource.Quantity
	// NodeMaxPods is the pod capacity of each fake node. Zero: 110.
	NodeMaxPods int

	// TimeCompression divides the time constants of the controllers: the HPA
	// sync period (15 s, at least 1 s after division), its downscale
	// stabilisation window (5 min), CPU initialisation period (5 min) and
	// initial readiness delay (30 s), and the default Prometheus scrape
	// interval (5 s, at least 1 s). Zero: 1 (real time).
	TimeCompression float64

	// DisableControllerManager, DisableScheduler and DisableKwok leave the
	// respective component out. Without the controller manager there are no
	// Deployments, HPAs or default ServiceAccounts; without the scheduler or
	// kwok, pods stay Pending.
	DisableControllerManager bool
	DisableScheduler         bool
	DisableKwok              bool

	// Prometheus, when not nil, runs a Prometheus server scraping the given
	// loopback targets.
	Prometheus *PrometheusOptions

	// MetricsSource, when not nil, is served as the metrics.k8s.io API (as
	// ServeMetricsAPI does) before Start returns.
	MetricsSource metricsapi.PodCPUSource

	// StartTimeout bounds the start-up, not counting a build of missing
	// binaries. Zero: 2 minutes.
	StartTimeout time.Duration
}

// PrometheusOptions configures the optional Prometheus server.
type PrometheusOptions struct {
	// ScrapeInterval is the global scrape and rule evaluation interval.
	// Zero: 5 s divided by the time compression, at least 1 s.
	ScrapeInterval time.Duration
	// ScrapeConfigs are the scrape jobs; their targets can be replaced later
	// with (*Cluster).SetScrapeTargets.
	ScrapeConfigs []ScrapeConfig
	// PodDiscovery adds the job PodsJob, which discovers the cluster's pods
	// through the API server (Kubernetes service discovery, role pod) and
	// scrapes those annotated prometheus.io/scrape: "true" at their pod IP
	// and prometheus.io/port, as the community Prometheus chart's
	// kubernetes-pods job does. Each series gets the pod's labels and
	// namespace, pod and container labels.
	PodDiscovery bool
}

// PodsJob is the job name of PrometheusOptions.PodDiscovery.
const PodsJob = "kubernetes-pods"

// ScrapeConfig is one Prometheus scrape job with static loopback targets.
type ScrapeConfig struct {
	// JobName is the job label; unique.
	JobName string
	// Targets are host:port addresses, e.g. 127.0.0.1:9100.
	Targets []string
	// MetricsPath is the HTTP path. Empty: /metrics.
	MetricsPath string
	// Interval overrides the global scrape interval when not zero.
	Interval time.Duration
	// Labels are added to every series of the job's targets.
	Labels map[string]string
}

// Defaults of Options.
var (
	defaultNodeCPU    = resource.MustParse("16")
	defaultNodeMemory = resource.MustParse("64Gi")
)

const (
	defaultNodeMaxPods  = 110
	defaultStartTimeout = 2 * time.Minute
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() (Options, error) {
	if o.BinDir == "" {
		dir, err := DefaultBinDir()
		if err != nil {
			return o, err
		}
		o.BinDir = dir
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.NodeCPU.IsZero() {
		o.NodeCPU = defaultNodeCPU
	}
	if o.NodeMemory.IsZero() {
		o.NodeMemory = defaultNodeMemory
	}
	if o.NodeMaxPods <= 0 {
		o.NodeMaxPods = defaultNodeMaxPods
	}
	if o.TimeCompression <= 0 {
		o.TimeCompression = 1
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = defaultStartTimeout
	}
	if o.Prometheus != nil && o.Prometheus.ScrapeInterval <= 0 {
		p := *o.Prometheus
		p.ScrapeInterval = o.compress(5*time.Second, time.Second)
		o.Prometheus = &p
	}
	return o, nil
}

// compress divides d by the time compression, rounded to milliseconds, and
// returns at least floor.
func (o Options) compress(d, floor time.Duration) time.Duration {
	c := time.Duration(float64(d) / o.TimeCompression).Round(time.Millisecond)
	return max(c, floor)
}

// binaries returns the names of the binaries these options run.
func (o Options) binaries() []string {
	names := []string{"etcd", "kube-apiserver"}
	if !o.DisableControllerManager {
		names = append(names, "kube-controller-manager")
	}
	if !o.DisableScheduler {
		names = append(names, "kube-scheduler")
	}
	if !o.DisableKwok {
		names = append(names, "kwok")
	}
	if o.Prometheus != nil {
		names = append(names, "prometheus")
	}
	return names
}
