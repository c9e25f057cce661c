package main

import (
	"net/http"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/navius-dev/navius-tuner/controllers"
)

// metricsPath is the path controller-runtime's metrics server serves its
// registry at.
const metricsPath = "/metrics"

// servingProfileSeries is the metrics server's filter provider: /metrics is
// answered by controllers.MetricsHandler (controller-runtime's registry, then
// the per-profile series a family at a time), behind auth's filter when
// auth is set. controller-runtime serves its registry with promhttp, which
// builds every series before writing any, and refuses another handler at
// /metrics; its filter, which wraps that handler, is where the path can be
// answered otherwise.
func servingProfileSeries(auth func(*rest.Config, *http.Client) (metricsserver.Filter, error)) func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
	return func(c *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
		var authFilter metricsserver.Filter
		if auth != nil {
			f, err := auth(c, hc)
			if err != nil {
				return nil, err
			}
			authFilter = f
		}
		metrics := controllers.MetricsHandler(ctrlmetrics.Registry)
		return func(log logr.Logger, next http.Handler) (http.Handler, error) {
			h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == metricsPath {
					metrics.ServeHTTP(w, r)
					return
				}
				next.ServeHTTP(w, r)
			}))
			if authFilter != nil {
				return authFilter(log, h)
			}
			return h, nil
		}, nil
	}
}
