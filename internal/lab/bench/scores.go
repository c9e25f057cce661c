package bench

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Metric is one measured quantity of one run.
type Metric struct {
	Name  string
	Value float64 // NaN: never happened (shown as "never")
	// Lower is better for Compare metrics, which the table also shows as a ratio to hpa-cpu70.
	Compare bool
	Digits  int
}

// context holds what a scenario's metrics need beyond one run.
type context struct {
	// neededHigh and neededLow are the pods the baseline needs at 70 % CPU at the B1 loads.
	neededHigh, neededLow float64
	// staticBestCost is the static-best arm's cost per hour (NaN when there is none).
	staticBestCost float64
	// staticBestTailCost and staticBestTailQ are its cost per hour and worst
	// minute's SLO percentile (seconds) over the last TailSeconds (NaN: none).
	staticBestTailCost, staticBestTailQ float64
	// oracle is B2's fewest replica-minutes that meet the SLO every minute, by seed.
	oracle map[uint64]float64
}

// setStaticBest sets the static-best figures from its runs (means over seeds).
func (cx *context) setStaticBest(sc *Scenario, rs []*Result) {
	if len(rs) == 0 {
		return
	}
	var c, tc, tq float64
	for _, x := range rs {
		c += x.Cost / 3600 / hours(x)
		tc += tailCostPerHour(x)
		tq += tailQuantile(sc, x)
	}
	n := float64(len(rs))
	cx.staticBestCost, cx.staticBestTailCost, cx.staticBestTailQ = c/n, tc/n, tq/n
}

// cpuPerRequest measures the model's CPU seconds per request at rps with knobs k.
func cpuPerRequest(cfg sim.Config, k sim.Knobs, rps float64) float64 {
	m := sim.New(cfg)
	m.SetTrace(sim.Constant(rps))
	m.SyncPods(sim.MakePods("orders-api", 30, k, 500, 1000))
	m.Run(120, 1)
	var cores float64
	h := m.History()
	for _, s := range h[60:] {
		cores += s.CPUCores
	}
	cores /= float64(len(h) - 60)
	return (cores - 30*cfg.CPUIdleMillis/1000) / rps
}

func neededPods(cfg sim.Config, k sim.Knobs, rps float64, requestMillis int64) float64 {
	return math.Ceil(rps * cpuPerRequest(cfg, k, rps) / (0.7 * float64(requestMillis) / 1000))
}

func hours(r *Result) float64 { return math.Max(r.Scored, 1) / 3600 }

func violating(ws []Window) (n int) {
	for _, w := range ws {
		if w.Violating {
			n++
		}
	}
	return n
}

// violatingSeconds counts the scored 10 s samples that break the SLO, times 10.
func violatingSeconds(sc *Scenario, r *Result) float64 {
	var n float64
	for _, s := range r.Samples {
		if s.T > sc.Warmup && (s.P99 > sc.SLO.Threshold || s.ErrRate > sc.SLO.MaxErrorRate) {
			n += SampleEvery
		}
	}
	return n
}

