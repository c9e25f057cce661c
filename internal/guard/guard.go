// Package guard is the last gate every plan passes before it is recorded,
// in the manager and in tier A alike. It is pure: one entry, Check, from
// the world as read from the cluster and a plan to the changes it allows
// and, for each one it refuses, why. The engine keeps its own checks; the
// guard owns the invariants and holds them whatever the engine proposes:
//
//  1. Connections at the worst moment never exceed the database budget. The
//     pods counted are the most the Deployment can have while the plan's
//     rollout runs (tuning.BudgetPods: the largest of spec.replicas,
//     status.replicas and every scaler's maximum, declared in the profile
//     or not), plus surge, plus the pods still terminating for as long as
//     their grace period lets them hold connections (tuning.State.RolloutPods).
//     A change that does not raise that worst moment is allowed; when the
//     budget is already exceeded, no rollout starts unless it lowers the peak
//     or is an undo that leaves it where it is (2).
//  2. A change that restores a recorded value (an undo: a rollback, a
//     failed rollout's restore, a window restore) is allowed even during a
//     breach, as long as it does not raise the peak (1). No other change
//     reduces capacity while the SLO is breached, unknown, or any signal
//     the knob's family depends on is missing, thin or stale.
//  3. No write of a knob whose current value is not known (World.Unknown:
//     set through a Secret or a reference navius-tuner cannot read). A knob
//     with no value anywhere in the pod spec runs at the application's
//     built-in default: it may be given a value only when the pods report
//     the current one and the new value is not below it (the change then
//     starts from the reported value), or when the SLO is breached and the
//     knob's family is the diagnosed bottleneck.
//  4. No write to anything another profile claims (World.Claimed: the
//     target, the HPA, the Redis workload).
//  5. Profiles that name one database share its budget (World.Shared): the
//     others' worst moments plus this one's stay within the smallest budget
//     any of them declares, or this one's change does not raise its own.
//
// Invariants 1 and 4 apply to every change; 2 and 3 in the order above.
package guard

