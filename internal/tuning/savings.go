package tuning

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// poolIdleWait: a pool whose requests wait less than this is not short of connections.
const poolIdleWait = 0.001

// Pacing of the savings that cost a rolling restart (env knobs): a restart
// empties every L1 and pool and adds surge pods, so a saving is worth one only
// when it is large, proven durable, and rare.
const (
	// envSavingEvery: at most one env saving in this time.
	envSavingEvery = 6 * time.Hour
	// envSavingSustain: the SLOs must have held with margin this long first.
	envSavingSustain = time.Hour
	// envSavingShare: the saving must remove at least this share of the knob's value (and 2 units).
	envSavingShare = 0.25
)

// Back-down after a load drop.
const (
	// backDownFactor: pods this many times what the load needs are a load drop
	// the HPA's scale-down stabilization window holds on to.
	backDownFactor = 1.5
	// backDownExcess: and at least this many pods more, so that integer
	// pods of a small workload (2 where 1 would do) are no load drop.
	backDownExcess = 2
	// hpaTolerance is the HPA's tolerance (Kubernetes' default): a load whose
	// request rates come back by more than this share of its mean within
	// the SLO window is noisy, and a short scale-down window would follow
	// every dip.
	hpaTolerance = 0.10
	// noisyMinWindowS is the shortest scale-down window a back-down sets on a
	// noisy load: two minutes still bridge one dip between bursts.
	noisyMinWindowS = 120
)

// save trims the most expensive resource one slow step, once every SLO has
// held with margin for SustainFor and nothing changed for as long.
func (d *decider) save() {
	if d.restoreWindow() {
		return
	}
	if w := d.slo.worst(); w > marginRatio {
		d.plan.Reason = fmt.Sprintf("%s; nothing to do (savings need every objective within %.0f%% of its limit)",
			d.sloText(), marginRatio*100)
		return
	}
	since := d.in.SLOMetSince
	if !since.IsZero() && d.backDown() {
		return
	}
	if hold := d.savingHold(since, d.s.SustainFor); hold != "" {
		// The CPU target alone waits one settle time, not the savings'
		// hold: see trimTargetEarly.
		if d.savingHold(since, d.s.SettleFor) != "" || !d.trimTargetEarly(since) {
			d.holdSaving(hold)
		}
		return
	}
	var notes []string
	for _, trim := range []func() (proposal, string){d.trimHPAMin, d.trimHPATarget, d.trimRedis, d.trimPool} {
		p, why := trim()
		if why == "" && IsEnvFamily(p.family) {
			why = d.envSavingHold(since)
		}
		if why == "" {
			if why = d.adoptSaving(p, since); why == "" {
				return
			}
		}
		if why != "" {
			notes = append(notes, why)
		}
	}
	d.plan.Reason = fmt.Sprintf("%s; nothing to trim: %s", d.sloText(), joinNotes(notes))
}

// savingHold says why a saving that waits sustain for the SLOs to hold
// with margin, and for as long after the last change of capacity, waits
// still; "" when it may be made.
func (d *decider) savingHold(since time.Time, sustain time.Duration) string {
	if since.IsZero() || d.in.Now.Sub(since) < sustain {
		return fmt.Sprintf("saving waits until the SLOs have held for %s (held since %s)", sustain, sinceText(since))
	}
	if last, ok := lastChange(capacityChanges(d.in.History)); ok && d.in.Now.Sub(last) < sustain {
		return fmt.Sprintf("saving waits until %s (%s after the last change)", clock(last.Add(sustain)), sustain)
	}
	return ""
}

// trimTargetEarly makes the CPU-target trim before the savings' long hold
// has passed, once the SLOs have held with margin for one settle time (an
// SLO window: the evidence every verdict is given) and nothing changed
// capacity for as long. The long hold is for savings that are slow or
// costly to take back: a lower floor leaves the HPA fewer pods to start
// from, an env saving restarts every pod. A higher CPU target restarts
// nothing and takes nothing the HPA cannot add back within a sync: it is
// sized to keep every objective within its limit at the load's measured
// noisy peak (noiseHeadroom), under the margin at the mean, and its
// verdict rolls it back once the margin is lost. Waiting the long hold
// instead runs a load that rises over hours (a day's peak) at the old
// target all the way up. It reports whether the trim was adopted.
func (d *decider) trimTargetEarly(since time.Time) bool {
	p, why := d.trimHPATarget()
	if why != "" || len(p.changes) == 0 {
		return false
	}
	if c := &p.changes[0]; c.To > max(c.From, earlyTargetCapPct) {
		c.To = max(c.From, earlyTargetCapPct)
		if c.To <= c.From {
			return false
		}
		p.predicted = fmt.Sprintf("at most %d%% before the SLOs have held for %s; %s", earlyTargetCapPct, d.s.SustainFor, p.predicted)
	}
	if hold := d.adoptSaving(p, since); hold != "" {
		d.plan.Holds = append(d.plan.Holds, hold)
		return false
	}
	return true
}

