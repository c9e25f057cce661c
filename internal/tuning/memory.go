package tuning

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// What status.memory keeps, and for how long. status.history keeps only the
// last 10 decisions (30–50 minutes at a settle time of 3–5 minutes); the
// rules that look back further read the memory instead (see horizons).
const (
	// RolloutMemory is how long the restart times are kept.
	RolloutMemory = time.Hour
	// rolloutWindow is the rollout budget's window: maxRolloutsPerHour restarts in it.
	rolloutWindow = time.Hour
	// MaxRememberedRollouts caps the restart times kept; maxRolloutsPerHour is at most 60.
	MaxRememberedRollouts = 64
	// MaxRememberedKnobs caps the knob entries: a profile declares at most 13 knobs.
	MaxRememberedKnobs = 16
	// maxBackOffDoublings caps the back-off at 2^5 = 32 times its first wait.
	maxBackOffDoublings = 5
	// closedAfter undone moves in a row, a direction waits for new evidence
	// whatever the back-off: one retry below the learned bound is allowed, a
	// second failure closes the direction.
	closedAfter = 2
)

// Remember records in m a decision that was applied: the restart it caused,
// the savings that restarted the pods, and per knob the value, the time and
// the value to return to later.
func Remember(m *tuningv1alpha1.Memory, d tuningv1alpha1.Decision) {
	at := d.Time
	if d.Rollout {
		m.Rollouts = append(m.Rollouts, at)
		if Diagnosis(d.Diagnosis) == DiagnosisOverProvisioned {
			m.LastEnvSaving = at.DeepCopy()
		}
	}
	m.Rollouts = slices.DeleteFunc(m.Rollouts, func(t metav1.Time) bool { return at.Sub(t.Time) >= RolloutMemory })
	if n := len(m.Rollouts); n > MaxRememberedRollouts {
		m.Rollouts = slices.Clone(m.Rollouts[n-MaxRememberedRollouts:])
	}
	for _, c := range d.Changes {
		k := knobMemory(m, c.Knob)
		k.LastApplied = c.To
		k.LastChange = at.DeepCopy()
		k.ReturnTo = stackedReturnTo(k.ReturnTo, returnTo(Diagnosis(d.Diagnosis), c), c)
		if Diagnosis(d.Diagnosis) == DiagnosisFlapping {
			backOffFlapped(k, d, c)
		}
	}
}

// backOffFlapped: a rollback for flapping is the verdict on the saving it
// undoes (that saving was judged kept before the HPA began to flap), so the
// saving's direction backs off like an undone move's, its bound the value
// the HPA flapped at; otherwise the same saving is made again on the same
// load once the savings' hold has passed, and flaps again.
func backOffFlapped(k *tuningv1alpha1.KnobMemory, d tuningv1alpha1.Decision, c tuningv1alpha1.Change) {
	from, to, ok := ChangeValues(c)
	if !ok || from == to {
		return
	}
	b := &k.Up // the saving moved the knob from to to from
	if from < to {
		b = &k.Down
	}
	level := int32(1)
	if *b != nil {
		level = min((*b).Level+1, 64)
	}
	var load *int64
	if d.Baseline != nil && d.Baseline.Throughput != nil {
		l := *d.Baseline.Throughput
		load = &l
	}
	*b = &tuningv1alpha1.BackOff{Level: level, Since: d.Time, Bound: c.From, Load: load}
}

// Forget takes back from m a decision that Remember recorded but that was
// never applied (the reconciler recorded it, then crashed or failed before
// the write): its restart is not counted, and each knob it touched is again
// at the value navius-tuner applied to it before, as the earlier decisions
// (the history without d) say: the newest earlier change's To. A knob that
// no earlier decision changed has no value applied by navius-tuner: d's
// From is the value someone else set (or the value of a first decision's
// starting point), and claiming it as applied would make the conflict and
// repair rules take it for navius-tuner's own. The time of the knob's
// previous change is not kept, so LastChange is cleared; only the eviction
// order reads it. The value to return to is again what the earlier
// decisions leave (a forgotten restore must not lose the back-down's window).
func Forget(m *tuningv1alpha1.Memory, d tuningv1alpha1.Decision, earlier []tuningv1alpha1.Decision) {
	if d.Rollout {
		if i := slices.IndexFunc(m.Rollouts, func(t metav1.Time) bool { return t.Equal(&d.Time) }); i >= 0 {
			m.Rollouts = slices.Delete(m.Rollouts, i, i+1)
		}
		if m.LastEnvSaving != nil && m.LastEnvSaving.Equal(&d.Time) {
			m.LastEnvSaving = nil
		}
	}
	for _, c := range d.Changes {
		for i := range m.Knobs {
			k := &m.Knobs[i]
			if k.Knob != c.Knob || k.LastApplied != c.To {
				continue
			}
			k.LastApplied = appliedBefore(earlier, c.Knob)
			if k.LastChange != nil && k.LastChange.Equal(&d.Time) {
				k.LastChange = nil
			}
			if k.ReturnTo == returnTo(Diagnosis(d.Diagnosis), c) {
				// d set it, or cleared it (a restore, a floor returned): it is again what the earlier decisions left
				k.ReturnTo = returnToAfter(earlier, c.Knob)
			}
			if Diagnosis(d.Diagnosis) == DiagnosisFlapping {
				forgetFlapped(k, d, c)
			}
		}
	}
}

