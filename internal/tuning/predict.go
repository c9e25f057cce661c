package tuning

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Design rule 7: every model-driven change records the value its model
// expects a signal to reach; the verdict compares it with what the signal
// reached, status.memory.models keeps each model's running error, and a model
// that was wrong takes smaller steps.

// Running error and step scaling.
const (
	// newestErrorWeight is the weight of the newest check in a model's running error.
	newestErrorWeight = 0.5
	// maxModelError caps the error a step is scaled by: a model step shrinks
	// to no less than 1/(1+maxModelError) of what the model asks for.
	maxModelError = 3
	// maxRecordedError caps the error kept in status.
	maxRecordedError = 100
)

// errorFloor is the smallest denominator of a relative error per signal: a
// prediction of a 0.1 ms pool wait that reads 0.3 ms is noise, not a model 200 % off.
var errorFloor = map[signals.Signal]float64{
	signals.PoolWait:       0.001, // 1 ms
	signals.CPUUtilization: 0.05,
	signals.MemoryHitRatio: 0.01, // of the miss ratio
	signals.RedisCPU:       0.05, // cores
	missFraction:           0.005,
}

// predictionOf is a model's prediction that signal will read value; nil
// when the value is not a finite number (the model says "still saturated").
func predictionOf(m tuningv1alpha1.Model, s signals.Signal, value float64) *tuningv1alpha1.Prediction {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return nil
	}
	return &tuningv1alpha1.Prediction{Model: m, Signal: string(s), Value: decimalOf(value)}
}

// Decimal's range: the API's pattern has no exponent and at most 24
// characters, so a value is written with 4 significant digits, below
// minDecimal as 0 (an Erlang C wait of 1e-30 s) and above maxDecimal as maxDecimal.
const (
	minDecimal = 1e-9
	maxDecimal = 1e15
)

// decimalOf writes v as an API Decimal.
func decimalOf(v float64) tuningv1alpha1.Decimal {
	switch a := math.Abs(v); {
	case a < minDecimal:
		v = 0
	case a > maxDecimal:
		v = math.Copysign(maxDecimal, v)
	}
	return tuningv1alpha1.Decimal(strconv.FormatFloat(roundTo(v, 4), 'f', -1, 64))
}

func parseDecimal(d tuningv1alpha1.Decimal) (float64, bool) {
	v, err := strconv.ParseFloat(string(d), 64)
	return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
}

// predictionError is the relative error of a prediction: |observed −
// predicted| ÷ predicted, on the miss ratio for a hit ratio (a cache that
// was to reach 95 % and reads 90 % misses twice what was predicted).
func predictionError(s signals.Signal, predicted, observed float64) float64 {
	if s == signals.MemoryHitRatio || s == signals.RedisHitRatio {
		predicted, observed = 1-predicted, 1-observed
	}
	return math.Abs(observed-predicted) / max(math.Abs(predicted), errorFloor[s], 1e-9)
}

// checkPrediction is the pending decision's prediction with what was
// observed and its error; nil when it has none, or when the observation
// cannot check it: the load moved more than loadSettleShift since the
// baseline (the model predicted for the load it saw), or the signal is missing.
func (d *decider) checkPrediction(pd *tuningv1alpha1.Decision) *tuningv1alpha1.Prediction {
	p := pd.Prediction
	if p == nil || pd.Baseline == nil || IsUndo(pd.Diagnosis) {
		return nil
	}
	want, ok := parseDecimal(p.Value)
	if !ok || d.loadShift(baselineGetter(pd.Baseline)) > loadSettleShift {
		return nil
	}
	s := signals.Signal(p.Signal)
	got, ok := d.v.get(s)
	e := predictionError(s, want, got)
	if s == missFraction {
		// Only over the tiers the baseline read, every one of them read
		// now: a tier missing counts as missing everything (missShare).
		var before float64
		before, got, _, ok = d.missShareSince(pd.Baseline)
		e = missFractionError(before, want, got)
	}
	if !ok {
		return nil
	}
	c := p.DeepCopy()
	c.Observed = decimalOf(got)
	c.Error = decimalOf(min(e, maxRecordedError))
	return c
}