// adoptSaving adopts saving p, made with the SLOs held with margin since
// since; the hold that stops it, "" when adopted.
func (d *decider) adoptSaving(p proposal, since time.Time) string {
	p.diagnosis = DiagnosisOverProvisioned
	p.reason = fmt.Sprintf("%s, held with margin since %s; %s", d.sloText(), clock(since), p.reason)
	return d.adopt(p)
}

// earlyTargetCapPct caps the early CPU-target trim (trimTargetEarly) at the
// CPU request: above it a pod runs on CPU it did not reserve, and on the
// load's noise measured over one SLO window; the long hold proves both.
const earlyTargetCapPct = 100

// capacityChanges are the decisions that changed what the workload runs
// on: all but those that only moved the HPA's scale-down window (a
// back-down after a load drop, or its restore). The window decides how soon
// the HPA lets idle pods go, not what the load needs, so the savings do not
// wait SustainFor after it (settling still applies to every change).
func capacityChanges(h []tuningv1alpha1.Decision) []tuningv1alpha1.Decision {
	var out []tuningv1alpha1.Decision
	for _, dec := range h {
		for _, c := range dec.Changes {
			if Knob(c.Knob) != KnobHPAScaleDownWindowS {
				out = append(out, dec)
				break
			}
		}
	}
	return out
}

// envSavingHold paces the savings that restart the pods; "" when one may start.
func (d *decider) envSavingHold(since time.Time) string {
	if held := d.in.Now.Sub(since); held < envSavingSustain {
		return fmt.Sprintf("an env saving (a rolling restart) waits until the SLOs have held for %s (held for %s)",
			envSavingSustain, held.Round(time.Second))
	}
	if last := d.mem.LastEnvSaving; last != nil && d.in.Now.Sub(last.Time) < envSavingEvery {
		return fmt.Sprintf("an env saving was made at %s: the next waits until %s (one per %s)",
			clock(last.Time), clock(last.Add(envSavingEvery)), envSavingEvery)
	}
	return ""
}

