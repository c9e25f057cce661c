package prom

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Self-metric names. Labels are low-cardinality: family is one of the batch
// families or "override", reason one of the signals.Reason values.
const (
	QueryDurationName = "navius_tuner_metrics_query_duration_seconds"
	QueryErrorsName   = "navius_tuner_metrics_query_errors_total"
	QueryRetriesName  = "navius_tuner_metrics_query_retries_total"
)

// selfMetrics are the operator's own metrics about its queries.
type selfMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// newSelfMetrics registers the metrics in reg (controller-runtime's registry
// when nil). Registering twice reuses the collectors already registered, so
// several Readers may share one registry.
func newSelfMetrics(reg prometheus.Registerer) *selfMetrics {
	if reg == nil {
		reg = crmetrics.Registry
	}
	m := &selfMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    QueryDurationName,
			Help:    "Duration of PromQL queries made to observe profiles, per attempt, by query family and result (success or error).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"family", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: QueryErrorsName,
			Help: "PromQL queries that gave no usable answer after all retries, by query family and reason.",
		}, []string{"family", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: QueryRetriesName,
			Help: "PromQL query attempts that were retried, by query family and reason.",
		}, []string{"family", "reason"}),
	}
	m.duration = register(reg, m.duration)
	m.errors = register(reg, m.errors)
	m.retries = register(reg, m.retries)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
