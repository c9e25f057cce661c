package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// options are the manager's command-line settings.
type options struct {
	metricsAddr      string
	secureMetrics    bool
	probeAddr        string
	leaderElect      bool
	leaderElectionID string
	leaderElectionNS string
	leaseDuration    time.Duration
	renewDeadline    time.Duration
	retryPeriod      time.Duration
	watchNamespaces  string
	// watchSelector is the shard's label selector of profiles ("" for all).
	watchSelector  string
	maxConcurrent  int
	queryTimeout   time.Duration
	observePeriod  time.Duration
	scrapeInterval time.Duration
	enableHTTP2    bool
	pprofAddr      string
	// metricsCertPath holds tls.crt and tls.key for the metrics endpoint
	// (a cert-manager Certificate's Secret); empty: a self-signed certificate.
	metricsCertPath string
	metricsCertName string
	metricsCertKey  string
	printVersion    bool
}

func defaultOptions() options {
	return options{
		metricsAddr:   ":8443",
		secureMetrics: true,
		probeAddr:     ":8081",
		// Off unless asked for, as kubebuilder does: a manager run from a
		// laptop (make run) has no namespace of its own to put the Lease in.
		// The in-cluster manifests (config/manager, the chart) pass --leader-elect.
		leaderElect:      false,
		leaderElectionID: "navius-tuner.tuning.navius.io",
		leaseDuration:    15 * time.Second,
		renewDeadline:    10 * time.Second,
		retryPeriod:      2 * time.Second,
		// Reconciles wait on the API server (the status patch), not on CPU:
		// 16 in parallel reconcile 10,000 profiles in under 2 minutes.
		maxConcurrent:  16,
		queryTimeout:   10 * time.Second,
		observePeriod:  30 * time.Second,
		scrapeInterval: signals.DefaultScrapeInterval,

		// The file names of a kubernetes.io/tls Secret.
		metricsCertName: "tls.crt",
		metricsCertKey:  "tls.key",
	}
}

func (o *options) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", o.metricsAddr, "Address of the metrics endpoint (:8443 for HTTPS, :8080 for HTTP, 0 to disable).")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", o.secureMetrics, "Serve metrics over HTTPS with authentication and authorization by the API server.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", o.probeAddr, "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.leaderElect, "leader-elect", o.leaderElect, "Elect a leader so that only one replica acts at a time (off by default for a run outside the cluster; the in-cluster manifests turn it on).")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", o.leaderElectionID, "Name of the leader-election Lease.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", o.leaderElectionNS, "Namespace of the leader-election Lease (default: the manager's own namespace).")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", o.leaseDuration, "How long a non-leader waits before taking over an unrenewed lease.")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", o.renewDeadline, "How long the leader retries renewing before giving up leadership.")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", o.retryPeriod, "How often leader-election clients retry.")
	fs.StringVar(&o.watchNamespaces, "watch-namespaces", o.watchNamespaces, "Comma-separated namespaces to watch (default: all).")
	fs.StringVar(&o.watchSelector, "watch-label-selector", o.watchSelector, "Reconcile only the profiles this label selector on "+tuningv1alpha1.ShardLabel+" selects, and cache only the workloads they read (a shard: for example "+tuningv1alpha1.ShardLabel+"=a, or !"+tuningv1alpha1.ShardLabel+" for the unlabelled profiles; default: all profiles).")
	fs.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", o.maxConcurrent, "Profiles reconciled in parallel.")
	fs.DurationVar(&o.queryTimeout, "prometheus-timeout", o.queryTimeout, "Default timeout of a Prometheus query when a profile sets none.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", o.pprofAddr, "Address of the Go profiler's /debug/pprof endpoints (default: off).")
	fs.DurationVar(&o.observePeriod, "observe-period", o.observePeriod, "How long one batch of Prometheus queries answers every profile of an endpoint: the oldest data a profile may decide on. Set it to the shortest spec.interval you use; querying faster than Prometheus scrapes gains nothing.")
	fs.DurationVar(&o.scrapeInterval, "prometheus-scrape-interval", o.scrapeInterval, "Prometheus' scrape interval. A sample older than 2 × this plus --observe-period, against the query's time, is Stale (missing). A profile whose SLO breach is CPU-saturated is checked again this often (when shorter than spec.interval), with a batch no older.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", o.enableHTTP2, "Allow HTTP/2 on the metrics server (off by default: CVE-2023-44487, CVE-2023-39325).")
	fs.StringVar(&o.metricsCertPath, "metrics-cert-path", o.metricsCertPath, "Directory of the metrics endpoint's certificate and key, reloaded when they change (default: a self-signed certificate).")
	fs.StringVar(&o.metricsCertName, "metrics-cert-name", o.metricsCertName, "File name of the metrics certificate in --metrics-cert-path.")
	fs.StringVar(&o.metricsCertKey, "metrics-cert-key", o.metricsCertKey, "File name of the metrics key in --metrics-cert-path.")
	fs.BoolVar(&o.printVersion, "version", o.printVersion, "Print the version and exit.")
}

func (o options) validate() error {
	if o.observePeriod < time.Second {
		return fmt.Errorf("--observe-period must be at least 1s, got %s", o.observePeriod)
	}
	if o.scrapeInterval < time.Second {
		return fmt.Errorf("--prometheus-scrape-interval must be at least 1s, got %s", o.scrapeInterval)
	}
	if o.maxConcurrent < 1 {
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.maxConcurrent)
	}
	if o.metricsCertPath != "" && !o.secureMetrics {
		return fmt.Errorf("--metrics-cert-path needs --metrics-secure")
	}
	shard, err := controllers.ParseShard(o.watchSelector)
	if err != nil {
		return err
	}
	// The default shard keeps the Lease of the single manager it replaces,
	// so that the two never run at once while sharding is turned on.
	if shard != nil && !shard.Default() && o.leaderElect && o.leaderElectionID == defaultOptions().leaderElectionID {
		return fmt.Errorf("--watch-label-selector %q needs its own --leader-election-id: every shard elects its own leader, and a shard on the Lease %s of the default shard would run only while the default shard does not", o.watchSelector, o.leaderElectionID)
	}
	if o.leaderElect && o.renewDeadline >= o.leaseDuration {
		return fmt.Errorf("--leader-elect-renew-deadline (%s) must be shorter than --leader-elect-lease-duration (%s)", o.renewDeadline, o.leaseDuration)
	}
	return nil
}

// namespaces returns the namespaces to watch; nil means all.
func (o options) namespaces() []string {
	var out []string
	for _, ns := range strings.Split(o.watchNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// shard is the shard --watch-label-selector names; nil for all profiles.
// validate has checked it.
func (o options) shard() *controllers.Shard {
	s, err := controllers.ParseShard(o.watchSelector)
	if err != nil {
		panic(err)
	}
	return s
}