// backDown follows a load drop without waiting for the long savings hold:
// it returns a floor that this engine raised for a breach to where it was
// (the HPA keeps what the load needs from there), and shortens the HPA's
// scale-down stabilization window when the pods far exceed what the load
// needs and that window is what holds them (State.HPAHeldByWindow), so that
// the HPA lets them go now rather than after its window (restoreWindow gives
// it back once the pods are down to what the load needs). Both are
// autoscaling knobs: one plan. The SLOs hold with margin (checked by the
// caller); the change is judged like every saving.
//
// A drop counts by a factor and by backDownExcess pods (integer pods of a
// small workload are no drop). How the load is measured depends on its
// noise (loadNoise): a load whose request rates went one way within the
// SLO window (steady, a step, a trend) has measured its drop in the last
// minute, so the one-minute load decides and the window goes to the
// profile's minimum; a load that went up and down decides at the larger of
// the minute's and the window's load (one dip is no drop; without the
// window's load it does not back down), and the window goes no shorter
// than noisyMinWindowS (or the profile's minimum when longer), which still
// bridges a dip between bursts.
func (d *decider) backDown() bool {
	need, how, ok := d.backDownNeed()
	if !ok {
		return false
	}
	if _, noiseMeasured := d.v.get(signals.ThroughputNoise); noiseMeasured {
		// measured noisy: the window's load is what tells a dip from a drop,
		// and its stand-in, the minute's load, is the dip
		noisy := d.loadNoise()
		if _, measured := d.v.get(signals.ThroughputWindow); noisy != "" && !measured {
			d.plan.Holds = append(d.plan.Holds, fmt.Sprintf("no back-down: the load is noisy (%s) and its load over the SLO window is not measured (%s)",
				noisy, joinNotes(d.v.absent([]signals.Signal{signals.ThroughputWindow}))))
			return false
		}
	}
	// a restore settles before the next back-down, or the two could take turns every period
	if last, ok := lastChange(d.in.History); ok && d.in.Now.Before(last.Add(d.s.SettleFor)) {
		return false
	}
	pods := int64(d.pods())
	var changes []Change
	var why []string
	floor := int64(0)
	onLoweredFloor := false
	if k, cur, _, has := d.knob(roleHPAMin); has {
		floor = cur
		if from, raised := d.returnTo(k.knob); raised && need+backDownExcess <= cur && k.clamp(from) < cur {
			floor = k.clamp(from)
			changes = append(changes, Change{Knob: k.knob, From: cur, HasFrom: true, To: floor})
			why = append(why, fmt.Sprintf("the floor %d was raised from %d for a breach and the load needs %s", cur, from, how))
			// The pods sit on the floor this plan lowers: once it goes, the
			// window holds them (its recommendations are the CPU's, from the
			// breach), so it is shortened in the same plan rather than a
			// settle time later, after the window has run out by itself.
			onLoweredFloor = pods <= cur
		}
	}
	window := time.Duration(0)
	if k, declared := d.ks.role(roleHPAWindow); declared && d.in.State.HasHPA && (d.in.State.HPAHeldByWindow || onLoweredFloor) &&
		d.loadDropped(pods, need) && pods > floor && !d.targetRaisedUnderLoad() {
		cur, has := d.in.State.Values[k.knob]
		if !has {
			cur = defaultDownWindowS // no behaviour: the HPA's upstream default, restored as such
		}
		to, noisy := k.min, d.loadNoise()
		if noisy != "" {
			to = k.clamp(max(k.min, noisyMinWindowS))
		}
		if to < cur {
			text := fmt.Sprintf("%d pods run while the load needs %s: the HPA holds them for its %ds scale-down window", pods, how, cur)
			if noisy != "" {
				text += fmt.Sprintf(" (shortened to %ds, not less: the load is noisy, %s)", to, noisy)
			}
			changes = append(changes, Change{Knob: k.knob, From: cur, HasFrom: true, To: to})
			why = append(why, text)
			window = time.Duration(to) * time.Second
		}
	}
	if len(changes) == 0 {
		return false
	}
	hold := d.adopt(proposal{family: FamilyAutoscaling, diagnosis: DiagnosisOverProvisioned, changes: changes,
		reason:    fmt.Sprintf("%s; load dropped: %s", d.sloText(), joinNotes(why)),
		predicted: fmt.Sprintf("HPA scales down towards %d pods within %s", max(need, floor), window+hpaSyncPeriod)})
	if hold != "" {
		d.plan.Holds = append(d.plan.Holds, hold)
		return false
	}
	return true
}

// backDownNeed is the pods the load needs, for a back-down and its restore:
// at the one-minute load when the load is not noisy (its drop is measured),
// else at the larger of the minute's and the SLO window's load, which a
// dip does not lower.
func (d *decider) backDownNeed() (int64, string, bool) {
	if d.loadNoise() == "" {
		return d.replicasNeeded()
	}
	minute, ok1 := d.v.get(signals.Throughput)
	window, ok2 := d.v.windowLoad()
	if !ok1 && !ok2 {
		return d.replicasNeeded()
	}
	return d.replicasNeededAt(max(minute, window), true)
}

// loadNoise says how the load is noisy, "" when it is not: its request
// rates moved back and forth within the SLO window (signals.ThroughputNoise:
// their total movement less their range, so a step or a trend has none) by
// more than the HPA's tolerance of the window's mean load. Such a load
// comes back: a scale-down window shortened on one of its dips lets the HPA
// follow every dip and burst. A load whose noise is not measured is taken
// as noisy.
func (d *decider) loadNoise() string {
	noise, ok1 := d.v.get(signals.ThroughputNoise)
	mean, ok2 := d.v.windowLoad()
	switch {
	case !ok1 || !ok2:
		return "its noise is not measured (" + strings.Join(d.v.absent([]signals.Signal{signals.ThroughputNoise, signals.ThroughputWindow}), "; ") + ")"
	case noise > hpaTolerance*mean:
		return fmt.Sprintf("its request rates came back %.0f/s within the SLO window, more than the HPA's %.0f%% tolerance of %.0f/s",
			noise, hpaTolerance*100, mean)
	}
	return ""
}

