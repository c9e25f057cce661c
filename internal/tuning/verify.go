package tuning

import (
	"fmt"
	"math"
	"strconv"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Verdict thresholds.
const (
	// A latency is a regression when it is worse than the baseline by 10 % and by at least 2 ms.
	regressionShare   = 0.10
	regressionMinimum = 0.002
	// An error rate is a regression when it is 1.5 × the baseline and 0.1 point above it.
	errorRegressionFactor = 1.5
	errorRegressionPoints = 0.001
	// A change made for a breach helped when the worst objective improved by 5 %.
	helpShare = 0.05
	// Load that moved by more than 30 % makes before and after incomparable.
	loadShift = 0.3
	// Load that moved by more than 15 % biases the comparison: the verdict
	// waits for the load to come back, at most loadWaitSettles × SettleFor.
	loadSettleShift = 0.15
	loadWaitSettles = 2
)

// judge gives the verdict on the pending decision once it has settled, and
// checks its prediction against what is observed. It returns true when the
// plan is complete (a rollback, or a rollback that must wait).
func (d *decider) judge(pd *tuningv1alpha1.Decision) bool {
	done := d.verdict(pd)
	if j := d.plan.Judgement; j != nil {
		j.Prediction = d.checkPrediction(pd)
	}
	return done
}

// verdict keeps or undoes the pending decision.
func (d *decider) verdict(pd *tuningv1alpha1.Decision) bool {
	diag := Diagnosis(pd.Diagnosis)
	if IsUndo(pd.Diagnosis) {
		// An undo predicted the SLIs from before the change it undid
		// (Predicted); the verdict says what restoring them did.
		observed := d.slo.summary()
		if pd.Baseline != nil {
			observed = d.beforeAfter(baselineGetter(pd.Baseline))
		}
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept,
			Observed: tuningv1alpha1.Truncate("previous values restored: "+observed, tuningv1alpha1.MaxNoteLength)}
		return false
	}
	if pd.Baseline == nil {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "no baseline recorded; " + d.slo.summary()}
		return false
	}
	base := baselineGetter(pd.Baseline)
	observed := d.beforeAfter(base)
	baseSLO := evaluateSLO(d.in.Spec.SLO, base, func([]signals.Signal) []string { return nil })
	switch {
	case diag == DiagnosisOverProvisioned && (!d.slo.met() || d.slo.worst() > keepRatio):
		return d.undo(pd, tuningv1alpha1.OutcomeRolledBack, DiagnosisRegression,
			fmt.Sprintf("margin lost after the saving (%s)", observed))
	case diag == DiagnosisOverProvisioned:
		// A saving is judged on its margin alone, whatever the load did:
		// waiting for the load to come back would hold every later step
		// (a back-down's restore, the next saving) for nothing.
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "margin kept: " + observed}
		return false
	case d.newErrors(base) != "":
		// Whatever the load did: more load slows a service before it fails
		// requests, and requests that start failing right after a change are
		// what a harmful change looks like (a pool the database refuses).
		return d.undo(pd, tuningv1alpha1.OutcomeRolledBack, DiagnosisRegression, "regression: "+d.newErrors(base))
	case d.loadShift(base) > loadShift:
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "load moved, not comparable: " + observed}
		return false
	}
	if hold, wait := d.loadMoving(pd, base); wait {
		d.plan.Holds = append(d.plan.Holds, hold)
		d.plan.Reason = d.sloText() + "; holding: " + hold
		return true
	} else if hold != "" {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: tuningv1alpha1.Truncate(hold+": "+observed, tuningv1alpha1.MaxNoteLength)}
		return false
	}
	if hold, wait := d.cacheFilling(pd); wait {
		d.plan.Holds = append(d.plan.Holds, hold)
		d.plan.Reason = d.sloText() + "; holding: " + hold
		return true
	}
	if worse := d.regressions(base); len(worse) > 0 {
		return d.undo(pd, tuningv1alpha1.OutcomeRolledBack, DiagnosisRegression, "regression: "+joinNotes(worse))
	}
	if isRelief(diag) && !d.slo.met() && baseSLO.worst()-d.slo.worst() < helpShare*baseSLO.worst() {
		if cut, keep, wait := d.missesCut(pd, baseSLO); wait {
			d.plan.Holds = append(d.plan.Holds, cut)
			d.plan.Reason = d.sloText() + "; holding: " + cut
			return true
		} else if keep {
			d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: tuningv1alpha1.Truncate(cut+"; "+observed, tuningv1alpha1.MaxNoteLength)}
			return false
		}
		return d.undo(pd, tuningv1alpha1.OutcomeReverted, DiagnosisNoImprovement,
			"did not help and costs more: "+observed)
	}
	if diag == DiagnosisThinMargin && !d.slo.met() {
		// A breach now: the raise is kept like a relief that did no harm
		// (the harm rules above still undo it). Its baseline was met, so
		// the relief's rule would read any breach as "did not help" and
		// take capacity back during the breach, spending a restart its
		// relief needs; the breach's own relief follows instead.
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept,
			Observed: tuningv1alpha1.Truncate("kept while the SLO is breached (a raise is not taken back during a breach): "+observed, tuningv1alpha1.MaxNoteLength)}
		return false
	}
	if diag == DiagnosisThinMargin && baseSLO.worst()-d.slo.worst() < helpShare*baseSLO.worst() {
		// The SLOs met: a raise for a thin margin is kept only if it widened it.
		return d.undo(pd, tuningv1alpha1.OutcomeReverted, DiagnosisNoImprovement,
			"did not widen the margin and costs more: "+observed)
	}
	d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: observed}
	return false
}