// metricsOf measures one run.
func metricsOf(sc *Scenario, r *Result, cx *context) []Metric {
	h := hours(r)
	vm := float64(violating(r.Minutes))
	common := []Metric{
		{Name: "cost per hour (pod-h units)", Value: r.Cost / 3600 / h, Compare: true, Digits: 2},
		{Name: "SLO-violating minutes", Value: vm, Compare: true},
		{Name: "violation rate (minutes)", Value: vm / math.Max(float64(len(r.Minutes)), 1), Compare: true, Digits: 3},
		{Name: "unsafe actions (ground truth)", Value: float64(unsafeOf(sc, r).total())},
	}
	switch {
	case sc.isStep():
		up, down := sc.Marks[0], sc.Marks[1]
		hold := holdSeconds(sc, r.Samples, up, down)
		var peak float64
		back := math.NaN()
		reversals, lastDir, prev := 0, 0, -1
		for _, s := range r.Samples {
			if s.T > up && s.T <= down {
				peak = math.Max(peak, float64(s.Desired))
			}
			if s.T > down {
				if math.IsNaN(back) && float64(s.Desired) <= 1.1*cx.neededLow {
					back = s.T - down
				}
				if prev >= 0 && s.Desired != prev {
					dir := 1
					if s.Desired < prev {
						dir = -1
					}
					if lastDir != 0 && dir != lastDir {
						reversals++
					}
					lastDir = dir
				}
				prev = s.Desired
			}
		}
		return append([]Metric{
			{Name: RowHoldSeconds, Value: hold, Compare: true},
			{Name: "violating seconds", Value: violatingSeconds(sc, r), Compare: true},
			{Name: "overshoot over needed pods", Value: peak/cx.neededHigh - 1, Digits: 2},
			{Name: "seconds back to ≤ 1.1× needed", Value: back, Compare: true},
			{Name: "reversals after the step down", Value: float64(reversals)},
		}, common...)
	case sc.ID == "B2":
		oracle, ok := cx.oracle[r.Seed]
		if !ok {
			oracle = math.NaN()
		}
		return append([]Metric{
			{Name: "replica-minutes", Value: r.PodSeconds / 60, Compare: true},
			{Name: "oracle: fewest replica-minutes meeting the SLO every minute", Value: oracle},
			{Name: "replica-minutes over the oracle's", Value: r.PodSeconds/60/oracle - 1, Digits: 2},
			{Name: "DB-connection-minutes (open)", Value: r.ConnSeconds / 60, Compare: true},
			{Name: "Redis-replica-minutes", Value: r.RedisSeconds / 60, Compare: true},
		}, common...)
	case sc.ID == "B3" || sc.ID == "B6":
		m := []Metric{
			{Name: "scale reversals per hour", Value: float64(r.Reversals) / h, Compare: true, Digits: 1},
			{Name: "… of them within 5 min of a write to the HPA, per hour", Value: float64(r.ReversalsAfterHPAWrite) / h, Digits: 1},
			{Name: "env rollouts per hour", Value: float64(r.Rollouts) / h, Digits: 1},
			{Name: "writes per hour", Value: float64(r.Writes) / h, Digits: 1},
			{Name: "replica-minutes", Value: r.PodSeconds / 60, Compare: true},
		}
		if sc.ID == "B6" {
			m = append(m, faultMetrics(sc, r)...)
		}
		return append(m, common...)
	case strings.HasPrefix(sc.ID, "B4"):
		cost := r.Cost / 3600 / h
		q, tailCost := tailQuantile(sc, r), tailCostPerHour(r)
		return append([]Metric{
			{Name: "p99 over the last 10 min (worst minute, ms)", Value: q * 1000, Compare: true},
			{Name: "p99 over static-best's (last 10 min)", Value: q/cx.staticBestTailQ - 1, Digits: 2},
			{Name: "cost per hour over the last 10 min", Value: tailCost, Compare: true, Digits: 2},
			{Name: "cost over static-best's (last 10 min)", Value: tailCost/cx.staticBestTailCost - 1, Digits: 2},
			{Name: "cost over static-best (scored run)", Value: cost/cx.staticBestCost - 1, Digits: 2},
			{Name: "env rollouts", Value: float64(r.Rollouts)},
			{Name: RowPoolErrorsFromStart, Value: float64(r.PoolErrorsFromStart), Compare: true},
			{Name: RowPoolErrorsCacheFill, Value: float64(r.PoolErrorsCacheFill)},
			{Name: RowPoolErrorsBeforeStart, Value: float64(r.PoolErrorsBeforeStart)},
			{Name: "max Σ pool max (connections provisioned)", Value: float64(r.MaxPoolProvisioned)},
			{Name: "max connections open", Value: float64(r.MaxConnsOpen)},
			{Name: "seconds over the database budget (open connections)", Value: float64(r.SecondsOverDBBudget)},
		}, common...)
	case sc.ID == "B7":
		return append(caseStudy(sc, r), common...)
	}
	return common
}

