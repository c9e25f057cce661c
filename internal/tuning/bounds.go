package tuning

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/intstr"

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

// ConnectionBudget is the database's connection budget: maxConnections −
// reserved; false when the profile declares no database.
func ConnectionBudget(spec tuningv1alpha1.PerformanceProfileSpec) (int64, bool) {
	p := spec.ConnectionPool
	if p == nil || p.Database == nil {
		return 0, false
	}
	return int64(p.Database.MaxConnections) - int64(p.Database.Reserved), true
}

// maxPoolSize bounds the pool sizes and pod counts the budget arithmetic
// accepts (no database allows more connections; no overflow below it).
const maxPoolSize = 1 << 20

// WorstMoment is how many connections the pods can hold at the worst moment
// of a rollout with the values vals (a rollout by anyone, at the most pods
// the Deployment can run): the pool max is the knob's value, else what the
// pods report. ok is false when the profile declares no pool or its size is
// unknown.
func WorstMoment(spec tuningv1alpha1.PerformanceProfileSpec, st State, vals Values, obs signals.Observation) (int64, bool) {
	if pool := spec.ConnectionPool; pool == nil || pool.MaxConnections == nil {
		return 0, false
	}
	size, ok := PoolSize(spec, vals, obs.Get)
	// Unknown, 0 or less means unlimited to many pools; a size past any database's
	// limit would overflow the arithmetic: neither can be budgeted.
	if !ok || size <= 0 || size > maxPoolSize {
		return 0, false
	}
	return st.PeakConnections(min(BudgetPods(st, vals), maxPoolSize), size, size), true
}

// connLimit is the profile's ConnectionBudget.
func (d *decider) connLimit() (int64, bool) { return ConnectionBudget(d.in.Spec) }

// budgetPods is the most replicas the Deployment may run (BudgetPods).
func (d *decider) budgetPods() int64 { return BudgetPods(d.in.State, d.in.State.Values) }

// BudgetPods is the most replicas the Deployment may run with the knob
// values vals: the tuned HPA's maxReplicas, every other scaler's maximum,
// spec.replicas and status.replicas (State.PodsCeiling), and the ready
// replicas; at least 1. Whoever scales the Deployment, it cannot run more.
func BudgetPods(st State, vals Values) int64 {
	n := max(int64(st.Replicas), int64(st.PodsCeiling), 1)
	if v, ok := vals[KnobHPAMaxReplicas]; ok {
		n = max(n, v)
	}
	return n
}

