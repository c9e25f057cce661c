package benchcluster

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

func TestSelectScenarios(t *testing.T) {
	g := NewWithT(t)
	scs, err := selectScenarios(nil, 1)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(scs).To(HaveLen(2))
	g.Expect(scs[0].ID).To(Equal("B1"))
	g.Expect(scs[1].ID).To(Equal("B7"))
	g.Expect(scs[0].Arms).To(Equal(Arms))

	scs, err = selectScenarios([]string{"B1b"}, 1)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(scs).To(HaveLen(1))
	g.Expect(scs[0].ID).To(Equal("B1b"))

	scs, err = selectScenarios([]string{"b4"}, 1)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(scs).To(HaveLen(2))
	g.Expect(scs[0].ID).To(Equal("B4a"))

	_, err = selectScenarios([]string{"B6"}, 1)
	g.Expect(err).To(MatchError(ContainSubstring("does not run in tier B")))
	_, err = selectScenarios([]string{"B9"}, 1)
	g.Expect(err).To(MatchError(ContainSubstring("unknown scenario")))

	full, _ := selectScenarios([]string{"B1"}, 1)
	half, _ := selectScenarios([]string{"B1"}, 0.5)
	f, h := full[0], half[0]
	g.Expect(h.Duration).To(Equal(f.Duration / 2))
	g.Expect(h.Warmup).To(Equal(f.Warmup / 2))
	g.Expect(h.Marks).To(Equal([]float64{f.Marks[0] / 2, f.Marks[1] / 2}))
	g.Expect(h.Trace(1).RPS(h.Marks[0] + 1)).To(Equal(f.Trace(1).RPS(f.Marks[0] + 2)))
}

func TestClusterProfile(t *testing.T) {
	g := NewWithT(t)
	scs, err := selectScenarios([]string{"B1"}, 1)
	g.Expect(err).NotTo(HaveOccurred())
	sc := scs[0]
	p := clusterProfile(sc, "b1-tuner", "http://127.0.0.1:9090", 5)
	g.Expect(p.Namespace).To(Equal("b1-tuner"))
	g.Expect(p.Spec.Interval.Duration).To(Equal(6 * time.Second))
	g.Expect(p.Spec.SLO.Window.Duration).To(Equal(time.Minute), "the API's minimum")
	g.Expect(p.Spec.Guardrails.SettleTime.Duration).To(Equal(36 * time.Second))
	g.Expect(p.Spec.Guardrails.MaxRolloutsPerHour).To(BeEquivalentTo(10))
	g.Expect(p.Spec.Metrics.Prometheus.URL).To(Equal("http://127.0.0.1:9090"))
	g.Expect(p.Spec.Metrics.Labels).To(HaveKeyWithValue("namespace", "b1-tuner"))
	g.Expect(p.Spec.Autoscaling.Managed).To(BeNil())
	g.Expect(p.Spec.Autoscaling.HPARef.Name).To(Equal(workloadName))
	g.Expect(p.Spec.Autoscaling.Behavior.ScaleDownStabilizationWindow.Max.Duration).To(Equal(2 * time.Minute))
	g.Expect(sc.Profile.Interval.Duration).To(Equal(30*time.Second), "the scenario's own profile is untouched")
	g.Expect(effectiveWindow(sc, 5)).To(Equal(300.0))

	slow := clusterProfile(sc, "b1-tuner", "http://x", 1)
	g.Expect(slow.Spec.Interval.Duration).To(Equal(30 * time.Second))
	g.Expect(slow.Spec.Guardrails.SettleTime.Duration).To(Equal(3 * time.Minute))
	fast := clusterProfile(sc, "b1-tuner", "http://x", 15)
	g.Expect(fast.Spec.Interval.Duration).To(Equal(minInterval))
	g.Expect(fast.Spec.Guardrails.SettleTime.Duration).To(BeNumerically(">=", fast.Spec.Interval.Duration))
}

func TestBehavior(t *testing.T) {
	g := NewWithT(t)
	b := behavior(5)
	g.Expect(*b.ScaleDown.StabilizationWindowSeconds).To(BeEquivalentTo(60))
	g.Expect(*b.ScaleUp.StabilizationWindowSeconds).To(BeEquivalentTo(0))
	for _, p := range append(b.ScaleUp.Policies, b.ScaleDown.Policies...) {
		g.Expect(p.PeriodSeconds).To(BeEquivalentTo(3))
	}
	g.Expect(behavior(30).ScaleUp.Policies[0].PeriodSeconds).To(BeEquivalentTo(1))
}

func TestReplayHPA(t *testing.T) {
	g := NewWithT(t)
	// 4 pods at 500m request using 490m each: 98 % against a 70 % target
	var cpu []cpuPoint
	for t := 1.0; t <= 60; t++ {
		cpu = append(cpu, cpuPoint{T: t, Millis: 4 * 490, Pods: 4})
	}
	samples := []bench.Sample{{T: 0, Desired: 4}}
	out := replayHPA(cpu, samples, 500, 2, 20, 70, 60)
	g.Expect(out).To(HaveLen(4))
	g.Expect(out[0].Desired).To(Equal(6)) // ceil(4 × 0.98/0.7)
}