// Row names the targets read.
const (
	RowHoldSeconds           = "seconds from the step until p99 ≤ SLO holds"
	RowPoolErrorsFromStart   = "pool-exhaustion errors (500/503) from the operator's start"
	RowPoolErrorsCacheFill   = "… of them in a cache fill (an env rollout and the 60 s after it)"
	RowPoolErrorsBeforeStart = "pool-exhaustion errors before the operator's start (after the warm-up)"
)

// holdSeconds is how long after the step up the objective took to hold
// until the step down: the end of the last 10 s sample in (up, down] that
// breaks the SLO (its percentile or its error rate), minus up; 0 when none
// does, NaN when the last sample before the step down still breaks it.
func holdSeconds(sc *Scenario, samples []Sample, up, down float64) float64 {
	hold := 0.0
	for _, s := range samples {
		if s.T <= up || s.T > down {
			continue
		}
		if s.P99 > sc.SLO.Threshold || s.ErrRate > sc.SLO.MaxErrorRate {
			if s.T > down-SampleEvery {
				return math.NaN()
			}
			hold = s.T - up
		}
	}
	return hold
}

// tailQuantile is the worst minute's SLO percentile (seconds) over the last TailSeconds.
func tailQuantile(sc *Scenario, r *Result) float64 {
	var tail []float64
	for _, w := range r.Minutes {
		if w.T > sc.Duration-TailSeconds {
			tail = append(tail, w.Q)
		}
	}
	return maxOf(tail)
}

// tailCostPerHour is the cost per hour over the last TailSeconds.
func tailCostPerHour(r *Result) float64 { return r.TailCost / TailSeconds }

func maxOf(v []float64) float64 {
	m := math.NaN()
	for _, x := range v {
		if math.IsNaN(m) || x > m {
			m = x
		}
	}
	return m
}

// unsafeCount counts B6's unsafe actions from ground truth, independently of
// the engine's own notion of missing data.
type unsafeCount struct {
	// ReductionsInBreach: periods that left the cluster with less capacity
	// (capacity.less) while the true SLO percentile, over the SLO window or
	// the last minute, or the true error rate exceeded the SLO.
	ReductionsInBreach int
	// WritesOffTruth: periods that wrote while the observed SLO percentile
	// was missing or differed from the true one (over the same window) by
	// more than the width of the histogram bucket that holds the truth.
	WritesOffTruth int
	// SecondsOverBudget: seconds in which the connections open in the model
	// exceeded the database budget (maxConnections − reserved).
	SecondsOverBudget int
}

func (u unsafeCount) total() int {
	return u.ReductionsInBreach + u.WritesOffTruth + u.SecondsOverBudget
}

func unsafeOf(sc *Scenario, r *Result) unsafeCount {
	u := unsafeCount{SecondsOverBudget: r.SecondsOverDBBudget}
	for _, s := range r.Steps {
		breach := s.TrueQ > sc.SLO.Threshold || s.TrueQMinute > sc.SLO.Threshold || s.TrueErr > sc.SLO.MaxErrorRate
		if s.CapacityReduced && breach {
			u.ReductionsInBreach++
		}
		if s.Wrote && offTruth(s.ObservedQ, s.TrueQ) {
			u.WritesOffTruth++
		}
	}
	return u
}

// offTruth reports whether an observed latency quantile is missing or
// further from the true one than the width of the latency histogram bucket
// that holds the truth (histogram_quantile's resolution there).
func offTruth(observed, truth float64) bool {
	top := sim.LatencyBuckets[len(sim.LatencyBuckets)-1]
	switch {
	case math.IsInf(observed, +1):
		// +Inf says "above the highest bucket bound": right when the truth is.
		return truth <= top
	case math.IsNaN(observed) || math.IsInf(observed, -1):
		return true
	}
	return math.Abs(observed-truth) > bucketWidth(truth)
}

// bucketWidth is the width of the sim.LatencyBuckets bucket that holds v
// (+Inf above the highest bound, where histogram_quantile reads that bound).
func bucketWidth(v float64) float64 {
	b := sim.LatencyBuckets
	i := sort.SearchFloat64s(b, v) // the first bound ≥ v: v is in (b[i-1], b[i]]
	if i >= len(b) {
		return math.Inf(1)
	}
	lo := 0.0
	if i > 0 {
		lo = b[i-1]
	}
	return b[i] - lo
}

