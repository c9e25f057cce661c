package main

import (
	"context"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// setupControllers registers the PerformanceProfile reconciler with the
// manager. Every profile that shares a Prometheus endpoint is observed through
// one batcher, so the number of queries per period does not grow with the
// number of profiles.
func setupControllers(mgr ctrl.Manager, o options) error {
	clk := clock.RealClock{}
	reader := prom.NewReader(prom.Options{Clock: clk, Registerer: ctrlmetrics.Registry, Timeout: o.queryTimeout,
		Freshness: signals.Freshness{ScrapeInterval: o.scrapeInterval, ObservePeriod: o.observePeriod}})
	source := &controllers.PrometheusSource{
		// Secrets are read directly, not cached: the manager never holds every Secret of the cluster.
		Secrets: mgr.GetAPIReader(),
		// Deleted profiles are forgotten explicitly; the expiry only drops
		// what a missed deletion leaves. It must outlast the longest wait
		// for a first reconcile (a backlog of thousands of profiles at
		// start), or the first batch would lose them and every late
		// reconcile would refresh the whole batch again. A reconcile is
		// answered from the previous batch while the next one is read
		// (within the freshness rule), so the workers do not wait on
		// Prometheus once a period.
		Batcher: prom.NewBatcher(reader, prom.BatcherOptions{Period: o.observePeriod, Expiry: 15 * time.Minute,
			ServePrevious: true}),
		ScrapeInterval: o.scrapeInterval,
	}
	r, err := controllers.NewPerformanceProfileReconciler(mgr.GetClient(), controllers.Options{
		Source:                  source,
		Clock:                   clk,
		MaxConcurrentReconciles: o.maxConcurrent,
		ScrapeInterval:          o.scrapeInterval,
		Shard:                   o.shard(),
	})
	if err != nil {
		return err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	// Once the cache is filled, register every profile with its batch, so
	// the first period queries each endpoint once for all of them.
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return nil
		}
		if err := source.Prime(ctx, mgr.GetClient()); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Could not register the profiles with their batches")
		}
		return nil
	}))
}