// missCutShare: a cache step made while misses pinned a percentile helped
// when it took away at least this share of the requests that miss every
// tier, even though the percentile has not moved yet.
const missCutShare = 0.25

// missesCut judges a cache step by the miss fraction while a percentile is
// pinned by misses. While more than 1 − q of the requests miss every tier,
// the percentile request is a miss and reads the miss's cost whatever the
// caches do, until the misses fall under 1 − q: a step that cut the misses
// from 13 % to 4 % leaves the p99 where it was and is still the way to the
// objective. It applies to a cache step taken while a breached percentile
// was pinned by misses (in the baseline; a miss costs at least the
// threshold, see missPinned) that is still breached and, as far as can be
// read, still pinned now. It keeps the step (keep, with the verdict's
// text) when the miss fraction, measured on both sides over the same
// tiers, fell by missCutShare (a step whose prediction was met falls by
// more) and neither the worst objective nor the error rate rose: fewer
// misses with a slower or failing service is a step that made things
// worse, not one on its way. When a tier the baseline read is missing now
// the verdict waits (wait, with the hold's text), as for a moving load, at
// most loadWaitSettles × SettleFor; past that the step is kept: an undo on
// missing data would take capacity away on data that cannot say it did
// not help. Otherwise neither, and the verdict is the usual one. It only
// ever keeps a step or waits.
func (d *decider) missesCut(pd *tuningv1alpha1.Decision, baseSLO sloReport) (text string, keep, wait bool) {
	if Diagnosis(pd.Diagnosis) != DiagnosisCacheMisses || !d.touchesCache(pd) {
		return "", false, false
	}
	before, now, known, read := d.missShareSince(pd.Baseline)
	if !known {
		return "", false, false
	}
	cost, _, costKnown := d.missCost()
	for _, o := range d.breachedLatencies() {
		tail := 1 - quantileOf(o)
		if !costKnown || !missesPin(o, before, cost) || !baseSLO.breached(o.signal) {
			continue
		}
		name := percentileName(o.signal)
		if !read {
			unknown := fmt.Sprintf("requests missing every tier %s before, unknown now (%s)",
				fmtRatio(before), joinNotes(d.v.absent([]signals.Signal{signals.MemoryHitRatio, signals.RedisHitRatio})))
			until := pd.Time.Add(d.s.SettleFor * (1 + loadWaitSettles))
			if !d.in.Now.Before(until) {
				return fmt.Sprintf("%s for longer than %s: a step for a %s pinned by misses is not undone on missing data",
					unknown, until.Sub(pd.Time.Time), name), true, false
			}
			return fmt.Sprintf("the verdict on the %s change of %s waits: %s; it is judged by the miss fraction once every tier reads, until %s at the latest",
				pd.Family, clock(pd.Time.Time), unknown, clock(until)), false, true
		}
		if now <= tail || now > (1-missCutShare)*before || d.slo.worst() > baseSLO.worst() || d.errorsRose(pd.Baseline) {
			return "", false, false
		}
		text := fmt.Sprintf("requests missing every tier %s -> %s", fmtRatio(before), fmtRatio(now))
		if p := pd.Prediction; p != nil && signals.Signal(p.Signal) == missFraction {
			if want, ok := parseDecimal(p.Value); ok {
				text += fmt.Sprintf(" (predicted %s)", fmtRatio(want))
			}
		}
		return fmt.Sprintf("%s: the %s request is still a miss and waits for < %s", text, name, fmtRatio(tail)), true, false
	}
	return "", false, false
}