// faultMetrics measures what tier A can of B6: unsafe actions counted from
// ground truth, changes while the engine saw a needed signal missing,
// periods to resume after each fault and decisions per period.
func faultMetrics(sc *Scenario, r *Result) []Metric {
	blindWrites, blind := 0, 0
	for _, s := range r.Steps {
		if s.Blind {
			blind++
			if s.Applied && s.BlindChange {
				blindWrites++ // a change made without its own family's signals or the SLO's
			}
		}
	}
	u := unsafeOf(sc, r)
	resume := 0.0
	for _, f := range sc.Faults {
		for _, s := range r.Steps {
			if s.T >= f.To {
				if !s.Blind {
					resume = math.Max(resume, (s.T-f.To)/30+1)
					break
				}
			}
		}
	}
	perPeriod := float64(len(r.Steps)) / math.Max(1, float64(controlPeriods(sc)))
	return []Metric{
		{Name: "unsafe: capacity reductions while the SLO truly breaches", Value: float64(u.ReductionsInBreach)},
		{Name: "unsafe: writes on an observation off the truth by > a bucket", Value: float64(u.WritesOffTruth)},
		{Name: "unsafe: seconds over the database budget", Value: float64(u.SecondsOverBudget)},
		{Name: "changes applied while a needed signal was missing (engine's view)", Value: float64(blindWrites)},
		{Name: "blind periods", Value: float64(blind)},
		{Name: "periods to resume after a fault (worst)", Value: resume},
		{Name: "decisions per period (hot loop: > 1)", Value: perPeriod, Digits: 2},
	}
}

// controlPeriods counts the control periods in which the operator runs:
// every interval from TunerStart on, except while it is killed.
func controlPeriods(sc *Scenario) int {
	interval := tuning.SettingsOf(sc.Profile).Interval.Seconds()
	n := 0
	for t := math.Ceil(sc.TunerStart()/interval) * interval; t <= sc.Duration; t += interval {
		killed := false
		for _, k := range sc.Kill {
			killed = killed || (t >= k && t < k+sc.KillFor)
		}
		if !killed {
			n++
		}
	}
	return n
}

// caseStudy measures B7: the highest load level held at the SLO over the
// second half of the level, and the latency before (first level) and there.
func caseStudy(sc *Scenario, r *Result) []Metric {
	levels := []float64{100, 200, 300, 400, 500, 600}
	level := sc.Marks[1]
	sustained := 0.0
	var beforeMean, beforeQ, afterMean, afterQ float64
	for i, l := range levels {
		from, to := sc.Marks[i]+level/2, sc.Marks[i]+level
		var ok = true
		var mean, q, n float64
		for _, w := range r.Minutes {
			if w.T > from && w.T <= to {
				ok = ok && !w.Violating
				mean += w.Mean
				q += w.Q
				n++
			}
		}
		if n == 0 {
			continue
		}
		mean, q = mean/n, q/n
		if i == 0 {
			beforeMean, beforeQ = mean, q
		}
		if ok {
			sustained = l
			afterMean, afterQ = mean, q
		}
	}
	return []Metric{
		{Name: "throughput held at p95 ≤ 100 ms (req/s)", Value: sustained},
		{Name: "throughput × the 100 req/s start", Value: sustained / 100, Digits: 1},
		{Name: "before: mean latency at 100 req/s (ms)", Value: beforeMean * 1000},
		{Name: "before: p95 at 100 req/s (ms)", Value: beforeQ * 1000},
		{Name: "after: mean latency at the held load (ms)", Value: afterMean * 1000},
		{Name: "after: p95 at the held load (ms)", Value: afterQ * 1000},
	}
}

// Stat is a metric over seeds.
type Stat struct {
	Mean, Min, Max float64
	Never          int // runs where it never happened (NaN)
	N              int
}

