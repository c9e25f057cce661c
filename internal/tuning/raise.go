package tuning

import (
	"fmt"
	"math"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Cache targets of the cache model.
const (
	memoryTargetHit = 0.9
	minHitGain      = 0.01
)

// remedy proposes the capacity a finding asks for, or says why there is none.
func (d *decider) remedy(f finding) (proposal, string) {
	var p proposal
	var hold string
	switch f.diagnosis {
	case DiagnosisPoolSaturated:
		p, hold = d.raisePool()
	case DiagnosisHPAAtMax:
		p, hold = d.raiseHPAMax()
	case DiagnosisCPUSaturated:
		p, hold = d.raiseHPAFloor()
	case DiagnosisRedisSaturated:
		p, hold = d.raiseRedis()
	case DiagnosisCacheMisses:
		p, hold = d.raiseCache()
	}
	p.family, p.diagnosis = f.family, f.diagnosis
	p.reason = fmt.Sprintf("%s; %s", d.sloText(), f.evidence)
	if p.bound != "" {
		p.reason += "; " + p.bound
	}
	return p, hold
}

// unsetStart proposes the family's starting points when its main knob has no value yet.
func (d *decider) unsetStart(f Family, name Knob) (proposal, string) {
	changes, why := d.startFamily(f)
	if len(changes) == 0 {
		return proposal{}, fmt.Sprintf("%s has no value and no starting point (CPU limit unknown)", name)
	}
	return proposal{changes: changes, predicted: "starting point: " + why}, ""
}

// raisePool sizes the pool with Little's law and Erlang C, within the connection budget.
func (d *decider) raisePool() (proposal, string) {
	k, cur, _, has := d.knob(rolePoolMax)
	if !has {
		return d.unsetStart(FamilyPool, k.knob)
	}
	target := cur * 2
	calls, _, ok1 := d.v.dbCalls()
	hold, _, ok2 := d.holdTime()
	pods := d.pods()
	maxWait := max(0.001, 0.02*d.latencyLimit())
	model := ok1 && ok2 && pods >= 1 && calls > 0 && hold > 0
	inputs := model
	var scaled string
	var tailAt func(int64) string
	var need int64
	if model {
		need = poolSizeFor(calls/pods, hold, maxWait)
		// A percentile objective needs the wait at its percentile small, not only the mean.
		var n int64
		if n, tailAt, _ = d.poolSizeForTail(k, cur); n > need {
			need = n
		}
		// A full pool hides demand: the model's answer only counts when it is above the current size.
		if need > cur {
			target, scaled = d.modelStep(tuningv1alpha1.ModelErlang, cur, need)
		} else {
			model = false
		}
	}
	to := d.more(k, cur, target)
	if limit, ok := d.maxPoolInBudget(d.budgetPods()); ok && to > limit {
		to = limit
		if to <= cur {
			return proposal{}, fmt.Sprintf("%s at %d: %s", k.knob, cur, d.budgetText(d.budgetPods(), cur, cur+1))
		}
	}
	if to <= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.max)
	}
	p := proposal{changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}}}
	if model {
		a := offeredLoad(calls/pods, hold)
		wait, _ := d.v.get(signals.PoolWait)
		after, erlang := "still saturated", "Erlang C"
		w := erlangWait(to, a, hold)
		if q, _, _, ok := d.poolQueueNow(); ok && q.calibrated {
			// Erlang C scaled to the measured mean wait (poolQueue): it
			// overstates the waits of near-constant query times.
			w, erlang = w*q.k, "Erlang C calibrated to the mean wait"
		}
		if !math.IsInf(w, 1) {
			after = fmtSeconds(w)
		}
		p.predicted = fmt.Sprintf("pool wait %s -> %s (Little: %.1f busy per pod; %s at %d; model wants %d)",
			fmtSeconds(wait), after, a, erlang, to, need)
		if tailAt != nil {
			p.predicted += "; " + tailAt(to)
		}
		p.predicted = joinNotes(append([]string{p.predicted}, nonEmpty(scaled)...))
		p.prediction = predictionOf(tuningv1alpha1.ModelErlang, signals.PoolWait, w)
	} else if q, size, _, ok := d.poolQueueNow(); inputs && ok && q.calibrated {
		// Diagnosed although the mean model asks for no more (by the mean
		// wait's share of the threshold, or by the tail): the step's
		// prediction is the calibrated queue's.
		w := q.meanWait(to)
		p.predicted = fmt.Sprintf("pool wait %s -> %s (Erlang C calibrated to the mean wait at %d)", fmtSeconds(q.meanWait(size)), fmtSeconds(w), size)
		if tailAt != nil {
			p.predicted += "; " + tailAt(to)
		}
		p.prediction = predictionOf(tuningv1alpha1.ModelErlang, signals.PoolWait, w)
	}
	return p, ""
}