// errorsRose: the error rate reads higher now than in baseline b (both read).
func (d *decider) errorsRose(b *tuningv1alpha1.SLIs) bool {
	was, ok1 := baselineGetter(b)(signals.ErrorRate)
	now, ok2 := d.v.get(signals.ErrorRate)
	return ok1 && ok2 && now > was
}

// missShareSince is the share of requests that missed every tier in
// baseline b (before, over the tiers it recorded; known when it recorded
// one) and now over the same tiers; read only when every one of them reads
// now. A tier missing now would count as missing everything (missShare)
// and a stale L2 would read as misses that jumped, so nothing compares
// then.
func (d *decider) missShareSince(b *tuningv1alpha1.SLIs) (before, now float64, known, read bool) {
	before, now, read = 1, 1, true
	if b == nil {
		return before, now, false, false
	}
	for _, t := range []struct {
		base tuningv1alpha1.Percent
		sig  signals.Signal
	}{{b.MemoryHitRatio, signals.MemoryHitRatio}, {b.RedisHitRatio, signals.RedisHitRatio}} {
		hb, ok := parsePercent(t.base)
		if t.base == "" || !ok {
			continue
		}
		before *= 1 - hb
		known = true
		if hn, ok := d.v.get(t.sig); ok {
			now *= 1 - hn
		} else {
			read = false
		}
	}
	return before, now, known, read && known
}

// isRelief: the decision added capacity for a breached SLO (an experiment too).
func isRelief(diag Diagnosis) bool {
	switch diag {
	case DiagnosisPoolSaturated, DiagnosisCPUSaturated, DiagnosisHPAAtMax, DiagnosisRedisSaturated, DiagnosisCacheMisses,
		DiagnosisExperiment:
		return true
	}
	return false
}

// judged are the SLIs a change is judged on: the profile's objectives, and
// the load, which says whether before and after are comparable.
func (d *decider) judged() []signals.Signal {
	out := SLOSignals(d.in.Spec)
	for _, s := range out {
		if s == signals.Throughput {
			return out
		}
	}
	return append(out, signals.Throughput)
}

// beforeAfter describes the judged SLIs against the baseline: "p99 180ms -> 95ms, errors 0.1% -> 0.1%".
func (d *decider) beforeAfter(base func(signals.Signal) (float64, bool)) string {
	var parts []string
	for _, s := range d.judged() {
		b, ok1 := base(s)
		n, ok2 := d.v.get(s)
		if s == signals.Throughput {
			n, ok2 = d.v.windowLoad()
		}
		if !ok1 || !ok2 {
			continue
		}
		switch s {
		case signals.ErrorRate:
			parts = append(parts, fmt.Sprintf("errors %s -> %s", fmtRatio(b), fmtRatio(n)))
		case signals.Throughput:
			parts = append(parts, fmt.Sprintf("load %.0f/s -> %.0f/s", b, n))
		default:
			parts = append(parts, fmt.Sprintf("%s %s -> %s", percentileName(s), fmtSeconds(b), fmtSeconds(n)))
		}
	}
	if len(parts) == 0 {
		return "nothing comparable"
	}
	return joinNotes(parts)
}

