package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

func TestHPAArmNames(t *testing.T) {
	for _, tc := range []struct {
		arm       string
		pct       int32
		window    float64
		windowSet bool
		ok        bool
	}{
		{"hpa-cpu70", 70, 0, false, true},
		{ArmHPAWindow(100, 60), 100, 60, true, true},
		{ArmHPAWindow(50, 0), 50, 0, true, true},
		{ArmHPAWindow(130, 300), 130, 0, false, true}, // the upstream default is the plain name
		{"hpa-cpu70-down60", 0, 0, false, false},
		{"hpa-cpux", 0, 0, false, false},
		{ArmRPS, 0, 0, false, false},
		{ArmTuner, 0, 0, false, false},
	} {
		pct, w, set, ok := hpaArm(tc.arm)
		if pct != tc.pct || w != tc.window || set != tc.windowSet || ok != tc.ok {
			t.Errorf("hpaArm(%q) = %d, %v, %v, %v; want %d, %v, %v, %v", tc.arm, pct, w, set, ok, tc.pct, tc.window, tc.windowSet, tc.ok)
		}
	}
}

// TestRPSScalerUpstream: the rps arm's HPA reads an external metric with an
// AverageValue target as upstream does: ceil(value / target per pod) outside
// the 10 % tolerance of value / (target × status replicas), no readiness
// correction, the status replicas otherwise.
func TestRPSScalerUpstream(t *testing.T) {
	k := &rpsScaler{perPod: 40}
	if got := k.desired(4); got != 4 {
		t.Errorf("before the first poll: %d, want the status replicas 4", got)
	}
	k.value, k.ok = 500, true
	if got := k.desired(4); got != 13 {
		t.Errorf("500 req/s at 40 per pod from 4 pods: %d, want ceil(12.5) = 13", got)
	}
	k.value = 500
	if got := k.desired(12); got != 12 {
		t.Errorf("500 req/s on 12 pods (ratio 1.04, within tolerance): %d, want 12", got)
	}
	k.value = 100
	if got := k.desired(13); got != 3 {
		t.Errorf("100 req/s on 13 pods: %d, want 3", got)
	}
	// through the HPA's normalisation: scale-up limited to max(2×, +4) per 15 s
	h := &HPA{Min: 2, Max: 20}
	if got := h.SyncExternal(15, 2, 13); got != 6 {
		t.Errorf("scale-up from 2 to 13: %d, want 6 (+4 pods per 15 s)", got)
	}
}

// TestRPSArmScalesOnTheRequestRate: in B1, the rps arm reaches the pods the
// step needs without any CPU signal, later than the step by at least one
// poll and the rate's lag.
func TestRPSArmScalesOnTheRequestRate(t *testing.T) {
	sc := scenario(t, "B1")
	sc.Duration = sc.Marks[0] + 300
	r := Run(sc, ArmRPS, 1, nil)
	need := neededPods(sc.Model, sc.Start.Knobs, sc.Trace(1).RPS(sc.Marks[0]+1), sc.CPURequest)
	first, peak := math.NaN(), 0
	for _, s := range r.Samples {
		if s.T > sc.Marks[0] {
			peak = max(peak, s.Desired)
			if math.IsNaN(first) && s.Desired > 4 {
				first = s.T - sc.Marks[0]
			}
		}
	}
	if math.Abs(float64(peak)-need) > 1 {
		t.Errorf("peak %d pods, the step needs %.0f", peak, need)
	}
	if first < KEDAPollSeconds/2 || first > KEDAPollSeconds+KEDARateWindow {
		t.Errorf("first scale-up %v s after the step", first)
	}
}

// TestFloorRaisers: the clairvoyant arms set the HPA's minimum and the
// Deployment to the pods the step needs at the step, or at the first
// control period after it, and not before.
func TestFloorRaisers(t *testing.T) {
	sc := scenario(t, "B1")
	sc.Duration = sc.Marks[0] + 120
	need := int(neededPods(sc.Model, sc.Start.Knobs, sc.Trace(1).RPS(sc.Marks[0]+1), sc.CPURequest))
	for arm, at := range map[string]float64{ArmFloorAtStep: sc.Marks[0], ArmFloorAtControl: sc.Marks[0] + 30} {
		r := Run(sc, arm, 1, nil)
		for _, s := range r.Samples {
			switch {
			case s.T <= at && s.Desired >= need:
				t.Errorf("%s: %d pods at %v s, before it acts at %v s", arm, s.Desired, s.T, at)
			case s.T >= at+SampleEvery && s.Desired < need:
				t.Errorf("%s: %d pods at %v s, after it acted at %v s (need %d)", arm, s.Desired, s.T, at, need)
			}
		}
	}
}

