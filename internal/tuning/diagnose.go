package tuning

import (
	"fmt"
	"strings"
	"time"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Thresholds of the diagnosis. Each is a saturation signal's level at which it
// is taken as the cause of a breached SLO.
const (
	// poolBusyShare: a pool with this share of its connections in use (and
	// requests waiting) is saturated.
	poolBusyShare = 0.9
	// poolWaitShare: a pool wait of this share of the latency threshold is saturation on its own.
	poolWaitShare = 0.05
	// cpuHotFactor: CPU at this multiple of the HPA's target (or cpuHot) is saturated.
	cpuHotFactor = 1.25
	cpuHot       = 0.9
	// defaultCPUTarget is assumed when the HPA's target is not known.
	defaultCPUTarget = 0.8
	// redisHotCPU: Redis is single-threaded; this many cores per replica is saturation.
	redisHotCPU = 0.7
	// redisTargetCPU is what Redis replicas are sized for.
	redisTargetCPU = 0.5
	// L1 below memoryLowHit, or L2 below redisLowHit, is a low hit ratio ...
	memoryLowHit = 0.8
	redisLowHit  = 0.6
	// ... that matters when a miss (a database call) costs this share of the latency threshold.
	missCostShare = 0.1
)

// finding is one diagnosed bottleneck.
type finding struct {
	diagnosis Diagnosis
	family    Family
	evidence  string
}

// diagnose attributes the breach to bottlenecks, most direct first: the pool,
// CPU (HPA), Redis, then the caches; but when the caches miss while the pool
// is saturated, the caches come first (see preferCache). ruledOut describes
// what was checked and found fine. unknown names the families whose signals
// are missing: never fine, and a finding one of them could cause instead is
// dropped unless its saturation is decisive on its own.
func (d *decider) diagnose() (found []finding, ruledOut, unknown []string) {
	defer func() { found = preferCache(found) }()
	var blind []Family
	for _, c := range []struct {
		family Family
		check  func() (finding, string, bool)
	}{{FamilyPool, d.checkPool}, {FamilyAutoscaling, d.checkCPU}, {FamilyRedis, d.checkRedis}, {FamilyCache, d.checkCache}} {
		if fm, held := d.plan.Missing.family(c.family); held {
			blind = append(blind, c.family)
			unknown = append(unknown, fmt.Sprintf("%s (%s)", c.family, joinNotes(fm.Signals)))
			continue
		}
		f, note, ok := c.check()
		switch {
		case ok:
			found = append(found, f)
		case note != "":
			ruledOut = append(ruledOut, note)
		}
	}
	kept := found[:0]
	for _, f := range found {
		if by, ok := d.couldBeCausedBy(f, blind); ok && !d.decisive(f) {
			ruledOut = append(ruledOut, fmt.Sprintf("%s, but %s is unknown and could be the cause: not acted on", f.evidence, by))
			continue
		}
		kept = append(kept, f)
	}
	found = kept
	if len(ruledOut) == 0 && len(unknown) == 0 {
		ruledOut = append(ruledOut, "no tunable knob declared for the saturation signals")
	}
	return found, ruledOut, unknown
}

// couldBeCausedBy names the first blind family that could cause the finding instead.
func (d *decider) couldBeCausedBy(f finding, blind []Family) (Family, bool) {
	for _, b := range blind {
		for _, diag := range couldCause[b] {
			if diag == f.diagnosis {
				return b, true
			}
		}
	}
	return "", false
}

// decisive: the finding's saturation explains the breach on its own, whatever
// the unknown families do. A pool whose requests wait for a connection as
// long as the latency threshold is the bottleneck: no other cause can make
// the wait for a connection breach the SLO by itself.
func (d *decider) decisive(f finding) bool {
	if f.diagnosis != DiagnosisPoolSaturated {
		return false
	}
	wait, ok := d.v.get(signals.PoolWait)
	limit := d.latencyLimit()
	return ok && limit > 0 && wait >= limit
}

// preferCache moves a CacheMisses finding before a PoolSaturated one. Both
// at once mean that database calls are slow and many: a cache hit removes a
// database call and frees its connection, while a larger pool lets more calls
// into a database that the misses already load (its call time grows with its
// load, so the pool looks saturated because the database is). The cache is the
// cause to remove first; the pool follows if it is still saturated.
func preferCache(found []finding) []finding {
	pool, cache := -1, -1
	for i, f := range found {
		switch f.diagnosis {
		case DiagnosisPoolSaturated:
			pool = i
		case DiagnosisCacheMisses:
			cache = i
		}
	}
	if pool < 0 || cache < pool {
		return found
	}
	out := make([]finding, 0, len(found))
	for i, f := range found {
		switch i {
		case pool:
			out = append(out, found[cache], f)
		case cache:
		default:
			out = append(out, f)
		}
	}
	return out
}

// warming says whether the newest pod is younger than the SLO window: its
// cache started empty inside the window, so the hit ratios are not those of
// the cache's size and TTL.
func (d *decider) warming() (string, bool) {
	since := d.in.State.PodsWarmSince
	if since.IsZero() || d.in.Now.Sub(since) >= d.s.Window {
		return "", false
	}
	age := max(d.in.Now.Sub(since), 0).Round(time.Second)
	return fmt.Sprintf("pods warming (newest ready %s ago, window %s): hit ratios not judged", age, d.s.Window), true
}

// cacheOff: a cache tier is switched off (a knob below its bounds, such as 0
// items): its misses are not a matter of warm-up.
func (d *decider) cacheOff() bool {
	for _, r := range []knobRole{roleMemoryItems, roleMemoryTTL, roleRedisTTL} {
		if k, cur, _, has := d.knob(r); has && cur < k.min {
			return true
		}
	}
	return false
}

// latencyLimit is the threshold saturation is measured against; 0 when there are no latency objectives.
func (d *decider) latencyLimit() float64 { return d.slo.tightestLatency() }

func (d *decider) checkPool() (finding, string, bool) {
	if _, ok := d.ks.role(rolePoolMax); !ok {
		return finding{}, "", false
	}
	wait, _ := d.v.get(signals.PoolWait)
	inUse, _ := d.v.get(signals.PoolInUse)
	util, utilText := -1.0, fmt.Sprintf("%.1f in use", inUse)
	if size, ok := d.poolSize(); ok && size > 0 {
		util = inUse / float64(size)
		utilText = fmt.Sprintf("%.1f of %d in use", inUse, size)
	}
	limit := d.latencyLimit()
	saturated := (util >= poolBusyShare && wait > 0) || (limit > 0 && wait >= poolWaitShare*limit)
	text := fmt.Sprintf("pool wait %s, %s", fmtSeconds(wait), utilText)
	if !saturated {
		f, tail, ok := d.checkPoolTail(text)
		if ok {
			return f, "", true
		}
		return finding{}, strings.TrimSuffix(text+", "+tail, ", "), false
	}
	return finding{diagnosis: DiagnosisPoolSaturated, family: FamilyPool, evidence: "pool saturated: " + text}, "", true
}

// cpuTarget is the HPA's CPU target as a ratio.
func (d *decider) cpuTarget() float64 {
	if _, t, _, has := d.knob(roleHPATarget); has && t > 0 {
		return float64(t) / 100
	}
	return defaultCPUTarget
}

func (d *decider) checkCPU() (finding, string, bool) {
	_, _, minOK, _ := d.knob(roleHPAMin)
	_, _, maxOK, _ := d.knob(roleHPAMax)
	_, _, targetOK, _ := d.knob(roleHPATarget)
	if !minOK && !maxOK && !targetOK {
		return finding{}, "", false
	}
	cpu, _ := d.v.get(signals.CPUUtilization)
	target := d.cpuTarget()
	text := fmt.Sprintf("CPU %s of target %s", fmtRatio(cpu), fmtRatio(target))
	switch {
	case d.in.State.HPAAtMax && cpu >= target:
		return finding{diagnosis: DiagnosisHPAAtMax, family: FamilyAutoscaling,
			evidence: fmt.Sprintf("HPA pinned at max with %s", text)}, "", true
	case cpu >= min(cpuHot, target*cpuHotFactor):
		return finding{diagnosis: DiagnosisCPUSaturated, family: FamilyAutoscaling,
			evidence: "CPU saturated: " + text}, "", true
	}
	// A pod at its CPU limit shows no more than the limit, and the pods the
	// HPA just added count with their request but no use yet (their first
	// rate needs two scrapes): the load and the learned CPU per request say
	// what the CPU cannot.
	if need, how, ok := d.feedForward(); ok && float64(need) >= cpuHotFactor*d.pods() {
		return finding{diagnosis: DiagnosisCPUSaturated, family: FamilyAutoscaling,
			evidence: fmt.Sprintf("CPU saturated: %s, and the load needs %s while %.0f run", text, how, d.pods())}, "", true
	}
	return finding{}, text, false
}

func (d *decider) checkRedis() (finding, string, bool) {
	if _, ok := d.ks.role(roleRedisReplicas); !ok {
		return finding{}, "", false
	}
	cpu, _ := d.v.get(signals.RedisCPU)
	text := fmt.Sprintf("Redis CPU %.2f cores per replica", cpu)
	if cpu < redisHotCPU {
		return finding{}, text, false
	}
	return finding{diagnosis: DiagnosisRedisSaturated, family: FamilyRedis, evidence: "Redis saturated: " + text}, "", true
}

func (d *decider) checkCache() (finding, string, bool) {
	_, _, itemsOK, _ := d.knob(roleMemoryItems)
	_, _, ttlOK, _ := d.knob(roleMemoryTTL)
	_, _, l2OK, _ := d.knob(roleRedisTTL)
	limit := d.latencyLimit()
	if (!itemsOK && !ttlOK && !l2OK) || limit == 0 {
		return finding{}, "", false
	}
	if note, warm := d.warming(); warm && !d.cacheOff() {
		return finding{}, note, false
	}
	cost, how, costKnown := d.missCost()
	var low, tiers []string
	if h, ok := d.v.get(signals.MemoryHitRatio); ok && (itemsOK || ttlOK) {
		tiers = append(tiers, "L1 hit "+fmtRatio(h))
		if h < memoryLowHit {
			low = append(low, "L1 hit "+fmtRatio(h))
		}
	}
	if h, ok := d.v.get(signals.RedisHitRatio); ok && l2OK {
		tiers = append(tiers, "L2 hit "+fmtRatio(h))
		if h < redisLowHit {
			low = append(low, "L2 hit "+fmtRatio(h))
		}
	}
	if !costKnown {
		return finding{}, "miss cost unknown", false // the family is held (missCostAbsent)
	}
	text := fmt.Sprintf("miss cost %s (%s)", fmtSeconds(cost), how)
	costly := cost >= missCostShare*limit
	if tail, ok := d.missesInTail(cost); ok && len(tiers) > 0 {
		// Hit ratios that look fine (L1 85 %, L2 70 %) still leave 4.5 % of
		// the requests missing every tier: a p99 request that is a miss
		// makes any tier that can still grow a low one.
		if len(low) == 0 {
			low = tiers
		}
		costly, text = true, text+"; "+tail
	}
	if len(low) == 0 || !costly {
		if len(low) > 0 {
			return finding{}, joinNotes(low) + ", " + text, false
		}
		return finding{}, "cache hit ratios fine", false
	}
	return finding{diagnosis: DiagnosisCacheMisses, family: FamilyCache,
		evidence: fmt.Sprintf("cache misses: %s, %s", joinNotes(low), text)}, "", true
}