// loadShift is the relative change of the load over the SLO window since
// the baseline (0.2 for +20 % or -20 %); 0 when either side is unknown. Both
// sides are loads over the SLO window, the window of the latencies they
// compare (a minute's load would see a burst the latencies average out).
func (d *decider) loadShift(base func(signals.Signal) (float64, bool)) float64 {
	b, ok1 := base(signals.Throughput)
	n, ok2 := d.v.windowLoad()
	if !ok1 || !ok2 || b <= 0 {
		return 0
	}
	return math.Abs(n/b - 1)
}

// loadMoving compares like with like: while the load is unknown on either
// side (loadUnknown) or more than loadSettleShift away from the baseline's, latency before and after the
// change differ by the load as much as by the change (more load looks like
// "no improvement", less like "it helped"), so the verdict waits for the load
// to come back, for at most loadWaitSettles × SettleFor after the change
// settled. It returns the hold and true while waiting; after the wait it
// returns why the change is kept without a comparison and false; "" and
// false when the load is comparable.
func (d *decider) loadMoving(pd *tuningv1alpha1.Decision, base func(signals.Signal) (float64, bool)) (string, bool) {
	moved := d.loadUnknown(pd, base)
	if moved == "" {
		if d.loadShift(base) <= loadSettleShift {
			return "", false
		}
		b, _ := base(signals.Throughput)
		n, _ := d.v.windowLoad()
		moved = fmt.Sprintf("load moved %.0f/s -> %.0f/s (%+.0f%%) since the %s change of %s", b, n, (n/b-1)*100, pd.Family, clock(pd.Time.Time))
	}
	until := pd.Time.Add(d.s.SettleFor * (1 + loadWaitSettles))
	if !d.in.Now.Before(until) {
		return fmt.Sprintf("%s, for longer than %s: not comparable, kept", moved, until.Sub(pd.Time.Time)), false
	}
	return fmt.Sprintf("the verdict waits: %s; it compares like with like once the load is within %.0f%% of the baseline's, until %s at the latest",
		moved, loadSettleShift*100, clock(until)), true
}

// loadUnknown says why the load before and after a change judged on its
// latency cannot be compared: the throughput is missing now or in the
// baseline; "" when both are known, or for a saving (whose lost margin is
// judged whatever the load did). Without it the like-with-like check would be
// silently off and a slower service under more load would read as a regression.
func (d *decider) loadUnknown(pd *tuningv1alpha1.Decision, base func(signals.Signal) (float64, bool)) string {
	if Diagnosis(pd.Diagnosis) == DiagnosisOverProvisioned {
		return ""
	}
	if _, ok := base(signals.Throughput); !ok {
		return fmt.Sprintf("the throughput is missing in the baseline of the %s change of %s", pd.Family, clock(pd.Time.Time))
	}
	if _, ok := d.v.windowLoad(); !ok {
		return fmt.Sprintf("the throughput is missing (%s) since the %s change of %s",
			joinNotes(d.v.absent([]signals.Signal{signals.ThroughputWindow, signals.Throughput})), pd.Family, clock(pd.Time.Time))
	}
	return ""
}

// newErrors describes an error-rate objective that the baseline met and
// that is now breached and worse beyond noise; "" otherwise. Unlike latency,
// it is judged without comparing loads.
func (d *decider) newErrors(base func(signals.Signal) (float64, bool)) string {
	for _, o := range d.slo.objectives {
		if o.signal != signals.ErrorRate {
			continue
		}
		b, ok := base(o.signal)
		n := o.value
		if ok && b <= o.limit && n > o.limit && n > b*errorRegressionFactor && n-b >= errorRegressionPoints {
			return fmt.Sprintf("errors %s -> %s (objective %s), started with the change", fmtRatio(b), fmtRatio(n), fmtRatio(o.limit))
		}
	}
	return ""
}