// targetRaisedUnderLoad: the newest change raised the HPA's CPU target and
// the load has not fallen below what it was then. The pods then exceed what
// the load needs because the target rose, not because the load dropped: the
// HPA lets them go at its own pace, with its scale-down window, which keeps
// them for a burst while the pods run hotter.
func (d *decider) targetRaisedUnderLoad() bool {
	n := len(d.in.History)
	if n == 0 {
		return false
	}
	last := d.in.History[n-1]
	raised := false
	for _, c := range last.Changes {
		from, to, ok := ChangeValues(c)
		raised = raised || (Knob(c.Knob) == KnobHPATargetCPU && ok && to > from)
	}
	load, ok := d.v.windowLoad() // the baseline's load, over the same window
	if !raised || !ok || last.Baseline == nil || last.Baseline.Throughput == nil {
		return false
	}
	return load >= float64(*last.Baseline.Throughput)/backDownFactor
}

// hpaSyncPeriod is how often the HPA controller acts (Kubernetes' default).
const hpaSyncPeriod = 15 * time.Second

// loadDropped: pods run far above what the load needs, by a factor and by
// backDownExcess pods.
func (d *decider) loadDropped(pods, need int64) bool {
	return float64(pods) > backDownFactor*float64(need) && pods >= need+backDownExcess
}

// restoreWindow gives the HPA's scale-down stabilization window back the
// value a back-down took from it, as soon as the pods are down to what the
// load needs (no longer a load drop, at the larger of the minute's and the
// window's load): without it the HPA's protection against flapping would be
// gone for good. The restore is an undo: it goes alone, is never held by a
// back-off, and its verdict never rolls it back. A longer window only keeps
// pods longer, so it needs no margin on the SLOs.
func (d *decider) restoreWindow() bool {
	k, cur, _, has := d.knob(roleHPAWindow)
	if !has || !d.in.State.HasHPA {
		return false
	}
	was, lowered := d.returnTo(k.knob)
	if !lowered || k.clamp(was) <= cur {
		return false
	}
	pods := int64(d.pods())
	need, how, ok := d.backDownNeed()
	if !ok || d.loadDropped(pods, need) {
		return false
	}
	to := k.clamp(was)
	hold := d.adopt(proposal{family: FamilyAutoscaling, diagnosis: DiagnosisLoadSettled, undo: true,
		changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
		reason: fmt.Sprintf("%s; load settled (%d pods, the load needs %s): the scale-down window a back-down shortened returns to %ds",
			d.sloText(), pods, how, to)})
	if hold != "" {
		d.plan.Holds = append(d.plan.Holds, hold)
		return false
	}
	return true
}

// returnTo is the value the memory says knob goes back to (see Remember).
func (d *decider) returnTo(knob Knob) (int64, bool) {
	k := d.knobEntry(knob)
	if k == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(k.ReturnTo, 10, 64)
	return v, err == nil
}

func (d *decider) holdSaving(hold string) {
	d.plan.Holds = append(d.plan.Holds, hold)
	d.plan.Reason = d.sloText() + "; " + hold
}

func sinceText(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return clock(t)
}

// trimHPAMin lowers the HPA's floor towards the pods the load needs, when the HPA sits on it.
func (d *decider) trimHPAMin() (proposal, string) {
	k, cur, _, has := d.knob(roleHPAMin)
	if !has {
		return proposal{}, ""
	}
	pods := int64(d.pods())
	if pods > cur {
		return proposal{}, fmt.Sprintf("HPA runs %d pods, above its minimum %d: trimming it saves nothing now", pods, cur)
	}
	need, how, ok := d.replicasNeeded()
	if !ok {
		return proposal{}, "cannot estimate the replicas the load needs"
	}
	if need >= cur {
		return proposal{}, fmt.Sprintf("minReplicas %d is what the load needs (%s)", cur, how)
	}
	to := d.less(k, cur, need)
	if to >= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.min)
	}
	cpu, _ := d.v.get(signals.CPUUtilization)
	return proposal{
		family:    FamilyAutoscaling,
		changes:   []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
		reason:    fmt.Sprintf("HPA pinned at its minimum %d while the load needs %s", cur, how),
		predicted: fmt.Sprintf("CPU %s -> %s at %d pods", fmtRatio(cpu), fmtRatio(cpu*float64(pods)/float64(to)), to),
	}, ""
}

