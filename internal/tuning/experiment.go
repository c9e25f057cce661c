package tuning

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Experiments. "Measure, optimise, validate, iterate": when an SLO is
// breached and no family's saturation passes its threshold, stopping is one
// step short of the objective (a pool that makes the p99 request wait is not
// always caught by a model). So the engine takes one bounded step of
// capacity on the family most likely to be the cause, and lets the verdict
// decide: kept when the worst objective improved by helpShare, undone
// otherwise (verify.go). An undone experiment closes its knob's direction
// until there is new evidence (the load moving by loadShift, or a spec
// change: RememberVerdict), so it is not retried on the same load.
//
// No experiment is taken while a family is unknown (its signals are
// missing: the cause may be there), while the pods warm up (the breach may
// be their cold caches'), or when no family has headroom within its bounds,
// the connection budget and the rollout budget.

// trial is one family's experiment: how likely the family is the cause (its
// estimated share of the breached percentile, 0–1), why, and the step.
type trial struct {
	family  Family
	likely  float64
	why     string
	propose func() (proposal, bool)
}

// experiment takes one step on the most likely family when nothing was
// diagnosed; checked is what the diagnosis ruled out. It returns true when a
// step was adopted, otherwise why none was taken.
func (d *decider) experiment(checked string, unknown []string) (bool, string) {
	objs := d.breachedLatencies()
	switch {
	case len(unknown) > 0:
		return false, "no experiment while a family is unknown"
	case len(objs) == 0:
		return false, "no experiment: no latency objective is breached"
	}
	if note, warm := d.warming(); warm {
		return false, "no experiment: " + note
	}
	o := objs[0]
	var trials []trial
	for _, t := range []func(objective) (trial, bool){d.poolTrial, d.cacheTrial, d.cpuTrial, d.redisTrial} {
		if tr, ok := t(o); ok {
			trials = append(trials, tr)
		}
	}
	slices.SortStableFunc(trials, func(a, b trial) int { return cmp.Compare(b.likely, a.likely) })
	var notes []string
	for i, tr := range trials {
		p, ok := tr.propose()
		if !ok {
			notes = append(notes, fmt.Sprintf("%s: no step within its bounds", tr.family))
			continue
		}
		others := ""
		if rest := trials[i+1:]; len(rest) > 0 {
			var ws []string
			for _, r := range rest {
				ws = append(ws, fmt.Sprintf("%s %s", r.family, fmtRatio(r.likely)))
			}
			others = ", before " + joinNotes(ws)
		}
		p.family, p.diagnosis = tr.family, DiagnosisExperiment
		p.reason = fmt.Sprintf("%s; no bottleneck found%s; experiment: one step on %s, the most likely cause (%s%s), kept only if the verdict finds it helped",
			d.sloText(), checked, tr.family, tr.why, others)
		goal := o.value * (1 - helpShare)
		p.predicted = joinNotes(append([]string{fmt.Sprintf("experiment: %s %s -> at most %s if %s is the cause, else undone",
			percentileName(o.signal), fmtSeconds(o.value), fmtSeconds(goal), tr.family)}, nonEmpty(p.predicted)...))
		hold := d.adopt(p)
		if hold == "" {
			d.plan.Holds = append(d.plan.Holds, notes...) // why the likelier families were passed over
			return true, ""
		}
		notes = append(notes, hold)
	}
	if len(notes) == 0 {
		return false, "no experiment: no family can take a step"
	}
	return false, "no experiment: " + joinNotes(notes)
}

// tailShareOf is an estimate t as a share of the objective's percentile, at most 1.
func tailShareOf(t float64, o objective) float64 {
	if o.value <= 0 || math.IsInf(o.value, 1) {
		return 0
	}
	return min(t/o.value, 1)
}

// poolTrial: one maxStepPercent step of the pool max; its likelihood is the
// pool's estimated wait at the percentile.
func (d *decider) poolTrial(o objective) (trial, bool) {
	k, cur, _, has := d.knob(rolePoolMax)
	if !has {
		return trial{}, false
	}
	tr := trial{family: FamilyPool, why: "pool wait at the percentile unknown"}
	if t, how, ok := d.poolTail(o); ok {
		tr.likely = tailShareOf(t, o)
		tr.why = fmt.Sprintf("pool wait %s (%s): %s of it", poolTailText(t, o), how, fmtRatio(tr.likely))
	}
	tr.propose = func() (proposal, bool) {
		to := d.more(k, cur, cur*2)
		if to <= cur {
			return proposal{}, false
		}
		p := proposal{changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}}}
		if q, size, _, ok := d.poolQueueNow(); ok && q.calibrated {
			w := q.meanWait(to)
			p.predicted = fmt.Sprintf("pool wait %s -> %s (Erlang C calibrated at %d)", fmtSeconds(q.meanWait(size)), fmtSeconds(w), size)
			p.prediction = predictionOf(tuningv1alpha1.ModelErlang, signals.PoolWait, w)
		}
		return p, true
	}
	return tr, true
}

