package bench

import (
	"slices"
	"strings"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// Peak is the peak load of B1–B3 and B6, in requests per second.
const Peak = 500.0

// heavyModel is the model of B1–B3 and B6: the default constants with 8 ms
// of CPU per request, so that the peak needs about 15 pods at 70 % of a
// 500m request and scaling is CPU-bound.
func heavyModel() sim.Config {
	c := sim.DefaultConfig()
	c.CPUPerRequest = 0.008
	return c
}

// B2SweepTargets (CPU %) and B2SweepWindows (scale-down stabilisation,
// seconds) span the range B2's profile allows: targets 50–200 %, windows
// 0–600 s. The sweep runs every combination.
var (
	B2SweepTargets = []int{50, 70, 100, 130, 160, 200}
	B2SweepWindows = []float64{0, 60, 120, 300, 600}
)

var allHPA = []string{ArmHPA(50), ArmHPA(60), ArmHPA(70), ArmHPA(80), ArmHPA(90)}

func arms(extra ...string) []string {
	return append(append([]string{ArmTuner}, extra...), allHPA...)
}

// core returns B1–B3.
func core(short bool) []*Scenario {
	f := 1.0
	if short {
		f = 0.2
	}
	slo := SLO{Percentile: 0.99, Threshold: 0.5, MaxErrorRate: 0.01}
	start := Start{Replicas: 4, Knobs: sim.GuideDefaults, RedisReplicas: 1, HPAMin: 2, HPAMax: 20, TunerTargetPct: 70}
	base := func(id, title string, dur float64, tr func(uint64) sim.Trace) *Scenario {
		return &Scenario{ID: id, Title: title, Duration: dur, Warmup: 300 * f, Trace: tr, Model: heavyModel(), SLO: slo,
			Start: start, CPURequest: 500, CPULimit: 1000,
			Profile: profile(slo, 200, 20, start.HPAMin, start.HPAMax),
			Arms:    arms(ArmRPS, ArmStaticDefault, ArmStaticBest)}
	}
	stepAt, stepFor := 600*f, 900*f
	b1 := base("B1", "step-5x", stepAt+2*stepFor, func(uint64) sim.Trace {
		return sim.Steps([]float64{0, stepAt, stepAt + stepFor}, []float64{0.2 * Peak, Peak, 0.2 * Peak})
	})
	b1.Start.Replicas = 2
	b1.Marks = []float64{stepAt, stepAt + stepFor}
	b1.Arms = append(b1.Arms, ArmFloorAtStep, ArmFloorAtControl)
	b1.Grid = &sim.Grid{Replicas: []int{14, 15, 16, 17, 18, 20}, PoolMax: []int{10}, L1Items: []int{10000}, L1TTL: []float64{60},
		L2TTL: []float64{300}, RedisReplicas: []int{1}, PoolMin: 5}

	// B1b: the same step with the CPU limit at the request. A saturated pod
	// then shows at most 100 % CPU against the 70 % target, so the HPA grows
	// at most ×1.43 per sync (B1's limit of twice the request lets it grow
	// ×2.86), and only a controller that sizes from the load can be faster.
	b1b := base("B1b", "step-5x, CPU limit = request", b1.Duration, b1.Trace)
	b1b.CPULimit = b1b.CPURequest
	b1b.Start.Replicas, b1b.Marks, b1b.Grid, b1b.Arms = b1.Start.Replicas, b1.Marks, b1.Grid, b1.Arms

	day := 3600 * f
	b2 := base("B2", "diurnal", day, func(seed uint64) sim.Trace {
		d := sim.Diurnal(0.2*Peak, Peak, day)
		n := sim.Noise(d, 0.1, 30, seed)
		return sim.Spike(sim.Spike(n, 0.4*Peak, 0.3*day, 60), 0.4*Peak, 0.7*day, 60)
	})
	b2.Start.Replicas = 4
	// the user allows CPU targets up to the limit's share of the request (200 %), as the HPA does
	b2.Profile.Autoscaling.TargetCPUUtilization = &tuningv1alpha1.Int32Range{Min: 50, Max: 200}
	// the HPA sweep: the CPU targets and scale-down windows the profile allows
	for _, pct := range B2SweepTargets {
		for _, w := range B2SweepWindows {
			if a := ArmHPAWindow(pct, w); !slices.Contains(b2.Arms, a) {
				b2.Sweep = append(b2.Sweep, a)
			}
		}
	}
	b2.Grid = &sim.Grid{Replicas: []int{16, 18, 20, 22, 24}, PoolMax: []int{10}, L1Items: []int{10000, 50000}, L1TTL: []float64{60},
		L2TTL: []float64{300}, RedisReplicas: []int{1}, PoolMin: 5}

	b3 := base("B3", "steady-noise", 3600*f, func(seed uint64) sim.Trace {
		return sim.Noise(sim.Constant(0.6*Peak), 0.2, 30, seed)
	})
	b3.Start.Replicas = 9
	b3.Grid = &sim.Grid{Replicas: []int{9, 10, 11, 12, 13, 14}, PoolMax: []int{10}, L1Items: []int{10000}, L1TTL: []float64{60},
		L2TTL: []float64{300}, RedisReplicas: []int{1}, PoolMin: 5}

	return []*Scenario{b1, b1b, b2, b3}
}

// extraScenarios are B4–B7.
func extraScenarios(short bool) []*Scenario {
	f := 1.0
	if short {
		f = 0.2
	}
	slo := SLO{Percentile: 0.99, Threshold: 0.5, MaxErrorRate: 0.01}
	var out []*Scenario

	// B4a: the database's connection limit binds: 100 connections, a starved pool.
	a := sim.DefaultConfig()
	a.DBMaxConnections = 100
	startA := Start{Replicas: 3, Knobs: sim.Knobs{PoolMax: 3, PoolMin: 2, L1Items: 10000, L1TTL: 60, L2TTL: 300},
		RedisReplicas: 1, HPAMin: 2, HPAMax: 6, TunerTargetPct: 70}
	b4a := &Scenario{ID: "B4a", Title: "knob-efficacy, DB-bound", Duration: 2400 * f, Warmup: 120 * f,
		Trace: func(uint64) sim.Trace { return sim.Constant(400) }, Model: a, SLO: slo, Start: startA,
		CPURequest: 500, CPULimit: 1000, Profile: profile(slo, 100, 0, startA.HPAMin, startA.HPAMax),
		Arms: []string{ArmTuner, ArmStaticDefault, ArmStaticBest, ArmHPA(70)},
		// static-best over replicas and the pool, within the profile's bounds
		// (pool max 5–100, 1–8 pods, Σ pool ≤ 100, CPU ≤ 85 % of the request)
		Grid: &sim.Grid{Replicas: []int{1, 2, 3, 4, 5, 6, 7, 8}, PoolMax: []int{5, 6, 8, 10, 12, 16, 20}, L1Items: []int{10000}, L1TTL: []float64{60},
			L2TTL: []float64{300}, RedisReplicas: []int{1}, PoolMin: 2}}
	b4a.Profile.Autoscaling.MaxReplicas.Max = 8
	out = append(out, b4a)

	// B4b: cache-bound: a miss (a database call) costs 10× a Redis hit path; small caches.
	b := sim.DefaultConfig()
	b.DBTime = 0.1
	startB := Start{Replicas: 3, Knobs: sim.Knobs{PoolMax: 10, PoolMin: 5, L1Items: 1000, L1TTL: 30, L2TTL: 30},
		RedisReplicas: 1, HPAMin: 2, HPAMax: 6, TunerTargetPct: 70}
	b4b := &Scenario{ID: "B4b", Title: "knob-efficacy, cache-bound", Duration: 7200 * f, Warmup: 120 * f,
		Trace: func(uint64) sim.Trace { return sim.Constant(300) }, Model: b, SLO: slo, Start: startB,
		CPURequest: 500, CPULimit: 1000, Profile: profile(slo, 200, 20, startB.HPAMin, startB.HPAMax),
		Arms: []string{ArmTuner, ArmStaticDefault, ArmStaticBest, ArmHPA(70)},
		// static-best is an oracle over replicas too, not only the cache, within
		// the profile's bounds (1–12 pods, pool 5–100, L1 1k–200k items and
		// 10 s–10 min, L2 30 s–1 h, Σ pool ≤ 180, CPU ≤ 85 % of the request)
		Grid: &sim.Grid{Replicas: []int{1, 2, 3, 4, 5, 6, 8}, PoolMax: []int{10, 20}, L1Items: []int{1000, 10000, 50000, 200000},
			L1TTL: []float64{30, 120, 600}, L2TTL: []float64{30, 300, 3600}, RedisReplicas: []int{1}, PoolMin: 5}}
	out = append(out, b4b)

	// B6: faults in the signals during a load drop and a rise, and an operator restart.
	b6 := byID(core(short), "B3") // B3's setting
	b6.ID, b6.Title = "B6", "faults (tier A: the engine without signals)"
	b6.Duration = 2700 * f
	b6.Trace = func(seed uint64) sim.Trace {
		return sim.Noise(sim.Steps([]float64{0, 900 * f, 2100 * f}, []float64{0.6 * Peak, 0.3 * Peak, 0.8 * Peak}), 0.05, 30, seed)
	}
	b6.Faults = []Fault{{FaultDown, 840 * f, 960 * f}, {FaultNaN, 1500 * f, 1560 * f}, {FaultStale, 1800 * f, 1890 * f}}
	b6.Kill, b6.KillFor = []float64{2130 * f}, 90
	b6.Arms = []string{ArmTuner, ArmHPA(70)}
	b6.Grid = nil
	out = append(out, b6)

	// B7: the guide's case study: 2 pods, a starved pool, no cache; the load climbs 100 → 600 req/s.
	slo7 := SLO{Percentile: 0.95, Threshold: 0.1, MaxErrorRate: 0.01}
	start7 := Start{Replicas: 2, Knobs: sim.Knobs{PoolMax: 4, PoolMin: 2}, RedisReplicas: 1, HPAMin: 2, HPAMax: 10, TunerTargetPct: 70}
	level := 600 * f
	b7 := &Scenario{ID: "B7", Title: "case study", Duration: 6 * level, Warmup: 60 * f,
		Trace: func(uint64) sim.Trace {
			return sim.Steps([]float64{0, level, 2 * level, 3 * level, 4 * level, 5 * level}, []float64{100, 200, 300, 400, 500, 600})
		}, Model: sim.DefaultConfig(), SLO: slo7, Start: start7, CPURequest: 500, CPULimit: 1000,
		Profile: profile(slo7, 200, 20, start7.HPAMin, start7.HPAMax),
		Arms:    []string{ArmTuner, ArmStaticDefault, ArmHPA(70)},
		Marks:   []float64{0, level, 2 * level, 3 * level, 4 * level, 5 * level}}
	out = append(out, b7)
	return out
}

// Scenarios returns the tier-A suite in order (B5 is measured from the
// engine's decide times, see B5); short shrinks every duration to a fifth
// for a smoke run.
func Scenarios(short bool) []*Scenario {
	return append(core(short), extraScenarios(short)...)
}

// byID is the scenario of scs with the given ID, nil when none has it.
func byID(scs []*Scenario, id string) *Scenario {
	for _, sc := range scs {
		if sc.ID == id {
			return sc
		}
	}
	return nil
}

// isStep: B1 and its variants, the 5× step whose recovery is measured.
func (sc *Scenario) isStep() bool { return strings.HasPrefix(sc.ID, "B1") }
