package controllers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

func TestMetricsReportAndForget(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	obs := signals.NewObservation(time.Unix(0, 0))
	obs.Set(signals.LatencyP99, 0.093, obs.Time)
	obs.SetMissing(signals.LatencyP95, signals.ReasonEmpty, "")
	m.report("shop", "orders", &obs, true, false, 1)
	m.report("shop", "carts", &obs, true, true, 0)
	m.adjustments.WithLabelValues("pool", resultApplied).Inc()
	m.rollbacks.WithLabelValues("pool", resultApplied).Inc()

	g.Expect(testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP navius_tuner_slo_compliance 1 when every SLO of the profile held in the latest observation, 0 when one was breached; absent when unknown.
# TYPE navius_tuner_slo_compliance gauge
navius_tuner_slo_compliance{profile="carts",profile_namespace="shop"} 1
navius_tuner_slo_compliance{profile="orders",profile_namespace="shop"} 0
# HELP navius_tuner_sli The profile's service level indicators as last observed (latencies in seconds, ratios between 0 and 1, throughput in requests per second).
# TYPE navius_tuner_sli gauge
navius_tuner_sli{profile="carts",profile_namespace="shop",sli="latency_p99_seconds"} 0.093
navius_tuner_sli{profile="orders",profile_namespace="shop",sli="latency_p99_seconds"} 0.093
# HELP navius_tuner_field_conflicts Knobs of the profile that navius-tuner stopped tuning because another field manager took them over.
# TYPE navius_tuner_field_conflicts gauge
navius_tuner_field_conflicts{profile="carts",profile_namespace="shop"} 0
navius_tuner_field_conflicts{profile="orders",profile_namespace="shop"} 1
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

// TestMetricsReportState checks the per-profile state series: one series per
// condition status (1 for the one it has), pause and mode; all of them go
// with the profile.
func TestMetricsReportState(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	conds := []metav1.Condition{
		{Type: tuningv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: tuningv1alpha1.ReasonTargetNotFound},
		{Type: tuningv1alpha1.ConditionStalled, Status: metav1.ConditionUnknown},
	}
	m.reportState("shop", "orders", conds, true, tuningv1alpha1.ModeRecommend)
	m.reportState("shop", "carts", nil, false, tuningv1alpha1.ModeAuto)
	// A later reconcile moves the status: the same series change value.
	conds[1].Status = metav1.ConditionTrue
	m.reportState("shop", "orders", conds, true, tuningv1alpha1.ModeRecommend)

	g.Expect(testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP navius_tuner_profile_condition The profile's status conditions: 1 for the status each condition type has, 0 for the other statuses (True, False, Unknown).
# TYPE navius_tuner_profile_condition gauge
navius_tuner_profile_condition{profile="orders",profile_namespace="shop",status="False",type="Ready"} 1
navius_tuner_profile_condition{profile="orders",profile_namespace="shop",status="True",type="Ready"} 0
navius_tuner_profile_condition{profile="orders",profile_namespace="shop",status="Unknown",type="Ready"} 0
navius_tuner_profile_condition{profile="orders",profile_namespace="shop",status="False",type="Stalled"} 0
navius_tuner_profile_condition{profile="orders",profile_namespace="shop",status="True",type="Stalled"} 1
navius_tuner_profile_condition{profile="orders",profile_namespace="shop",status="Unknown",type="Stalled"} 0
# HELP navius_tuner_profile_paused 1 when the profile's paused annotation stops every write to its workload, 0 otherwise.
# TYPE navius_tuner_profile_paused gauge
navius_tuner_profile_paused{profile="carts",profile_namespace="shop"} 0
navius_tuner_profile_paused{profile="orders",profile_namespace="shop"} 1
# HELP navius_tuner_profile_mode The profile's spec.mode: 1 for the mode it has, 0 for the others (Auto, Recommend, Off).
# TYPE navius_tuner_profile_mode gauge
navius_tuner_profile_mode{mode="Auto",profile="carts",profile_namespace="shop"} 1
navius_tuner_profile_mode{mode="Off",profile="carts",profile_namespace="shop"} 0
navius_tuner_profile_mode{mode="Recommend",profile="carts",profile_namespace="shop"} 0
navius_tuner_profile_mode{mode="Auto",profile="orders",profile_namespace="shop"} 0
navius_tuner_profile_mode{mode="Off",profile="orders",profile_namespace="shop"} 0
navius_tuner_profile_mode{mode="Recommend",profile="orders",profile_namespace="shop"} 1
`), "navius_tuner_profile_condition", "navius_tuner_profile_paused", "navius_tuner_profile_mode")).To(Succeed())

	m.forget("shop", "orders")
	g.Expect(testutil.CollectAndCount(reg, "navius_tuner_profile_condition")).To(Equal(0))
	g.Expect(testutil.CollectAndCount(reg, "navius_tuner_profile_paused")).To(Equal(1))
	g.Expect(testutil.CollectAndCount(reg, "navius_tuner_profile_mode")).To(Equal(3))
}

func TestBuildInfo(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfo("v0.3.0", "0123abc", "go1.26.0"))
	g.Expect(testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP navius_tuner_build_info Always 1; the labels say the version, VCS revision and Go version of the running manager.
# TYPE navius_tuner_build_info gauge
navius_tuner_build_info{goversion="go1.26.0",revision="0123abc",version="v0.3.0"} 1
`))).To(Succeed())
}
