package controllers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

func TestMetricsReportAndForget(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	obs := signals.New(time.Unix(0, 0))
	obs.Set(signals.LatencyP99, 0.093, obs.Time)
	obs.SetMissing(signals.LatencyP95, signals.ReasonEmpty, "")
	m.report("shop", "orders", &obs, true, false, 1)
	m.report("shop", "carts", &obs, true, true, 0)
	m.adjustments.WithLabelValues("pool", resultApplied).Inc()
	m.rollbacks.WithLabelValues("pool", resultApplied).Inc()

	g.Expect(testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP navius_tuner_slo_compliance 1 when every SLO of the profile held in the latest observation, 0 when one was breached; absent when unknown.
# TYPE navius_tuner_slo_compliance gauge
navius_tuner_slo_compliance{namespace="shop",profile="carts"} 1
navius_tuner_slo_compliance{namespace="shop",profile="orders"} 0
# HELP navius_tuner_sli The profile's service level indicators as last observed (latencies in seconds, ratios between 0 and 1, throughput in requests per second).
# TYPE navius_tuner_sli gauge
navius_tuner_sli{namespace="shop",profile="carts",sli="latency_p99_seconds"} 0.093
navius_tuner_sli{namespace="shop",profile="orders",sli="latency_p99_seconds"} 0.093
# HELP navius_tuner_field_conflicts Knobs of the profile that navius-tuner stopped tuning because another field manager took them over.
# TYPE navius_tuner_field_conflicts gauge
navius_tuner_field_conflicts{namespace="shop",profile="carts"} 0
navius_tuner_field_conflicts{namespace="shop",profile="orders"} 1
# HELP navius_tuner_adjustments_total Adjustments by knob family and result (applied, failed).
# TYPE navius_tuner_adjustments_total counter
navius_tuner_adjustments_total{family="pool",result="applied"} 1
# HELP navius_tuner_rollbacks_total Rollbacks of adjustments that made the SLIs worse or did not help, by knob family and result (applied, failed).
# TYPE navius_tuner_rollbacks_total counter
navius_tuner_rollbacks_total{family="pool",result="applied"} 1
`), "navius_tuner_slo_compliance", "navius_tuner_sli", "navius_tuner_field_conflicts",
		"navius_tuner_adjustments_total", "navius_tuner_rollbacks_total")).To(Succeed())

	// An unknown SLO drops the compliance series; a deleted profile drops all of its series.
	m.report("shop", "carts", &obs, false, false, 0)
	m.forget("shop", "orders")
	g.Expect(testutil.CollectAndCount(reg, "navius_tuner_slo_compliance")).To(Equal(0))
	g.Expect(testutil.CollectAndCount(reg, "navius_tuner_sli")).To(Equal(1))
	g.Expect(testutil.CollectAndCount(reg, "navius_tuner_field_conflicts")).To(Equal(1))
}