// forgetFlapped takes back the back-off backOffFlapped recorded for d.
func forgetFlapped(k *tuningv1alpha1.KnobMemory, d tuningv1alpha1.Decision, c tuningv1alpha1.Change) {
	for _, b := range []**tuningv1alpha1.BackOff{&k.Up, &k.Down} {
		if *b == nil || !(*b).Since.Equal(&d.Time) || (*b).Bound != c.From {
			continue
		}
		if (*b).Level <= 1 {
			*b = nil
		} else {
			(*b).Level--
		}
	}
}

// returnToAfter is the value to return knob to that the decisions, oldest
// first, leave in the memory (Remember, and RememberVerdict's undone moves);
// "" when none does.
func returnToAfter(decisions []tuningv1alpha1.Decision, knob string) string {
	rt := ""
	for _, d := range decisions {
		for _, c := range d.Changes {
			if c.Knob != knob {
				continue
			}
			rt = stackedReturnTo(rt, returnTo(Diagnosis(d.Diagnosis), c), c)
			if !IsUndo(d.Diagnosis) && (d.Outcome == tuningv1alpha1.OutcomeRolledBack || d.Outcome == tuningv1alpha1.OutcomeReverted) {
				rt = ""
			}
		}
	}
	return rt
}

// appliedBefore is the value the newest of the decisions changed knob to,
// "" when none changed it.
func appliedBefore(decisions []tuningv1alpha1.Decision, knob string) string {
	for i := len(decisions) - 1; i >= 0; i-- {
		for _, c := range decisions[i].Changes {
			if c.Knob == knob {
				return c.To
			}
		}
	}
	return ""
}

// returnTo is the value a change moved the knob away from for a passing
// condition, "" when it was not such a change: the floor before a raise for
// a breach, and the HPA's scale-down window before a back-down.
func returnTo(diag Diagnosis, c tuningv1alpha1.Change) string {
	from, to, ok := ChangeValues(c)
	switch {
	case Knob(c.Knob) == KnobHPAScaleDownWindowS && diag == DiagnosisOverProvisioned && c.From == "":
		if to, err := strconv.ParseInt(c.To, 10, 64); err == nil && to < defaultDownWindowS {
			return strconv.Itoa(defaultDownWindowS) // the HPA had no behaviour: Kubernetes' default
		}
		return ""
	case !ok:
		return ""
	case Knob(c.Knob) == KnobHPAScaleDownWindowS && diag == DiagnosisOverProvisioned && to < from:
		return c.From
	case Knob(c.Knob) == KnobHPAMinReplicas && isRelief(diag) && to > from:
		return c.From
	}
	return ""
}

// stackedReturnTo keeps the value a knob returns to when a raise for a
// breach lands on an earlier one that is still to be returned (the floor
// raised again in the same breach): the floor goes back to where it was
// before the breach, not to the first raise.
func stackedReturnTo(was, now string, c tuningv1alpha1.Change) string {
	if was == "" || now == "" || Knob(c.Knob) != KnobHPAMinReplicas {
		return now
	}
	w, err1 := strconv.ParseInt(was, 10, 64)
	n, err2 := strconv.ParseInt(now, 10, 64)
	if err1 == nil && err2 == nil && w < n {
		return was
	}
	return now
}