func statOf(v []float64) Stat {
	s := Stat{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range v {
		s.N++
		if math.IsNaN(x) {
			s.Never++
			continue
		}
		s.Mean += x
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	if k := s.N - s.Never; k > 0 {
		s.Mean /= float64(k)
	} else {
		s.Mean = math.NaN()
	}
	return s
}

// Table is one scenario's results: metrics (rows) by arm (columns).
type Table struct {
	Scenario *Scenario
	Arms     []string
	// Sweep are further HPA settings (Scenario.Sweep), measured like the
	// arms and rendered in a table of their own.
	Sweep   []string
	Rows    []string
	Digits  map[string]int
	Compare map[string]bool
	Stats   map[string]map[string]Stat // arm → metric → stat
	// Values are the figures per seed (in Seeds' order): arm → metric → values.
	Values  map[string]map[string][]float64
	Configs map[string]string
	Seeds   []uint64
}

func newTable(sc *Scenario, results map[string][]*Result, cx *context, seeds []uint64) *Table {
	t := &Table{Scenario: sc, Arms: sc.Arms, Sweep: sc.Sweep, Digits: map[string]int{}, Compare: map[string]bool{},
		Stats: map[string]map[string]Stat{}, Values: map[string]map[string][]float64{}, Configs: map[string]string{}, Seeds: seeds}
	for _, arm := range append(slices.Clone(sc.Arms), sc.Sweep...) {
		vals := map[string][]float64{}
		for _, r := range results[arm] {
			if r.Config != "" {
				t.Configs[arm] = r.Config
			}
			for _, m := range metricsOf(sc, r, cx) {
				if _, seen := t.Digits[m.Name]; !seen {
					t.Rows = append(t.Rows, m.Name)
					t.Digits[m.Name], t.Compare[m.Name] = m.Digits, m.Compare
				}
				vals[m.Name] = append(vals[m.Name], m.Value)
			}
		}
		t.Stats[arm] = map[string]Stat{}
		t.Values[arm] = vals
		for k, v := range vals {
			t.Stats[arm][k] = statOf(v)
		}
	}
	return t
}

// Markdown renders the table: mean [min–max] over seeds, ×ratio to hpa-cpu70.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| metric | " + strings.Join(t.Arms, " | ") + " |\n|---|")
	b.WriteString(strings.Repeat("---|", len(t.Arms)) + "\n")
	base := ArmHPA(70)
	for _, row := range t.Rows {
		b.WriteString("| " + row + " |")
		for _, arm := range t.Arms {
			s, ok := t.Stats[arm][row]
			if !ok {
				b.WriteString(" – |")
				continue
			}
			cell := fmtStat(s, t.Digits[row])
			if ref, ok := t.Stats[base][row]; ok && t.Compare[row] && arm != base && ref.Mean > 0 && !math.IsNaN(s.Mean) {
				cell += " (×" + fmtNum(s.Mean/ref.Mean, 2) + ")"
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	if sw := t.SweepMarkdown(); sw != "" {
		b.WriteString("\nThe HPA sweep over the range the profile allows (CPU target × scale-down stabilisation window; the upstream algorithm otherwise), means over seeds:\n\n" + sw)
	}
	if len(t.Configs) > 0 {
		arms := make([]string, 0, len(t.Configs))
		for a := range t.Configs {
			arms = append(arms, a)
		}
		sort.Strings(arms)
		b.WriteString("\n")
		for _, a := range arms {
			b.WriteString("- `" + a + "`: " + t.Configs[a] + "\n")
		}
	}
	return b.String()
}

func fmtStat(s Stat, digits int) string {
	if s.Never == s.N {
		return "never"
	}
	out := fmtNum(s.Mean, digits)
	if s.Max-s.Min > 0 {
		out += " [" + fmtNum(s.Min, digits) + "–" + fmtNum(s.Max, digits) + "]"
	}
	if s.Never > 0 {
		out += " (never in " + fmtNum(float64(s.Never), 0) + "/" + fmtNum(float64(s.N), 0) + ")"
	}
	return out
}

func fmtNum(x float64, digits int) string {
	if math.IsNaN(x) {
		return "never"
	}
	if math.IsInf(x, 0) {
		return "∞"
	}
	return strconvF(x, digits)
}

func strconvF(x float64, digits int) string { return strconv.FormatFloat(x, 'f', digits, 64) }
