package tuning

import (
	"fmt"
	"strconv"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// slowDownShare: reductions move at a quarter of maxStepPercent, at most 25 %.
const slowDownShare = 4

// towards moves from towards target by at most pct percent of from (at least 1).
func towards(from, target, pct int64) int64 {
	step := max(from*pct/100, 1)
	switch {
	case target > from:
		return min(target, from+step)
	case target < from:
		return max(target, from-step)
	}
	return from
}

// fastPct and slowPct are the step limits for adding and for removing capacity.
func (d *decider) fastPct() int64 { return d.s.MaxStepPercent }
func (d *decider) slowPct() int64 { return min(max(d.s.MaxStepPercent/slowDownShare, 1), 25) }

// more is the value that adds capacity from from towards target: a full
// maxStepPercent step, within bounds, never less capacity than from.
func (d *decider) more(k knobDef, from, target int64) int64 {
	to := k.clamp(towards(from, target, d.fastPct()))
	if k.inverse {
		return min(to, from)
	}
	return max(to, from)
}

// less is the value that removes capacity from from towards target: a slow
// step, within bounds, never more capacity than from.
func (d *decider) less(k knobDef, from, target int64) int64 {
	to := k.clamp(towards(from, target, d.slowPct()))
	if k.inverse {
		return max(to, from)
	}
	return min(to, from)
}

// connLimit is the database's connection budget: maxConnections − reserved.
func (d *decider) connLimit() (int64, bool) {
	p := d.in.Spec.ConnectionPool
	if p == nil || p.Database == nil {
		return 0, false
	}
	return int64(p.Database.MaxConnections) - int64(p.Database.Reserved), true
}

// budgetPods is the most pods that can hold connections at once, before the
// surge: the HPA's maxReplicas, or the current replicas without an HPA value.
func (d *decider) budgetPods() int64 {
	if v, ok := d.in.State.Values[KnobHPAMaxReplicas]; ok {
		return v
	}
	return max(int64(d.in.State.Replicas), 1)
}

func (d *decider) surge() int64 { return max(int64(d.in.State.MaxSurge), 0) }

// poolSize is the pool max per pod: the knob's value, else what the pods report.
func (d *decider) poolSize() (int64, bool) {
	if k, ok := d.ks.role(rolePoolMax); ok {
		if v, ok := d.in.State.Values[k.knob]; ok {
			return v, true
		}
	}
	if v, ok := d.v.get(signals.PoolMax); ok && v > 0 {
		return int64(v), true
	}
	return 0, false
}

// budgetText shows the connection budget: "(12 pods + 1 surge) × 14 = 182 of 180".
func (d *decider) budgetText(pods, pool int64) string {
	limit, _ := d.connLimit()
	return fmt.Sprintf("connection budget (%d pods + %d surge) × %d = %d of %d",
		pods, d.surge(), pool, (pods+d.surge())*pool, limit)
}

// maxPoolInBudget is the largest pool max the budget allows at the current maxReplicas.
func (d *decider) maxPoolInBudget() (int64, bool) {
	limit, ok := d.connLimit()
	if !ok {
		return 0, false
	}
	return max(limit/max(d.budgetPods()+d.surge(), 1), 0), true
}

// maxPodsInBudget is the largest HPA maxReplicas the budget allows at pool size pool.
func (d *decider) maxPodsInBudget(pool int64) int64 {
	limit, _ := d.connLimit()
	if pool <= 0 {
		return limit
	}
	return max(limit/pool-d.surge(), 0)
}

// isUndo: the decision restored the values of an earlier one.
func isUndo(diagnosis string) bool {
	return Diagnosis(diagnosis) == DiagnosisRegression || Diagnosis(diagnosis) == DiagnosisNoImprovement
}

// rolloutsLastHour counts the decisions that restarted the pods in the hour
// before now. Rollbacks are not charged: undoing a change that did not work
// must not hold the next remedy for the rest of the hour (the change itself
// is charged).
func rolloutsLastHour(history []tuningv1alpha1.Decision, now time.Time) int {
	n := 0
	for _, h := range history {
		if h.Rollout && !isUndo(h.Diagnosis) && !h.Time.After(now) && now.Sub(h.Time.Time) < time.Hour {
			n++
		}
	}
	return n
}

// rolloutHold says why no env change may start now; "" when one may.
func (d *decider) rolloutHold() string {
	n := rolloutsLastHour(d.in.History, d.in.Now)
	if n < d.s.MaxRolloutsPerHour {
		return ""
	}
	return fmt.Sprintf("rollout budget spent: %d of %d rollouts in the last hour", n, d.s.MaxRolloutsPerHour)
}

// coolOff says until when a move of knob from→to is blocked because the same
// move was rolled back or reverted recently.
func (d *decider) coolOff(knob Knob, from, to int64) (time.Time, bool) {
	var until time.Time
	for _, h := range d.in.History {
		if h.Outcome != tuningv1alpha1.OutcomeRolledBack && h.Outcome != tuningv1alpha1.OutcomeReverted {
			continue
		}
		end := h.Time.Add(d.s.CoolOff)
		if !d.in.Now.Before(end) {
			continue
		}
		for _, c := range h.Changes {
			f, err1 := strconv.ParseInt(c.From, 10, 64)
			t, err2 := strconv.ParseInt(c.To, 10, 64)
			if Knob(c.Knob) == knob && err1 == nil && err2 == nil && sign(t-f) == sign(to-from) && end.After(until) {
				until = end
			}
		}
	}
	return until, !until.IsZero()
}

func sign(x int64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// proposal is a set of changes of one family, with the words that explain it.
type proposal struct {
	family    Family
	diagnosis Diagnosis
	changes   []Change
	reason    string
	predicted string
	// undo restores earlier values: the cool-off of past moves does not apply.
	undo bool
}

// adopt checks a proposal against the guardrails shared by every rule (blocked
// knobs, cool-off, bounds, rollout budget) and makes it the plan. It returns
// why it cannot be adopted ("" when it was).
func (d *decider) adopt(p proposal) string {
	var keep []Change
	var notes []string
	for _, c := range p.changes {
		k, ok := d.ks.get(c.Knob)
		switch {
		case !ok:
			continue
		case c.HasFrom && c.To == c.From:
			continue
		case c.To != k.clamp(c.To):
			notes = append(notes, fmt.Sprintf("%s %d is outside its bounds %d–%d", c.Knob, c.To, k.min, k.max))
			continue
		}
		if why, blocked := d.in.State.Blocked[c.Knob]; blocked {
			notes = append(notes, fmt.Sprintf("%s is blocked: %s", c.Knob, why))
			continue
		}
		if fm, held := d.plan.Missing.family(k.family); held && !p.undo {
			notes = append(notes, fmt.Sprintf("%s is held: the %s signals are missing (%s)", c.Knob, fm.Family, joinNotes(fm.Signals)))
			continue
		}
		if c.HasFrom && !p.undo {
			if until, cooling := d.coolOff(c.Knob, c.From, c.To); cooling {
				notes = append(notes, fmt.Sprintf("%s %d -> %d was undone recently; blocked until %s",
					c.Knob, c.From, c.To, until.UTC().Format(time.TimeOnly)))
				continue
			}
		}
		keep = append(keep, c)
	}
	keep, notes = d.withinBudget(keep, notes)
	if len(keep) == 0 {
		if len(notes) == 0 {
			notes = append(notes, "nothing to change")
		}
		return fmt.Sprintf("%s: %s", p.family, joinNotes(notes))
	}
	if isEnvFamily(p.family) && !p.undo { // a rollback is never held by the budget
		if hold := d.rolloutHold(); hold != "" {
			return fmt.Sprintf("%s: %s", p.family, hold)
		}
	}
	d.plan.Family = p.family
	d.plan.Diagnosis = p.diagnosis
	d.plan.Changes = keep
	d.plan.Rollout = isEnvFamily(p.family)
	d.plan.Reason = p.reason + "; " + d.changeText(keep)
	d.plan.Predicted = p.predicted
	d.plan.Holds = append(d.plan.Holds, notes...)
	return ""
}

// changeText lists changes: "DB_POOL_MAX_CONNECTIONS 10 -> 15".
func (d *decider) changeText(cs []Change) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		k, _ := d.ks.get(c.Knob)
		from := "unset"
		if c.HasFrom {
			from = k.fmtValue(c.From)
		}
		parts = append(parts, fmt.Sprintf("%s %s -> %s", c.Knob, from, k.fmtValue(c.To)))
	}
	return joinNotes(parts)
}

