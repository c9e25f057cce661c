package bench

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// perSeed is the figure of an arm on the i-th seed of the table (NaN:
// never, or not run).
func (t *Table) perSeed(arm, row string, i int) float64 {
	v := t.Values[arm][row]
	if i >= len(v) {
		return math.NaN()
	}
	return v[i]
}

// orInf reads "never" (NaN) as forever, for "at most" comparisons.
func orInf(x float64) float64 {
	if math.IsNaN(x) {
		return math.Inf(1)
	}
	return x
}

// stepVariant names B1's variants as the spec does.
func stepVariant(sc *Scenario) string {
	if sc.CPULimit == sc.CPURequest {
		return "limit = request"
	}
	return "CPU limit = 2× request"
}

// isFloor: the clairvoyant floor-raisers print the scenario's floor; they
// are not arms of the spec.
func isFloor(arm string) bool { return arm == ArmFloorAtStep || arm == ArmFloorAtControl }

// stepTargets judges B1's targets on one variant, as written: seconds from
// the step until the objective holds (≤ 90 s, stretch 60 s), sooner than
// hpa-cpu70 and the request-rate arm on every seed, no more violating
// seconds than any arm on every seed, overshoot ≤ 20 % and back down within
// 2 min without reversals on the worst seed.
func stepTargets(t *Table) []TargetRow {
	id := t.Scenario.ID
	tu := t.Stats[ArmTuner]
	var out []TargetRow
	add := func(target, measured, met string) {
		out = append(out, TargetRow{ID: id, Target: target, Measured: measured, Met: met})
	}
	hold := tu[RowHoldSeconds]
	worstHold := math.Inf(-1)
	for i := range t.Seeds {
		worstHold = math.Max(worstHold, orInf(t.perSeed(ArmTuner, RowHoldSeconds, i)))
	}
	floors := ""
	if fs, ok := t.Stats[ArmFloorAtStep][RowHoldSeconds]; ok {
		fc := t.Stats[ArmFloorAtControl][RowHoldSeconds]
		floors = fmt.Sprintf("; the floor: %s s acting at the step, %s s at the first control after it", fmtStat(fs, 0), fmtStat(fc, 0))
	}
	measured := fmt.Sprintf("%s s (%s, worst seed %s s)%s", fmtStat(hold, 0), stepVariant(t.Scenario), fmtNum(worstHold, 0), floors)
	add("objective holds ≤ 90 s after the step on both variants", measured, yesNo(worstHold <= 90))
	add("stretch 60 s", measured, yesNo(worstHold <= 60))

	var slower []string
	for _, arm := range []string{ArmHPA(70), ArmRPS} {
		if _, ok := t.Stats[arm]; !ok {
			slower = append(slower, arm+" not run")
			continue
		}
		for i, seed := range t.Seeds {
			a, b := orInf(t.perSeed(ArmTuner, RowHoldSeconds, i)), orInf(t.perSeed(arm, RowHoldSeconds, i))
			if !(a < b) {
				slower = append(slower, fmt.Sprintf("%s on seed %d (%s s vs %s s)", arm, seed, fmtNum(a, 0), fmtNum(b, 0)))
			}
		}
	}
	m := fmt.Sprintf("tuner %s s, hpa-cpu70 %s s, rps %s s", fmtStat(hold, 0), fmtStat(t.Stats[ArmHPA(70)][RowHoldSeconds], 0), fmtStat(t.Stats[ArmRPS][RowHoldSeconds], 0))
	if len(slower) > 0 {
		m += "; not sooner than " + strings.Join(slower, ", ")
	}
	add("sooner than `hpa-cpu70` and the request-rate arm", m, yesNo(len(slower) == 0))

	const vs = "violating seconds"
	var fewer []string
	for _, arm := range t.Arms {
		if arm == ArmTuner || isFloor(arm) {
			continue
		}
		for i, seed := range t.Seeds {
			if a, b := t.perSeed(ArmTuner, vs, i), t.perSeed(arm, vs, i); b < a {
				fewer = append(fewer, fmt.Sprintf("%s %s on seed %d", arm, fmtNum(b, 0), seed))
				break
			}
		}
	}
	m = fmt.Sprintf("tuner %s s (the floor-raisers: %s and %s s)", fmtStat(tu[vs], 0), fmtStat(t.Stats[ArmFloorAtStep][vs], 0), fmtStat(t.Stats[ArmFloorAtControl][vs], 0))
	if len(fewer) > 0 {
		m += "; fewer: " + strings.Join(fewer, ", ")
	}
	add("no more violating seconds than any arm", m, yesNo(len(fewer) == 0))

	o := tu["overshoot over needed pods"]
	add("overshoot ≤ 20 %", fmtStat(o, 2)+" (hpa-cpu70: "+fmtStat(t.Stats[ArmHPA(70)]["overshoot over needed pods"], 2)+")", yesNo(orInf(o.Max) <= 0.2 && o.Never == 0))
	b, rv := tu["seconds back to ≤ 1.1× needed"], tu["reversals after the step down"]
	backWorst := b.Max
	if b.Never > 0 {
		backWorst = math.Inf(1)
	}
	add("back down within 2 min without reversals",
		fmt.Sprintf("%s s, %s reversals (hpa-cpu70: %s s)", fmtStat(b, 0), fmtStat(rv, 0), fmtStat(t.Stats[ArmHPA(70)]["seconds back to ≤ 1.1× needed"], 0)),
		yesNo(backWorst <= 120 && rv.Max == 0))
	return out
}

