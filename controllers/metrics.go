package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Metrics are the operator's own metrics, prefixed navius_tuner_. Series
// labelled with a profile are deleted with it.
//
// A profile's namespace is the label profile_namespace, never namespace: the
// Prometheus Operator's ServiceMonitors scrape with honor_labels false and set
// namespace to the namespace of the scraped Service (the manager's), which
// would overwrite it.
type Metrics struct {
	sloCompliance     *prometheus.GaugeVec
	sli               *prometheus.GaugeVec
	fieldConflicts    *prometheus.GaugeVec
	condition         *prometheus.GaugeVec
	paused            *prometheus.GaugeVec
	mode              *prometheus.GaugeVec
	adjustments       *prometheus.CounterVec
	rollbacks         *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
}

// Labels of every per-profile series.
const (
	labelProfileNamespace = "profile_namespace"
	labelProfile          = "profile"
)

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
		}, []string{labelProfileNamespace, labelProfile}),
		sli: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_sli",
			Help: "The profile's service level indicators as last observed (latencies in seconds, ratios between 0 and 1, throughput in requests per second).",
		}, []string{labelProfileNamespace, labelProfile, "sli"}),
		fieldConflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_field_conflicts",
			Help: "Knobs of the profile that navius-tuner stopped tuning because another field manager took them over.",
		}, []string{labelProfileNamespace, labelProfile}),
		condition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_profile_condition",
			Help: "The profile's status conditions: 1 for the status each condition type has, 0 for the other statuses (True, False, Unknown).",
		}, []string{labelProfileNamespace, labelProfile, "type", "status"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_profile_paused",
			Help: "1 when the profile's paused annotation stops every write to its workload, 0 otherwise.",
		}, []string{labelProfileNamespace, labelProfile}),
		mode: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "navius_tuner_profile_mode",
			Help: "The profile's spec.mode: 1 for the mode it has, 0 for the others (Auto, Recommend, Off).",
		}, []string{labelProfileNamespace, labelProfile, "mode"}),
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
	reg.MustRegister(m.sloCompliance, m.sli, m.fieldConflicts, m.condition, m.paused, m.mode, m.adjustments, m.rollbacks, m.reconcileDuration)
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

// conditionStatuses are the statuses a condition can have, each a series of
// navius_tuner_profile_condition (as kube-state-metrics does), so that an
// alert can select on status="True" and a missing series means no profile.
var conditionStatuses = []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}

// modes are the values of spec.mode, each a series of navius_tuner_profile_mode.
var modes = []tuningv1alpha1.Mode{tuningv1alpha1.ModeAuto, tuningv1alpha1.ModeRecommend, tuningv1alpha1.ModeOff}

// reportState publishes a profile's conditions, pause and mode. Every
// reconcile sets every condition type, so a type's series stay until the
// profile is forgotten (deleting and re-adding them would open a gap a
// scrape could fall into).
func (m *Metrics) reportState(namespace, name string, conds []metav1.Condition, paused bool, mode tuningv1alpha1.Mode) {
	for _, c := range conds {
		for _, st := range conditionStatuses {
			m.condition.WithLabelValues(namespace, name, c.Type, string(st)).Set(oneIf(c.Status == st))
		}
	}
	m.paused.WithLabelValues(namespace, name).Set(oneIf(paused))
	for _, md := range modes {
		m.mode.WithLabelValues(namespace, name, string(md)).Set(oneIf(mode == md))
	}
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// forget deletes every series of a deleted profile.
func (m *Metrics) forget(namespace, name string) {
	l := prometheus.Labels{labelProfileNamespace: namespace, labelProfile: name}
	for _, v := range []*prometheus.GaugeVec{m.sloCompliance, m.sli, m.fieldConflicts, m.condition, m.paused, m.mode} {
		v.DeletePartialMatch(l)
	}
}

// NewBuildInfo is navius_tuner_build_info: always 1, its labels say which
// build runs (version and revision set with -ldflags -X by the Makefile and
// the Dockerfile; see internal/version).
func NewBuildInfo(version, revision, goVersion string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "navius_tuner_build_info",
		Help:        "Always 1; the labels say the version, VCS revision and Go version of the running manager.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
