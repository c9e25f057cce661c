package controllers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1 "k8s.io/api/core/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// A profile whose only objective is p999 is observed, shown and reported
// like one on p99: status.slis.p999, the navius_tuner_sli series, the reader's
// quantiles.
func TestP999ObjectiveEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.deployment(targetName, corev1.EnvVar{Name: poolEnv, Value: "10"})
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.SLO.Latency = []tuningv1alpha1.LatencyObjective{
		{Percentile: tuningv1alpha1.P999, Threshold: metav1.Duration{Duration: 200 * time.Millisecond}}}
	h.create(p)
	g := h.g
	g.Expect(TargetOf(p).Percentiles).To(ContainElement(signals.LatencyP999), "the reader computes p999")

	v := starvedPool()
	v[signals.LatencyP999] = 0.400
	h.observer.set(v, false)
	_, got := h.period("orders")
	g.Expect(got.Status.SLIs.P999).NotTo(BeNil())
	g.Expect(got.Status.SLIs.P999.Duration).To(Equal(400 * time.Millisecond))
	g.Expect(condition(got, tuningv1alpha1.ConditionSLOMet).Message).To(ContainSubstring("p999 400ms > 200ms"))
	g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"), "the p999 breach was relieved")
	g.Expect(got.Status.History).To(HaveLen(1))
	g.Expect(got.Status.History[0].Baseline.P999).NotTo(BeNil(), "the baseline records p999")
	g.Expect(gathered(g, h.r.opts.Metrics.profiles, "navius_tuner_sli")).To(
		HaveKeyWithValue(`profile="orders",profile_namespace="`+h.ns+`",sli="latency_p999_seconds"`, 0.400))
}

// A profile whose exporter has neither DB time, DB call rate nor
// throughput (no estimate of a cache miss's cost): the pool is tuned, the cache is held,
// and the condition and its Event name the family and its knobs.
func TestMissingFamilyIsHeldAndNamed(t *testing.T) {
	h := newHarness(t)
	h.deployment(targetName, corev1.EnvVar{Name: poolEnv, Value: "10"}, corev1.EnvVar{Name: "CACHE_ITEMS", Value: "10000"})
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Cache = &tuningv1alpha1.Cache{Memory: &tuningv1alpha1.MemoryCache{
		MaxItems: &tuningv1alpha1.IntEnvKnob{Env: "CACHE_ITEMS", Min: 1000, Max: 100000}}}
	h.create(p)
	g := h.g

	v := starvedPool()
	v[signals.PoolWait], v[signals.LatencyP99], v[signals.LatencyP95] = 3.3, 5, 4
	delete(v, signals.DBTime)
	delete(v, signals.DBCallRate)
	delete(v, signals.Throughput)
	h.observer.set(v, false)
	_, got := h.period("orders")

	c := condition(got, tuningv1alpha1.ConditionMetricsAvailable)
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(c.Reason).To(Equal(tuningv1alpha1.ReasonFamiliesHeld))
	g.Expect(c.Message).To(ContainSubstring("cache (holds CACHE_ITEMS): miss cost: no estimate, tried dbTime (dbTime: not observed), Little's law poolInUse ÷ dbCallRate (dbCallRate: not observed)"))
	g.Expect(c.Message).NotTo(ContainSubstring("pool ("), "the pool's signals were read")
	g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"), "the measured pool was raised")
	g.Expect(h.envValue(targetName, "CACHE_ITEMS")).To(Equal("10000"))
	g.Expect(got.Status.History).To(HaveLen(1))
	g.Expect(got.Status.History[0].Reason).To(ContainSubstring("unknown (not measured): cache (miss cost: no estimate"))
	evs := h.drainEvents()
	g.Expect(hasEvent(evs, "Warning", tuningv1alpha1.ReasonFamiliesHeld, "cache (holds CACHE_ITEMS)")).To(BeTrue(), strings.Join(evs, "\n"))
}

// The condition and the decision read the same verdict on what is missing:
// a value the engine cannot use (a negative p99) makes MetricsAvailable
// False, never True beside SLOMet=Unknown.
func TestMetricsAvailableAgreesWithTheDecision(t *testing.T) {
	h := newHarness(t)
	h.deployment(targetName, corev1.EnvVar{Name: poolEnv, Value: "10"})
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	v := starvedPool()
	v[signals.LatencyP99] = -0.1
	h.observer.set(v, false)
	_, got := h.period("orders")
	c := condition(got, tuningv1alpha1.ConditionMetricsAvailable)
	h.g.Expect(c.Status).To(Equal(metav1.ConditionFalse), c.Message)
	h.g.Expect(c.Message).To(ContainSubstring("latencyP99: Malformed: implausible value -0.1"))
	h.g.Expect(condition(got, tuningv1alpha1.ConditionSLOMet).Status).To(Equal(metav1.ConditionUnknown))
	h.g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))
}