// replicasNeeded is the pods the current load needs at the HPA's CPU target:
// from the load and the learned CPU per request when one was learned (the
// feed-forward answer, which a saturated pod's capped CPU does not hide),
// else from the CPU the pods use now (the HPA's own formula).
func (d *decider) replicasNeeded() (int64, string, bool) {
	load, ok := d.v.get(signals.Throughput)
	return d.replicasNeededAt(load, ok)
}

// replicasNeededNow is replicasNeeded at the load now (loadNow): what a
// raise of capacity sizes for.
func (d *decider) replicasNeededNow() (int64, string, bool) {
	return d.replicasNeededAt(d.loadNow())
}

// replicasNeededAt is replicasNeeded at the given load (known false: the
// load is unknown, and only the CPU says what the pods need).
func (d *decider) replicasNeededAt(load float64, known bool) (int64, string, bool) {
	if n, how, ok := d.feedForwardAt(load, known); ok {
		return n, how, true
	}
	cpu, ok := d.v.get(signals.CPUUtilization)
	pods := d.pods()
	if !ok || pods < 1 || cpu <= 0 {
		return 0, "", false
	}
	target := d.cpuTarget()
	if known && load > 0 {
		served := load // what a pod serves at the measured CPU: the load the CPU was measured at
		if m, ok := d.v.get(signals.Throughput); ok && m > 0 {
			served = m
		}
		perPod := perPodAtTarget(served/pods, cpu, target)
		n := replicasFor(load, perPod)
		return n, fmt.Sprintf("%.0f/s ÷ %.0f/s per pod at %s CPU = %d pods", load, perPod, fmtRatio(target), n), true
	}
	n := int64(math.Ceil(pods*cpu/target - 1e-9))
	return n, fmt.Sprintf("%.0f pods × %s ÷ %s = %d pods", pods, fmtRatio(cpu), fmtRatio(target), n), true
}

// raiseHPAMax lifts the HPA's ceiling towards the replicas the load needs, within the connection budget.
func (d *decider) raiseHPAMax() (proposal, string) {
	k, cur, declared, has := d.knob(roleHPAMax)
	if !declared || !has {
		return proposal{}, "HPA maxReplicas is not tunable (not declared or not read)"
	}
	need, how, ok := d.replicasNeededNow()
	target := cur + 1
	var scaled string
	if ok {
		target, scaled = d.modelStep(tuningv1alpha1.ModelReplicas, cur, max(need, cur+1))
	}
	to := d.more(k, cur, target)
	if _, budgeted := d.connLimit(); budgeted {
		pool, known := d.poolSize()
		if !known {
			return proposal{}, "pool size unknown: cannot check the connection budget before raising maxReplicas"
		}
		if limit := d.maxPodsInBudget(pool); to > limit {
			to = limit
			if to <= cur {
				return proposal{}, fmt.Sprintf("%s at %d: %s", k.knob, cur, d.budgetText(cur+1, pool, pool))
			}
		}
	}
	if to <= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.max)
	}
	p := proposal{changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}}}
	if ok {
		p.predicted = joinNotes(append([]string{fmt.Sprintf("HPA may scale to %d pods (needs %s)", to, how)}, nonEmpty(scaled)...))
		if cpu, known := d.v.get(signals.CPUUtilization); known {
			// the HPA scales towards its CPU target, as far as the new ceiling lets it
			p.prediction = predictionOf(tuningv1alpha1.ModelReplicas, signals.CPUUtilization, max(d.cpuTarget(), cpu*d.pods()/float64(to)))
		}
	}
	return p, ""
}

