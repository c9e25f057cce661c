package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// The real service's scenario: a user's untuned Go service on a real
// PostgreSQL. Pool 2 per pod, 25 ms per query, 300 req/s over 2 pods, 100k
// uniform keys (L1 of 1,000 items: a hit ratio near 1 %), p99 ≤ 40 ms, and no
// database call duration series (no dbTime): the pool is far too small
// (2 connections serve 80 req/s per pod), so requests queue for connections.
const (
	realSLO = 40 * time.Millisecond
	// realConverge bounds the wait, it is not a target: the first verdict
	// waits for the SLO window to leave the untuned minutes behind (p99
	// 7.4 s), and on a machine whose cores the other scenarios keep busy
	// the real processes' tail may need a second decision, judged a settle
	// time later (seen: p99 42 ms after the first, met after the second).
	realConverge = converge + 4*time.Minute
	realRate     = 300
)

// realWorkload is the real service's options; startWorkloads creates it
// with the simulated scenarios.
func realWorkload() harness.RealWorkloadOptions {
	return harness.RealWorkloadOptions{
		Namespace: "e2e-realservice",
		Knobs:     &sim.Knobs{PoolMax: 2, L1Items: 1000, L1TTL: 30, L2TTL: 60},
		QueryCost: 25 * time.Millisecond,
		Keys:      100_000,
		Rate:      realRate,
		// No connection use time: the opentelemetry preset has no dbTime.
		WithoutDBTime: true,
		// PostgreSQL accepts 60; the role's limit, the budget, is 50.
		DBMaxConnections: 60, DBReserved: 10,
	}
}

// TestRealServiceIsTuned: the operator tunes the real service from its
// untuned state until the objective holds, on the metrics the OpenTelemetry
// SDK exports, and PostgreSQL never refuses a connection of the service's
// role (its connection limit is the profile's budget, so a decision that
// broke the budget at any moment of a rollout would be refused). Every
// decision carries the signal values it used and a prediction, and every
// judged decision what was observed.
func TestRealServiceIsTuned(t *testing.T) {
	t.Parallel()
	e := env(t)
	w := shared.real
	if w == nil {
		t.Fatal("the real workload was not started")
	}
	g := NewWithT(t)
	ctx := t.Context()
	profile := func(g Gomega) *tuningv1alpha1.PerformanceProfile {
		p := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(e.Client().Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: w.Name}, p)).To(Succeed())
		return p
	}
	defer func() {
		if t.Failed() {
			dumpReal(t, e, w, profile(NewWithT(t)))
		}
	}()
	began := time.Now()
	lastLog := time.Now()
	g.Eventually(func(g Gomega) {
		p := profile(g)
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			t.Log(describeReal(ctx, e, w, p))
		}
		sloMet(g, p, 0, realSLO)
		g.Expect(poolRaises(p)).NotTo(BeEmpty(), "the starved pool was raised")
	}).WithTimeout(realConverge).WithPolling(2 * time.Second).Should(Succeed())
	t.Logf("SLOMet after %v: %s", time.Since(began).Round(time.Second), describeReal(ctx, e, w, profile(g)))

	p := profile(g)
	for _, d := range p.Status.History {
		g.Expect(d.Reason).NotTo(BeEmpty(), "decision %s %v", d.Family, d.Changes)
		if len(d.Changes) == 0 {
			continue
		}
		g.Expect(d.Baseline).NotTo(BeNil(), "the change %s %v records the signals it was made on", d.Family, d.Changes)
		g.Expect(d.Prediction != nil || d.Predicted != "").To(BeTrue(), "the change %s %v carries a prediction", d.Family, d.Changes)
		if d.Outcome != tuningv1alpha1.OutcomePending {
			g.Expect(d.Observed).NotTo(BeEmpty(), "the verdict on %s %v says what it observed", d.Family, d.Changes)
		}
	}
	// The pool's raise may ride in the rollout of another family's decision
	// (the cache's, when its misses are diagnosed first): it is found by knob.
	first := poolRaises(p)[0]
	g.Expect(first.Baseline.P99).NotTo(BeNil())
	g.Expect(first.Baseline.P99.Duration).To(BeNumerically(">", realSLO), "the pool was raised for a breach")
	for _, c := range first.Changes {
		if c.Knob == sim.EnvPoolMax {
			from, _ := strconv.Atoi(c.From)
			to, _ := strconv.Atoi(c.To)
			g.Expect(to).To(BeNumerically(">", from))
		}
	}
	c := meta.FindStatusCondition(p.Status.Conditions, tuningv1alpha1.ConditionConnectionBudget)
	g.Expect(c == nil || c.Status != metav1.ConditionFalse).To(BeTrue(), "connection budget: %v", c)
	refused, err := w.Postgres.RefusedConnections()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(refused).To(BeZero(), "PostgreSQL refused connections of the role (limit %d): %s", w.Budget(), w.Postgres.LogPath())
	// The processes really run the tuned pool: the pods' env is what their
	// processes were started with, and the agent runs exactly the ready pods.
	g.Expect(e.Agent().Pods()).NotTo(BeEmpty())
}

// poolRaises are the decisions, oldest first, that changed the pool's size.
func poolRaises(p *tuningv1alpha1.PerformanceProfile) []tuningv1alpha1.Decision {
	var out []tuningv1alpha1.Decision
	for _, d := range p.Status.History {
		for _, c := range d.Changes {
			if c.Knob == sim.EnvPoolMax {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// describeReal is one line of the real workload's state.
func describeReal(ctx context.Context, e *harness.Env, w *harness.RealWorkload, p *tuningv1alpha1.PerformanceProfile) string {
	conns, _ := w.Postgres.RoleConnections(ctx)
	refused, _ := w.Postgres.RefusedConnections()
	out := fmt.Sprintf("load sent=%d ok=%d failed=%d pods=%d pg role connections=%d/%d refused=%d",
		w.Load.Sent.Load(), w.Load.OK.Load(), w.Load.Failed.Load(), len(e.Agent().Pods()), conns, w.Budget(), refused)
	if p.Status.SLIs != nil {
		out += fmt.Sprintf(" status p99=%v", durStr(p.Status.SLIs.P99))
	}
	for _, d := range p.Status.History {
		out += fmt.Sprintf(" | %s %s %v %s", d.Family, d.Diagnosis, d.Changes, d.Outcome)
	}
	return out
}

func dumpReal(t *testing.T, e *harness.Env, w *harness.RealWorkload, p *tuningv1alpha1.PerformanceProfile) {
	t.Log("final state: " + describeReal(context.Background(), e, w, p))
	for _, c := range p.Status.Conditions {
		t.Logf("  condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, d := range p.Status.History {
		t.Logf("  decision %s %s %s %v -> %s: %s (observed %s)", d.Time.Format(time.TimeOnly), d.Family, d.Diagnosis, d.Changes, d.Outcome, d.Reason, d.Observed)
	}
	t.Logf("PostgreSQL log: %s\n%s", w.Postgres.LogPath(), tail(w.Postgres.LogPath(), 10))
	t.Logf("operator log (%s):\n%s", e.OperatorLog(), tail(e.OperatorLog(), 20))
}