// RememberVerdict records in m the verdict on decision d, judged for the
// spec at generation. An undone move raises its direction's back-off level
// and sets the learned bound (the value it regressed at); a kept move resets
// the level, and lifts the bound when it reached it. A checked prediction
// (d.Prediction with what was observed) updates its model's running error.
func RememberVerdict(m *tuningv1alpha1.Memory, d tuningv1alpha1.Decision, outcome tuningv1alpha1.Outcome, generation int64) {
	if IsUndo(d.Diagnosis) || outcome == tuningv1alpha1.OutcomePending {
		return // the verdict on a rollback says nothing about the move it undid
	}
	rememberPrediction(m, d.Prediction, d.Time)
	undone := outcome == tuningv1alpha1.OutcomeRolledBack || outcome == tuningv1alpha1.OutcomeReverted
	for _, c := range d.Changes {
		from, to, ok := ChangeValues(c)
		dir := sign(to - from)
		if !ok || dir == 0 {
			continue
		}
		k := knobMemory(m, c.Knob)
		b := &k.Up
		if dir < 0 {
			b = &k.Down
		}
		if !undone {
			if *b != nil {
				(*b).Level = 0
				if bound, err := strconv.ParseInt((*b).Bound, 10, 64); err == nil && sign(to-bound) != -dir {
					(*b).Bound = ""
				}
			}
			continue
		}
		k.ReturnTo = ""
		level := int32(1)
		if *b != nil {
			level = min((*b).Level+1, 64)
		}
		if closesOnUndo(Diagnosis(d.Diagnosis)) {
			// An experiment (or a thin-margin raise) that did not help is
			// not retried on the same load: its direction waits for new
			// evidence at once.
			level = max(level, closedAfter)
		}
		var load *int64
		if d.Baseline != nil && d.Baseline.Throughput != nil {
			l := *d.Baseline.Throughput
			load = &l
		}
		*b = &tuningv1alpha1.BackOff{Level: level, Since: d.Time, Bound: c.To, Load: load, Generation: generation}
	}
}

// ForgetVerdict takes back from m the verdict RememberVerdict recorded on
// decision d with outcome, when the rollback that carried it out was never
// applied and d is pending again: the verdict will be given anew, and
// counting it twice would raise the back-off a second level for one
// regression. An undone move's back-off, recognised by its Since (d's time)
// and Bound (the value d moved to), goes down a level, or away at level 1;
// the Since, Bound and load of an older level are not kept, so a level
// above 1 keeps this verdict's. The checked prediction's sample is taken out
// of its model's running error when it is the model's newest. An undone
// experiment's back-off, which started at closedAfter, goes away when it is
// at most that (the level before it is not kept). A kept
// verdict, or one on a rollback, recorded no back-off and is left alone.
func ForgetVerdict(m *tuningv1alpha1.Memory, d tuningv1alpha1.Decision, outcome tuningv1alpha1.Outcome) {
	if IsUndo(d.Diagnosis) || (outcome != tuningv1alpha1.OutcomeRolledBack && outcome != tuningv1alpha1.OutcomeReverted) {
		return
	}
	forgetPrediction(m, d.Prediction, d.Time)
	for _, c := range d.Changes {
		from, to, ok := ChangeValues(c)
		dir := sign(to - from)
		if !ok || dir == 0 {
			continue
		}
		for i := range m.Knobs {
			k := &m.Knobs[i]
			if k.Knob != c.Knob {
				continue
			}
			b := &k.Up
			if dir < 0 {
				b = &k.Down
			}
			if *b == nil || !(*b).Since.Equal(&d.Time) || (*b).Bound != c.To {
				continue
			}
			if (*b).Level <= 1 || (closesOnUndo(Diagnosis(d.Diagnosis)) && (*b).Level <= closedAfter) {
				*b = nil
			} else {
				(*b).Level--
			}
		}
	}
}

// MemoryFrom rebuilds the memory from a history, for a status written before
// the memory existed: it knows what the last 10 decisions tell.
func MemoryFrom(history []tuningv1alpha1.Decision, generation int64) tuningv1alpha1.Memory {
	var m tuningv1alpha1.Memory
	for _, d := range history {
		Remember(&m, d)
		RememberVerdict(&m, d, d.Outcome, generation)
	}
	return m
}

// knobMemory is m's entry for knob, added when missing. Beyond
// MaxRememberedKnobs (env names that changed), the least recently changed
// entry makes room.
func knobMemory(m *tuningv1alpha1.Memory, knob string) *tuningv1alpha1.KnobMemory {
	if k := findKnob(m, knob); k != nil {
		return k
	}
	if len(m.Knobs) >= MaxRememberedKnobs {
		oldest := 0
		for i, k := range m.Knobs {
			if k.LastChange == nil || (m.Knobs[oldest].LastChange != nil && k.LastChange.Before(m.Knobs[oldest].LastChange)) {
				oldest = i
			}
		}
		m.Knobs = slices.Delete(m.Knobs, oldest, oldest+1)
	}
	m.Knobs = append(m.Knobs, tuningv1alpha1.KnobMemory{Knob: knob})
	return &m.Knobs[len(m.Knobs)-1]
}