// withinBudget caps raises of the pool max and of maxReplicas so that
// (maxReplicas + surge) × pool max stays within the database budget, judged on
// the values after all the changes.
func (d *decider) withinBudget(cs []Change, notes []string) ([]Change, []string) {
	limit, ok := d.connLimit()
	pk, declared := d.ks.role(rolePoolMax)
	if !ok || !declared {
		return cs, notes
	}
	pool, hasPool := d.poolSize()
	pods := d.budgetPods()
	for _, c := range cs {
		switch c.Knob {
		case pk.knob:
			pool, hasPool = c.To, true
		case KnobHPAMaxReplicas:
			pods = c.To
		}
	}
	if !hasPool || (pods+d.surge())*pool <= limit {
		return cs, notes
	}
	var keep []Change
	for _, c := range cs {
		raise := !c.HasFrom || c.To > c.From
		switch {
		case raise && c.Knob == pk.knob:
			c.To = limit / max(pods+d.surge(), 1)
		case raise && c.Knob == KnobHPAMaxReplicas:
			c.To = limit/max(pool, 1) - d.surge()
		default:
			keep = append(keep, c)
			continue
		}
		if k, _ := d.ks.get(c.Knob); (c.HasFrom && c.To <= c.From) || c.To != k.clamp(c.To) {
			notes = append(notes, fmt.Sprintf("%s not raised: %s", c.Knob, d.budgetText(pods, pool)))
			continue
		}
		keep = append(keep, c)
	}
	return keep, notes
}