func TestCompareSeriesAndGap(t *testing.T) {
	g := NewWithT(t)
	a := []bench.Sample{{T: 10, Desired: 2}, {T: 20, Desired: 4}, {T: 30, Desired: 4}}
	b := []bench.Sample{{T: 5, Desired: 9}, {T: 10, Desired: 2}, {T: 20, Desired: 6}, {T: 35, Desired: 4}}
	tr := compareSeries(a, b, desired, desired)
	g.Expect(tr.N).To(Equal(3), "b's sample before a's first is skipped")
	g.Expect(tr.MAD).To(BeNumerically("~", 2.0/3, 1e-9))
	g.Expect(tr.Max).To(Equal(2.0))
	g.Expect(tr.Equal).To(BeNumerically("~", 2.0/3, 1e-9))

	gap := gapOf([]float64{0.11, 0.3, math.NaN(), 1}, []float64{0.1, 0.2, 0.1, 0})
	g.Expect(gap.N).To(Equal(2), "NaN estimates and zero truths are skipped")
	g.Expect(gap.MeanAbsMS).To(BeNumerically("~", 55, 1e-9))
	g.Expect(gap.Within10).To(BeNumerically("~", 0.5, 1e-9))
	g.Expect(gap.Bias).To(BeNumerically("~", 0.3, 1e-9))
	g.Expect(math.IsNaN(gapOf(nil, nil).MeanRel)).To(BeTrue())

	e, tt := nearSLO([]float64{1, 2, 3}, []float64{0.1, 0.5, 2}, 1)
	g.Expect(math.IsNaN(e[0]) && math.IsNaN(tt[0])).To(BeTrue())
	g.Expect(e[1:]).To(Equal([]float64{2, 3}))
}

// TestReportAndPlot renders the report and the figure from tier-A runs
// standing in for tier B (no cluster).
func TestReportAndPlot(t *testing.T) {
	g := NewWithT(t)
	scs, err := selectScenarios([]string{"B1"}, 0.1)
	g.Expect(err).NotTo(HaveOccurred())
	sc := scs[0]
	s := &ScenarioRun{Scenario: sc, Arms: map[string]*ArmRun{}, TierA: map[string]*bench.Result{}}
	for _, arm := range Arms {
		r := bench.Run(sc, arm, 1, nil)
		s.TierA[arm] = r
		run := &ArmRun{Scenario: sc, Arm: arm, Result: r, ProfileAt: math.NaN()}
		for i, x := range r.Samples {
			run.Extras = append(run.Extras, Extra{PromQ: x.P99 * 1.05, TruthQ: x.P99, StatusQ: x.P99, StatusAt: x.T,
				HPADesired: x.Desired, HPACurrent: x.Pods, Lag: 0.1 * float64(i%3)})
			run.cpu = append(run.cpu, cpuPoint{T: x.T, Millis: 300 * float64(x.Ready), Pods: x.Ready})
		}
		s.Arms[arm] = run
	}
	s.TierAWindow = bench.Run(withWindow(sc, effectiveWindow(sc, 5)), bench.ArmTuner, 1, nil)
	dir := t.TempDir()
	s.Figure = filepath.Join(dir, "tierb-b1.png")
	g.Expect(plotScenario(s.Figure, s)).To(Succeed())
	fi, err := os.Stat(s.Figure)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fi.Size()).To(BeNumerically(">", 10000))

	c := hpaCheck(s)
	g.Expect(c.Closed.MAD).To(BeZero(), "the same run on both sides")
	g.Expect(c.Closed.N).To(BeNumerically(">", 0))

	rep := &Report{Options: Options{Speed: 5, Seed: 1, DurationScale: 0.1}.withDefaults(), Scenarios: []*ScenarioRun{s}}
	md := rep.Markdown()
	for _, want := range []string{"## B1 step-5x", "### Tier B (seed 1)", "| tuner | hpa-cpu70 |", "tier A at a 300 s window",
		"open loop", "| Prometheus | tuner | all samples |", "![B1 tier B](tierb-b1.png)"} {
		g.Expect(md).To(ContainSubstring(want))
	}
	g.Expect(strings.Contains(md, "NaN")).To(BeFalse())
}

func TestTicks125(t *testing.T) {
	g := NewWithT(t)
	var labels []string
	for _, tk := range (ticks125{}).Ticks(150, 600) {
		labels = append(labels, tk.Label)
	}
	g.Expect(labels).To(Equal([]string{"200", "500"}))
	g.Expect((ticks125{}).Ticks(1, 1000)).To(HaveLen(10))
}

// TestStatusAboveTheTopBucketIsInf: the operator's SLI above the top bucket
// is +Inf in the comparison with the truth (left out, as Prometheus' +Inf
// is), not a latency of 292 years.
func TestStatusAboveTheTopBucketIsInf(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o := signals.NewObservation(now)
	o.Set(signals.LatencyP99, math.Inf(+1), now)
	if q := statusQuantile(tuning.SLIsOf(o), 0.99); !math.IsInf(q, +1) {
		t.Fatalf("statusQuantile = %v, want +Inf", q)
	}
	if g := gapOf([]float64{math.Inf(+1), 0.2}, []float64{10.1, 0.2}); g.N != 1 || g.MeanAbsMS != 0 {
		t.Errorf("gapOf counted the +Inf estimate: %+v", g)
	}
}

// TestTunerStartIsTierAsRule: tier B gives the operator its profile when
// tier A starts its own (after a first full SLO window), at the window the
// profile runs with: at 5x the API's 1-minute minimum is tier A's 5
// simulated minutes, so both start at 360 s; at 10x the window is 10
// simulated minutes.
func TestTunerStartIsTierAsRule(t *testing.T) {
	g := NewWithT(t)
	scs, err := selectScenarios([]string{"B1", "B3"}, 1)
	g.Expect(err).NotTo(HaveOccurred())
	for _, sc := range scs {
		g.Expect(tunerStart(sc, 5)).To(Equal(sc.TunerStart()), sc.ID)
		g.Expect(tunerStart(sc, 5)).To(Equal(360.0), sc.ID)
		g.Expect(tunerStart(sc, 10)).To(Equal(660.0), sc.ID)
	}
}
