package benchcluster

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
)

var (
	red   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	blue  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	knobC = []color.Color{
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
		color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	}
)

type style int

const (
	solid style = iota
	dashed
	dotted
)

type series struct {
	name  string
	c     color.Color
	style style
	xs    []float64 // simulated seconds
	ys    []float64
}

func addLine(p *plot.Plot, s series) error {
	pts := make(plotter.XYs, 0, len(s.xs))
	for i, x := range s.xs {
		if y := s.ys[i]; !math.IsNaN(y) && !math.IsInf(y, 0) {
			pts = append(pts, plotter.XY{X: x / 60, Y: y})
		}
	}
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = s.c, vg.Points(1.2)
	switch s.style {
	case dashed:
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	case dotted:
		l.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2)}
	}
	p.Add(l)
	p.Legend.Add(s.name, l)
	return nil
}

// of builds a series from samples.
func of(name string, c color.Color, st style, samples []bench.Sample, f func(int, bench.Sample) float64) series {
	s := series{name: name, c: c, style: st}
	for i, x := range samples {
		s.xs = append(s.xs, x.T)
		s.ys = append(s.ys, f(i, x))
	}
	return s
}

// plotScenario writes the scenario's tier-B figure: load, replicas (tier B
// and tier A), the tuner's knobs, and the SLO percentile (ground truth and
// Prometheus) against the SLO.
func plotScenario(path string, s *ScenarioRun) error {
	sc := s.Scenario
	tuner, hpa := s.Arms[bench.ArmTuner], s.Arms[bench.ArmHPA(70)]
	newPlot := func(title, y string) *plot.Plot {
		p := plot.New()
		p.Title.Text, p.Y.Label.Text, p.X.Label.Text = title, y, "simulated minutes"
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		return p
	}
	load := newPlot(fmt.Sprintf("%s %s, tier B: offered load", sc.ID, sc.Title), "req/s")
	reps := newPlot("replicas: tier B (solid, ready), real HPA's desired (dotted), tier A (dashed)", "pods")
	knobs := newPlot("tuner's knobs, tier B", "value")
	lat := newPlot(fmt.Sprintf("p%g: ground truth over 10 s (solid), Prometheus over the 1 min wall window (dashed)", sc.SLO.Percentile*100), "ms (log)")
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = ticks125{}
	ts, hs := tuner.Result.Samples, hpa.Result.Samples
	lines := []struct {
		p *plot.Plot
		s series
	}{
		{load, of("load", color.Black, solid, ts, func(_ int, x bench.Sample) float64 { return x.RPS })},
		{reps, of("tuner", red, solid, ts, func(_ int, x bench.Sample) float64 { return float64(x.Ready) })},
		{reps, of("hpa-cpu70", blue, solid, hs, func(_ int, x bench.Sample) float64 { return float64(x.Ready) })},
		{reps, of("hpa-cpu70 real HPA desired", blue, dotted, hs, func(i int, _ bench.Sample) float64 { return positive(hpa.Extras[i].HPADesired) })},
		{reps, of("tuner, tier A", red, dashed, s.TierA[bench.ArmTuner].Samples, func(_ int, x bench.Sample) float64 { return float64(x.Desired) })},
		{reps, of("hpa-cpu70, tier A (emulated HPA)", blue, dashed, s.TierA[bench.ArmHPA(70)].Samples, func(_ int, x bench.Sample) float64 { return float64(x.Desired) })},
		{lat, of("tuner", red, solid, ts, func(_ int, x bench.Sample) float64 { return math.Max(x.P99*1000, 1) })},
		{lat, of("hpa-cpu70", blue, solid, hs, func(_ int, x bench.Sample) float64 { return math.Max(x.P99*1000, 1) })},
		{lat, of("tuner, Prometheus", red, dashed, ts, func(i int, _ bench.Sample) float64 { return math.Max(tuner.Extras[i].PromQ*1000, 1) })},
		{lat, of("hpa-cpu70, Prometheus", blue, dashed, hs, func(i int, _ bench.Sample) float64 { return math.Max(hpa.Extras[i].PromQ*1000, 1) })},
		{lat, series{name: "SLO", c: color.Gray{Y: 0x60}, style: dotted, xs: []float64{0, sc.Duration},
			ys: []float64{sc.SLO.Threshold * 1000, sc.SLO.Threshold * 1000}}},
	}
	for i, k := range []struct {
		name string
		f    func(bench.Sample) float64
	}{
		{"pool max", func(x bench.Sample) float64 { return float64(x.PoolMax) }},
		{"L1 items ÷ 1000", func(x bench.Sample) float64 { return float64(x.L1Items) / 1000 }},
		{"L2 TTL ÷ 60 s", func(x bench.Sample) float64 { return float64(x.L2TTL) / 60 }},
		{"Redis replicas", func(x bench.Sample) float64 { return float64(x.Redis) }},
		{"HPA min", func(x bench.Sample) float64 { return float64(x.HPAMin) }},
		{"HPA CPU target ÷ 10 %", func(x bench.Sample) float64 { return float64(x.HPATarget) / 10 }},
	} {
		lines = append(lines, struct {
			p *plot.Plot
			s series
		}{knobs, of(k.name, knobC[i], solid, ts, func(_ int, x bench.Sample) float64 { return k.f(x) })})
	}
	for _, l := range lines {
		if err := addLine(l.p, l.s); err != nil {
			return err
		}
	}
	return bench.WritePanels(path, bench.PanelLayout{Width: 22 * vg.Centimeter, Height: 32 * vg.Centimeter,
		PadX: vg.Millimeter, PadY: 2 * vg.Millimeter, Margin: 2 * vg.Millimeter}, load, reps, knobs, lat)
}

// positive is n, or NaN (not drawn) before the HPA's first sync.
func positive(n int) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(n)
}

// ticks125 labels a log axis at 1, 2 and 5 × 10^k, so that a range within
// one decade still has labels.
type ticks125 struct{}

// Ticks implements plot.Ticker.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(math.Max(lo, 1e-9))); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return out
}
