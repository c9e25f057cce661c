package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Trace is a load trace: the offered requests per second at simulated time t
// (seconds since the start of the run). Every Trace is a pure function of t,
// so a run is deterministic however it is stepped.
type Trace interface {
	RPS(t float64) float64
}

// TraceFunc adapts a function to Trace.
type TraceFunc func(t float64) float64

// RPS implements Trace.
func (f TraceFunc) RPS(t float64) float64 { return f(t) }

// Constant offers rps all the time.
func Constant(rps float64) Trace {
	return TraceFunc(func(float64) float64 { return rps })
}

// Step offers before until at seconds, then after.
func Step(before, after, at float64) Trace {
	return TraceFunc(func(t float64) float64 {
		if t < at {
			return before
		}
		return after
	})
}

// Steps is a piecewise-constant trace: rps[i] from at[i] on (at ascending,
// at[0] usually 0; before at[0] the first value holds).
func Steps(at, rps []float64) Trace {
	return TraceFunc(func(t float64) float64 {
		i := sort.SearchFloat64s(at, t+1e-9) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(rps) {
			return 0
		}
		return rps[i]
	})
}

// Diurnal swings between min and max rps with the given period (seconds): a
// cosine with its trough at t = 0 and its peak at period/2.
func Diurnal(minRPS, maxRPS, period float64) Trace {
	return TraceFunc(func(t float64) float64 {
		return minRPS + (maxRPS-minRPS)*(1-math.Cos(2*math.Pi*t/period))/2
	})
}

// Spike adds extra rps to base between at and at+duration seconds.
func Spike(base Trace, extra, at, duration float64) Trace {
	return TraceFunc(func(t float64) float64 {
		v := base.RPS(t)
		if t >= at && t < at+duration {
			v += extra
		}
		return v
	})
}

// Noise multiplies base by (1 + ε), ε uniform in ±amplitude, drawn anew every
// `every` seconds (1 when 0) from seed, smoothly interpolated between draws.
// The same seed gives the same trace.
func Noise(base Trace, amplitude float64, every float64, seed uint64) Trace {
	if every <= 0 {
		every = 1
	}
	draw := func(i int64) float64 { return 2*hashUnit(seed, uint64(i)) - 1 }
	return TraceFunc(func(t float64) float64 {
		x := t / every
		i := math.Floor(x)
		f := x - i
		e := draw(int64(i))*(1-f) + draw(int64(i)+1)*f
		return math.Max(0, base.RPS(t)*(1+amplitude*e))
	})
}

// Scale multiplies a trace's rps by factor.
func Scale(base Trace, factor float64) Trace {
	return TraceFunc(func(t float64) float64 { return base.RPS(t) * factor })
}

// Compress plays base factor times faster: a day-long trace with factor 24
// lasts one hour. (The model always runs in simulated seconds; this only
// reshapes the trace's time axis.)
func Compress(base Trace, factor float64) Trace {
	if factor <= 0 {
		factor = 1
	}
	return TraceFunc(func(t float64) float64 { return base.RPS(t * factor) })
}

// Replay is a trace read from (time, rps) points, linearly interpolated,
// holding the first and last value outside their range.
type Replay struct {
	T, RPSs []float64
}

// RPS implements Trace.
func (r Replay) RPS(t float64) float64 {
	n := len(r.T)
	switch {
	case n == 0:
		return 0
	case t <= r.T[0]:
		return r.RPSs[0]
	case t >= r.T[n-1]:
		return r.RPSs[n-1]
	}
	i := sort.SearchFloat64s(r.T, t)
	t0, t1 := r.T[i-1], r.T[i]
	f := (t - t0) / (t1 - t0)
	return r.RPSs[i-1]*(1-f) + r.RPSs[i]*f
}

// ReadCSV reads a replay trace from CSV rows "time,rps" (seconds, requests
// per second), times ascending. A first row that does not parse as numbers
// is taken as a header; blank lines and lines starting with # are skipped.
func ReadCSV(r io.Reader) (Replay, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var out Replay
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Replay{}, err
		}
		if len(rec) < 2 {
			return Replay{}, fmt.Errorf("line %d: want time,rps", line)
		}
		t, err1 := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		v, err2 := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err1 != nil || err2 != nil {
			if line == 1 {
				continue // header
			}
			return Replay{}, fmt.Errorf("line %d: %q is not time,rps", line, strings.Join(rec, ","))
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return Replay{}, fmt.Errorf("line %d: rps %v out of range", line, v)
		}
		if n := len(out.T); n > 0 && t <= out.T[n-1] {
			return Replay{}, fmt.Errorf("line %d: time %v not after %v", line, t, out.T[n-1])
		}
		out.T = append(out.T, t)
		out.RPSs = append(out.RPSs, v)
	}
	if len(out.T) == 0 {
		return Replay{}, errors.New("no data rows")
	}
	return out, nil
}

// hashUnit is a deterministic uniform number in [0,1) from (seed, i) (splitmix64).
func hashUnit(seed, i uint64) float64 {
	z := seed + i*0x9e3779b97f4a7c15 + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
