package tuning

import (
	"fmt"
	"strings"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// decider carries one call of Decide.
type decider struct {
	in  Input
	s   Settings
	v   view
	ks  knobSet
	slo sloReport
	// mem is status.memory (rebuilt from the history when the status has none).
	mem  tuningv1alpha1.Memory
	plan Plan
	// sameBreach is the settle hold of a floor raise in a breach that goes
	// on, when it is the only hold: a higher floor may skip it (see
	// raiseFloorAgain); nothing else may.
	sameBreach string
}

// Decide is the decision engine: a pure, deterministic function of its input.
// Modes do not change the plan: Recommend and Off get the same plan as Auto,
// and the caller decides whether to apply it.
//
// In order (the steps list below names them): answer a failed rollout of
// the target; hold on missing SLO signals, a rollout in progress or an
// unsettled change (a family whose own signals are missing holds alone, and
// is unknown to the diagnosis); judge the pending decision (keep it, or undo it); then, if an SLO is
// breached, diagnose the bottleneck and add capacity to one knob family (with
// nothing diagnosed, one bounded experiment on the most likely one); if the
// SLOs hold, give knobs without a value the guide's starting point, and trim
// cost when the SLOs have held with margin for long enough.
func Decide(in Input) Plan {
	s := SettingsOf(in.Spec)
	d := &decider{in: in, s: s, ks: knobsOf(in.Spec)}
	if in.Memory != nil {
		d.mem = *in.Memory
	} else {
		d.mem = MemoryFrom(in.History, in.Generation)
	}
	d.v = newView(in.Observation)
	d.slo = evaluateSLO(in.Spec.SLO, d.v.get, d.v.absent)
	d.plan.Missing = missingOf(d.v, d.ks, d.slo)
	d.plan.SLOKnown = d.slo.known
	d.plan.SLOMet = d.slo.met()
	d.plan.CPU = d.learnCPU()
	d.run()
	if len(d.plan.Changes) > 0 {
		d.plan.Baseline = SLIsOf(in.Observation)
	}
	d.plan.BudgetExceeded = d.budgetOvershoot()
	extra := 0
	if d.plan.Rollout && len(d.plan.Changes) > 0 {
		extra = 1
	}
	if n, until, spent := d.rolloutBudget(extra); spent {
		d.plan.RolloutBudgetSpent = fmt.Sprintf("%d of %d restarts in the last hour (rollbacks count): env changes wait until %s",
			n, d.s.MaxRolloutsPerHour, clock(until))
	}
	return d.plan
}

// decideStep is one step of Decide: a function of the input and of the plan so
// far that adds to the plan, and reports whether the plan is complete (no
// later step runs then).
type decideStep struct {
	name string
	run  func(*decider) bool
}

// steps are Decide's steps, in order: the first that completes the plan
// ends it.
var steps = []decideStep{
	{"answer a failed rollout", (*decider).answerFailedRollout},
	{"hold before acting", (*decider).holdBeforeActing},
	{"create the managed HPA", (*decider).createHPA},
	{"raise the floor again in the same breach", (*decider).continueBreach},
	{"judge the pending decision", (*decider).judgePending},
	{"roll back an autoscaling write the HPA flaps on", (*decider).undoFlapping},
	{"relieve a breach", (*decider).relieveBreach},
	{"give knobs their starting point", (*decider).startingPoints},
	{"trim cost", (*decider).trimCost},
}

func (d *decider) run() {
	for _, s := range steps {
		if s.run(d) {
			return
		}
	}
}

// answerFailedRollout: a failed rollout of the target is answered alone
// (undoFailedRollout), noting the families held for missing signals.
func (d *decider) answerFailedRollout() bool {
	if d.in.State.RolloutFailed == nil {
		return false
	}
	d.noteHeldFamilies()
	d.undoFailedRollout()
	return true
}

// continueBreach: while a floor raise settles in a breach that goes on, only
// a higher floor may skip the settle time (holdBeforeActing left it open).
func (d *decider) continueBreach() bool {
	if d.sameBreach == "" {
		return false
	}
	if !d.raiseFloorAgain() {
		d.plan.Holds = append(d.plan.Holds, d.sameBreach)
		d.plan.Reason = d.sloText() + "; holding: " + d.sameBreach
	}
	return true
}

// judgePending gives the pending decision its verdict; an undo or a hold completes the plan.
func (d *decider) judgePending() bool {
	pending := Pending(d.in.History)
	return pending != nil && d.judge(pending)
}

// relieveBreach adds capacity to the bottleneck of a breached SLO.
func (d *decider) relieveBreach() bool {
	if d.slo.met() {
		return false
	}
	d.relieve()
	return true
}

// trimCost saves what the SLOs' margin allows, last of all.
func (d *decider) trimCost() bool {
	d.save()
	return true
}

// holdBeforeActing applies the holds that stop every action: missing SLO
// signals, a rollout in progress and a change that has not settled yet. A
// family whose own signals are missing is only noted here: it holds alone
// (see adopt) while the families that can be seen act.
func (d *decider) holdBeforeActing() bool {
	d.noteHeldFamilies()
	var holds []string
	if missing := d.plan.Missing.SLO; len(missing) > 0 {
		holds = append(holds, "missing data: "+joinNotes(missing))
	}
	if d.in.State.RolloutInProgress {
		holds = append(holds, "rollout in progress")
	}
	settling := ""
	if last, ok := lastChange(judgedChanges(d.in.History)); ok && d.observedAt().Before(last.Add(d.s.SettleFor)) {
		settling = fmt.Sprintf("settling until %s (last change %s, settling %s: the longer of settleTime and the SLO window)",
			clock(last.Add(d.s.SettleFor)), clock(last), d.s.SettleFor)
		if !d.in.Now.Before(last.Add(d.s.SettleFor)) {
			settling += fmt.Sprintf("; the observation was made at %s", clock(d.observedAt()))
		}
		holds = append(holds, settling)
	}
	if len(holds) == 1 && settling != "" && d.floorRaiseContinues() {
		d.sameBreach = settling // only a higher floor may skip it (run)
		return false
	}
	if len(holds) == 0 {
		return false
	}
	d.plan.Holds = append(d.plan.Holds, holds...)
	d.plan.Reason = d.sloText() + "; holding: " + holds[0]
	return true
}

// observedAt is when the observation's window ended: a change has settled
// when the window the verdict reads ends a settle time after it, whenever
// the engine runs (a batch may be served some seconds after Prometheus
// evaluated it). An observation without a time, or one from the future,
// counts as made now.
func (d *decider) observedAt() time.Time {
	if at := d.in.Observation.Time; !at.IsZero() && at.Before(d.in.Now) {
		return at
	}
	return d.in.Now
}

// sloText summarises the SLOs for a reason.
func (d *decider) sloText() string {
	switch {
	case !d.slo.known:
		return "SLOs unknown"
	case len(d.slo.objectives) == 0:
		return "no SLO objectives"
	case d.slo.met():
		return "SLOs met (" + d.slo.summary() + ")"
	}
	return "SLO breached (" + d.slo.summary() + ")"
}

// relieve handles a breached SLO: diagnose, then add capacity to the first
// diagnosed family that can take it. No diagnosis: one bounded experiment
// on the most likely family (experiment.go), or no change.
func (d *decider) relieve() {
	found, ruledOut, unknown := d.diagnose()
	if len(unknown) > 0 {
		defer func() { d.plan.Reason += "; unknown (not measured): " + joinNotes(unknown) }()
	}
	if len(found) == 0 {
		checked := ""
		if len(ruledOut) > 0 {
			checked = " (" + joinNotes(ruledOut) + ")"
		}
		adopted, why := d.experiment(checked, unknown)
		if adopted {
			return
		}
		d.plan.Diagnosis = DiagnosisUnknown
		d.plan.Reason = fmt.Sprintf("%s; no bottleneck found%s: nothing changed", d.sloText(), checked)
		if why != "" && len(unknown) == 0 {
			d.plan.Reason += " (" + why + ")"
		}
		return
	}
	for i, f := range found {
		p, hold := d.remedy(f)
		if hold == "" && d.adoptWithEnv(p, found[i+1:]) {
			return
		}
		if hold == "" {
			hold = d.adopt(p)
		}
		if hold == "" {
			return
		}
		d.plan.Holds = append(d.plan.Holds, hold)
	}
	d.plan.Diagnosis = found[0].diagnosis
	d.plan.Reason = fmt.Sprintf("%s; %s, but no remedy can be applied: %s",
		d.sloText(), found[0].evidence, joinNotes(d.plan.Holds))
}

// adoptWithEnv adopts an env remedy together with the remedies of the other
// env families diagnosed after it, as one rollout: the pods restart once for
// all of them, so the rollout budget is not spent twice when, say, the cache
// misses and the pool is saturated at once. The plan keeps the first family's
// name and diagnosis. It returns false (and changes nothing) when there is no
// other env remedy or the combination cannot be adopted.
//
// A pool remedy rides along with a cache remedy only when the pool is below
// the guide's starting point (poolStarved); otherwise the pool waits for the
// cache change's verdict (see poolWaitsForCache).
func (d *decider) adoptWithEnv(p proposal, rest []finding) bool {
	if !IsEnvFamily(p.family) {
		return false
	}
	merged, also := p, 0
	merged.changes = append([]Change(nil), p.changes...)
	for _, f := range rest {
		if !IsEnvFamily(f.family) || f.family == p.family {
			continue
		}
		if p.family == FamilyCache && f.family == FamilyPool {
			if hold, waits := d.poolWaitsForCache(); waits {
				d.plan.Holds = append(d.plan.Holds, hold)
				continue
			}
		}
		q, hold := d.remedy(f)
		if hold != "" || len(q.changes) == 0 {
			continue
		}
		merged.changes = append(merged.changes, q.changes...)
		merged.reason += "; also " + f.evidence
		if q.predicted != "" {
			merged.predicted = strings.TrimPrefix(merged.predicted+"; "+q.predicted, "; ")
		}
		if merged.prediction == nil { // the verdict checks one prediction: the first family's that has one
			merged.prediction = q.prediction
		}
		also++
	}
	return also > 0 && d.adopt(merged) == ""
}

// poolWaitsForCache says whether a saturated pool must wait for the verdict
// on a cache change instead of riding along with it, and why.
//
// Cache misses and a saturated pool at once mean many slow database calls.
// Whether more connections help depends on the database: when it has spare
// capacity, the pool is the limit; when it is saturated (its call time far
// above its no-load value), more connections only add load and lengthen every
// call, while the cache removes calls. The engine has no no-load reference
// for the database's call time: the status keeps no DB time, and the lowest
// DB time the operator has seen is the saturated value when it starts on a
// saturated database. The one reference it has is the guide's: a pool below
// the starting point (2 × cores, at least 5) is starved by its configuration,
// whatever the database does, and is raised with the cache. A pool at or
// above it waits: the cache goes first, and the pool follows after the
// cache's verdict if it is still saturated.
func (d *decider) poolWaitsForCache() (string, bool) {
	k, cur, _, has := d.knob(rolePoolMax)
	if !has {
		return "", false
	}
	start, ok := startingPoint(k, d.in.State.CPULimitMillis)
	if ok && cur < start {
		return "", false
	}
	if !ok {
		return fmt.Sprintf("pool: %s %d waits for the cache's verdict (CPU limit unknown: no starting point to compare with)", k.knob, cur), true
	}
	return fmt.Sprintf("pool: %s %d is at or above the guide's starting point %d: it waits for the cache's verdict (the cache removes database calls; more connections would add load to the database)",
		k.knob, cur, start), true
}

// startingPoints gives the knobs of one env family without a value the guide's starting point.
func (d *decider) startingPoints() bool {
	for _, f := range []Family{FamilyPool, FamilyWorkers, FamilyCache} {
		changes, why := d.startFamily(f)
		if len(changes) == 0 {
			continue
		}
		hold := d.adopt(proposal{family: f, diagnosis: DiagnosisStartingPoint, changes: changes,
			reason: fmt.Sprintf("%s; %s knobs have no value yet: the guide's starting points (%s)",
				d.sloText(), f, why)})
		if hold == "" {
			return true
		}
		d.plan.Holds = append(d.plan.Holds, hold)
	}
	return false
}

// startFamily lists starting-point changes for the family's knobs without a value.
func (d *decider) startFamily(f Family) ([]Change, string) {
	var out []Change
	var why []string
	for _, k := range d.ks.order {
		def, _ := d.ks.get(k)
		if def.family != f {
			continue
		}
		if _, has := d.in.State.Values[k]; has {
			continue
		}
		v, ok := startingPoint(def, d.in.State.CPULimitMillis)
		if !ok {
			continue
		}
		if def.role == rolePoolMax {
			if limit, ok := d.maxPoolInBudget(d.budgetPods()); ok && v > limit {
				v = def.clamp(limit)
				if v > limit {
					continue
				}
			}
			why = append(why, fmt.Sprintf("pool max 2 × %d cores, min %d", coresOf(d.in.State.CPULimitMillis), StartPoolMinMax))
		}
		if def.role == roleWorkers {
			why = append(why, fmt.Sprintf("workers = %d cores", coresOf(d.in.State.CPULimitMillis)))
		}
		out = append(out, Change{Knob: k, To: v})
	}
	if len(why) == 0 {
		why = append(why, "from the tuning guide")
	}
	return out, joinNotes(why)
}

func coresOf(millis int64) int64 { return (millis + 999) / 1000 }

// noteHeldFamilies lists the families held for their own missing signals.
func (d *decider) noteHeldFamilies() {
	for _, fm := range d.plan.Missing.Families {
		d.plan.Holds = append(d.plan.Holds, "missing data, held: "+fm.String())
	}
}

// Pending is the decision still waiting for its verdict, nil when there is
// none. The history keeps at most one Pending decision, and it is the
// newest: a plan's judgement settles the pending decision before its own
// decision is recorded (period.Commit), and the repair of the history judges
// it before it records a change the status missed. So only the newest entry
// is looked at.
func Pending(h []tuningv1alpha1.Decision) *tuningv1alpha1.Decision {
	if n := len(h); n > 0 && h[n-1].Outcome == tuningv1alpha1.OutcomePending {
		return &h[n-1]
	}
	return nil
}

// lastChange is the time of the newest decision in the history.
// judgedChanges are the decisions the next one waits to settle: all but
// the scale-down window's restores after a back-down. A restore is an undo
// that is never judged and only keeps pods longer: nothing waits for it
// (a CPU-target trim, which never shares its plan, may follow in the next
// period), except a new back-down (see backDown).
func judgedChanges(h []tuningv1alpha1.Decision) []tuningv1alpha1.Decision {
	var out []tuningv1alpha1.Decision
	for _, dec := range h {
		if Diagnosis(dec.Diagnosis) != DiagnosisLoadSettled {
			out = append(out, dec)
		}
	}
	return out
}

func lastChange(h []tuningv1alpha1.Decision) (time.Time, bool) {
	var last time.Time
	for _, d := range h {
		if d.Time.After(last) {
			last = d.Time.Time
		}
	}
	return last, !last.IsZero()
}

// pods is the number of pods serving: as reported by the metrics, else as Kubernetes reports it.
func (d *decider) pods() float64 {
	if p, ok := d.v.get(signals.Pods); ok && p >= 1 {
		return p
	}
	return float64(d.in.State.Replicas)
}

// knob returns a declared knob and its current value.
func (d *decider) knob(r knobRole) (def knobDef, cur int64, declared, has bool) {
	def, declared = d.ks.role(r)
	if declared {
		cur, has = d.in.State.Values[def.knob]
	}
	return def, cur, declared, has
}

func clock(t time.Time) string { return t.UTC().Format(time.TimeOnly) }

func joinNotes(s []string) string { return strings.Join(s, "; ") }