// findKnob is m's entry for knob, nil when nothing is remembered.
func findKnob(m *tuningv1alpha1.Memory, knob string) *tuningv1alpha1.KnobMemory {
	for i := range m.Knobs {
		if m.Knobs[i].Knob == knob {
			return &m.Knobs[i]
		}
	}
	return nil
}

// knobEntry is the memory of knob, nil when nothing is remembered.
func (d *decider) knobEntry(knob Knob) *tuningv1alpha1.KnobMemory {
	return findKnob(&d.mem, string(knob))
}

// rolloutsLastHour are the restarts navius-tuner caused in the hour before
// now, oldest first. Every restart counts, rollbacks included: each one
// empties the caches and pools of every pod.
func rolloutsLastHour(m tuningv1alpha1.Memory, now time.Time) []time.Time {
	var out []time.Time
	for _, t := range m.Rollouts {
		if !t.After(now) && now.Sub(t.Time) < rolloutWindow {
			out = append(out, t.Time)
		}
	}
	return out
}

// rolloutBudget says whether the restarts of the last hour, plus extra that
// this plan adds, spend maxRolloutsPerHour, and until when env changes wait.
func (d *decider) rolloutBudget(extra int) (n int, until time.Time, spent bool) {
	return rolloutBudgetOf(d.mem, d.in.Now, extra, d.s.MaxRolloutsPerHour)
}

func rolloutBudgetOf(m tuningv1alpha1.Memory, now time.Time, extra, perHour int) (n int, until time.Time, spent bool) {
	ts := rolloutsLastHour(m, now)
	for range extra {
		ts = append(ts, now)
	}
	n = len(ts)
	if n < perHour {
		return n, time.Time{}, false
	}
	// The next may start once all but maxRolloutsPerHour−1 of them are an hour old.
	return n, ts[n-perHour].Add(rolloutWindow), true
}

// RolloutsWaitUntil is until when maxRolloutsPerHour holds env changes
// back, by the restarts status.memory remembers; zero when an env change
// may restart the pods now. It is the rule Decide applies.
func RolloutsWaitUntil(spec tuningv1alpha1.PerformanceProfileSpec, m tuningv1alpha1.Memory, now time.Time) time.Time {
	_, until, _ := rolloutBudgetOf(m, now, 0, SettingsOf(spec).MaxRolloutsPerHour)
	return until
}

// backOffWait is how long a direction waits after level undone moves in a row.
func (d *decider) backOffWait(level int32) time.Duration {
	return d.s.BackOff << min(max(level-1, 0), maxBackOffDoublings)
}

// newEvidence says what lifts a learned bound: the load moved by more than
// loadShift since the undone move, or the spec changed; "" when nothing did.
func (d *decider) newEvidence(b *tuningv1alpha1.BackOff) string {
	if b.Generation != 0 && d.in.Generation != 0 && b.Generation != d.in.Generation {
		return "the spec changed"
	}
	if b.Load == nil || *b.Load <= 0 {
		return ""
	}
	load, ok := d.v.windowLoad() // the baseline's load, over the same window
	was := float64(*b.Load)
	if ok && (load > was*(1+loadShift) || load < was*(1-loadShift)) {
		return fmt.Sprintf("the load moved from %.0f/s to %.0f/s", was, load)
	}
	return ""
}