// trimHPATarget raises the HPA's CPU target when the HPA scales above its
// floor: the latency has margin, so each pod may run hotter and the HPA
// keeps fewer of them. It jumps to the model's answer (TargetForMargin):
// the largest target predicted to keep every latency objective under
// marginRatio of its threshold, never above the CPU limit's share of the
// request (a pod cannot use more, so the HPA would never scale up). Without
// the model (no CPU limit or request known) it takes one slow step, at most
// to 100 % of the request.
func (d *decider) trimHPATarget() (proposal, string) {
	k, cur, _, has := d.knob(roleHPATarget)
	if !has {
		return proposal{}, ""
	}
	pods := int64(d.pods())
	if _, floor, _, hasMin := d.knob(roleHPAMin); hasMin && pods <= floor {
		return proposal{}, fmt.Sprintf("HPA runs at its minimum %d pods: a higher CPU target saves nothing now", floor)
	}
	// At the load's noisy peak the CPU runs above the target: the
	// objectives must hold there too, within their limits. A load whose
	// variation is not measured (yet: the SLO window's request rates)
	// could leave only the HPA's tolerance as headroom: no saving on it.
	noise, why, measured := d.noiseHeadroom()
	if !measured {
		return proposal{}, "a higher CPU target waits: " + why
	}
	cpu, _ := d.v.get(signals.CPUUtilization)
	want, how, model := d.targetForMargin(cpu, marginRatio)
	if atLimit, _, ok := d.targetForMargin(cpu, 1); model && ok {
		if peak := int64(math.Floor(float64(atLimit)/noise + 1e-9)); peak < want {
			want = peak
			how = fmt.Sprintf("%d%% at the objectives' limits ÷ %s", atLimit, why)
		}
	}
	to := min(want, k.max)
	if !model {
		to = min(d.less(k, cur, k.max), max(cur, 100))
	}
	if to <= cur {
		if model {
			return proposal{}, fmt.Sprintf("%s %d%% is at the model's answer (%s) or its bound %d%%", k.knob, cur, how, k.max)
		}
		return proposal{}, fmt.Sprintf("%s at its bound %d%%", k.knob, min(k.max, max(cur, 100)))
	}
	p := proposal{
		family:  FamilyAutoscaling,
		changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
		reason:  fmt.Sprintf("HPA scales %d pods at %d%% CPU target (CPU %s)", pods, cur, fmtRatio(cpu)),
		predicted: fmt.Sprintf("HPA wants %.0f pods instead of %d (%s CPU ÷ %d%% target)",
			math.Ceil(float64(pods)*cpu/(float64(to)/100)-1e-9), pods, fmtRatio(cpu), to),
	}
	if model {
		p.predicted += "; " + how
	}
	return p, ""
}

// noiseHeadroom is the factor a CPU target keeps below the model's target
// at the objectives' limits, for the load's noise: the HPA lets the mean CPU go its tolerance above
// the target before it scales, and within the SLO window the load goes
// above its mean by its variation, so the CPU at the load's peak may reach
// target × (1 + tolerance) × (1 + variation) before a pod is added. The
// variation is the peak's excess over the mean (signals.ThroughputPeak over
// ThroughputWindow), but no more than the load came back within the window
// (signals.ThroughputNoise): on a trend the HPA follows the load, and only
// noise comes and goes faster than it scales. measured is false when the
// variation is not measured; why then says which signals are missing.
func (d *decider) noiseHeadroom() (f float64, why string, measured bool) {
	peak, ok1 := d.v.get(signals.ThroughputPeak)
	noise, ok2 := d.v.get(signals.ThroughputNoise)
	mean, ok3 := d.v.windowLoad()
	if !ok1 || !ok2 || !ok3 || mean <= 0 {
		return 0, "the load's variation over the SLO window is not measured (" +
			joinNotes(d.v.absent([]signals.Signal{signals.ThroughputPeak, signals.ThroughputNoise, signals.ThroughputWindow})) + ")", false
	}
	v := max(min(peak-mean, noise), 0) / mean
	f = (1 + hpaTolerance) * (1 + v)
	return f, fmt.Sprintf("%.2f for the HPA's %.0f%% tolerance and the load's noise, %.0f%% above its mean over the SLO window", f, hpaTolerance*100, v*100), true
}

