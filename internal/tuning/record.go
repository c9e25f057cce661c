package tuning

import (
	"fmt"
	"math"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// SLIsOf converts an observation into status SLIs (also the Baseline of a
// Decision). Signals that are missing stay unset and are listed in Missing.
func SLIsOf(o signals.Observation) *tuningv1alpha1.SLIs {
	s := &tuningv1alpha1.SLIs{Missing: o.MissingSignals()}
	if len(s.Missing) > tuningv1alpha1.MaxMissingItems {
		s.Missing = s.Missing[:tuningv1alpha1.MaxMissingItems]
	}
	for i, m := range s.Missing { // the API keeps each entry within MaxNoteLength
		s.Missing[i] = tuningv1alpha1.Truncate(m, tuningv1alpha1.MaxNoteLength)
	}
	if !o.Time.IsZero() {
		t := metav1.NewTime(o.Time)
		s.ObservedAt = &t
	}
	dur := func(sig signals.Signal) *metav1.Duration {
		v, ok := o.Get(sig)
		switch {
		case !ok:
			return nil
		case math.IsInf(v, +1) || v*float64(time.Second) >= math.MaxInt64:
			// Above the highest bucket: the largest duration, so that as a
			// baseline it compares as worse than any measured latency.
			return &metav1.Duration{Duration: time.Duration(math.MaxInt64)}
		}
		return &metav1.Duration{Duration: time.Duration(v * float64(time.Second))}
	}
	pct := func(sig signals.Signal) tuningv1alpha1.Percent {
		if v, ok := o.Get(sig); ok {
			return percentOf(v)
		}
		return ""
	}
	for _, p := range signals.Percentiles {
		*s.Latency(tuningv1alpha1.Percentile(p.Name)) = dur(p.Signal)
	}
	s.PoolWait = dur(signals.PoolWait)
	s.ErrorRate = pct(signals.ErrorRate)
	s.MemoryHitRatio, s.RedisHitRatio = pct(signals.MemoryHitRatio), pct(signals.RedisHitRatio)
	if v, ok := o.Get(signals.CPUUtilization); ok {
		s.CPUUtilization = utilizationOf(v)
	}
	if v, ok := newView(o).windowLoad(); ok {
		n := int64(math.Round(v))
		s.Throughput = &n
	}
	inUse, ok1 := o.Get(signals.PoolInUse)
	poolMax, ok2 := o.Get(signals.PoolMax)
	if ok1 && ok2 && poolMax > 0 {
		s.PoolUtilization = percentOf(inUse / poolMax)
	}
	return s
}

// SLISeconds reads a latency of status.slis back in seconds, as SLIsOf
// wrote it: the largest duration stands for a percentile above the highest
// bucket bound, +Inf; ok is false when the latency was not observed.
func SLISeconds(d *metav1.Duration) (seconds float64, ok bool) {
	switch {
	case d == nil:
		return 0, false
	case d.Duration == time.Duration(math.MaxInt64):
		return math.Inf(+1), true
	}
	return d.Seconds(), true
}

// percentOf formats a ratio as an API Percent, clamped to 0–100 %.
func percentOf(r float64) tuningv1alpha1.Percent {
	p := math.Round(min(max(r, 0), 1)*100*1000) / 1000
	return tuningv1alpha1.Percent(strconv.FormatFloat(p, 'f', -1, 64) + "%")
}

// utilizationOf formats a use-over-request ratio as an API Utilization: not
// clamped at 100 %, because pods may burst above their request.
func utilizationOf(r float64) tuningv1alpha1.Utilization {
	p := math.Round(min(max(r, 0), 99.99)*100*1000) / 1000
	return tuningv1alpha1.Utilization(strconv.FormatFloat(p, 'f', -1, 64) + "%")
}

// baselineGetter reads recorded SLIs as signal values.
func baselineGetter(b *tuningv1alpha1.SLIs) func(signals.Signal) (float64, bool) {
	return func(s signals.Signal) (float64, bool) {
		if p, ok := signals.PercentileOf(s); ok {
			return SLISeconds(*b.Latency(tuningv1alpha1.Percentile(p.Name)))
		}
		switch s {
		case signals.ErrorRate:
			if b.ErrorRate == "" {
				return 0, false
			}
			return parsePercent(b.ErrorRate)
		case signals.Throughput:
			if b.Throughput == nil {
				return 0, false
			}
			return float64(*b.Throughput), true
		}
		return 0, false
	}
}

// Decision is the history entry for a plan that changes something, made at
// time at, with Outcome Pending; nil when the plan changes nothing.
func (p Plan) Decision(at time.Time) *tuningv1alpha1.Decision {
	if len(p.Changes) == 0 {
		return nil
	}
	d := &tuningv1alpha1.Decision{
		Time:       metav1.NewTime(at),
		Family:     string(p.Family),
		Diagnosis:  string(p.Diagnosis),
		Reason:     tuningv1alpha1.Truncate(p.Reason, tuningv1alpha1.MaxReasonLength),
		Predicted:  tuningv1alpha1.Truncate(p.Predicted, tuningv1alpha1.MaxNoteLength),
		Prediction: p.Prediction.DeepCopy(),
		Baseline:   p.Baseline,
		Outcome:    tuningv1alpha1.OutcomePending,
		Rollout:    p.Rollout,
	}
	for _, c := range p.Changes {
		d.Changes = append(d.Changes, c.API())
	}
	return d
}

// API is the change as the status records it; From is "" when the knob had no value.
func (c Change) API() tuningv1alpha1.Change {
	from := ""
	if c.HasFrom {
		from = strconv.FormatInt(c.From, 10)
	}
	return tuningv1alpha1.Change{Knob: string(c.Knob), From: from, To: strconv.FormatInt(c.To, 10)}
}

// ChangeValues reads a recorded change back: both values, ok only when both
// are numbers (From is empty when the knob had no value before).
func ChangeValues(c tuningv1alpha1.Change) (from, to int64, ok bool) {
	from, err1 := strconv.ParseInt(c.From, 10, 64)
	to, err2 := strconv.ParseInt(c.To, 10, 64)
	return from, to, err1 == nil && err2 == nil
}

// AboveTopBucket is how a latency above the histogram's highest bucket
// bound (+Inf, stored as the largest duration) is said to people.
const AboveTopBucket = "above the top bucket"

// fmtSeconds prints a latency: "850µs", "42ms", "1.2s", or AboveTopBucket.
func fmtSeconds(s float64) string {
	switch {
	case math.IsInf(s, 1):
		return AboveTopBucket
	case s < 0.001:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return strconv.FormatFloat(roundTo(s*1000, 3), 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(roundTo(s, 3), 'f', -1, 64) + "s"
}

// roundTo keeps sig significant digits.
func roundTo(x float64, sig int) float64 {
	if x == 0 {
		return 0
	}
	p := math.Pow(10, float64(sig)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}

// fmtRatio prints a ratio as a percentage: "0.5%", "82%".
func fmtRatio(r float64) string {
	return strconv.FormatFloat(roundTo(r*100, 2), 'f', -1, 64) + "%"
}

// fmtValue prints a knob value with its unit.
func (k knobDef) fmtValue(v int64) string {
	return strconv.FormatInt(v, 10) + k.unit
}