// floorCeiling is the highest HPA floor a raise from cur may set: the HPA's
// maxReplicas, tuned or not. The connection budget needs no cap of its own
// here: the worst moment counts the pods at the scalers' maximum
// (BudgetPods, the guard's rule), so a floor at or below it does not change
// the worst moment; the budget is kept by maxReplicas (budgeted when it is
// raised) and by holding env rollouts whose peak would not fit. Only an HPA
// whose maximum is not read leaves the budget to bound the floor.
func (d *decider) floorCeiling(cur int64) int64 {
	if curMax, hasMax := d.in.State.Values[KnobHPAMaxReplicas]; hasMax {
		return max(curMax, cur)
	}
	if _, budgeted := d.connLimit(); budgeted {
		if pool, known := d.poolSize(); known {
			return max(d.maxPodsInBudget(pool), cur)
		}
	}
	return math.MaxInt64
}

// raiseHPAFloor lifts minReplicas to what the load needs now (faster than the
// HPA's climb); when the HPA already runs that many pods, it lowers the CPU target.
//
// The floor jumps to the model's answer in one step (the feed-forward answer
// when a CPU per request was learned, see replicasNeeded), bounded by
// maxReplicas (floorCeiling) but not by maxStepPercent: the SLO is
// breached, the model (load ÷ what a pod serves at the target) gives the
// answer, and the HPA itself may double the pods every 15 s, so a step of
// maxStepPercent per settleTime would be slower than the HPA it is meant to
// outrun. The raise is judged after settleTime like every change, and undone
// by the savings path when the load falls (trimRaisedFloor).
func (d *decider) raiseHPAFloor() (proposal, string) {
	mk, curMin, _, hasMin := d.knob(roleHPAMin)
	need, how, ok := d.replicasNeededNow()
	if hasMin && ok && need > max(curMin, int64(d.pods())) {
		need, scaled := d.modelStep(tuningv1alpha1.ModelReplicas, max(curMin, int64(d.pods())), need)
		to := min(mk.clamp(need), d.floorCeiling(curMin))
		if to > max(curMin, int64(d.pods())) { // a floor at or below the running pods does nothing now
			cpu, _ := d.v.get(signals.CPUUtilization)
			return proposal{
				changes: []Change{{Knob: mk.knob, From: curMin, HasFrom: true, To: to}},
				predicted: joinNotes(append([]string{fmt.Sprintf("CPU %s -> %s at %d pods (needs %s)", fmtRatio(cpu),
					fmtRatio(cpu*d.pods()/float64(to)), to, how)}, nonEmpty(scaled)...)),
				prediction: predictionOf(tuningv1alpha1.ModelReplicas, signals.CPUUtilization, cpu*d.pods()/float64(to)),
			}, ""
		}
	}
	tk, curT, _, hasT := d.knob(roleHPATarget)
	if !hasT {
		return proposal{}, "HPA minReplicas and CPU target cannot be raised (at bounds or not read)"
	}
	to := d.more(tk, curT, curT*85/100)
	cpu, _ := d.v.get(signals.CPUUtilization)
	if to >= curT {
		return proposal{}, fmt.Sprintf("%s at its bound %d%%", tk.knob, tk.min)
	}
	return proposal{
		changes: []Change{{Knob: tk.knob, From: curT, HasFrom: true, To: to}},
		predicted: fmt.Sprintf("HPA wants %.0f pods instead of %d (%s CPU ÷ %d%% target)",
			math.Ceil(d.pods()*cpu/(float64(to)/100)-1e-9), int64(d.pods()), fmtRatio(cpu), to),
	}, ""
}