// backOff applies the memory of undone moves to a change of a knob: it
// returns the change (its target capped before a learned bound) or why the
// move must wait.
//
// After an undone move, the same direction waits BackOff, doubled for each
// further undone move in a row. The value it regressed at (the bound) is not
// tried again, nor anything past it, until there is new evidence; one retry
// short of the bound is allowed after the wait, and when that is undone too
// the direction waits for new evidence at any value.
//
// An undone experiment or thin-margin raise closes its direction at once
// (closesOnUndo) for the steps taken on as little evidence: a later
// experiment or thin-margin raise (diag). A thin margin that did not widen
// says little of a breach: a breach's relief sees that undo as one undone
// move (its back-off, then one step short of its value).
func (d *decider) backOff(c Change, diag Diagnosis) (Change, string) {
	k := d.knobEntry(c.Knob)
	dir := sign(c.To - c.From)
	if k == nil || dir == 0 {
		return c, ""
	}
	b, way := k.Up, "raise"
	if dir < 0 {
		b, way = k.Down, "reduction"
	}
	if b == nil {
		return c, ""
	}
	tried, closer := d.closedStepAt(b.Since)
	closed, level := closer != "", b.Level
	if closer == DiagnosisThinMargin && !closesOnUndo(diag) {
		closed, level = false, 1
	}
	if until := b.Since.Add(d.backOffWait(level)); level > 0 && d.in.Now.Before(until) && !closed {
		return c, fmt.Sprintf("a %s of %s was undone %d time(s) in a row: backing off until %s",
			way, c.Knob, level, clock(until))
	}
	bound, err := strconv.ParseInt(b.Bound, 10, 64)
	if err != nil || d.newEvidence(b) != "" {
		return c, ""
	}
	if closed {
		return c, fmt.Sprintf("%s raising %s to %s at %s did not help: not tried again without new evidence (the load moving by %.0f%% or a spec change)",
			tried, c.Knob, b.Bound, clock(b.Since.Time), loadShift*100)
	}
	if level >= closedAfter {
		return c, fmt.Sprintf("a %s of %s was undone %d times in a row (last at %s): waiting for new evidence (the load moving by %.0f%% or a spec change)",
			way, c.Knob, level, b.Bound, loadShift*100)
	}
	if sign(c.To-bound) != -dir {
		c.To = bound - int64(dir)
	}
	if sign(c.To-c.From) != dir {
		return c, fmt.Sprintf("%s %d regressed at %s: not tried again without new evidence (the load moving by %.0f%% or a spec change)",
			c.Knob, c.From, b.Bound, loadShift*100)
	}
	return c, ""
}

// closedStepAt names the history's decision made at t, and gives its
// diagnosis, when it was an experiment or a thin-margin raise
// (closesOnUndo): its undone direction waits for new evidence, without the
// time back-off of a move undone in a row; "" otherwise (the history keeps
// the last 10 decisions; an older one reads as a move undone in a row).
func (d *decider) closedStepAt(t metav1.Time) (string, Diagnosis) {
	for _, h := range d.in.History {
		if h.Time.Equal(&t) {
			switch diag := Diagnosis(h.Diagnosis); diag {
			case DiagnosisExperiment:
				return "an experiment", diag
			case DiagnosisThinMargin:
				return "a raise for a thin margin", diag
			}
			return "", ""
		}
	}
	return "", ""
}

// closesOnUndo: the decision was a step taken on the most likely cause
// rather than on a breach's own evidence (an experiment, a thin-margin
// raise); undone, its direction waits for new evidence at once.
func closesOnUndo(diag Diagnosis) bool {
	return diag == DiagnosisExperiment || diag == DiagnosisThinMargin
}

// Horizon is how far back one rule looks and where the status keeps what it
// reads. Horizons lists every rule that looks back; a test checks each
// against what the status keeps, so a rule cannot outgrow its memory.
type Horizon struct {
	Rule string
	// History is true when the rule reads status.history (which keeps the
	// newest decisions only); false when it reads status.memory.
	History bool
	// Back is how far back the rule looks under the settings.
	Back func(Settings) time.Duration
	// Kept is how long status.memory keeps what the rule reads; 0 means
	// until it is replaced (a single time or value per knob).
	Kept time.Duration
}

// maxCacheFill is the longest a verdict on a cache change waits for the caches to fill.
func maxCacheFill(s Settings) time.Duration { return maxCacheFillSettles * s.SettleTime }

// Horizons are the rules that look back, with their horizons.
func Horizons() []Horizon {
	return []Horizon{
		{Rule: "settling (the newest decision)", History: true,
			Back: func(s Settings) time.Duration { return s.SettleFor }},
		{Rule: "verdict on the pending decision", History: true,
			Back: func(s Settings) time.Duration { return s.SettleFor + maxCacheFill(s) }},
		{Rule: "savings wait after the last change", History: true,
			Back: func(s Settings) time.Duration { return s.SustainFor }},
		{Rule: "rollout budget (restarts, rollbacks included)", Kept: RolloutMemory,
			Back: func(Settings) time.Duration { return rolloutWindow }},
		{Rule: "pacing of env savings", Back: func(Settings) time.Duration { return envSavingEvery }},
		{Rule: "back-off of undone moves", Back: func(s Settings) time.Duration { return s.BackOff << maxBackOffDoublings }},
		{Rule: "learned bound of undone moves (until new evidence)", Back: func(Settings) time.Duration { return 1<<63 - 1 }},
		{Rule: "return to the floor or window (raisedFloor, restoreWindow)", Back: func(Settings) time.Duration { return 1<<63 - 1 }},
		{Rule: "conflict memory (value last applied)", Back: func(Settings) time.Duration { return 1<<63 - 1 }},
		{Rule: "running error of each model (scales its next step)", Back: func(Settings) time.Duration { return 1<<63 - 1 }},
	}
}
