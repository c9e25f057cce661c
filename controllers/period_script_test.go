package controllers

import (
	"testing"

	. "github.com/onsi/gomega"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// The reconciler keeps the books after tuning.Decide as the benchmark's
// emulated operator does: the shared script (also run by internal/lab/bench
// TestControlRunsTheSharedPeriodScript) must leave the same history and give
// the engine the same SLOMetSince (issue 15 §1).
func TestReconcilerRunsTheSharedPeriodScript(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	script := testenv.Script(tuning.Knob(poolEnv), 10)
	eng := testenv.NewScriptedEngine(script)
	h.r.opts.Decide = eng.Decide
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	for i, p := range script {
		_, prof := h.period("orders")
		g.Expect(testenv.HistoryEntries(prof.Status)).To(Equal(p.History), "period %d", i)
	}
	g.Expect(eng.Errors).To(BeEmpty())
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("20"), "the last change wrote the pool back")
}