// raiseRedis adds read replicas until the per-replica CPU is back at redisTargetCPU.
func (d *decider) raiseRedis() (proposal, string) {
	k, cur, _, has := d.knob(roleRedisReplicas)
	if !has {
		return proposal{}, "Redis replicas not read"
	}
	if !d.in.State.RedisReady {
		return proposal{}, "Redis replicas are not all ready"
	}
	cpu, _ := d.v.get(signals.RedisCPU)
	need := int64(math.Ceil(cpu * float64(max(cur, 1)) / redisTargetCPU))
	target, scaled := d.modelStep(tuningv1alpha1.ModelRedisCPU, cur, max(need, cur+1))
	to := d.more(k, cur, target)
	if to <= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.max)
	}
	after := cpu * float64(max(cur, 1)) / float64(to)
	return proposal{
		changes:    []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
		predicted:  joinNotes(append([]string{fmt.Sprintf("Redis CPU %.2f -> %.2f cores per replica", cpu, after)}, nonEmpty(scaled)...)),
		prediction: predictionOf(tuningv1alpha1.ModelRedisCPU, signals.RedisCPU, after),
	}, ""
}

// raiseCache grows L1 (items, and TTL where it binds) by Che's approximation,
// and L2's TTL when its hit ratio is low: one rollout for the whole family.
// A tier that is off (0 items or a 0 TTL, below the knob's bounds) first gets
// the guide's starting point.
func (d *decider) raiseCache() (proposal, string) {
	ik, items, itemsOK, hasItems := d.knob(roleMemoryItems)
	tk, ttl, ttlOK, hasTTL := d.knob(roleMemoryTTL)
	if (itemsOK && !hasItems) || (ttlOK && !hasTTL) {
		return d.unsetStart(FamilyCache, ik.knob)
	}
	if p, ok := d.cacheOffStart(); ok {
		return p, ""
	}
	if o, share, pinned := d.missPinned(); pinned && itemsOK && d.thin == nil { // a met SLO is not pinned: its line is not the threshold
		if p, hold, sized := d.cacheForMisses(o, share, ik, items, tk, ttl, ttlOK); sized {
			return p, hold
		}
	}
	var p proposal
	if itemsOK || ttlOK {
		p = d.growL1(ik, items, itemsOK, tk, ttl, ttlOK)
	}
	if k, cur, _, has := d.knob(roleRedisTTL); has {
		if h, ok := d.v.get(signals.RedisHitRatio); ok && h < redisLowHit {
			to := cur * 4 // a step per rollout, not per maxStepPercent
			if ttlOK {
				to = max(to, ttl) // outliving L1's TTL as it is (l2OutlivingL1: as the step leaves it)
			}
			if to = k.clamp(to); to > cur {
				p.changes = append(p.changes, Change{Knob: k.knob, From: cur, HasFrom: true, To: to})
			}
		}
	}
	p = d.l2OutlivingL1(p)
	if len(p.changes) == 0 {
		return proposal{}, "cache knobs at their bounds"
	}
	return p, ""
}

// l2OutlivingL1 raises L2's TTL in the cache step p (within its bound) to
// the L1 TTL p raises, when L2's (as p leaves it) is shorter: a pod's L1
// entry was filled from L2 (or filled L2) no later than it was stored, so
// when it expires after the L1 TTL, L2 still has the key only if its own
// TTL is at least as long; a shorter L2 TTL holds nothing an L1 lost by
// age, and every cold L1 after a rollout reads through to the database. A
// step that does not raise L1's TTL is returned as it is.
func (d *decider) l2OutlivingL1(p proposal) proposal {
	tk, _, _, _ := d.knob(roleMemoryTTL)
	rk, t2, _, has := d.knob(roleRedisTTL)
	l1To, raised := int64(0), false
	at := -1
	for i, c := range p.changes {
		switch {
		case tk.knob != "" && c.Knob == tk.knob && c.To > c.From:
			l1To, raised = c.To, true
		case rk.knob != "" && c.Knob == rk.knob:
			t2, at = c.To, i
		}
	}
	if !raised || !has || rk.clamp(l1To) <= t2 {
		return p
	}
	if at >= 0 {
		p.changes[at].To = rk.clamp(l1To)
		return p
	}
	p.changes = append(p.changes, Change{Knob: rk.knob, From: t2, HasFrom: true, To: rk.clamp(l1To)})
	return p
}

