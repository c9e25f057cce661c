package tuning

import (
	"fmt"
	"math"
	"time"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// poolIdleWait: a pool whose requests wait less than this is not short of connections.
const poolIdleWait = 0.001

// save trims the most expensive resource one slow step, once every SLO has
// held with margin for SustainFor and nothing changed for as long.
func (d *decider) save() {
	if w := d.slo.worst(); w > marginRatio {
		d.plan.Reason = fmt.Sprintf("%s; nothing to do (savings need every objective within %.0f%% of its limit)",
			d.sloText(), marginRatio*100)
		return
	}
	since := d.in.SLOMetSince
	if since.IsZero() || d.in.Now.Sub(since) < d.s.SustainFor {
		d.holdSaving(fmt.Sprintf("saving waits until the SLOs have held for %s (held since %s)",
			d.s.SustainFor, sinceText(since)))
		return
	}
	if last, ok := lastChange(d.in.History); ok && d.in.Now.Sub(last) < d.s.SustainFor {
		d.holdSaving(fmt.Sprintf("saving waits until %s (%s after the last change)",
			clock(last.Add(d.s.SustainFor)), d.s.SustainFor))
		return
	}
	var notes []string
	for _, trim := range []func() (proposal, string){d.trimHPAMin, d.trimRedis, d.trimPool} {
		p, why := trim()
		if why == "" {
			p.diagnosis = DiagnosisOverProvisioned
			p.reason = fmt.Sprintf("%s, held with margin since %s; %s", d.sloText(), clock(since), p.reason)
			if why = d.adopt(p); why == "" {
				return
			}
		}
		notes = append(notes, why)
	}
	d.plan.Reason = fmt.Sprintf("%s; nothing to trim: %s", d.sloText(), joinNotes(notes))
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
		need = max(need, PoolSizeFor(calls/pods, hold, poolIdleWait))
	}
	if need >= cur {
		return proposal{}, fmt.Sprintf("pool needs its %d connections (%.1f in use)", cur, inUse)
	}
	to := d.less(k, cur, need)
	if mk, _, _, declared := d.knob(rolePoolMin); declared {
		to = max(to, mk.min)
	}
	if to >= cur {
		return proposal{}, fmt.Sprintf("%s at its bound %d", k.knob, k.min)
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
			fmtSeconds(ErlangWait(to, OfferedLoad(calls/pods, hold), hold)), to)
	}
	return p, ""
}