// cacheTrial: one maxStepPercent step of the L1 size (else of the L1 TTL,
// else of the L2 TTL); its likelihood is the miss cost's share of the
// percentile when the percentile request is a miss.
func (d *decider) cacheTrial(o objective) (trial, bool) {
	if d.cacheOff() {
		return trial{}, false
	}
	var k knobDef
	var cur int64
	for _, r := range []knobRole{roleMemoryItems, roleMemoryTTL, roleRedisTTL} {
		if kk, c, _, has := d.knob(r); has && c < kk.max {
			k, cur = kk, c
			break
		}
	}
	if k.knob == "" {
		return trial{}, false
	}
	tr := trial{family: FamilyCache, why: "miss cost unknown"}
	cost, _, costOK := d.missCost()
	share, shareOK := d.v.missShare()
	switch {
	case costOK && shareOK && share > 1-quantileOf(o):
		tr.likely = tailShareOf(cost, o)
		tr.why = fmt.Sprintf("%s of requests miss every tier, each %s: %s of the %s", fmtRatio(share), fmtSeconds(cost), fmtRatio(tr.likely), percentileName(o.signal))
	case shareOK:
		tr.why = fmt.Sprintf("%s of requests miss every tier: the %s request is a hit", fmtRatio(share), percentileName(o.signal))
	}
	tr.propose = func() (proposal, bool) {
		to := d.more(k, cur, cur*2)
		if to <= cur {
			return proposal{}, false
		}
		p := d.l2OutlivingL1(proposal{changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}}})
		if k.role == roleMemoryItems {
			p.predicted, p.prediction = d.l1Prediction(cur, to)
		}
		return p, true
	}
	return tr, true
}

// l1Prediction is the cache model's L1 hit ratio at items instead of from,
// at the current TTL; empty when the model cannot explain the current hit ratio.
func (d *decider) l1Prediction(from, items int64) (string, *tuningv1alpha1.Prediction) {
	ik, _, _, _ := d.knob(roleMemoryItems)
	tk, ttl, ttlOK, hasTTL := d.knob(roleMemoryTTL)
	hit, ok := d.v.get(signals.MemoryHitRatio)
	rate, _ := d.l1LookupRate()
	if !ok {
		return "", nil
	}
	ttlReq := math.Inf(1)
	if ttlOK && hasTTL && rate > 0 {
		ttlReq = float64(ttl) * rate
	}
	m, keys, _, fitted := fitCache(d.ttlFromWrite(), d.l1Points(ik, from, tk, ttl, hit, rate, ttlOK && hasTTL))
	if !fitted {
		return "", nil
	}
	want := m.HitRatio(keys, float64(items), ttlReq)
	return fmt.Sprintf("L1 hit %s -> %s (Che, ~%.0f keys)", fmtRatio(hit), fmtRatio(want), keys),
		predictionOf(tuningv1alpha1.ModelChe, signals.MemoryHitRatio, want)
}

// cpuTrial: one more pod on the HPA's floor (above the pods running), within
// maxReplicas and the connection budget; its likelihood is the CPU's
// utilisation of its limit, the share of a processor-sharing server's
// response time that is queueing (an upper bound: the CPU's part of the
// latency is not known).
func (d *decider) cpuTrial(o objective) (trial, bool) {
	k, cur, _, has := d.knob(roleHPAMin)
	cpu, cpuOK := d.v.get(signals.CPUUtilization)
	if !has || !cpuOK {
		return trial{}, false
	}
	rho, of := cpu, "request"
	if req, limit := d.in.State.CPURequestMillis, d.in.State.CPULimitMillis; req > 0 && limit > 0 {
		rho, of = cpu*float64(req)/float64(limit), "limit"
	}
	rho = min(max(rho, 0), 1)
	tr := trial{family: FamilyAutoscaling, likely: rho}
	tr.why = fmt.Sprintf("CPU at %s of its %s: at most that share of its time is queueing", fmtRatio(rho), of)
	if c, ok := d.cpuPerRequest(); ok && of == "limit" && rho < 1 {
		// processor sharing: the percentile's CPU part c·(−ln(1−q)) stretches by 1/(1−ρ)
		wait := c * -math.Log(1-quantileOf(o)) * rho / (1 - rho)
		tr.likely = tailShareOf(wait, o)
		tr.why = fmt.Sprintf("CPU at %s of its limit queues ~%s at %s (processor sharing, %s CPU per request): %s of it",
			fmtRatio(rho), fmtSeconds(wait), percentileName(o.signal), fmtSeconds(c), fmtRatio(tr.likely))
	}
	tr.propose = func() (proposal, bool) {
		pods := int64(d.pods())
		to := min(k.clamp(max(cur, pods)+1), d.floorCeiling(cur))
		if to <= max(cur, pods) {
			return proposal{}, false
		}
		after := cpu * d.pods() / float64(to)
		return proposal{changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
			predicted:  fmt.Sprintf("CPU %s -> %s at %d pods", fmtRatio(cpu), fmtRatio(after), to),
			prediction: predictionOf(tuningv1alpha1.ModelReplicas, signals.CPUUtilization, after)}, true
	}
	return tr, true
}

// redisTrial: one more Redis replica; its likelihood is the replicas' CPU
// (Redis serves on one core: the share of its time that is queueing).
func (d *decider) redisTrial(o objective) (trial, bool) {
	k, cur, _, has := d.knob(roleRedisReplicas)
	cpu, cpuOK := d.v.get(signals.RedisCPU)
	if !has || !cpuOK || !d.in.State.RedisReady {
		return trial{}, false
	}
	tr := trial{family: FamilyRedis, likely: min(max(cpu, 0), 1)}
	tr.why = fmt.Sprintf("Redis at %.2f cores per replica: at most that share of its time is queueing", cpu)
	tr.propose = func() (proposal, bool) {
		to := d.more(k, cur, cur+1)
		if to <= cur {
			return proposal{}, false
		}
		after := cpu * float64(max(cur, 1)) / float64(to)
		return proposal{changes: []Change{{Knob: k.knob, From: cur, HasFrom: true, To: to}},
			predicted:  fmt.Sprintf("Redis CPU %.2f -> %.2f cores per replica", cpu, after),
			prediction: predictionOf(tuningv1alpha1.ModelRedisCPU, signals.RedisCPU, after)}, true
	}
	return tr, true
}
