package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// converge bounds how long a scenario may take to reach its outcome once its
// profile exists. A decision needs an interval to be made, then a rollout and
// settleTime (a window of fresh data) to be judged: about 1m40s per step.
const converge = 5 * time.Minute

// scenario is one workload in its own namespace of the shared cluster.
type scenario struct {
	t   *testing.T
	env *harness.Env
	w   *harness.Workload
}

// start returns the test's workload. Every scenario's workload is created
// when the cluster comes up and tuned from then on, whichever test is
// running: the tests only wait for their outcome, so the suite takes as long
// as its slowest scenario whatever go test's -parallel is.
func start(t *testing.T) *scenario {
	t.Helper()
	t.Parallel()
	e := env(t)
	w := shared.workloads[t.Name()]
	if w == nil {
		t.Fatalf("no workload registered for %s", t.Name())
	}
	s := &scenario{t: t, env: e, w: w}
	t.Cleanup(func() {
		if !t.Failed() {
			s.recordedAndWithinBudget()
		}
		if t.Failed() {
			s.dump()
		}
	})
	return s
}

// recordedAndWithinBudget checks what every scenario must leave behind: no
// decision rebuilt as Unknown (every write was recorded before it was made;
// only a crash between the two may leave one, and nothing crashes here) and
// no connection budget exceeded, both as the operator reports them and as
// the watches of the API server saw them (every pod's pool, every change of
// the template).
func (s *scenario) recordedAndWithinBudget() {
	s.t.Helper()
	g := NewWithT(s.t)
	snap := s.snapshot(g)
	inv := shared.watchers[s.t.Name()]
	g.Expect(inv.check(snap.Profile)).To(BeEmpty(), "the invariants seen from the API server")
	s.t.Logf("from the API server's watches: %s", inv.describe())
	for _, d := range snap.Profile.Status.History {
		g.Expect(d.Diagnosis).NotTo(Equal(string(tuning.DiagnosisUnknown)),
			"a write was made without a record: %s %v (%s)", d.Family, d.Changes, d.Reason)
	}
	c := meta.FindStatusCondition(snap.Profile.Status.Conditions, tuningv1alpha1.ConditionConnectionBudget)
	g.Expect(c == nil || c.Status != metav1.ConditionFalse).To(BeTrue(), "connection budget exceeded: %v", c)
}

// snapshot reads the workload; ground truth over the profile's window in simulated time.
func (s *scenario) snapshot(g Gomega) harness.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := s.w.Snapshot(ctx, harness.ProfileWindow.Seconds()*speed)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(snap.Profile).NotTo(BeNil(), "the PerformanceProfile exists")
	return snap
}

// eventually polls until check passes, logging the state every 15 s.
func (s *scenario) eventually(timeout time.Duration, check func(g Gomega, snap harness.Snapshot)) {
	s.t.Helper()
	lastLog := time.Now()
	NewWithT(s.t).Eventually(func(g Gomega) {
		snap := s.snapshot(g)
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			s.t.Log(describe(snap))
		}
		check(g, snap)
	}).WithTimeout(timeout).WithPolling(2 * time.Second).Should(Succeed())
}

// dump logs the final state of a failed scenario.
func (s *scenario) dump() {
	g := NewWithT(s.t)
	snap := s.snapshot(g)
	s.t.Log("final state: " + describe(snap))
	if p := snap.Profile; p != nil {
		for _, c := range p.Status.Conditions {
			s.t.Logf("  condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
		for _, d := range p.Status.History {
			s.t.Logf("  decision %s %s %s %v -> %s: %s (observed %s)", d.Time.Format(time.TimeOnly), d.Family, d.Diagnosis, d.Changes, d.Outcome, d.Reason, d.Observed)
		}
		if r := p.Status.Recommendation; r != nil {
			s.t.Logf("  recommendation: %v %s", r.Changes, r.Reason)
		}
	}
	s.t.Logf("operator log (%s):\n%s", s.env.OperatorLog(), tail(s.env.OperatorLog(), 20))
}

// describe is one line of the workload's state.
func describe(s harness.Snapshot) string {
	out := fmt.Sprintf("t=%v sim=%.0fs load=%.0f/s pods=%d truth p95=%.0fms p99=%.0fms err=%.2f%% env=%v hpa=%d-%d@%d%% redis=%d",
		s.Wall.Round(time.Second), s.SimSeconds, s.Offered, s.Replicas, s.Window.P95*1000, s.Window.P99*1000,
		100*s.Window.ErrorRate(), s.Env, s.HPAMin, s.HPAMax, s.HPATarget, s.RedisReplicas)
	if p := s.Profile; p != nil && p.Status.SLIs != nil {
		out += fmt.Sprintf(" status p95=%v p99=%v errors=%s", durStr(p.Status.SLIs.P95), durStr(p.Status.SLIs.P99), p.Status.SLIs.ErrorRate)
	}
	return out
}

func durStr(d *metav1.Duration) string {
	if d == nil {
		return "-"
	}
	return d.Duration.String()
}

// sloMet asserts the profile's SLOMet condition is True for its generation
// and its SLIs are within the thresholds.
func sloMet(g Gomega, p *tuningv1alpha1.PerformanceProfile, p95, p99 time.Duration) {
	c := meta.FindStatusCondition(p.Status.Conditions, tuningv1alpha1.ConditionSLOMet)
	g.Expect(c).NotTo(BeNil(), "SLOMet condition")
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "SLOMet: %s: %s", c.Reason, c.Message)
	g.Expect(c.ObservedGeneration).To(Equal(p.Generation))
	g.Expect(p.Status.SLIs).NotTo(BeNil())
	if p95 > 0 {
		g.Expect(p.Status.SLIs.P95).NotTo(BeNil())
		g.Expect(p.Status.SLIs.P95.Duration).To(BeNumerically("<=", p95))
	}
	if p99 > 0 {
		g.Expect(p.Status.SLIs.P99).NotTo(BeNil())
		g.Expect(p.Status.SLIs.P99.Duration).To(BeNumerically("<=", p99))
	}
}

// decisions returns the history entries of a family.
func decisions(p *tuningv1alpha1.PerformanceProfile, family string) []tuningv1alpha1.Decision {
	var out []tuningv1alpha1.Decision
	for _, d := range p.Status.History {
		if d.Family == family {
			out = append(out, d)
		}
	}
	return out
}

// onlyLatency keeps the given latency objectives.
func onlyLatency(p *tuningv1alpha1.PerformanceProfile, objectives ...tuningv1alpha1.LatencyObjective) {
	p.Spec.SLO.Latency = objectives
}

func p95(d time.Duration) tuningv1alpha1.LatencyObjective {
	return tuningv1alpha1.LatencyObjective{Percentile: tuningv1alpha1.P95, Threshold: metav1.Duration{Duration: d}}
}

func p99(d time.Duration) tuningv1alpha1.LatencyObjective {
	return tuningv1alpha1.LatencyObjective{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: d}}
}

