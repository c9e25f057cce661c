package sim

import (
	"math"
	"strings"
	"testing"
)

func TestTraces(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	cases := []struct {
		name string
		tr   Trace
		at   []float64
		want []float64
	}{
		{"constant", Constant(100), []float64{0, 1e6}, []float64{100, 100}},
		{"step", Step(100, 500, 60), []float64{0, 59.9, 60, 1000}, []float64{100, 100, 500, 500}},
		{"steps", Steps([]float64{0, 10, 20}, []float64{1, 2, 3}), []float64{-1, 5, 10, 25}, []float64{1, 1, 2, 3}},
		{"diurnal", Diurnal(20, 100, 3600), []float64{0, 900, 1800, 3600}, []float64{20, 60, 100, 20}},
		{"spike", Spike(Constant(100), 400, 30, 60), []float64{29, 30, 89, 90}, []float64{100, 500, 500, 100}},
		{"compress", Compress(Diurnal(20, 100, 86400), 24), []float64{0, 1800}, []float64{20, 100}},
		{"scale", Scale(Constant(100), 0.2), []float64{5}, []float64{20}},
	}
	for _, c := range cases {
		for i, at := range c.at {
			if got := c.tr.RPS(at); !near(got, c.want[i]) {
				t.Errorf("%s at %v: %v, want %v", c.name, at, got, c.want[i])
			}
		}
	}
}

func TestNoiseIsSeededAndBounded(t *testing.T) {
	a, b, c := Noise(Constant(100), 0.2, 1, 1), Noise(Constant(100), 0.2, 1, 1), Noise(Constant(100), 0.2, 1, 2)
	differs := false
	var lo, hi = math.Inf(1), math.Inf(-1)
	for x := 0.0; x < 600; x += 0.5 {
		va := a.RPS(x)
		if va != b.RPS(x) {
			t.Fatalf("same seed differs at %v", x)
		}
		differs = differs || va != c.RPS(x)
		lo, hi = math.Min(lo, va), math.Max(hi, va)
	}
	if !differs || lo < 80 || hi > 120 || hi-lo < 20 {
		t.Errorf("noise: differs=%v range [%v, %v], want within ±20 %% and using it", differs, lo, hi)
	}
}

func TestReadCSV(t *testing.T) {
	tr, err := ReadCSV(strings.NewReader("time,rps\n# comment\n0,100\n60, 200\n120,50\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ at, want float64 }{{-5, 100}, {0, 100}, {30, 150}, {60, 200}, {90, 125}, {500, 50}} {
		if got := tr.RPS(c.at); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("at %v: %v, want %v", c.at, got, c.want)
		}
	}
	for _, bad := range []string{"", "time,rps\n", "0,1\n0,2\n", "0,1\nx,2\n", "0,-1\n", "0\n"} {
		if _, err := ReadCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestKnobsEnvRoundTrip(t *testing.T) {
	k := Knobs{PoolMax: 24, PoolMin: 4, L1Items: 5000, L1TTL: 30, L2TTL: 900, Workers: 2}
	if got := KnobsFromEnv(k.Env(), GuideDefaults); got != k {
		t.Errorf("round trip: %+v", got)
	}
	got := KnobsFromEnv(map[string]string{EnvPoolMax: "7", EnvL1TTL: "bad"}, GuideDefaults)
	want := GuideDefaults
	want.PoolMax = 7
	if got != want {
		t.Errorf("partial env: %+v, want %+v", got, want)
	}
}
