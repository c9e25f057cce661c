package tuning

import (
	"fmt"
	"math"
	"strings"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// The tail view of a breach. A percentile objective is broken by the
// requests in its tail, not by the mean: a pool whose mean wait is 1 ms can
// make a p99 request wait 28 ms when 4 % of the requests wait at all. Each
// family's share of the breached percentile is estimated here: the pool's
// from a wait histogram when there is one (signals.PoolWaitTail), otherwise
// from the queueing model (the M/M/c wait distribution, calibrated to the
// measured mean wait); the caches' from the share of requests that miss
// every tier and what a miss costs.

// tailDominantShare: a family whose estimate is this share of the breached
// percentile is a cause of the breach even when removing it alone would not
// bring the percentile within its objective.
const tailDominantShare = 0.25

// breachedLatencies are the breached latency objectives, most breached first.
func (d *decider) breachedLatencies() []objective {
	var out []objective
	for _, o := range d.slo.objectives {
		if o.latency && o.ratio > 1 {
			out = append(out, o)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ratio > out[j-1].ratio; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// quantileOf is the quantile of a latency objective's percentile.
func quantileOf(o objective) float64 {
	p, _ := signals.PercentileOf(o.signal)
	return p.Quantile
}

// explains: a family's estimate t of its part of the percentile of a
// breached objective o explains the breach when it is at least the floor
// (a share of the threshold that is no noise) and either removing it would
// bring the percentile within the objective or it is a dominant part of it.
func explains(t float64, o objective, floor float64) bool {
	if t <= 0 || t < floor {
		return false
	}
	return t >= o.value-o.limit || t >= tailDominantShare*o.value
}

// dbCalls is the database calls per second over all pods: the measured
// DB call rate, else the requests that miss every cache tier (throughput ×
// the product of the tiers' miss ratios: a request that misses calls the
// database). how names the estimate; a measured rate of zero is no calls.
func (v view) dbCalls() (calls float64, how string, ok bool) {
	if c, ok := v.get(signals.DBCallRate); ok {
		return c, "dbCallRate", c > 0
	}
	share, ok1 := v.missShare()
	load, ok2 := v.get(signals.Throughput)
	if ok1 && ok2 && load > 0 && share > 0 {
		return load * share, "the requests missing every cache tier", true
	}
	return 0, "", false
}

// missShare is the share of requests that miss every measured cache tier.
func (v view) missShare() (float64, bool) {
	share, known := 1.0, false
	for _, s := range []signals.Signal{signals.MemoryHitRatio, signals.RedisHitRatio} {
		if h, ok := v.get(s); ok {
			share *= 1 - h
			known = true
		}
	}
	return share, known
}

// holdTime is how long a database call holds a connection: the DB time when
// it is measured, else Little's law on the pool (busy connections per pod ÷
// calls per second per pod, dbCalls). how names the estimate. With the
// calls estimated from the cache misses, it is the connection time per
// missed request (several calls, if a miss makes several): exactly a miss's
// cost, and the pool's hold time as far as the engine can tell.
func (d *decider) holdTime() (seconds float64, how string, ok bool) {
	if s, ok := d.v.get(signals.DBTime); ok && s > 0 {
		return s, "DB time", true
	}
	inUse, ok1 := d.v.get(signals.PoolInUse)
	calls, callsHow, ok2 := d.v.dbCalls()
	if pods := d.pods(); ok1 && ok2 && inUse > 0 && pods >= 1 {
		return inUse / (calls / pods), fmt.Sprintf("poolInUse ÷ %s per pod, Little's law", callsHow), true
	}
	return 0, "", false
}

// missCostAbsent says why no estimate of a cache miss's cost exists, naming
// the estimates tried in order; false when one exists. The cache family holds
// only then.
func missCostAbsent(v view) (string, bool) {
	if s, ok := v.get(signals.DBTime); ok && s > 0 {
		return "", false
	}
	inUse, ok := v.get(signals.PoolInUse)
	if _, _, callsOK := v.dbCalls(); ok && inUse > 0 && callsOK {
		return "", false
	}
	why := func(ss ...signals.Signal) string {
		if a := v.absent(ss); len(a) > 0 {
			return joinComma(a)
		}
		return "zero"
	}
	return fmt.Sprintf("miss cost: no estimate, tried %s (%s), Little's law poolInUse ÷ dbCallRate (%s) and poolInUse ÷ the requests missing every cache tier (%s)",
		signals.DBTime, why(signals.DBTime), why(signals.PoolInUse, signals.DBCallRate),
		why(signals.PoolInUse, signals.Throughput, signals.MemoryHitRatio)), true
}

// joinComma lists notes with commas (inside a note that joinNotes lists).
func joinComma(s []string) string { return strings.Join(s, ", ") }

// missCost is what a request that misses every cache tier pays: one
// database call's hold time (holdTime).
func (d *decider) missCost() (float64, string, bool) { return d.holdTime() }

// callShare is the share of requests that make a database call (dbCalls ÷
// throughput, at most 1); 1 when either is unknown, which attributes more
// of the tail to the pool, not less.
func (d *decider) callShare() float64 {
	calls, _, ok1 := d.v.dbCalls()
	load, ok2 := d.v.get(signals.Throughput)
	if !ok1 || !ok2 || load <= 0 {
		return 1
	}
	return min(calls/load, 1)
}

// poolQueueNow is the pool as a calibrated M/M/c queue at its current size;
// false when the size, the busy connections or the hold time are unknown.
func (d *decider) poolQueueNow() (q poolQueue, size int64, how string, ok bool) {
	size, known := d.poolSize()
	inUse, ok1 := d.v.get(signals.PoolInUse)
	s, how, ok2 := d.holdTime()
	if !known || size <= 0 || !ok1 || !ok2 || inUse <= 0 {
		return poolQueue{}, 0, "", false
	}
	wait, ok := d.v.get(signals.PoolWait)
	if !ok {
		wait = -1
	}
	return newPoolQueue(size, inUse, s, d.callShare(), wait), size, how, true
}

// poolTail is the pool's wait at the percentile of objective o: from the
// wait histogram when there is one, else from the calibrated queue; how
// says which, false when neither can be had.
func (d *decider) poolTail(o objective) (float64, string, bool) {
	if t, ok := d.v.get(signals.PoolWaitTail); ok {
		return t, "wait histogram", true
	}
	q, size, how, ok := d.poolQueueNow()
	if !ok {
		return 0, "", false
	}
	return q.tailWait(size, quantileOf(o)), fmt.Sprintf("Erlang C tail calibrated to the mean wait, %.2g%% of requests wait, hold %s by %s",
		100*q.waitShare(size), fmtSeconds(q.s), how), true
}

// poolTailText reads "at p99 ~28ms of 46ms".
func poolTailText(t float64, o objective) string {
	name := percentileName(o.signal)
	if math.IsInf(t, 1) {
		return fmt.Sprintf("at %s unbounded (the pool cannot keep up)", name)
	}
	return fmt.Sprintf("at %s ~%s of %s", name, fmtSeconds(t), fmtSeconds(o.value))
}

// checkPoolTail attributes a breached percentile to the pool from its tail:
// the first breached objective whose percentile the pool's wait explains.
// note describes the estimate when it explains none.
func (d *decider) checkPoolTail(text string) (f finding, note string, ok bool) {
	limit := d.latencyLimit()
	for _, o := range d.breachedLatencies() {
		t, how, known := d.poolTail(o)
		if !known {
			return finding{}, "", false
		}
		if explains(t, o, poolWaitShare*limit) {
			return finding{diagnosis: DiagnosisPoolSaturated, family: FamilyPool,
				evidence: fmt.Sprintf("pool saturated in the tail: wait %s (%s); %s", poolTailText(t, o), how, text)}, "", true
		}
		if note == "" {
			note = "wait " + poolTailText(t, o)
		}
	}
	return finding{}, note, false
}

// missPinned is the most breached latency objective whose percentile is
// pinned by misses: more than 1 − q of the requests miss every tier
// (share), so the percentile request is a miss, and a miss alone costs at
// least the threshold (missCost), so the percentile stays breached, however
// much each tier improves, until the miss fraction falls under 1 − q. A
// miss that fits in the objective (100 ms against 500 ms) pins nothing: a
// breach there comes from the queue the misses build, which fewer misses
// relieve step by step. false when none is, or when no tier's hit ratio or
// no miss cost is known.
func (d *decider) missPinned() (o objective, share float64, ok bool) {
	share, known := d.v.missShare()
	cost, _, costKnown := d.missCost()
	if !known || !costKnown {
		return objective{}, 0, false
	}
	for _, o := range d.breachedLatencies() {
		if missesPin(o, share, cost) {
			return o, share, true
		}
	}
	return objective{}, 0, false
}

// missesPin: with share of the requests missing every tier, each miss
// costing cost, objective o's percentile request is a miss that alone
// breaks its threshold (missPinned).
func missesPin(o objective, share, cost float64) bool {
	return share > 1-quantileOf(o) && cost >= o.limit
}

// missesInTail names the first breached objective whose percentile request
// is a cache miss (more than 1 − q of the requests miss every tier) and
// whose excess the miss cost covers: its share of the tail is the whole
// miss cost.
func (d *decider) missesInTail(cost float64) (string, bool) {
	share, ok := d.v.missShare()
	if !ok {
		return "", false
	}
	for _, o := range d.breachedLatencies() {
		if share > 1-quantileOf(o) && explains(cost, o, 0) {
			return fmt.Sprintf("%s of requests miss every tier: the %s request is a miss", fmtRatio(share), percentileName(o.signal)), true
		}
	}
	return "", false
}

// poolSizeForTail is the pool the most breached percentile objective needs:
// the smallest size whose calibrated wait at its percentile is at most
// poolWaitShare of the threshold; at describes the tail now and at a size;
// false without a breached latency objective or a calibrated queue (a pool
// that cannot keep up has no mean wait to calibrate on: the mean model
// sizes it, and the tail is looked at again once it keeps up).
func (d *decider) poolSizeForTail(k knobDef, cur int64) (need int64, at func(int64) string, ok bool) {
	objs := d.breachedLatencies()
	q, size, _, ok := d.poolQueueNow()
	if len(objs) == 0 || !ok || !q.calibrated {
		return 0, nil, false
	}
	o := objs[0]
	quant := quantileOf(o)
	need = q.sizeForTail(size, max(k.max, cur), quant, poolWaitShare*d.latencyLimit())
	return need, func(to int64) string {
		return fmt.Sprintf("%s wait %s -> %s (calibrated Erlang C tail)", percentileName(o.signal),
			tailText(q.tailWait(size, quant)), tailText(q.tailWait(to, quant)))
	}, true
}

// tailText reads a tail wait: "~28ms", or "unbounded".
func tailText(t float64) string {
	if math.IsInf(t, 1) {
		return "unbounded"
	}
	return "~" + fmtSeconds(t)
}
