package controllers

import (
	"testing"

	. "github.com/onsi/gomega"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The reader gets the profile's metric conventions: its preset, its latency
// histogram and its overrides.
func TestTargetOfCarriesTheMetricConventions(t *testing.T) {
	g := NewWithT(t)
	p := &tuningv1alpha1.PerformanceProfile{}
	p.Namespace, p.Name = "shop", "orders"
	p.Spec.TargetRef.Name = "orders"
	p.Spec.Metrics.Preset = tuningv1alpha1.PresetIstio
	p.Spec.Metrics.LatencyHistogram = &tuningv1alpha1.LatencyHistogram{Name: "app_latency_ms", Unit: tuningv1alpha1.UnitMilliseconds}
	p.Spec.Metrics.Queries = &tuningv1alpha1.QueryOverrides{DBTime: "my_db_time"}
	tg := TargetOf(p)
	g.Expect(tg.Preset).To(Equal(tuningv1alpha1.PresetIstio))
	g.Expect(tg.LatencyHistogram).To(Equal(p.Spec.Metrics.LatencyHistogram))
	g.Expect(tg.Overrides.DBTime).To(Equal("my_db_time"))
}
