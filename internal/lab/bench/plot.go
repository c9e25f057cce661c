package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var palette = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // tuner
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
}

// plotArms are the arms drawn (the sweep's other HPA settings are in the table only).
func plotArms(sc *Scenario) []string {
	var out []string
	for _, a := range sc.Arms {
		if p, ok := hpaPct(a); !ok || p == 70 {
			out = append(out, a)
		}
	}
	return out
}

// Plot writes the scenario's figure for one seed: load, pods, the tuner's
// knob values and the SLO percentile against its threshold, over time.
func Plot(path string, sc *Scenario, runs map[string]*Result) error {
	minutes := func(t float64) float64 { return t / 60 }
	newPlot := func(title, y string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.Y.Label.Text = y
		p.X.Label.Text = "minutes"
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		return p
	}
	line := func(p *plot.Plot, name string, c color.Color, dashed bool, xs []Sample, f func(Sample) float64) error {
		pts := make(plotter.XYs, 0, len(xs))
		for _, s := range xs {
			v := f(s)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: minutes(s.T), Y: v})
		}
		if len(pts) == 0 {
			return nil
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = c
		l.Width = vg.Points(1.2)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	arms := plotArms(sc)
	first := runs[arms[0]]
	if first == nil {
		return fmt.Errorf("no run of %s", arms[0])
	}
	load := newPlot(fmt.Sprintf("%s %s: offered load", sc.ID, sc.Title), "req/s")
	pods := newPlot("pods (ready and starting)", "pods")
	knobs := newPlot("tuner's knobs", "value")
	lat := newPlot(fmt.Sprintf("p%g over 10 s (ground truth) vs SLO", sc.SLO.Percentile*100), "ms (log)")
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	if err := line(load, "load", color.Black, false, first.Samples, func(s Sample) float64 { return s.RPS }); err != nil {
		return err
	}
	for i, a := range arms {
		r := runs[a]
		if r == nil {
			continue
		}
		c := palette[i%len(palette)]
		if err := line(pods, a, c, i > 0, r.Samples, func(s Sample) float64 { return float64(s.Pods) }); err != nil {
			return err
		}
		if err := line(lat, a, c, i > 0, r.Samples, func(s Sample) float64 { return math.Max(s.P99*1000, 1) }); err != nil {
			return err
		}
	}
	slo := make([]Sample, 0, 2)
	slo = append(slo, Sample{T: 0}, Sample{T: sc.Duration})
	if err := line(lat, "SLO", color.Gray{Y: 0x60}, true, slo, func(Sample) float64 { return sc.SLO.Threshold * 1000 }); err != nil {
		return err
	}
	if t := runs[ArmTuner]; t != nil {
		for i, k := range []struct {
			name string
			f    func(Sample) float64
		}{
			{"pool max", func(s Sample) float64 { return float64(s.PoolMax) }},
			{"L1 items ÷ 1000", func(s Sample) float64 { return float64(s.L1Items) / 1000 }},
			{"L1 TTL ÷ 10 s", func(s Sample) float64 { return float64(s.L1TTL) / 10 }},
			{"L2 TTL ÷ 60 s", func(s Sample) float64 { return float64(s.L2TTL) / 60 }},
			{"Redis replicas", func(s Sample) float64 { return float64(s.Redis) }},
			{"HPA min", func(s Sample) float64 { return float64(s.HPAMin) }},
			{"HPA CPU target ÷ 10 %", func(s Sample) float64 { return float64(s.HPATarget) / 10 }},
		} {
			if err := line(knobs, k.name, palette[(i+1)%len(palette)], i >= len(palette)-1, t.Samples, k.f); err != nil {
				return err
			}
		}
	}
	return WritePanels(path, PanelLayout{Width: 22 * vg.Centimeter, Height: 30 * vg.Centimeter,
		PadX: vg.Millimeter, PadY: 2 * vg.Millimeter, Margin: 2 * vg.Millimeter}, load, pods, knobs, lat)
}

// PanelLayout sizes a PNG of plots stacked in one column.
type PanelLayout struct {
	Width, Height vg.Length
	// PadX and PadY separate the tiles; Margin surrounds them.
	PadX, PadY, Margin vg.Length
}

// WritePanels draws the panels top to bottom, aligned on their axes, into a
// PNG at path. Every benchmark and the demo plot through it.
func WritePanels(path string, l PanelLayout, panels ...*plot.Plot) error {
	img := vgimg.New(l.Width, l.Height)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: l.PadX, PadY: l.PadY,
		PadTop: l.Margin, PadBottom: l.Margin, PadLeft: l.Margin, PadRight: l.Margin}
	plots := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		plots[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(plots, tiles, draw.New(img))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
