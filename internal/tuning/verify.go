package tuning

import (
	"fmt"
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
)

// compared are the SLIs judged on both sides of a change.
var compared = []signals.Signal{signals.LatencyP50, signals.LatencyP95, signals.LatencyP99, signals.ErrorRate, signals.Throughput}

// judge gives the verdict on the pending decision once it has settled. It
// returns true when the plan is complete (a rollback, or a rollback that must wait).
func (d *decider) judge(pd *tuningv1alpha1.Decision) bool {
	diag := Diagnosis(pd.Diagnosis)
	if diag == DiagnosisRegression || diag == DiagnosisNoImprovement {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "previous values restored; " + d.slo.summary()}
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
	case d.loadMoved(base):
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "load moved, not comparable: " + observed}
		return false
	}
	if hold, wait := d.cacheFilling(pd); wait {
		d.plan.Holds = append(d.plan.Holds, hold)
		d.plan.Reason = d.sloText() + "; holding: " + hold
		return true
	}
	if worse := d.regressions(base); len(worse) > 0 && diag != DiagnosisOverProvisioned {
		return d.undo(pd, tuningv1alpha1.OutcomeRolledBack, DiagnosisRegression, "regression: "+joinNotes(worse))
	}
	if isRelief(diag) && !d.slo.met() && baseSLO.worst()-d.slo.worst() < helpShare*baseSLO.worst() {
		return d.undo(pd, tuningv1alpha1.OutcomeReverted, DiagnosisNoImprovement,
			"did not help and costs more: "+observed)
	}
	d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: observed}
	return false
}

// isRelief: the decision added capacity for a breached SLO.
func isRelief(diag Diagnosis) bool {
	switch diag {
	case DiagnosisPoolSaturated, DiagnosisCPUSaturated, DiagnosisHPAAtMax, DiagnosisRedisSaturated, DiagnosisCacheMisses:
		return true
	}
	return false
}

// beforeAfter describes the SLIs against the baseline: "p99 180ms -> 95ms, errors 0.1% -> 0.1%".
func (d *decider) beforeAfter(base func(signals.Signal) (float64, bool)) string {
	var parts []string
	for _, s := range compared {
		b, ok1 := base(s)
		n, ok2 := d.v.get(s)
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

func (d *decider) loadMoved(base func(signals.Signal) (float64, bool)) bool {
	b, ok1 := base(signals.Throughput)
	n, ok2 := d.v.get(signals.Throughput)
	if !ok1 || !ok2 || b <= 0 {
		return false
	}
	return n > b*(1+loadShift) || n < b*(1-loadShift)
}

// regressions lists the SLIs that are worse than the baseline beyond noise.
func (d *decider) regressions(base func(signals.Signal) (float64, bool)) []string {
	var out []string
	for _, s := range []signals.Signal{signals.LatencyP50, signals.LatencyP95, signals.LatencyP99} {
		b, ok1 := base(s)
		n, ok2 := d.v.get(s)
		if ok1 && ok2 && n > b*(1+regressionShare) && n-b >= regressionMinimum {
			out = append(out, fmt.Sprintf("%s %s -> %s", percentileName(s), fmtSeconds(b), fmtSeconds(n)))
		}
	}
	b, ok1 := base(signals.ErrorRate)
	n, ok2 := d.v.get(signals.ErrorRate)
	if ok1 && ok2 && n > b*errorRegressionFactor && n-b >= errorRegressionPoints {
		out = append(out, fmt.Sprintf("errors %s -> %s", fmtRatio(b), fmtRatio(n)))
	}
	return out
}

// undo restores the values the pending decision changed. It returns true: the
// plan is the rollback, or a hold when the rollback cannot happen yet.
func (d *decider) undo(pd *tuningv1alpha1.Decision, outcome tuningv1alpha1.Outcome, diag Diagnosis, observed string) bool {
	observed = truncate(observed, 256)
	if !d.s.RollbackOnRegression {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: observed + " (rollbackOnRegression is off)"}
		return false
	}
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
	if len(changes) == 0 {
		d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: truncate(observed+"; nothing to restore", 256)}
		return false
	}
	verdict := &Judgement{Outcome: outcome, Observed: observed}
	hold := d.adopt(proposal{family: Family(pd.Family), diagnosis: diag, changes: changes, undo: true,
		reason: fmt.Sprintf("%s; the %s change of %s: %s", d.sloText(), pd.Family, clock(pd.Time.Time), observed)})
	if hold != "" {
		d.plan.Holds = append(d.plan.Holds, "rollback waits: "+hold)
		d.plan.Reason = fmt.Sprintf("%s; %s, but the rollback waits: %s", d.sloText(), observed, hold)
		return true
	}
	d.plan.Judgement = verdict
	return true
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