// missFractionMargin: a cache step for a percentile pinned by misses aims
// at this share of the percentile's tail 1 − q (0.5 % of requests missing
// every tier for a p99). Under 1 − q the percentile request is a hit, but
// only just: the miss fraction is a window's average that moves with the
// load and the keys, the first minutes after the rollout start with empty
// L1s, and the model fitted on one or two operating points (and L2's on a
// popularity L1 reshapes) is off by tens of percent; half the tail leaves
// room for an error of 2× before the percentile is a miss again.
const missFractionMargin = 0.5

// missFraction is the derived signal a miss-sized cache step predicts: the
// share of requests that miss every cache tier (view.missShare).
const missFraction signals.Signal = "missFraction"

// missKneeShare: when the bounds cannot reach the miss fraction the
// percentile needs, a miss-sized step takes the smallest sizes that give
// this share of the cut the bounds allow, not the bounds: the last tenth of
// a cut is where Che's curve is flattest, and an L1 at its item bound can
// be 20× the one before in every pod, while the breach goes on.
const missKneeShare = 0.9

// keySpaceMargin: an L1 sized by the miss fraction holds at most this many
// times the key count the model fitted (an L1 larger than the keys it is
// asked for holds nothing more, only the model's error in the key count);
// the margin covers an undercount of a quarter.
const keySpaceMargin = 1.25