// at resolves the strategy at n replicas as the Deployment controller does:
// the surge rounds up, the unavailable pods round down, and when both come
// to 0 one pod may be unavailable. An unreadable value counts as n.
func (r RolloutStrategy) at(n int64) (surge, unavailable int64) {
	if r.Recreate {
		return 0, n
	}
	def := intstr.FromString("25%")
	resolve := func(v *intstr.IntOrString, up bool) int64 {
		if v == nil {
			v = &def
		}
		x, err := intstr.GetScaledValueFromIntOrPercent(v, int(n), up)
		if err != nil || x < 0 {
			return n
		}
		return int64(x)
	}
	surge, unavailable = resolve(r.MaxSurge, true), resolve(r.MaxUnavailable, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// RolloutPods is the most pods that hold database connections at once while
// n replicas roll out: up to n + surge pods run, and the old pods scaled down
// within the grace period still hold their connections while they
// terminate, besides the pods already terminating. Each step scales down at
// most surge + unavailable old pods and lasts at least StepSeconds, so
// within a grace period of G seconds at most G/StepSeconds + 1 steps'
// pods terminate at once (every old pod when nothing bounds a step).
// Recreate starts no new pod before every old one is gone.
func (st State) RolloutPods(n int64) (running, terminating int64) {
	already := int64(st.Terminating)
	if st.Strategy.Recreate {
		return n, already
	}
	surge, unavailable := st.Strategy.at(n)
	overlapping := n
	if st.StepSeconds > 0 {
		overlapping = min((surge+unavailable)*(max(st.GraceSeconds, 0)/st.StepSeconds+1), n)
	}
	return n + surge, overlapping + already
}

// PeakConnections is what the database sees at the worst moment at n
// replicas when the pool max goes from old to next (old = next when it does
// not change). While the change rolls out, the running pods hold at most
// either n old pools and the surge's new ones, or every running pod the new
// pool, and the terminating ones the old pool; after it, any later rollout
// (by anyone) peaks with the new pool on every pod.
func (st State) PeakConnections(n, old, next int64) int64 {
	running, terminating := st.RolloutPods(n)
	surge := running - n
	during := max(n*old+surge*next, running*next) + terminating*old
	after := (running + terminating) * next
	return max(during, after)
}

// peakConnections is the state's PeakConnections.
func (d *decider) peakConnections(n, old, next int64) int64 {
	return d.in.State.PeakConnections(n, old, next)
}

// poolSize is the pool max per pod: the knob's value, else what the pods report.
func (d *decider) poolSize() (int64, bool) { return PoolSize(d.in.Spec, d.in.State.Values, d.v.get) }

// PoolSize is the pool max per pod with the knob values vals: the pool
// knob's value, else the positive size the pods report (read through get).
// ok is false when the profile declares no pool knob and the pods report
// none, or neither is known.
func PoolSize(spec tuningv1alpha1.PerformanceProfileSpec, vals Values, get func(signals.Signal) (float64, bool)) (int64, bool) {
	if pool := spec.ConnectionPool; pool != nil && pool.MaxConnections != nil {
		if v, ok := vals[Knob(pool.MaxConnections.Env)]; ok {
			return v, true
		}
	}
	if v, ok := get(signals.PoolMax); ok && v > 0 {
		return int64(v), true
	}
	return 0, false
}

// budgetText shows the connection budget at n replicas and pool max next:
// "connection budget: a rollout at 12 pods peaks at 15 running + 6 terminating pods × 14 = 294 of 180".
func (d *decider) budgetText(n, old, next int64) string {
	limit, _ := d.connLimit()
	running, terminating := d.in.State.RolloutPods(n)
	return fmt.Sprintf("connection budget: a rollout at %d pods peaks at %d running + %d terminating pods × %d = %d of %d",
		n, running, terminating, max(old, next), d.peakConnections(n, old, next), limit)
}

// maxPoolInBudget is the largest pool max the budget allows at n replicas.
// A raise peaks after the rollout (every pod on the new pool), so the old
// pool does not matter for it.
func (d *decider) maxPoolInBudget(n int64) (int64, bool) {
	limit, ok := d.connLimit()
	if !ok {
		return 0, false
	}
	running, terminating := d.in.State.RolloutPods(n)
	return max(limit/max(running+terminating, 1), 0), true
}

// maxPodsInBudget is the largest HPA maxReplicas the budget allows at pool max pool.
func (d *decider) maxPodsInBudget(pool int64) int64 {
	limit, _ := d.connLimit()
	if pool <= 0 {
		return limit
	}
	n := limit / pool // the peak is at least n × pool
	for n > 0 && d.peakConnections(n, pool, pool) > limit {
		n--
	}
	return n
}

// budgetOvershoot describes how far the current pool and maxReplicas exceed
// the connection budget; "" when they fit or cannot be checked.
func (d *decider) budgetOvershoot() string {
	limit, ok := d.connLimit()
	pool, known := d.poolSize()
	if !ok || !known {
		return ""
	}
	n := d.budgetPods()
	if peak := d.peakConnections(n, pool, pool); peak > limit {
		return fmt.Sprintf("%s: %d connections over the budget (database.maxConnections − reserved); navius-tuner raises neither the pool nor maxReplicas until they fit",
			d.budgetText(n, pool, pool), peak-limit)
	}
	return ""
}

// IsUndo: the decision restored the values of an earlier one (a rollback,
// a revert, or the scale-down window a back-down shortened given back).
func IsUndo(diagnosis string) bool {
	switch Diagnosis(diagnosis) {
	case DiagnosisRegression, DiagnosisNoImprovement, DiagnosisLoadSettled, DiagnosisFlapping:
		return true
	}
	return false
}

// rolloutHold says why no env change may start now; "" when one may.
func (d *decider) rolloutHold() string {
	n, until, spent := d.rolloutBudget(0)
	if !spent {
		return ""
	}
	return fmt.Sprintf("rollout budget spent: %d of %d restarts in the last hour (rollbacks count); the next may start at %s",
		n, d.s.MaxRolloutsPerHour, clock(until))
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
	// bound says why the step stops short of what its model asks for (the
	// knobs' bounds): the reason carries it.
	bound string
	// prediction is the model's numeric prediction for the changes as proposed.
	prediction *tuningv1alpha1.Prediction
	// undo restores earlier values: the back-off of past moves does not apply.
	undo bool
	// create makes the managed HPA: its knobs the profile does not bound are
	// set once (the HPA needs them) and not tuned afterwards.
	create bool
}

// adopt checks a proposal against the guardrails shared by every rule (blocked
// knobs, back-off, bounds, rollout budget) and makes it the plan. It returns
// why it cannot be adopted ("" when it was).
func (d *decider) adopt(p proposal) string {
	var keep []Change
	var notes []string
	for _, c := range p.changes {
		k, ok := d.ks.get(c.Knob)
		if !ok && p.create {
			k, ok = knobDef{knob: c.Knob, min: c.To, max: c.To}, true
		}
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
			var why string
			if c, why = d.backOff(c, p.diagnosis); why != "" {
				notes = append(notes, why)
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
	if IsEnvFamily(p.family) && !p.undo { // a rollback is never held by the budget
		if hold := d.rolloutHold(); hold != "" {
			return fmt.Sprintf("%s: %s", p.family, hold)
		}
	}
	d.plan.Family = p.family
	d.plan.Diagnosis = p.diagnosis
	d.plan.Changes = keep
	d.plan.Rollout = IsEnvFamily(p.family)
	d.plan.Reason = p.reason + "; " + d.changeText(keep)
	d.plan.Predicted = p.predicted
	if sameTargets(keep, p.changes) { // a capped change is not what the model predicted for
		d.plan.Prediction = p.prediction
	}
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

// withinBudget caps raises of the pool max and of maxReplicas (and the
// values of an HPA being created) so that the connections at the worst
// moment of a rollout stay within the database budget, judged on the values
// after all the changes (peakConnections).
func (d *decider) withinBudget(cs []Change, notes []string) ([]Change, []string) {
	limit, ok := d.connLimit()
	pk, declared := d.ks.role(rolePoolMax)
	if !ok || !declared {
		return cs, notes
	}
	old, hasPool := d.poolSize()
	next, pods := old, d.budgetPods()
	was := d.peakConnections(pods, old, old)
	for _, c := range cs {
		switch c.Knob {
		case pk.knob:
			next = c.To
			if !hasPool {
				old, hasPool = c.To, true
			}
		case KnobHPAMaxReplicas:
			pods = BudgetPods(d.in.State, Values{KnobHPAMaxReplicas: c.To})
		}
	}
	// A raise that does not raise the worst moment (maxReplicas below the
	// pods another scaler or spec.replicas already allows) needs no room.
	if peak := d.peakConnections(pods, old, next); !hasPool || peak <= limit || (peak <= was && old == next) {
		return cs, notes
	}
	var keep []Change
	for _, c := range cs {
		raise := !c.HasFrom || c.To > c.From
		switch {
		case raise && c.Knob == pk.knob:
			c.To, _ = d.maxPoolInBudget(pods)
		case raise && c.Knob == KnobHPAMaxReplicas:
			c.To = d.maxPodsInBudget(max(old, next))
		default:
			keep = append(keep, c)
			continue
		}
		if k, _ := d.ks.get(c.Knob); (c.HasFrom && c.To <= c.From) || c.To != k.clamp(c.To) {
			notes = append(notes, fmt.Sprintf("%s not raised: %s", c.Knob, d.budgetText(pods, old, next)))
			continue
		}
		keep = append(keep, c)
	}
	return keep, notes
}
