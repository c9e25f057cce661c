package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/version"
)

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := tuningv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// managerOptions turns the command-line options into controller-runtime's.
func managerOptions(o options, scheme *runtime.Scheme) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		// HTTP/2 rapid reset and stream cancellation attacks: serve HTTP/1.1 only.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	var auth func(*rest.Config, *http.Client) (metricsserver.Filter, error)
	if o.secureMetrics {
		// Only callers the API server authenticates and authorizes (a token
		// allowed to get /metrics) may scrape.
		auth = filters.WithAuthenticationAndAuthorization
	}
	metricsOpts.FilterProvider = servingProfileSeries(auth)
	cacheOpts := cache.Options{ByObject: cacheByObject(o.shard())}
	if nss := o.namespaces(); len(nss) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range nss {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	leaseDuration, renewDeadline, retryPeriod := o.leaseDuration, o.renewDeadline, o.retryPeriod
	return ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionNamespace:       o.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		Cache:                         cacheOpts,
	}
}

func run(o options, log logr.Logger) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctrl.SetLogger(log)
	if _, err := setMemoryLimit(memlimit.FromCgroup, slog.New(logr.ToSlogHandler(log))); err != nil {
		log.Info("GOMEMLIMIT not set from the container's memory limit", "reason", err.Error())
	}
	// A GOGC the runtime could not parse leaves it at 100: the log says which applies.
	log.Info("Garbage collector target", "GOGC", setGCPercent(os.Getenv))
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	mgrOpts := managerOptions(o, scheme)
	var certWatcher *certwatcher.CertWatcher
	if o.metricsCertPath != "" {
		// As kubebuilder v4 scaffolds: a missing or bad certificate is an
		// error at start, not a silent self-signed fallback, and a renewed
		// one (cert-manager rotates it) is served without a restart.
		certWatcher, err = certwatcher.New(filepath.Join(o.metricsCertPath, o.metricsCertName), filepath.Join(o.metricsCertPath, o.metricsCertKey))
		if err != nil {
			return fmt.Errorf("loading the metrics certificate from --metrics-cert-path %s: %w", o.metricsCertPath, err)
		}
		mgrOpts.Metrics.TLSOpts = append(mgrOpts.Metrics.TLSOpts, func(c *tls.Config) { c.GetCertificate = certWatcher.GetCertificate })
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if certWatcher != nil {
		if err := mgr.Add(certWatcher); err != nil {
			return err
		}
	}
	info := version.Get()
	if err := ctrlmetrics.Registry.Register(controllers.NewBuildInfo(info.Version, info.Revision, info.GoVersion)); err != nil {
		return fmt.Errorf("registering navius_tuner_build_info: %w", err)
	}
	if err := setupControllers(mgr, o); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("Starting navius-tuner", "version", info.Version, "revision", info.Revision, "leaderElection", o.leaderElect, "namespaces", o.namespaces(), "shard", o.shard().String())
	return mgr.Start(ctrl.SetupSignalHandler())
}