// cacheForMisses sizes a cache step for the miss fraction the percentile
// of objective o needs: (1 − h1)(1 − h2) at most missFractionMargin × (1 −
// q), in one rollout. It solves the L1 size (and TTL) with the fitted Che
// model and L2's TTL with l2Fit, keeping the L1 as small as the goal allows
// (L1 memory is paid in every pod, L2's once): both TTLs at their bounds
// where that helps, the smallest L1 size reaching the goal there, then the
// L1 TTL back where it is not needed, then the smallest L2 TTL. The L1 size
// never goes above keySpaceMargin × the fitted key count (the engine does
// not read the pods' memory limit or working set, so the key space is the
// only bound on L1 memory besides the knob's). When the bounds cannot reach
// the goal it aims at missKneeShare of the cut they allow and says so. A
// step whose predicted cut is under missCutShare of the miss fraction now
// is not taken (its own verdict would revert it): the hold says what the
// bounds allow. sized is false when the L1 model cannot be fitted (the
// step is then the usual one, growL1).
func (d *decider) cacheForMisses(o objective, share float64, ik knobDef, items int64, tk knobDef, ttl int64, ttlOK bool) (proposal, string, bool) {
	l1 := d.fitL1(ik, items, true, tk, ttl, ttlOK)
	if !l1.fitted {
		return proposal{}, "", false
	}
	h1, _ := d.v.get(signals.MemoryHitRatio)
	l2 := d.fitL2(l1, items, ttl)
	rk, t2, _, t2Read := d.knob(roleRedisTTL)
	miss := func(c, s, t int64) float64 {
		return (1 - l1.hit(c, s)) * (1 - l2.hit(t, c, s))
	}
	tail := 1 - quantileOf(o)
	goal := missFractionMargin * tail
	name := percentileName(o.signal)
	iTop := max(items, min(ik.max, l1.keySpace()))
	sTop, tTop := ttl, t2
	if ttlOK && tk.max > ttl && l1.hit(iTop, tk.max)-l1.hit(iTop, ttl) >= minHitGain {
		sTop = tk.max
	}
	if l2.tunable && rk.max > t2 {
		tTop = rk.max
	}
	var bound string
	newItems, newTTL, newT2 := iTop, sTop, tTop
	best := miss(iTop, sTop, tTop)
	if best > goal {
		bound = fmt.Sprintf("bounds allow miss fraction %s, the %s needs < %s", fmtRatio(best), name, fmtRatio(tail))
		goal = best + (1-missKneeShare)*max(0, miss(items, ttl, t2)-best)
	}
	if miss(items, sTop, tTop) <= goal {
		newItems = items
	} else {
		newItems = smallestReaching(items, newItems, func(c int64) bool { return miss(c, sTop, tTop) <= goal })
	}
	if sTop != ttl && miss(newItems, ttl, tTop) <= goal {
		newTTL = ttl
	}
	if tTop != t2 {
		if miss(newItems, newTTL, t2) <= goal {
			newT2 = t2
		} else {
			newT2 = smallestReaching(t2, tTop, func(t int64) bool { return miss(newItems, newTTL, t) <= goal })
		}
	}
	to, scaled := d.cheSteps([2]int64{items, newItems}, [2]int64{ttl, newTTL}, [2]int64{t2, newT2})
	newItems, newTTL, newT2 = to[0], to[1], to[2]
	if t2Read && newTTL > ttl {
		newT2 = max(newT2, rk.clamp(newTTL)) // as l2OutlivingL1, before the prediction
	}
	want := miss(newItems, newTTL, newT2)
	if share-want < missCutShare*share {
		// A cut its own verdict would not keep is no step: the bounds (or
		// the model's error) are the hold.
		return proposal{}, joinNotes(append(nonEmpty(bound), fmt.Sprintf(
			"the step the cache model allows cuts the requests missing every tier %s -> %s, less than the %.0f%% cut that keeps it",
			fmtRatio(share), fmtRatio(want), missCutShare*100))), true
	}
	var p proposal
	for _, c := range []struct {
		k        knobDef
		from, to int64
	}{{ik, items, newItems}, {tk, ttl, newTTL}, {rk, t2, newT2}} {
		if c.to > c.from {
			p.changes = append(p.changes, Change{Knob: c.k.knob, From: c.from, HasFrom: true, To: c.to})
		}
	}
	h1To := l1.hit(newItems, newTTL)
	notes := []string{fmt.Sprintf("L1 hit %s -> %s (%s)", fmtRatio(h1), fmtRatio(h1To), l1.note())}
	if l2.tunable {
		notes = append(notes, fmt.Sprintf("L2 hit %s -> %s (TTL from write on the L1 misses, miss ratio ×%.2g calibrated)",
			fmtRatio(l2.hit0), fmtRatio(l2.hit(newT2, newItems, newTTL)), l2.calibration))
	} else if l2.refused != "" {
		notes = append(notes, l2.refused)
	}
	notes = append(notes, scaled...)
	notes = append(notes, nonEmpty(l1.rateNote)...)
	p.predicted = fmt.Sprintf("requests missing every tier %s -> %s, the %s needs < %s (aiming at %s)",
		fmtRatio(share), fmtRatio(want), name, fmtRatio(tail), fmtRatio(missFractionMargin*tail))
	if bound != "" {
		p.predicted += fmt.Sprintf(": %s; %.0f%% of that cut at the smallest sizes", bound, missKneeShare*100)
	}
	p.predicted = joinNotes(append([]string{p.predicted}, notes...))
	p.prediction = predictionOf(tuningv1alpha1.ModelChe, missFraction, want)
	p.bound = bound
	return p, "", true
}

// cacheOffStart gives the cache knobs whose value is below their bounds (a
// tier switched off) the guide's starting point, all in one rollout.
func (d *decider) cacheOffStart() (proposal, bool) {
	var p proposal
	var off []string
	for _, r := range []knobRole{roleMemoryItems, roleMemoryTTL, roleRedisTTL} {
		k, cur, _, has := d.knob(r)
		if !has || cur >= k.min {
			continue
		}
		if v, ok := startingPoint(k, d.in.State.CPULimitMillis); ok && v > cur {
			p.changes = append(p.changes, Change{Knob: k.knob, From: cur, HasFrom: true, To: v})
			off = append(off, fmt.Sprintf("%s %s", k.knob, k.fmtValue(cur)))
		}
	}
	if len(p.changes) == 0 {
		return proposal{}, false
	}
	p.predicted = "cache switched on at the guide's starting point (was " + joinNotes(off) + ")"
	return p, true
}