// TestStarvedPoolIsRaised: the guide's case study "before" (2 pods, pool of
// 4, 100 req/s: p99 about 1 s, requests queue for connections). The profile
// tunes the pool only; the operator must raise it until p99 holds.
func TestStarvedPoolIsRaised(t *testing.T) {
	const slo = starvedSLO
	s := start(t)
	s.eventually(converge, func(g Gomega, snap harness.Snapshot) {
		g.Expect(snap.EnvInt(sim.EnvPoolMax)).To(BeNumerically(">", sim.CaseStudyBefore.PoolMax), "pool raised")
		sloMet(g, snap.Profile, 0, slo)
		ds := decisions(snap.Profile, "pool")
		g.Expect(ds).NotTo(BeEmpty())
		first := ds[0]
		g.Expect(first.Diagnosis).To(Equal("PoolSaturated"))
		g.Expect(first.Baseline).NotTo(BeNil())
		g.Expect(first.Baseline.P99).NotTo(BeNil())
		g.Expect(first.Baseline.P99.Duration).To(BeNumerically(">", slo), "the change was made for a breach")
		for _, d := range ds {
			g.Expect(d.Outcome).NotTo(Equal(tuningv1alpha1.OutcomeRolledBack))
		}
		// The ground truth agrees with what Prometheus told the operator.
		g.Expect(snap.Window.P99).To(BeNumerically("<=", slo.Seconds()))
		g.Expect(snap.Window.ErrorRate()).To(BeNumerically("<", 0.01))
	})
}

// TestColdCacheIsTuned: the pool is fine but neither cache tier is on (0
// items, 0 TTLs), so every request pays a database call: p95 about 220 ms at
// 100 req/s. The operator must turn the caches on and bring p95 under 150 ms.
func TestColdCacheIsTuned(t *testing.T) {
	const sloP95, sloP99 = coldCacheP95, coldCacheP99
	s := start(t)
	s.eventually(converge, func(g Gomega, snap harness.Snapshot) {
		g.Expect(snap.EnvInt(sim.EnvL1Items)).To(BeNumerically(">=", 1000), "L1 on")
		g.Expect(snap.EnvInt(sim.EnvL1TTL)).To(BeNumerically(">=", 10), "L1 TTL set")
		sloMet(g, snap.Profile, sloP95, sloP99)
		g.Expect(snap.Profile.Status.SLIs.MemoryHitRatio).NotTo(BeEmpty())
		g.Expect(percent(snap.Profile.Status.SLIs.MemoryHitRatio)).To(BeNumerically(">", 10))
		g.Expect(decisions(snap.Profile, "cache")).NotTo(BeEmpty())
		g.Expect(snap.Window.P95).To(BeNumerically("<=", sloP95.Seconds()))
		g.Expect(snap.Last.L1HitRatio).To(BeNumerically(">", 0.1))
	})
}