// regressions lists the profile's objectives that are worse than the
// baseline beyond noise. Only what the profile asked for counts: a p50 that
// grew by 2 ms while the p99 objective was restored is no regression when
// p50 has no objective.
func (d *decider) regressions(base func(signals.Signal) (float64, bool)) []string {
	var out []string
	for _, o := range d.slo.objectives {
		b, ok := base(o.signal)
		if !ok {
			continue
		}
		n := o.value
		switch {
		case o.latency:
			if n > b*(1+regressionShare) && n-b >= regressionMinimum {
				out = append(out, fmt.Sprintf("%s %s -> %s", percentileName(o.signal), fmtSeconds(b), fmtSeconds(n)))
			}
		case o.signal == signals.ErrorRate:
			if n > b*errorRegressionFactor && n-b >= errorRegressionPoints {
				out = append(out, fmt.Sprintf("errors %s -> %s", fmtRatio(b), fmtRatio(n)))
			}
		case o.signal == signals.Throughput:
			if n < o.limit && b >= o.limit {
				out = append(out, fmt.Sprintf("throughput %.0f/s -> %.0f/s (min %.0f/s)", b, n, o.limit))
			}
		}
	}
	return out
}

// undo restores the values the pending decision changed. It returns true: the
// plan is the rollback, or a hold when the rollback cannot happen yet.
func (d *decider) undo(pd *tuningv1alpha1.Decision, outcome tuningv1alpha1.Outcome, diag Diagnosis, observed string) bool {
	observed = tuningv1alpha1.Truncate(observed, tuningv1alpha1.MaxNoteLength)
	if !d.s.RollbackOnRegression {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: observed + " (rollbackOnRegression is off)"}
		return false
	}
	changes := d.restoring(pd)
	if len(changes) == 0 {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: tuningv1alpha1.Truncate(observed+"; nothing to restore", tuningv1alpha1.MaxNoteLength)}
		return false
	}
	verdict := &Judgement{Outcome: outcome, Observed: observed}
	hold := d.adopt(proposal{family: Family(pd.Family), diagnosis: diag, changes: changes, undo: true,
		reason:    fmt.Sprintf("%s; the %s change of %s: %s", d.sloText(), pd.Family, clock(pd.Time.Time), observed),
		predicted: d.undoPrediction(pd)})
	if hold != "" {
		d.plan.Holds = append(d.plan.Holds, "rollback waits: "+hold)
		d.plan.Reason = fmt.Sprintf("%s; %s, but the rollback waits: %s", d.sloText(), observed, hold)
		return true
	}
	d.plan.Judgement = verdict
	return true
}

// undoPrediction is what an undo of pd expects: the SLIs recorded just
// before pd, which the restored values gave then. Its verdict compares the
// SLIs after the undo with those just before it.
func (d *decider) undoPrediction(pd *tuningv1alpha1.Decision) string {
	before := evaluateSLO(d.in.Spec.SLO, baselineGetter(pd.Baseline), func([]signals.Signal) []string { return nil })
	if len(before.objectives) == 0 {
		return ""
	}
	return tuningv1alpha1.Truncate(fmt.Sprintf("as before the %s change of %s: %s", pd.Family, clock(pd.Time.Time), before.summary()),
		tuningv1alpha1.MaxNoteLength)
}

// restoring are the changes that give the knobs of pd the values it
// replaced (within their bounds), leaving out those already there, those
// without a value before and those no longer tuned. A restored minReplicas
// stays within the HPA's maxReplicas after the restore: one lowered since,
// by anyone, is the ceiling now (a floor above it is an HPA the API server
// refuses).
func (d *decider) restoring(pd *tuningv1alpha1.Decision) []Change {
	var changes []Change
	for _, c := range pd.Changes {
		from, err := strconv.ParseInt(c.From, 10, 64)
		k, declared := d.ks.get(Knob(c.Knob))
		if err != nil || !declared {
			continue // the knob had no value before, or is no longer tuned
		}
		cur, has := d.in.State.Values[k.knob]
		if to := k.clamp(from); !has || cur != to {
			changes = append(changes, Change{Knob: k.knob, From: cur, HasFrom: has, To: to})
		}
	}
	ceiling, hasCeiling := d.in.State.Values[KnobHPAMaxReplicas]
	for _, c := range changes {
		if c.Knob == KnobHPAMaxReplicas {
			ceiling, hasCeiling = c.To, true
		}
	}
	out := changes[:0]
	for _, c := range changes {
		if c.Knob == KnobHPAMinReplicas && hasCeiling && c.To > ceiling {
			if c.To = max(ceiling, c.From); c.HasFrom && c.To == c.From {
				continue // already at the ceiling
			}
		}
		out = append(out, c)
	}
	return out
}