// targetForMargin is the model's CPU target (percent of the request) at
// which the latency objectives observed now at CPU utilisation cpu are
// predicted within share of their limits (marginRatio: the savings'
// margin; 1: the limits); false when the CPU request or limit, the CPU or a
// latency objective is unknown.
func (d *decider) targetForMargin(cpu, share float64) (int64, string, bool) {
	req, limit := d.in.State.CPURequestMillis, d.in.State.CPULimitMillis
	if req <= 0 || limit <= 0 || cpu <= 0 {
		return 0, "", false
	}
	headroom := float64(limit) / float64(req)
	best, how := math.Inf(1), ""
	for _, o := range d.slo.objectives {
		if !o.latency {
			continue
		}
		tail := 0.0
		if c, ok := d.cpuPerRequest(); ok {
			if q, ok := signals.Quantile(o.signal); ok && q < 1 {
				tail = c * -math.Log(1-q)
			}
		}
		t := cpuTargetForMargin(cpu, headroom, o.value, share*o.limit, tail)
		if t < best {
			best = t
			how = fmt.Sprintf("%s %s at CPU %s predicted under %s up to %.0f%% (limit %.0f%% of the request)",
				percentileName(o.signal), fmtSeconds(o.value), fmtRatio(cpu), fmtSeconds(share*o.limit), t*100, headroom*100)
		}
	}
	if math.IsInf(best, 1) {
		return 0, "", false
	}
	return int64(math.Floor(best*100 + 1e-9)), how, true
}

// trimRedis removes a read replica when the others can carry its load at redisTargetCPU.
func (d *decider) trimRedis() (proposal, string) {
	k, cur, _, has := d.knob(roleRedisReplicas)
	if !has || cur < 1 {
		return proposal{}, ""
	}
	if !d.in.State.RedisReady {
		return proposal{}, "Redis replicas are not all ready"
	}
	cpu, _ := d.v.get(signals.RedisCPU)
	need := int64(math.Ceil(cpu * float64(cur) / redisTargetCPU))
	if need >= cur {
		return proposal{}, fmt.Sprintf("Redis needs its %d replicas (%.2f cores each)", cur, cpu)
	}
	to := d.less(k, cur, need)
	if to >= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.min)
	}
	return proposal{
		family:    FamilyRedis,
		changes:   []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
		reason:    fmt.Sprintf("Redis at %.2f cores per replica on %d replicas", cpu, cur),
		predicted: fmt.Sprintf("Redis CPU %.2f -> %.2f cores per replica", cpu, cpu*float64(cur)/float64(to)),
	}, ""
}

// trimPool shrinks an idle pool towards what Little's law and Erlang C say it needs.
func (d *decider) trimPool() (proposal, string) {
	k, cur, _, has := d.knob(rolePoolMax)
	if !has {
		return proposal{}, ""
	}
	inUse, _ := d.v.get(signals.PoolInUse)
	wait, _ := d.v.get(signals.PoolWait)
	if wait >= poolIdleWait {
		return proposal{}, fmt.Sprintf("pool requests wait %s", fmtSeconds(wait))
	}
	need := int64(math.Ceil(inUse*poolHeadroom)) + 1
	calls, ok1 := d.v.get(signals.DBCallRate)
	hold, ok2 := d.v.get(signals.DBTime)
	pods := d.pods()
	model := ok1 && ok2 && pods >= 1 && calls > 0 && hold > 0
	if model {
		need = max(need, poolSizeFor(calls/pods, hold, poolIdleWait))
	}
	if need >= cur {
		return proposal{}, fmt.Sprintf("pool needs its %d connections (%.1f in use)", cur, inUse)
	}
	// One batched trim to what the model needs (it has the headroom), at most
	// maxStepPercent, instead of a rollout per slow step.
	to := k.clamp(max(towards(cur, need, d.fastPct()), need))
	if mk, _, _, declared := d.knob(rolePoolMin); declared {
		to = max(to, mk.min)
	}
	if to >= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.min)
	}
	if cut := cur - to; cut < 2 || float64(cut) < envSavingShare*float64(cur) {
		return proposal{}, fmt.Sprintf("pool trim %d -> %d is not worth a rolling restart (less than %.0f%% and 2 connections)",
			cur, to, envSavingShare*100)
	}
	p := proposal{
		family:  FamilyPool,
		changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
		reason:  fmt.Sprintf("pool %.1f of %d in use, wait %s", inUse, cur, fmtSeconds(wait)),
	}
	if mk, minCur, _, hasMin := d.knob(rolePoolMin); hasMin && minCur > to {
		p.changes = append(p.changes, Change{Knob: mk.knob, From: minCur, HasFrom: true, To: mk.clamp(to)})
	}
	if model {
		p.predicted = fmt.Sprintf("pool wait %s -> %s (Erlang C at %d)", fmtSeconds(wait),
			fmtSeconds(erlangWait(to, offeredLoad(calls/pods, hold), hold)), to)
	}
	return p, ""
}