// hpaSettings are the HPA arms and sweep settings of a table.
func (t *Table) hpaSettings() []string {
	var out []string
	for _, a := range append(slices.Clone(t.Arms), t.Sweep...) {
		if _, ok := hpaPct(a); ok {
			if len(t.Stats[a]) > 0 { // run (a table may list settings it has no runs of)
				out = append(out, a)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b string) int {
		pa, wa := settingOf(a)
		pb, wb := settingOf(b)
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(wa, wb))
	})
	return out
}

// settingOf is an HPA arm's CPU target and scale-down window in force.
func settingOf(arm string) (int32, float64) {
	pct, w, set, _ := hpaArm(arm)
	if !set {
		w = hpaDownWindow
	}
	return pct, w
}

const (
	rowRM = "replica-minutes"
	rowVM = "SLO-violating minutes"
)

// dominates: an HPA setting uses fewer replica-minutes than the tuner at no
// more violating minutes (means over seeds).
func (t *Table) dominates(arm string) bool {
	a, tu := t.Stats[arm], t.Stats[ArmTuner]
	return a[rowRM].Mean < tu[rowRM].Mean && a[rowVM].Mean <= tu[rowVM].Mean
}

// bestCleanSetting is the HPA setting with the fewest replica-minutes (mean)
// among those with no violating minute on any seed: chosen in hindsight.
func (t *Table) bestCleanSetting() (string, bool) {
	best, found := "", false
	for _, a := range t.hpaSettings() {
		s := t.Stats[a]
		if s[rowVM].Max != 0 || s[rowVM].Never > 0 {
			continue
		}
		if !found || s[rowRM].Mean < t.Stats[best][rowRM].Mean {
			best, found = a, true
		}
	}
	return best, found
}