// maxCacheFillSettles bounds the wait for the caches to fill, in settleTimes.
const maxCacheFillSettles = 4

// cacheFilling holds the verdict on a cache change until the caches it
// resized have filled, as long as they are doing their job meanwhile.
//
// A cache change restarts the pods with empty L1s (and a longer L2 TTL fills
// Redis only as keys are written), so for a while after the rollout more
// requests reach the database than before, and the latency may be worse than
// the baseline although the change is right. The caches are full about one
// TTL after the newest pod became ready: the verdict waits until then
// (State.PodsWarmSince, or the change's time when unknown, plus the larger of
// the L1 and L2 TTLs, at most maxCacheFillSettles × settleTime), provided
// that the share of requests that reach the database (the product of the
// tiers' miss ratios) is already below the baseline's and the error rate has
// not regressed. A cache change that does not lower the database's share,
// or that raises the errors, is judged at once, like every change.
func (d *decider) cacheFilling(pd *tuningv1alpha1.Decision) (string, bool) {
	if !pd.Rollout || Diagnosis(pd.Diagnosis) == DiagnosisOverProvisioned || !d.touchesCache(pd) {
		return "", false
	}
	warm := pd.Time.Time
	if w := d.in.State.PodsWarmSince; w.After(warm) {
		warm = w
	}
	var fill int64
	for _, r := range []knobRole{roleMemoryTTL, roleRedisTTL} {
		if _, cur, _, has := d.knob(r); has {
			fill = max(fill, cur)
		}
	}
	until := warm.Add(min(time.Duration(fill)*time.Second, maxCacheFillSettles*d.s.SettleTime))
	if !d.in.Now.Before(until) {
		return "", false
	}
	before, now, ok := d.dbShare(pd.Baseline)
	if !ok || now >= before-minHitGain {
		return "", false
	}
	base := baselineGetter(pd.Baseline)
	b, ok1 := base(signals.ErrorRate)
	n, ok2 := d.v.get(signals.ErrorRate)
	if ok1 && ok2 && n > b*errorRegressionFactor && n-b >= errorRegressionPoints {
		return "", false
	}
	return fmt.Sprintf("the cache change of %s is judged once the caches have filled, at %s (newest pod ready %s, TTL %ds): requests reaching the database %s -> %s",
		clock(pd.Time.Time), clock(until), clock(warm), fill, fmtRatio(before), fmtRatio(now)), true
}

// touchesCache: the decision changed a cache knob.
func (d *decider) touchesCache(pd *tuningv1alpha1.Decision) bool {
	for _, c := range pd.Changes {
		if k, ok := d.ks.get(Knob(c.Knob)); ok && isCacheRole(k.role) {
			return true
		}
	}
	return false
}

func isCacheRole(r knobRole) bool {
	return r == roleMemoryItems || r == roleMemoryTTL || r == roleRedisTTL
}

// dbShare is the share of requests that miss every cache tier (and reach the
// database), in the baseline and now, over the tiers known on both sides.
func (d *decider) dbShare(b *tuningv1alpha1.SLIs) (before, now float64, ok bool) {
	before, now = 1, 1
	for _, t := range []struct {
		base tuningv1alpha1.Percent
		sig  signals.Signal
	}{{b.MemoryHitRatio, signals.MemoryHitRatio}, {b.RedisHitRatio, signals.RedisHitRatio}} {
		if t.base == "" {
			continue
		}
		hb, ok1 := parsePercent(t.base)
		hn, ok2 := d.v.get(t.sig)
		if !ok1 || !ok2 {
			continue
		}
		before *= 1 - hb
		now *= 1 - hn
		ok = true
	}
	return before, now, ok
}
