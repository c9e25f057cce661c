package tuning

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Margins: savings need every objective at or below marginRatio of its limit;
// a saving is kept while every objective stays at or below keepRatio.
const (
	marginRatio = 0.7
	keepRatio   = 0.85
)

// view is the observation as the engine may use it: finite, plausible values
// only. Whether a value is fresh enough is the reader's call, made once by the
// rule of signals.Freshness: a stale value is in Observation.Missing already.
type view struct {
	vals    map[signals.Signal]float64
	missing map[signals.Signal]signals.Missing
}

func newView(o signals.Observation) view {
	v := view{vals: map[signals.Signal]float64{}, missing: map[signals.Signal]signals.Missing{}}
	for s, m := range o.Missing {
		v.missing[s] = m
	}
	for s, x := range o.Values {
		switch {
		case !signals.Number(s, x.Value): // for values put in the map without Set
			v.missing[s] = signals.Missing{Reason: signals.ReasonNaN}
		case !plausible(s, x.Value):
			v.missing[s] = signals.Missing{Reason: signals.ReasonMalformed, Message: fmt.Sprintf("implausible value %g", x.Value)}
		default:
			v.vals[s] = x.Value
		}
	}
	return v
}

func plausible(s signals.Signal, x float64) bool {
	switch s {
	case signals.MemoryHitRatio, signals.RedisHitRatio, signals.ErrorRate:
		return x >= 0 && x <= 1
	}
	return x >= 0
}

func (v view) get(s signals.Signal) (float64, bool) {
	x, ok := v.vals[s]
	return x, ok
}

// windowLoad is the load over the SLO window, the window the latencies and
// the error rate are measured over: what a baseline's throughput is and what
// the verdict compares it with. The saturation window's throughput stands in
// when the window's is not known (a profile whose throughput query is
// overridden and whose services export no http_requests_total).
func (v view) windowLoad() (float64, bool) {
	if x, ok := v.get(signals.ThroughputWindow); ok {
		return x, true
	}
	return v.get(signals.Throughput)
}

// why says why a signal is not usable; reasonNotObserved when the observation
// does not name it at all.
func (v view) why(s signals.Signal) signals.Missing {
	if m, ok := v.missing[s]; ok {
		return m
	}
	return signals.Missing{Reason: reasonNotObserved}
}

// reasonNotObserved: the observation neither holds the signal nor says why
// it is missing (a reader that does not read it).
const reasonNotObserved signals.Reason = "not observed"

// absent lists the given signals that are not usable, as "signal: reason", sorted.
func (v view) absent(ss []signals.Signal) []string {
	var out []string
	seen := map[signals.Signal]bool{}
	for _, s := range ss {
		if _, ok := v.vals[s]; ok || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, fmt.Sprintf("%s: %s", s, v.why(s)))
	}
	sort.Strings(out)
	return out
}

// Objective is one objective of a profile's SLO: the one reading of
// spec.slo that the engine, the status and the metrics reader share.
type Objective struct {
	Signal signals.Signal
	// Limit is the threshold in the signal's unit (seconds, a ratio,
	// requests per second); Judged is false when it cannot be judged (an
	// unreadable percentage, a minimum throughput of zero): the signal is
	// still needed, but the objective is never breached.
	Limit  float64
	Judged bool
	// Threshold is a latency objective's threshold, 0 for the others.
	Threshold time.Duration
	// Latency is a percentile objective; AtLeast is the minimum throughput.
	Latency, AtLeast bool
}

// Objectives are the objectives of an SLO, latency first in the profile's order.
func Objectives(slo tuningv1alpha1.SLO) []Objective {
	var out []Objective
	for _, l := range slo.Latency {
		if s, ok := signals.LatencySignal(string(l.Percentile)); ok {
			out = append(out, Objective{Signal: s, Limit: l.Threshold.Seconds(), Judged: true, Threshold: l.Threshold.Duration, Latency: true})
		}
	}
	if slo.MaxErrorRate != nil {
		limit, ok := parsePercent(*slo.MaxErrorRate)
		out = append(out, Objective{Signal: signals.ErrorRate, Limit: limit, Judged: ok})
	}
	if slo.MinThroughput != nil {
		out = append(out, Objective{Signal: signals.Throughput, Limit: float64(*slo.MinThroughput), Judged: *slo.MinThroughput > 0, AtLeast: true})
	}
	return out
}

// SLOSignals are the signals the profile's objectives are judged on.
func SLOSignals(spec tuningv1alpha1.PerformanceProfileSpec) []signals.Signal {
	var out []signals.Signal
	for _, o := range Objectives(spec.SLO) {
		out = append(out, o.Signal)
	}
	return out
}

