package demo

import (
	"errors"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
)

var (
	colBlue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colOrange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	colGreen  = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	colRed    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colPurple = color.RGBA{R: 148, G: 103, B: 189, A: 255}
	colGrey   = color.RGBA{R: 110, G: 110, B: 110, A: 255}
)

// writePlot draws the run in four panels over simulated time: load, replicas,
// knob values, and latency against the SLO.
func writePlot(path string, r *recorder) error {
	if len(r.samples) < 2 {
		return errors.New("not enough samples for a plot")
	}
	series := func(f func(sample) float64) plotter.XYs {
		pts := make(plotter.XYs, 0, len(r.samples))
		for _, s := range r.samples {
			if v := f(s); !math.IsNaN(v) {
				pts = append(pts, plotter.XY{X: s.simMin, Y: v})
			}
		}
		return pts
	}
	panel := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.Y.Label.Text = ylabel
		p.X.Label.Text = "simulated minutes"
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
		return p
	}
	add := func(p *plot.Plot, name string, pts plotter.XYs, c color.Color, dashed bool) {
		if len(pts) == 0 {
			return
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return
		}
		l.Color = c
		l.Width = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(name, l)
	}
	first, last := r.samples[0].simMin, r.samples[len(r.samples)-1].simMin
	hline := func(y float64) plotter.XYs { return plotter.XYs{{X: first, Y: y}, {X: last, Y: y}} }

	load := panel("Load", "requests/s")
	add(load, "offered", series(func(s sample) float64 { return s.load }), colBlue, false)
	add(load, "served ok", series(func(s sample) float64 { return s.goodput }), colGreen, false)

	pods := panel("Replicas", "count")
	add(pods, "ready pods (real HPA)", series(func(s sample) float64 { return float64(s.pods) }), colBlue, false)
	add(pods, "HPA maxReplicas", series(func(s sample) float64 { return float64(s.hpaMax) }), colGrey, true)
	add(pods, "HPA minReplicas", series(func(s sample) float64 { return float64(s.hpaMin) }), colPurple, true)
	add(pods, "Redis replicas", series(func(s sample) float64 { return float64(s.redis) }), colRed, false)

	knobs := panel("Knobs (Deployment env)", "value")
	add(knobs, "DB pool max", series(func(s sample) float64 { return float64(s.poolMax) }), colBlue, false)
	add(knobs, "L1 items (thousands)", series(func(s sample) float64 { return float64(s.l1Items) / 1000 }), colOrange, false)
	add(knobs, "L1 TTL (min)", series(func(s sample) float64 { return float64(s.l1TTL) / 60 }), colGreen, true)
	add(knobs, "L2 TTL (min)", series(func(s sample) float64 { return float64(s.l2TTL) / 60 }), colPurple, true)
	add(knobs, "HPA CPU target (%/10)", series(func(s sample) float64 { return float64(s.hpaTarget) / 10 }), colGrey, true)

	lat := panel("Latency vs SLO (ground truth; operator's view dashed)", "ms (log)")
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	ms := func(v float64) float64 { return math.Max(1, v*1000) }
	add(lat, "p95", series(func(s sample) float64 { return ms(s.p95) }), colOrange, false)
	add(lat, "p99", series(func(s sample) float64 { return ms(s.p99) }), colRed, false)
	add(lat, "p99 (Prometheus, operator)", series(func(s sample) float64 {
		if s.statusP99 <= 0 {
			return math.NaN()
		}
		return ms(s.statusP99)
	}), colPurple, true)
	add(lat, "SLO p95", hline(float64(r.p95.Milliseconds())), colOrange, true)
	add(lat, "SLO p99", hline(float64(r.p99.Milliseconds())), colRed, true)

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return bench.WritePanels(path, bench.PanelLayout{Width: 10 * vg.Inch, Height: 13 * vg.Inch,
		PadX: 3 * vg.Millimeter, PadY: 5 * vg.Millimeter, Margin: 3 * vg.Millimeter}, load, pods, knobs, lat)
}