// growL1 proposes a larger L1: the size (and TTL) the cache model says reaches memoryTargetHit.
func (d *decider) growL1(ik knobDef, items int64, itemsOK bool, tk knobDef, ttl int64, ttlOK bool) proposal {
	var p proposal
	hit, _ := d.v.get(signals.MemoryHitRatio)
	l1 := d.fitL1(ik, items, itemsOK, tk, ttl, ttlOK)
	predict, fitted := l1.hit, l1.fitted
	newItems, newTTL := items, ttl
	var scaled []string
	switch {
	case itemsOK && fitted:
		// The jump is not bounded by maxStepPercent: every cache step costs a
		// rolling restart, so groping in maxStepPercent steps would spend the
		// rollout budget before the cache reaches the size the model asks for.
		// The TTL first (to its bound when that adds a point at the largest
		// size), then the smallest size that reaches the target at that TTL,
		// or nearly all that the largest size gives there.
		maxItems := ik.max
		if ttlOK {
			if t := tk.max; predict(maxItems, t)-predict(maxItems, ttl) >= minHitGain {
				newTTL = t
			}
		}
		goal := min(memoryTargetHit, predict(maxItems, newTTL)-minHitGain)
		if predict(items, newTTL) < goal {
			newItems = smallestReaching(items, maxItems, func(c int64) bool { return predict(c, newTTL) >= goal })
		}
		if newTTL != ttl && predict(newItems, newTTL)-predict(newItems, ttl) < minHitGain {
			newTTL = ttl
		}
		var to []int64
		to, scaled = d.cheSteps([2]int64{items, newItems}, [2]int64{ttl, newTTL})
		newItems, newTTL = to[0], to[1]
		if predict(newItems, newTTL)-hit < minHitGain {
			newItems, newTTL = items, ttl
		}
	case itemsOK:
		newItems = d.more(ik, items, items*2)
	case ttlOK:
		newTTL = d.more(tk, ttl, ttl*2)
	}
	if itemsOK && newItems > items {
		p.changes = append(p.changes, Change{Knob: ik.knob, From: items, HasFrom: true, To: newItems})
	}
	if ttlOK && newTTL > ttl {
		p.changes = append(p.changes, Change{Knob: tk.knob, From: ttl, HasFrom: true, To: newTTL})
	}
	if fitted && len(p.changes) > 0 {
		want := predict(newItems, newTTL)
		notes := append([]string{l1.note()}, scaled...)
		if l1.rateNote != "" {
			notes = append(notes, l1.rateNote)
		}
		p.predicted = fmt.Sprintf("L1 hit %s -> %s (%s)", fmtRatio(hit), fmtRatio(want), joinNotes(notes))
		p.prediction = predictionOf(tuningv1alpha1.ModelChe, signals.MemoryHitRatio, want)
	}
	return p
}

// smallestReaching is the smallest value in (lo, hi] for which ok holds
// (ok monotone: false below some value, true from it on), hi when none does.
func smallestReaching(lo, hi int64, ok func(int64) bool) int64 {
	for hi-lo > 1 {
		if mid := lo + (hi-lo)/2; ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// cheSteps scales the steps the cache model asks for (pairs of from and
// to): a model that was wrong before takes a smaller step. It returns the
// scaled targets in order and the first note.
func (d *decider) cheSteps(steps ...[2]int64) ([]int64, []string) {
	var scaled []string
	out := make([]int64, len(steps))
	for i, st := range steps {
		var note string
		if out[i], note = d.modelStep(tuningv1alpha1.ModelChe, st[0], st[1]); note != "" && len(scaled) == 0 {
			scaled = append(scaled, note)
		}
	}
	return out, scaled
}