func TestHoldSeconds(t *testing.T) {
	sc := scenario(t, "B1") // p99 ≤ 0.5 s, errors ≤ 1 %
	up, down := 600.0, 1500.0
	samples := func(bad ...float64) []Sample {
		var out []Sample
		for ts := up - 20; ts <= down+20; ts += SampleEvery {
			s := Sample{T: ts, P99: 0.1}
			for _, b := range bad {
				if b == ts {
					s.P99 = 0.9
				}
			}
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		s    []Sample
		want float64
	}{
		{"never breaks", samples(), 0},
		{"breaks before the step only", samples(590), 0},
		{"the first 40 s break", samples(610, 620, 630, 640), 40},
		{"breaks again later: holds from the last", samples(610, 620, 700), 100},
		{"breaks in the last sample before the step down", samples(610, down), math.NaN()},
		{"breaks after the step down only", samples(down + 10), 0},
	} {
		got := holdSeconds(sc, tc.s, up, down)
		if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	errs := samples()
	errs[3].ErrRate = 0.05 // T = 610: an error breach is a breach
	if got := holdSeconds(sc, errs, up, down); got != 10 {
		t.Errorf("error breach: %v, want 10", got)
	}
}

// stepTable builds a B1 table from per-seed figures of the two rows the
// comparisons read.
func stepTable(t *testing.T, hold, vsecs map[string][]float64) *Table {
	sc := *scenario(t, "B1")
	sc.Arms = nil
	results := map[string][]*Result{}
	for arm := range hold {
		sc.Arms = append(sc.Arms, arm)
		results[arm] = nil
	}
	tab := &Table{Scenario: &sc, Arms: sc.Arms, Stats: map[string]map[string]Stat{}, Values: map[string]map[string][]float64{},
		Seeds: []uint64{1, 2}}
	for arm := range hold {
		tab.Values[arm] = map[string][]float64{RowHoldSeconds: hold[arm], "violating seconds": vsecs[arm],
			"overshoot over needed pods": {0, 0}, "seconds back to ≤ 1.1× needed": {40, 40}, "reversals after the step down": {0, 0}}
		tab.Stats[arm] = map[string]Stat{}
		for row, v := range tab.Values[arm] {
			tab.Stats[arm][row] = statOf(v)
		}
	}
	return tab
}

func metOf(rows []TargetRow, target string) string {
	for _, r := range rows {
		if r.Target == target {
			return r.Met
		}
	}
	return "missing"
}

// TestStepTargetsJudgedPerSeed: "sooner than hpa-cpu70 and the request-rate
// arm" and "no more violating seconds than any arm" compare the tuner with
// each arm on the same seed; the floor-raisers are floors, not arms.
func TestStepTargetsJudgedPerSeed(t *testing.T) {
	for _, tc := range []struct {
		name                string
		hold, vsecs         map[string][]float64
		holds, sooner, none string
	}{
		{"sooner on both seeds", map[string][]float64{ArmTuner: {60, 70}, ArmHPA(70): {90, 80}, ArmRPS: {80, 80}, ArmFloorAtStep: {40, 40}},
			map[string][]float64{ArmTuner: {60, 70}, ArmHPA(70): {90, 80}, ArmRPS: {80, 80}, ArmFloorAtStep: {40, 40}}, "yes", "yes", "yes"},
		{"as fast as rps on one seed", map[string][]float64{ArmTuner: {60, 80}, ArmHPA(70): {90, 90}, ArmRPS: {80, 80}},
			map[string][]float64{ArmTuner: {60, 80}, ArmHPA(70): {90, 90}, ArmRPS: {80, 80}}, "yes", "no", "yes"},
		{"slower than 90 s on one seed, fewer violating seconds elsewhere", map[string][]float64{ArmTuner: {100, 60}, ArmHPA(70): {130, 130}, ArmRPS: {120, 120}},
			map[string][]float64{ArmTuner: {100, 60}, ArmHPA(70): {130, 50}, ArmRPS: {120, 120}}, "no", "yes", "no"},
		{"never holds", map[string][]float64{ArmTuner: {math.NaN(), 60}, ArmHPA(70): {130, 130}, ArmRPS: {120, 120}},
			map[string][]float64{ArmTuner: {900, 60}, ArmHPA(70): {130, 130}, ArmRPS: {120, 120}}, "no", "no", "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := stepTargets(stepTable(t, tc.hold, tc.vsecs))
			if got := metOf(rows, "objective holds ≤ 90 s after the step on both variants"); got != tc.holds {
				t.Errorf("holds ≤ 90 s: %s, want %s", got, tc.holds)
			}
			if got := metOf(rows, "sooner than `hpa-cpu70` and the request-rate arm"); got != tc.sooner {
				t.Errorf("sooner: %s, want %s", got, tc.sooner)
			}
			if got := metOf(rows, "no more violating seconds than any arm"); got != tc.none {
				t.Errorf("violating seconds: %s, want %s", got, tc.none)
			}
		})
	}
}

// TestSweepTargets: a setting dominates the tuner with fewer replica-minutes
// at no more violating minutes; the best SLO-clean setting is the cheapest
// with no violating minute on any seed, chosen after the fact.
func TestSweepTargets(t *testing.T) {
	sc := *scenario(t, "B2")
	mk := func(rm, vm []float64) map[string]Stat {
		return map[string]Stat{rowRM: statOf(rm), rowVM: statOf(vm)}
	}
	tab := &Table{Scenario: &sc, Arms: []string{ArmTuner, ArmHPA(70)}, Sweep: []string{ArmHPAWindow(100, 60), ArmHPAWindow(130, 0), ArmHPAWindow(70, 0)},
		Seeds: []uint64{1, 2}, Stats: map[string]map[string]Stat{
			ArmTuner:              mk([]float64{350, 370}, []float64{0, 0}),
			ArmHPA(70):            mk([]float64{560, 570}, []float64{0, 0}),
			ArmHPAWindow(100, 60): mk([]float64{338, 340}, []float64{0, 0}), // dominates, clean
			ArmHPAWindow(130, 0):  mk([]float64{250, 260}, []float64{0, 2}), // cheaper but not clean on seed 2, and more violating minutes
			ArmHPAWindow(70, 0):   mk([]float64{450, 460}, []float64{0, 0}),
		}}
	tab.Values = map[string]map[string][]float64{
		ArmTuner:   {rowRM: {350, 370}, rowVM: {0, 0}},
		ArmHPA(70): {rowRM: {560, 570}, rowVM: {0, 0}},
	}
	rows := sweepTargets(tab)
	if got := metOf(rows, "no setting of the sweep dominates it"); got != "no" {
		t.Errorf("dominance: %s, want no", got)
	}
	for _, r := range rows {
		if r.Target == "no setting of the sweep dominates it" && (!strings.Contains(r.Measured, ArmHPAWindow(100, 60)) || strings.Contains(r.Measured, ArmHPAWindow(130, 0))) {
			t.Errorf("dominated by: %s", r.Measured)
		}
	}
	if best, _ := tab.bestCleanSetting(); best != ArmHPAWindow(100, 60) {
		t.Errorf("best SLO-clean: %s", best)
	}
	if got := metOf(rows, "≤ 1.0× the replica-minutes of the best SLO-clean setting of the sweep (chosen in hindsight)"); got != "no" {
		t.Errorf("best clean: %s, want no", got)
	}
	if got := metOf(rows, "at no more violating minutes than `hpa-cpu70`: ≥ 30 % fewer replica-minutes than `hpa-cpu70`"); got != "yes" {
		t.Errorf("vs hpa-cpu70: %s, want yes (×0.63 and ×0.65)", got)
	}
	tab.Stats[ArmHPAWindow(100, 60)] = mk([]float64{360, 380}, []float64{0, 0})
	if got := metOf(sweepTargets(tab), "no setting of the sweep dominates it"); got != "yes" {
		t.Errorf("no cheaper setting at no more violating minutes: %s, want yes", got)
	}
}

// TestProfileAllows: static-best is searched only where the profile lets
// the tuner go (B4a: pool max 5–100, 1–8 pods, 100 connections).
func TestProfileAllows(t *testing.T) {
	spec := scenario(t, "B4a").Profile
	k := sim.Knobs{PoolMax: 10, PoolMin: 2, L1Items: 10000, L1TTL: 60, L2TTL: 300}
	with := func(n int, f func(*sim.Knobs), redis int) sim.FixedConfig {
		kk := k
		if f != nil {
			f(&kk)
		}
		return sim.FixedConfig{Replicas: n, Knobs: kk, RedisReplicas: redis}
	}
	for _, tc := range []struct {
		name string
		fc   sim.FixedConfig
		want bool
	}{
		{"inside", with(4, nil, 1), true},
		{"pool below the knob's minimum", with(4, func(k *sim.Knobs) { k.PoolMax = 3 }, 1), false},
		{"more pods than the HPA's maximum may reach", with(9, nil, 1), false},
		{"no pods", with(0, nil, 1), false},
		{"Σ pool over the budget", with(6, func(k *sim.Knobs) { k.PoolMax = 20 }, 1), false},
		{"L1 TTL over the range", with(4, func(k *sim.Knobs) { k.L1TTL = 3600 }, 1), false},
		{"L2 TTL under the range", with(4, func(k *sim.Knobs) { k.L2TTL = 10 }, 1), false},
		{"too many Redis replicas", with(4, nil, 6), false},
	} {
		if got, why := profileAllows(spec, tc.fc); got != tc.want {
			t.Errorf("%s: allowed %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
	if got := cpuCap(spec); got != 0.85 {
		t.Errorf("CPU cap %v, want the profile's 85 %%", got)
	}
}