// sweepTargets judges B2's targets as written: against hpa-cpu70 on every
// seed, not dominated by any setting of the sweep (means over seeds), and at
// most the replica-minutes of the best SLO-clean setting chosen in hindsight.
func sweepTargets(t *Table) []TargetRow {
	id := t.Scenario.ID
	tu, h := t.Stats[ArmTuner], t.Stats[ArmHPA(70)]
	var out []TargetRow
	add := func(target, measured, met string) {
		out = append(out, TargetRow{ID: id, Target: target, Measured: measured, Met: met})
	}
	ok := true
	var worst float64
	for i := range t.Seeds {
		v, vh := t.perSeed(ArmTuner, rowVM, i), t.perSeed(ArmHPA(70), rowVM, i)
		r := t.perSeed(ArmTuner, rowRM, i) / t.perSeed(ArmHPA(70), rowRM, i)
		worst = math.Max(worst, orInf(r))
		ok = ok && v <= vh && r <= 0.7
	}
	add("at no more violating minutes than `hpa-cpu70`: ≥ 30 % fewer replica-minutes than `hpa-cpu70`",
		fmt.Sprintf("%s vs %s replica-minutes (×%s, worst seed ×%s) at %s vs %s violating minutes",
			fmtStat(tu[rowRM], 0), fmtStat(h[rowRM], 0), fmtNum(tu[rowRM].Mean/h[rowRM].Mean, 2), fmtNum(worst, 2), fmtStat(tu[rowVM], 0), fmtStat(h[rowVM], 0)),
		yesNo(ok))

	var dom []string
	for _, a := range t.hpaSettings() {
		if t.dominates(a) {
			dom = append(dom, a)
		}
	}
	slices.SortStableFunc(dom, func(a, b string) int { return cmp.Compare(t.Stats[a][rowRM].Mean, t.Stats[b][rowRM].Mean) })
	m := fmt.Sprintf("tuner %s replica-minutes at %s violating minutes; %d settings swept; dominated by: ", fmtStat(tu[rowRM], 0), fmtStat(tu[rowVM], 0), len(t.hpaSettings()))
	if len(dom) == 0 {
		m += "none"
	} else {
		var parts []string
		for _, a := range dom[:min(len(dom), 4)] {
			parts = append(parts, fmt.Sprintf("%s (%s at %s)", a, fmtStat(t.Stats[a][rowRM], 0), fmtStat(t.Stats[a][rowVM], 0)))
		}
		m += strings.Join(parts, ", ")
		if len(dom) > 4 {
			m += fmt.Sprintf(" and %d more", len(dom)-4)
		}
	}
	add("no setting of the sweep dominates it", m, yesNo(len(dom) == 0))

	best, found := t.bestCleanSetting()
	oracle := tu["oracle: fewest replica-minutes meeting the SLO every minute"]
	if !found {
		add("≤ 1.0× the replica-minutes of the best SLO-clean setting of the sweep (chosen in hindsight)",
			"no setting of the sweep is SLO-clean on every seed", "no")
		return out
	}
	b := t.Stats[best][rowRM]
	add("≤ 1.0× the replica-minutes of the best SLO-clean setting of the sweep (chosen in hindsight)",
		fmt.Sprintf("%s vs %s %s (×%s); the clairvoyant oracle, for scale: %s", fmtStat(tu[rowRM], 0), best, fmtStat(b, 0),
			fmtNum(tu[rowRM].Mean/b.Mean, 2), fmtStat(oracle, 0)),
		yesNo(tu[rowRM].Mean <= b.Mean))
	return out
}

// SweepMarkdown renders the HPA settings of a sweep, one row each.
func (t *Table) SweepMarkdown() string {
	if len(t.Sweep) == 0 {
		return ""
	}
	var b strings.Builder
	best, _ := t.bestCleanSetting()
	b.WriteString("| HPA setting | CPU target | scale-down window | replica-minutes | SLO-violating minutes | dominates the tuner |\n|---|---|---|---|---|---|\n")
	for _, a := range t.hpaSettings() {
		pct, w := settingOf(a)
		name := "`" + a + "`"
		if a == best {
			name += " (best SLO-clean)"
		}
		fmt.Fprintf(&b, "| %s | %d %% | %.0f s | %s | %s | %s |\n", name, pct, w, fmtStat(t.Stats[a][rowRM], 0), fmtStat(t.Stats[a][rowVM], 0),
			map[bool]string{true: "yes", false: "no"}[t.dominates(a)])
	}
	return b.String()
}

// staticBestBounds says where static-best was searched.
func staticBestBounds(sc *Scenario) string {
	if sc.Grid == nil {
		return "no static-best"
	}
	g := sc.Grid
	var kept int
	for _, fc := range g.Configs() {
		if ok, _ := profileAllows(sc.Profile, fc); ok {
			kept++
		}
	}
	return fmt.Sprintf("grid over %v pods × pool %v × L1 %v items / %v s × L2 %v s: %d of %d points within the profile's knob, replica and budget bounds, and at ≤ %.0f %% CPU of the request (the profile's CPU-target cap)",
		g.Replicas, g.PoolMax, g.L1Items, g.L1TTL, g.L2TTL, kept, len(g.Configs()), 100*cpuCap(sc.Profile))
}

// staticBestWithinBounds: the grid spans more than one replica count among
// the points the profile allows, and the search is held to the CPU cap.
func staticBestWithinBounds(sc *Scenario) bool {
	if sc.Grid == nil || cpuCap(sc.Profile) == 0 {
		return false
	}
	pods := map[int]bool{}
	for _, fc := range sc.Grid.Configs() {
		if ok, _ := profileAllows(sc.Profile, fc); ok {
			pods[fc.Replicas] = true
		}
	}
	return len(pods) >= 2
}
