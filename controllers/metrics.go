package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Metrics are the operator's own metrics, prefixed navius_tuner_. Series
// labelled with a profile are deleted with it.
type Metrics struct {
	sloCompliance     *prometheus.GaugeVec
	sli               *prometheus.GaugeVec
	fieldConflicts    *prometheus.GaugeVec
	adjustments       *prometheus.CounterVec
	rollbacks         *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
}

// Results of an adjustment or rollback.
const (
	resultApplied = "applied"
	resultFailed  = "failed"
)

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sloCompliance: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_slo_compliance",
			Help: "1 when every SLO of the profile held in the latest observation, 0 when one was breached; absent when unknown.",
		}, []string{"namespace", "profile"}),
		sli: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_sli",
			Help: "The profile's service level indicators as last observed (latencies in seconds, ratios between 0 and 1, throughput in requests per second).",
		}, []string{"namespace", "profile", "sli"}),
		fieldConflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_field_conflicts",
			Help: "Knobs of the profile that navius-tuner stopped tuning because another field manager took them over.",
		}, []string{"namespace", "profile"}),
		adjustments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "navius_tuner_adjustments_total",
			Help: "Adjustments by knob family and result (applied, failed).",
		}, []string{"family", "result"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "navius_tuner_rollbacks_total",
			Help: "Rollbacks of adjustments that made the SLIs worse or did not help, by knob family and result (applied, failed).",
		}, []string{"family", "result"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "navius_tuner_reconcile_duration_seconds",
			Help:    "Duration of PerformanceProfile reconciles by result (success, waiting, stalled, error).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
	}
	reg.MustRegister(m.sloCompliance, m.sli, m.fieldConflicts, m.adjustments, m.rollbacks, m.reconcileDuration)
	return m
}

var defaultMetrics = sync.OnceValue(func() *Metrics { return NewMetrics(ctrlmetrics.Registry) })

// sliSeries maps the signals reported as navius_tuner_sli to their label
// value: every percentile of signals.Percentiles ("latency_p999_seconds"),
// then the other SLIs.
var sliSeries = func() []sliLabel {
	var out []sliLabel
	for _, p := range signals.Percentiles {
		out = append(out, sliLabel{p.Signal, "latency_" + p.Name + "_seconds"})
	}
	return append(out,
		sliLabel{signals.ErrorRate, "error_ratio"},
		sliLabel{signals.Throughput, "throughput_rps"},
		sliLabel{signals.PoolWait, "pool_wait_seconds"},
		sliLabel{signals.MemoryHitRatio, "memory_hit_ratio"},
		sliLabel{signals.RedisHitRatio, "redis_hit_ratio"},
		sliLabel{signals.CPUUtilization, "cpu_utilization_ratio"},
	)
}()

type sliLabel struct {
	signal signals.Signal
	label  string
}

// report publishes a profile's SLIs, SLO compliance and conflicts.
func (m *Metrics) report(namespace, name string, obs *signals.Observation, sloKnown, sloMet bool, conflicts int) {
	if obs != nil {
		for _, s := range sliSeries {
			if v, ok := obs.Get(s.signal); ok {
				m.sli.WithLabelValues(namespace, name, s.label).Set(v)
			} else {
				m.sli.DeleteLabelValues(namespace, name, s.label)
			}
		}
	}
	switch {
	case !sloKnown:
		m.sloCompliance.DeleteLabelValues(namespace, name)
	case sloMet:
		m.sloCompliance.WithLabelValues(namespace, name).Set(1)
	default:
		m.sloCompliance.WithLabelValues(namespace, name).Set(0)
	}
	m.fieldConflicts.WithLabelValues(namespace, name).Set(float64(conflicts))
}

// forget deletes every series of a deleted profile.
func (m *Metrics) forget(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "profile": name}
	m.sloCompliance.DeletePartialMatch(l)
	m.sli.DeletePartialMatch(l)
	m.fieldConflicts.DeletePartialMatch(l)
}