// missFractionError is the error of a miss-fraction prediction, measured
// against the cut it predicted: |observed − predicted| ÷ (before −
// predicted), at least errorFloor's. On the predicted value's own scale a
// step aimed at 0.5 % that cut the misses from 16 % to 4.5 % would be 8×
// off, an error that would divide every later Che-sized L1 step by 4; it
// got 74 % of the cut it predicted, an error of 0.26, and that is what
// goes into the Che model's running error like its other checks.
func missFractionError(before, predicted, observed float64) float64 {
	return math.Abs(observed-predicted) / max(before-predicted, errorFloor[missFraction])
}

// rememberPrediction folds a checked prediction, made at at, into its
// model's running error in m.
func rememberPrediction(m *tuningv1alpha1.Memory, p *tuningv1alpha1.Prediction, at metav1.Time) {
	e, ok := checkedError(p)
	if !ok {
		return
	}
	i := modelIndex(m, p.Model)
	if i < 0 {
		m.Models = append(m.Models, tuningv1alpha1.ModelError{Model: p.Model})
		i = len(m.Models) - 1
	}
	me := &m.Models[i]
	if old, ok := parseDecimal(me.Error); ok && me.Samples > 0 {
		e = (1-newestErrorWeight)*old + newestErrorWeight*e
	}
	me.Error = decimalOf(min(e, maxRecordedError))
	me.Samples = min(me.Samples+1, math.MaxInt32-1)
	me.LastPrediction = at.DeepCopy()
}

// checkedError is the relative error of a checked prediction; false when p
// is nil or was not checked.
func checkedError(p *tuningv1alpha1.Prediction) (float64, bool) {
	if p == nil || p.Observed == "" {
		return 0, false
	}
	return parseDecimal(p.Error)
}

// modelIndex is the index of model's running error in m, -1 when none.
func modelIndex(m *tuningv1alpha1.Memory, model tuningv1alpha1.Model) int {
	return slices.IndexFunc(m.Models, func(me tuningv1alpha1.ModelError) bool { return me.Model == model })
}

// forgetPrediction takes back the sample rememberPrediction folded in for
// the prediction p made at at, when it is its model's newest: the running
// error before it, the inverse of the weighted mean (within the recorded
// rounding), and one sample less.
func forgetPrediction(m *tuningv1alpha1.Memory, p *tuningv1alpha1.Prediction, at metav1.Time) {
	e, ok := checkedError(p)
	if !ok {
		return
	}
	i := modelIndex(m, p.Model)
	if i < 0 || m.Models[i].LastPrediction == nil || !m.Models[i].LastPrediction.Equal(&at) {
		return
	}
	me := &m.Models[i]
	if me.Samples <= 1 {
		m.Models = slices.Delete(m.Models, i, i+1)
		return
	}
	me.Samples--
	me.LastPrediction = nil
	if cur, ok := parseDecimal(me.Error); ok {
		me.Error = decimalOf(max(0, (cur-newestErrorWeight*min(e, maxRecordedError))/(1-newestErrorWeight)))
	}
}

// modelError is model m's running relative error; 0 when none was checked yet.
func (d *decider) modelError(m tuningv1alpha1.Model) float64 {
	for _, me := range d.mem.Models {
		if me.Model == m {
			if e, ok := parseDecimal(me.Error); ok && e > 0 {
				return e
			}
		}
	}
	return 0
}

// modelStep scales a model-driven jump from from to target by the model's
// running error: step ÷ (1 + error), the error capped at maxModelError, at
// least one unit. It returns the scaled target and, when it scaled, a note
// for the prediction's text.
func (d *decider) modelStep(m tuningv1alpha1.Model, from, target int64) (int64, string) {
	e := min(d.modelError(m), maxModelError)
	step := target - from
	if e == 0 || step == 0 {
		return target, ""
	}
	scaled := max(int64(math.Ceil(math.Abs(float64(step))/(1+e)-1e-9)), 1)
	to := from + int64(sign(step))*scaled
	if to == target {
		return target, ""
	}
	return to, fmt.Sprintf("step ÷ %.2g for the %s model's error %s", 1+e, m, fmtRatio(e))
}

// sameTargets: every change in kept moves its knob to the value proposed.
func sameTargets(kept, proposed []Change) bool {
	for _, k := range kept {
		i := slices.IndexFunc(proposed, func(c Change) bool { return c.Knob == k.Knob })
		if i < 0 || proposed[i].To != k.To {
			return false
		}
	}
	return true
}

// nonEmpty is s as a list, empty when s is "".
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