// TestLoadStepTunesHPA: the load steps from 100 to 500 req/s. Pods request
// 200m and may burst to 400m; the HPA's maxReplicas of 3 cannot carry the
// load (3 pods need 400m each: their limit), so the real HPA pins at its
// maximum, CPU saturates and latency explodes. The operator must raise the
// HPA's limits so that the real HPA scales out and the SLO holds again.
func TestLoadStepTunesHPA(t *testing.T) {
	const sloP95, sloP99 = loadStepP95, loadStepP99
	s := start(t)
	s.eventually(converge, func(g Gomega, snap harness.Snapshot) {
		g.Expect(snap.HPAMax).To(BeNumerically(">", 3), "HPA maxReplicas raised")
		g.Expect(snap.Replicas).To(BeNumerically(">", 3), "the real HPA scaled out")
		sloMet(g, snap.Profile, sloP95, sloP99)
		ds := decisions(snap.Profile, "autoscaling")
		g.Expect(ds).NotTo(BeEmpty())
		g.Expect(ds[0].Changes).To(ContainElement(HaveField("Knob", "hpa.maxReplicas")))
		g.Expect(snap.Window.P95).To(BeNumerically("<=", sloP95.Seconds()))
		g.Expect(snap.Window.ErrorRate()).To(BeNumerically("<", 0.01))
	})
}

// TestRegressionIsRolledBack: the profile declares a database budget of 200
// connections, but the real (simulated) database accepts only 10. Raising
// the starved pool (2 pods × 4) past 5 per pod makes the database refuse
// connections: errors appear (a regression the engine's model cannot foresee
// from a budget that is declared wrong). The operator must see the regression against
// its baseline and roll the pool back.
func TestRegressionIsRolledBack(t *testing.T) {
	s := start(t)
	var rolledBack tuningv1alpha1.Decision
	s.eventually(converge, func(g Gomega, snap harness.Snapshot) {
		var found bool
		for _, d := range decisions(snap.Profile, "pool") {
			if d.Outcome == tuningv1alpha1.OutcomeRolledBack {
				rolledBack, found = d, true
			}
		}
		g.Expect(found).To(BeTrue(), "a pool change was rolled back")
		g.Expect(snap.EnvInt(sim.EnvPoolMax)).To(Equal(sim.CaseStudyBefore.PoolMax), "the pool is back at its value before the change")
	})
	// The rolled-back change raised the pool, and its verdict names the errors.
	NewWithT(t).Expect(rolledBack.Changes).NotTo(BeEmpty())
	for _, c := range rolledBack.Changes {
		if c.Knob == sim.EnvPoolMax {
			from, _ := strconv.Atoi(c.From)
			to, _ := strconv.Atoi(c.To)
			NewWithT(t).Expect(to).To(BeNumerically(">", from))
		}
	}
	NewWithT(t).Expect(rolledBack.Observed).NotTo(BeEmpty())
	// The database really refused connections while the change was live.
	var refused int
	for _, st := range s.w.Model.History() {
		refused += st.ByStatus[1] // 500: connection refused by the database
	}
	NewWithT(t).Expect(refused).To(BeNumerically(">", 0))
	// Once restored, the pods serve without errors again.
	s.eventually(2*time.Minute, func(g Gomega, _ harness.Snapshot) {
		g.Expect(s.w.Model.Window(20 * speed).ErrorRate()).To(BeNumerically("<", 0.001))
	})
}

// percent parses "82%" or "82.5%".
func percent(p tuningv1alpha1.Percent) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSuffix(string(p), "%"), 64)
	return v
}

// TestHostileShapesKeepTheInvariants: the guide's starved pool, with the
// pool set through a ConfigMap, a sidecar listed first (the profile names
// the container) and an HPA the profile does not name. The operator must
// read the pool from the ConfigMap, raise it with a literal entry in the
// service's container only, record the ConfigMap's value as the change's
// From, and keep every pod the HPA may run within the budget; the watches
// check the budget and the record (recordedAndWithinBudget).
func TestHostileShapesKeepTheInvariants(t *testing.T) {
	s := start(t)
	before := strconv.Itoa(sim.CaseStudyBefore.PoolMax)
	s.eventually(converge, func(g Gomega, snap harness.Snapshot) {
		g.Expect(snap.EnvInt(sim.EnvPoolMax)).To(BeNumerically(">", sim.CaseStudyBefore.PoolMax), "pool raised")
		ds := decisions(snap.Profile, "pool")
		g.Expect(ds).NotTo(BeEmpty())
		g.Expect(ds[0].Changes).To(ContainElement(tuningv1alpha1.Change{Knob: sim.EnvPoolMax, From: before, To: strconv.Itoa(snap.EnvInt(sim.EnvPoolMax))}),
			"the first raise starts from the ConfigMap's value")
		g.Expect(snap.SidecarEnv["proxy"][sim.EnvPoolMax]).To(Equal(before), "the sidecar listed first is not written")
	})
	snap := s.snapshot(NewWithT(t))
	for _, d := range decisions(snap.Profile, "pool") {
		for _, ch := range d.Changes {
			to, err := strconv.Atoi(ch.To)
			if err == nil && int64(to)*(2*hostileHPAMax+2) > hostileBudget {
				t.Errorf("pool %d: at the HPA's %d pods, a rollout's surge and the pods still terminating exceed the budget of %d",
					to, hostileHPAMax, hostileBudget)
			}
		}
	}
}