// ObservedPercentiles are the latency signals a profile's period observes:
// those observed for every profile, then those its SLOs name, in order.
func ObservedPercentiles(spec tuningv1alpha1.PerformanceProfileSpec) []signals.Signal {
	out := signals.AlwaysObserved()
	for _, o := range Objectives(spec.SLO) {
		if o.Latency && !slices.Contains(out, o.Signal) {
			out = append(out, o.Signal)
		}
	}
	return out
}

// objective is one SLO with its observed value. ratio is value/limit for
// "at most" objectives and limit/value for minThroughput: above 1 is a breach.
type objective struct {
	signal  signals.Signal
	value   float64
	limit   float64
	ratio   float64
	latency bool
}

func (o objective) String() string {
	switch {
	case o.latency:
		return fmt.Sprintf("%s %s of %s", percentileName(o.signal), fmtSeconds(o.value), fmtSeconds(o.limit))
	case o.signal == signals.ErrorRate:
		return fmt.Sprintf("errors %s of %s", fmtRatio(o.value), fmtRatio(o.limit))
	default:
		return fmt.Sprintf("throughput %.0f/s of min %.0f/s", o.value, o.limit)
	}
}

// breachString says how an objective is breached, such as "p99 180ms > 100ms".
func (o objective) breachString() string {
	switch {
	case o.latency:
		return fmt.Sprintf("%s %s > %s", percentileName(o.signal), fmtSeconds(o.value), fmtSeconds(o.limit))
	case o.signal == signals.ErrorRate:
		return fmt.Sprintf("errors %s > %s", fmtRatio(o.value), fmtRatio(o.limit))
	default:
		return fmt.Sprintf("throughput %.0f/s < %.0f/s", o.value, o.limit)
	}
}

// sloReport is the SLOs judged on one set of values.
type sloReport struct {
	known      bool
	objectives []objective
	missing    []string
}

func (r sloReport) met() bool { return r.known && r.worst() <= 1 }

// breached: the objective on signal s is known and breached.
func (r sloReport) breached(s signals.Signal) bool {
	for _, o := range r.objectives {
		if o.signal == s && o.ratio > 1 {
			return true
		}
	}
	return false
}

// worst is the highest ratio over the objectives (0 when there are none).
func (r sloReport) worst() float64 {
	w := 0.0
	for _, o := range r.objectives {
		w = max(w, o.ratio)
	}
	return w
}

// tightestLatency is the smallest threshold among the breached latency
// objectives, or among all latency objectives when none is breached; 0 when none.
func (r sloReport) tightestLatency() float64 {
	pick := func(breachedOnly bool) float64 {
		t := 0.0
		for _, o := range r.objectives {
			if o.latency && (!breachedOnly || o.ratio > 1) && (t == 0 || o.limit < t) {
				t = o.limit
			}
		}
		return t
	}
	if t := pick(true); t > 0 {
		return t
	}
	return pick(false)
}

func (r sloReport) summary() string {
	parts := make([]string, 0, len(r.objectives))
	for _, o := range r.objectives {
		if o.ratio > 1 {
			parts = append(parts, o.breachString())
		} else {
			parts = append(parts, o.String())
		}
	}
	return strings.Join(parts, ", ")
}

// evaluateSLO judges the objectives on values read through get.
func evaluateSLO(slo tuningv1alpha1.SLO, get func(signals.Signal) (float64, bool), absent func([]signals.Signal) []string) sloReport {
	r := sloReport{known: true}
	add := func(s signals.Signal, limit float64, latency, atLeast bool) {
		v, ok := get(s)
		if !ok {
			r.known = false
			r.missing = append(r.missing, absent([]signals.Signal{s})...)
			return
		}
		o := objective{signal: s, value: v, limit: limit, latency: latency}
		switch {
		case atLeast && v <= 0:
			o.ratio = math.Inf(1)
		case atLeast:
			o.ratio = limit / v
		case limit <= 0:
			o.ratio = math.Inf(1)
			if v <= 0 {
				o.ratio = 0
			}
		default:
			o.ratio = v / limit
		}
		r.objectives = append(r.objectives, o)
	}
	for _, o := range Objectives(slo) {
		if o.Judged {
			add(o.Signal, o.Limit, o.Latency, o.AtLeast)
		}
	}
	return r
}

// parsePercent reads "0.5%" as 0.005.
func parsePercent(p tuningv1alpha1.Percent) (float64, bool) {
	s := strings.TrimSpace(strings.TrimSuffix(string(p), "%"))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	return f / 100, true
}

func percentileName(s signals.Signal) string {
	if p, ok := signals.PercentileOf(s); ok {
		return p.Name
	}
	return string(s)
}