import (
	"fmt"
	"strconv"
	"strings"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// World is what the guard knows of the cluster and the profile.
type World struct {
	Spec tuningv1alpha1.PerformanceProfileSpec
	// State is the cluster as read (values, replicas, scalers' ceiling,
	// terminating pods, strategy).
	State tuning.State
	// History is status.history: the recorded values an undo restores.
	History []tuningv1alpha1.Decision
	// Observation is what was observed: the SLOs and the values the pods report.
	Observation signals.Observation
	// Unknown are the knobs whose current value cannot be read, with why.
	Unknown map[tuning.Knob]string
	// Claimed are the knobs on an object another profile claims, with which.
	Claimed map[tuning.Knob]string
	// Shared is the database's budget as the profiles that name it share
	// it, nil when no other profile names it.
	Shared *Shared
}

// Shared is a database budget several profiles of a namespace share.
type Shared struct {
	// Budget is the smallest maxConnections − reserved any of them declares.
	Budget int64
	// Others is what the other profiles' pods can hold at their worst
	// moments (their status.peakConnections).
	Others int64
	// Profiles names the other profiles.
	Profiles []string
}

// Refusal is a change the guard refused, and why.
type Refusal struct {
	Change tuning.Change
	Reason string
}

func (r Refusal) String() string {
	return fmt.Sprintf("%s %d→%d refused: %s", r.Change.Knob, r.Change.From, r.Change.To, r.Reason)
}

// Check returns the plan with only the changes the invariants allow, and
// the refusals. A plan whose undo loses a change loses its verdict too (the
// pending decision stays pending and is decided again), and a plan left
// without changes has no family and no rollout.
func Check(w World, plan tuning.Plan) (tuning.Plan, []Refusal) {
	if len(plan.Changes) == 0 {
		return plan, nil
	}
	g := newChecker(w, plan)
	var kept []tuning.Change
	var refused []Refusal
	for _, c := range plan.Changes {
		c, why := g.check(c)
		if why != "" {
			refused = append(refused, Refusal{Change: c, Reason: why})
			continue
		}
		kept = append(kept, c)
	}
	if why := g.budget(kept); why != "" {
		for _, c := range kept {
			refused = append(refused, Refusal{Change: c, Reason: why})
		}
		kept = nil
	}
	undoing := plan.Judgement != nil && plan.Judgement.Outcome != tuningv1alpha1.OutcomeKept
	creating := false
	for _, c := range plan.Changes {
		creating = creating || (tuning.PlaceOf(c.Knob) == tuning.PlaceHPA && !c.HasFrom && g.creatingHPA())
	}
	if len(refused) > 0 && (undoing || creating || plan.Prediction != nil) {
		// Part of an undo is no undo (the pending decision would be
		// orphaned beside a new one), an HPA is created whole, and a
		// prediction was made for the whole plan: all of it waits.
		for _, c := range kept {
			refused = append(refused, Refusal{Change: c, Reason: "a part of the same plan was refused"})
		}
		kept = nil
	}
	if len(refused) == 0 {
		plan.Changes = kept
		return plan, nil
	}
	out := plan
	out.Changes = kept
	if len(kept) == 0 {
		out.Family, out.Rollout, out.Prediction, out.Predicted = "", false, nil, ""
		why := make([]string, len(refused))
		for i, r := range refused {
			why[i] = r.String()
		}
		out.Reason = joinNonEmpty(plan.Reason, "the safety guard refused it: "+strings.Join(why, "; "))
		if plan.RolloutFailed != "" {
			out.RolloutFailed = "The rollout of the target failed; navius-tuner's restore of its change was refused by the safety guard (" +
				strings.Join(why, "; ") + "), so tuning holds until the Deployment's owner acts"
		}
	}
	if undoing {
		out.Judgement = nil // the undo did not happen: the pending decision is decided again
	}
	return out, refused
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

type checker struct {
	w     World
	plan  tuning.Plan
	knobs map[tuning.Knob]tuning.KnobInfo
	undo  bool
	// restores are the values the pending decision replaced (an undo restores them).
	restores map[tuning.Knob]int64
}

func newChecker(w World, plan tuning.Plan) *checker {
	g := &checker{w: w, plan: plan, knobs: map[tuning.Knob]tuning.KnobInfo{}, restores: map[tuning.Knob]int64{}}
	for _, k := range tuning.Knobs(w.Spec) {
		g.knobs[k.Knob] = k
	}
	g.undo = tuning.IsUndo(string(plan.Diagnosis))
	if pd := tuning.Pending(w.History); pd != nil && g.undo {
		for _, c := range pd.Changes {
			if from, err := strconv.ParseInt(c.From, 10, 64); err == nil {
				g.restores[tuning.Knob(c.Knob)] = from
			}
		}
	}
	return g
}

// check applies invariants 4, 2 and 3 to one change; it returns the change
// (From set to a reported value when that is what it starts from) and the
// reason it is refused, "" when it is allowed.
func (g *checker) check(c tuning.Change) (tuning.Change, string) {
	if who, ok := g.w.Claimed[c.Knob]; ok {
		return c, "its object is claimed by " + who
	}
	if why, ok := g.w.Unknown[c.Knob]; ok {
		return c, "its current value is not known (" + why + ")"
	}
	if why, ok := g.w.State.Blocked[c.Knob]; ok {
		return c, "it is blocked (" + why + ")"
	}
	k, declared := g.knobs[c.Knob]
	if !declared {
		if tuning.PlaceOf(c.Knob) == tuning.PlaceEnv {
			return c, "the profile does not declare it"
		}
		// The engine creates the managed HPA with every field it needs.
		k = tuning.KnobInfo{Knob: c.Knob, Family: tuning.FamilyAutoscaling, Place: tuning.PlaceOf(c.Knob), Min: c.To, Max: c.To}
	}
	if !c.HasFrom && k.Place == tuning.PlaceHPA && g.creatingHPA() {
		if why := g.createsHPA(c); why != "" {
			return c, why
		}
	}
	restore := g.restoring(c, k)
	if !c.HasFrom && k.Place == tuning.PlaceEnv { // an HPA field without a value is one navius-tuner creates
		if why := g.unknownStart(&c, k); why != "" {
			return c, why
		}
	}
	if c.HasFrom && reduces(c, k) && !restore {
		if why := g.reductionHeld(k); why != "" {
			return c, why
		}
	}
	return c, ""
}

// restoring reports whether c restores the value the pending decision
// replaced, as part of an undo.
func (g *checker) restoring(c tuning.Change, k tuning.KnobInfo) bool {
	from, ok := g.restores[c.Knob]
	return ok && g.undo && (c.To == from || c.To == clamp(from, k))
}

// undoing reports whether every change of cs restores a replaced value:
// an undo, which may start a rollout over the budget as long as it does not
// raise the worst moment (invariant 2 after 1).
func (g *checker) undoing(cs []tuning.Change) bool {
	for _, c := range cs {
		if !g.restoring(c, g.knobs[c.Knob]) {
			return false
		}
	}
	return len(cs) > 0
}

// creatingHPA reports whether the profile's HPA does not exist yet: an HPA
// always has a maxReplicas.
func (g *checker) creatingHPA() bool {
	_, exists := g.w.State.Values[tuning.KnobHPAMaxReplicas]
	return !exists
}

// createsHPA decides a field of an HPA navius-tuner creates: not beside
// another scaler of the Deployment, and its maximum below the replicas the
// Deployment runs now is a reduction (invariant 2).
func (g *checker) createsHPA(c tuning.Change) string {
	st := g.w.State
	if st.HasHPA {
		return "another autoscaler scales the Deployment: navius-tuner does not create a second one"
	}
	running := max(int64(st.SpecReplicas), int64(st.Replicas))
	if c.Knob == tuning.KnobHPAMaxReplicas && c.To < running {
		k := g.knobs[c.Knob]
		return g.reductionHeld(k)
	}
	return ""
}

// unknownStart decides a change of a knob with no value in the pod spec
// (invariant 3): the application runs at its built-in default.
func (g *checker) unknownStart(c *tuning.Change, k tuning.KnobInfo) string {
	if reported, ok := g.reported(k); ok {
		if c.To < reported {
			return fmt.Sprintf("it has no value in the pod spec and the pods report %d: %d would reduce it", reported, c.To)
		}
		c.From, c.HasFrom = reported, true
		return ""
	}
	if g.breached() && k.Family == g.plan.Family && bottleneck(g.plan.Diagnosis) {
		return ""
	}
	return "it has no value in the pod spec, the pods do not report the one they run with, and it is not the diagnosed bottleneck of a breach: its built-in default is unknown"
}

// reported is the knob's current value as the pods report it: the pool
// size, for the pool's maximum (tuning.PoolSize without a value).
func (g *checker) reported(k tuning.KnobInfo) (int64, bool) {
	pool := g.w.Spec.ConnectionPool
	if pool == nil || pool.MaxConnections == nil || tuning.Knob(pool.MaxConnections.Env) != k.Knob {
		return 0, false
	}
	return tuning.PoolSize(g.w.Spec, nil, g.w.Observation.Get)
}

// reductionHeld says why a reduction must wait (invariant 2); "" when it may go.
func (g *checker) reductionHeld(k tuning.KnobInfo) string {
	switch {
	case len(g.plan.Missing.SLO) > 0 || !g.plan.SLOKnown:
		return "it reduces capacity while the SLO cannot be judged"
	case !g.plan.SLOMet:
		return "it reduces capacity while the SLO is breached"
	}
	for _, fm := range g.plan.Missing.Families {
		if fm.Family == k.Family {
			return "it reduces capacity while signals of the " + string(fm.Family) + " family are missing"
		}
	}
	return ""
}

func (g *checker) breached() bool {
	return g.plan.SLOKnown && !g.plan.SLOMet && len(g.plan.Missing.SLO) == 0
}

// budget applies invariants 1 and 5 to the changes left; "" when they fit.
func (g *checker) budget(cs []tuning.Change) string {
	limit, ok := tuning.ConnectionBudget(g.w.Spec)
	if !ok || len(cs) == 0 {
		return ""
	}
	st := g.w.State
	after := tuning.Values{}
	for k, v := range st.Values {
		after[k] = v
	}
	rollout := false
	for _, c := range cs {
		after[c.Knob] = c.To
		rollout = rollout || tuning.PlaceOf(c.Knob) == tuning.PlaceEnv
	}
	was, known := tuning.WorstMoment(g.w.Spec, st, st.Values, g.w.Observation)
	if !known {
		for _, c := range cs {
			if c.Knob == tuning.KnobHPAMaxReplicas && (!c.HasFrom || c.To > c.From) {
				return "the pool size is not known (no literal value, none reported, or not a positive number): more pods cannot be shown to fit the budget"
			}
		}
		return g.firstPoolOverBudget(limit, after)
	}
	old, next := g.poolSizes(after)
	peak := st.PeakConnections(tuning.BudgetPods(st, after), old, next)
	shared := ""
	if sh := g.w.Shared; sh != nil {
		limit = min(limit, sh.Budget)
		was, peak = was+sh.Others, peak+sh.Others
		shared = fmt.Sprintf(" shared with %s", strings.Join(sh.Profiles, ", "))
	}
	switch {
	case peak > limit && peak > was:
		return fmt.Sprintf("the connections at the worst moment would rise from %d to %d, over the budget of %d%s", was, peak, limit, shared)
	case was > limit && rollout && peak >= was && (peak != was || !g.undoing(cs)):
		return fmt.Sprintf("the budget%s is already exceeded (%d of %d at the worst moment): no rollout starts unless it lowers the peak", shared, was, limit)
	}
	return ""
}

// firstPoolOverBudget refuses a pool max given while the current one is
// unknown (the application's built-in default) when the pods after the
// rollout alone, each with the new pool, would be over the budget: the
// worst moment cannot be counted, but it is at least that. "" otherwise.
func (g *checker) firstPoolOverBudget(limit int64, after tuning.Values) string {
	next, ok := tuning.PoolSize(g.w.Spec, after, func(signals.Signal) (float64, bool) { return 0, false })
	if !ok || next <= 0 {
		return ""
	}
	shared := ""
	if sh := g.w.Shared; sh != nil {
		limit = min(limit, sh.Budget) - sh.Others
		shared = fmt.Sprintf(" shared with %s", strings.Join(sh.Profiles, ", "))
	}
	pods := tuning.BudgetPods(g.w.State, after)
	if limit < 0 || next > limit/pods { // pods × next > limit, without overflow
		return fmt.Sprintf("the current pool size is not known, and %d pods with a pool of %d each are over the budget of %d%s after the rollout",
			pods, next, limit, shared)
	}
	return ""
}

// poolSizes are the pool max before and after: the knob's value, else what
// the pods report.
func (g *checker) poolSizes(after tuning.Values) (old, next int64) {
	old, _ = tuning.PoolSize(g.w.Spec, g.w.State.Values, g.w.Observation.Get)
	if next, ok := tuning.PoolSize(g.w.Spec, after, func(signals.Signal) (float64, bool) { return 0, false }); ok {
		return old, next
	}
	return old, old
}

// reduces reports whether a change takes capacity away.
func reduces(c tuning.Change, k tuning.KnobInfo) bool {
	if k.Inverse {
		return c.To > c.From
	}
	return c.To < c.From
}

// bottleneck reports whether a diagnosis names a bottleneck of a breach.
func bottleneck(d tuning.Diagnosis) bool {
	switch d {
	case tuning.DiagnosisNone, tuning.DiagnosisUnknown, tuning.DiagnosisOverProvisioned, tuning.DiagnosisRegression,
		tuning.DiagnosisNoImprovement, tuning.DiagnosisStartingPoint, tuning.DiagnosisLoadSettled, tuning.DiagnosisExperiment, tuning.DiagnosisFlapping,
		tuning.DiagnosisThinMargin:
		return false
	}
	return true
}

func clamp(v int64, k tuning.KnobInfo) int64 { return min(max(v, k.Min), k.Max) }
