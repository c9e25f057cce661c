package main

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/metrics"
)

// setupControllers registers the PerformanceProfile reconciler with the
// manager. Every profile that shares a Prometheus endpoint is observed through
// one batcher, so the number of queries per period does not grow with the
// number of profiles.
func setupControllers(mgr ctrl.Manager, o options) error {
	clk := clock.RealClock{}
	obs := metrics.NewObserver(metrics.Options{Clock: clk, Registerer: ctrlmetrics.Registry, Timeout: o.queryTimeout})
	r, err := controllers.NewPerformanceProfileReconciler(mgr.GetClient(), controllers.Options{
		Observer: &controllers.PrometheusObserver{
			// Secrets are read directly, not cached: the manager never holds every Secret of the cluster.
			Secrets: mgr.GetAPIReader(),
			Batcher: metrics.NewBatcher(obs, metrics.BatcherOptions{}),
		},
		Clock:                   clk,
		MaxConcurrentReconciles: o.maxConcurrent,
	})
	if err != nil {
		return err
	}
	return r.SetupWithManager(mgr)
}
