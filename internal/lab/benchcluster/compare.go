package benchcluster

import (
	"math"
	"slices"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
)

// Trajectory compares two replica series sampled at the same simulated times.
type Trajectory struct {
	// MAD is the mean absolute difference in replicas; Max the largest; Equal
	// the share of times they agree; N the times compared.
	MAD, Max, Equal float64
	N               int
}

// compareSeries compares b against a: each time of b with the latest value of a at or before it.
func compareSeries(a, b []bench.Sample, va, vb func(bench.Sample) int) Trajectory {
	var tr Trajectory
	i := -1
	var sum, eq float64
	for _, s := range b {
		for i+1 < len(a) && a[i+1].T <= s.T+1e-6 {
			i++
		}
		if i < 0 {
			continue
		}
		d := math.Abs(float64(va(a[i]) - vb(s)))
		sum += d
		tr.Max = math.Max(tr.Max, d)
		if d == 0 {
			eq++
		}
		tr.N++
	}
	if tr.N > 0 {
		tr.MAD, tr.Equal = sum/float64(tr.N), eq/float64(tr.N)
	}
	return tr
}

func desired(s bench.Sample) int { return s.Desired }

// HPACheck is tier A's HPA emulation against the real HPA (arm hpa-cpu70).
type HPACheck struct {
	// Closed is the closed loop: tier A's Deployment replicas against tier
	// B's over the whole run (each with its own model and pods).
	Closed Trajectory
	// Open is the open loop: the emulation replayed on tier B's recorded CPU
	// and replicas against the real HPA's status.desiredReplicas.
	Open Trajectory
	// PeakA and PeakB are the highest replica counts.
	PeakA, PeakB int
}

func hpaCheck(s *ScenarioRun) HPACheck {
	arm := bench.ArmHPA(70)
	b, a := s.Arms[arm], s.TierA[arm]
	var c HPACheck
	c.Closed = compareSeries(a.Samples, b.Result.Samples, desired, desired)
	sc := s.Scenario
	replay := replayHPA(b.cpu, b.Result.Samples, sc.CPURequest, sc.Start.HPAMin, sc.Start.HPAMax, 70, sc.Duration)
	actual := make([]bench.Sample, 0, len(b.Extras))
	for i, x := range b.Extras {
		if x.HPADesired > 0 {
			actual = append(actual, bench.Sample{T: b.Result.Samples[i].T, Desired: x.HPADesired})
		}
	}
	c.Open = compareSeries(replay, actual, desired, desired)
	for _, x := range a.Samples {
		c.PeakA = max(c.PeakA, x.Desired)
	}
	for _, x := range b.Result.Samples {
		c.PeakB = max(c.PeakB, x.Desired)
	}
	return c
}

// Gap is how far one latency estimate is from the ground truth.
type Gap struct {
	// MeanAbsMS is the mean absolute difference in ms; MeanRel and MedianRel
	// the mean and median of |estimate − truth| / truth; Within10 the share
	// of samples within 10 %; Bias the mean signed relative difference.
	MeanAbsMS, MeanRel, MedianRel, Within10, Bias float64
	N                                             int
}

// gapOf compares estimates with truths, skipping unknown pairs.
func gapOf(est, truth []float64) Gap {
	var g Gap
	var rels []float64
	for i := range est {
		e, t := est[i], truth[i]
		if math.IsNaN(e) || math.IsNaN(t) || math.IsInf(e, 0) || t <= 0 {
			continue
		}
		g.N++
		g.MeanAbsMS += math.Abs(e-t) * 1000
		r := (e - t) / t
		g.Bias += r
		rels = append(rels, math.Abs(r))
		if math.Abs(r) <= 0.1 {
			g.Within10++
		}
	}
	if g.N == 0 {
		return Gap{MeanAbsMS: math.NaN(), MeanRel: math.NaN(), MedianRel: math.NaN(), Within10: math.NaN(), Bias: math.NaN()}
	}
	n := float64(g.N)
	g.MeanAbsMS /= n
	g.Bias /= n
	g.Within10 /= n
	for _, r := range rels {
		g.MeanRel += r
	}
	g.MeanRel /= n
	slices.Sort(rels)
	g.MedianRel = rels[len(rels)/2]
	return g
}

// nearSLO keeps the pairs whose truth lies within [0.5, 2]× the threshold
// (where a decision depends on the estimate); other pairs become NaN.
func nearSLO(est, truth []float64, threshold float64) ([]float64, []float64) {
	e, t := slices.Clone(est), slices.Clone(truth)
	for i := range t {
		if t[i] < threshold/2 || t[i] > 2*threshold {
			e[i], t[i] = math.NaN(), math.NaN()
		}
	}
	return e, t
}

// promPairs are Prometheus' histogram_quantile and the truth over the same window.
func promPairs(r *ArmRun) (est, truth []float64) {
	for _, x := range r.Extras {
		est, truth = append(est, x.PromQ), append(truth, x.TruthQ)
	}
	return est, truth
}

// statusPairs are the operator's observed SLI and the truth over the window
// ending at the sample nearest to when it was observed.
func statusPairs(r *ArmRun) (est, truth []float64) {
	samples := r.Result.Samples
	for _, x := range r.Extras {
		if math.IsNaN(x.StatusAt) {
			continue
		}
		best, bestD := -1, math.Inf(1)
		for i, s := range samples {
			if d := math.Abs(s.T - x.StatusAt); d < bestD {
				best, bestD = i, d
			}
		}
		if best < 0 || bestD > bench.SampleEvery {
			continue
		}
		est, truth = append(est, x.StatusQ), append(truth, r.Extras[best].TruthQ)
	}
	return est, truth
}

// maxLag is the largest delay of the model behind its clock, in simulated seconds.
func maxLag(r *ArmRun) float64 {
	var m float64
	for _, x := range r.Extras {
		m = math.Max(m, x.Lag)
	}
	return m
}
