package tuning

import (
	"math"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// Starting points from the performance tuning guide.
const (
	StartPoolMinMax        = 5     // pool max = 2 × cores, at least 5
	StartPoolLifetimeS     = 1800  // connection lifetime 30 min
	StartPoolIdleTimeoutS  = 600   // idle timeout 10 min
	StartMemoryMaxItems    = 10000 // L1 items
	StartMemoryTTLSeconds  = 60    // L1 TTL
	StartRedisTTLSeconds   = 300   // L2 TTL
	poolConnectionsPerCore = 2
)

// knobRole says what a knob does, independent of its (env) name.
type knobRole int

const (
	rolePoolMax knobRole = iota + 1
	rolePoolMin
	rolePoolLifetime
	rolePoolIdle
	roleWorkers
	roleMemoryItems
	roleMemoryTTL
	roleRedisTTL
	roleRedisReplicas
	roleHPAMin
	roleHPAMax
	roleHPATarget
	roleHPAWindow
)

// knobDef is one knob the profile lets the engine turn, with its bounds.
type knobDef struct {
	knob     Knob
	role     knobRole
	family   Family
	min, max int64
	env      bool
	// inverse knobs give more capacity when lowered (the HPA's CPU target).
	inverse bool
	unit    string // "s" (seconds), "%" or "" (a count)
}

// clamp brings v within the knob's bounds.
func (k knobDef) clamp(v int64) int64 { return min(max(v, k.min), k.max) }

// knobSet holds the knobs of one profile, by name and by role.
type knobSet struct {
	byKnob map[Knob]knobDef
	byRole map[knobRole]knobDef
	order  []Knob
}

func (ks knobSet) get(k Knob) (knobDef, bool) {
	d, ok := ks.byKnob[k]
	return d, ok
}

func (ks knobSet) role(r knobRole) (knobDef, bool) {
	d, ok := ks.byRole[r]
	return d, ok
}

func (ks *knobSet) add(d knobDef) {
	if d.knob == "" {
		return
	}
	if d.max < d.min {
		d.max = d.min
	}
	ks.byKnob[d.knob] = d
	ks.byRole[d.role] = d
	ks.order = append(ks.order, d.knob)
}

func (ks *knobSet) addInt(r knobRole, f Family, e *tuningv1alpha1.IntEnvKnob) {
	if e != nil {
		ks.add(knobDef{knob: Knob(e.Env), role: r, family: f, min: int64(e.Min), max: int64(e.Max), env: true})
	}
}

func (ks *knobSet) addDuration(r knobRole, f Family, e *tuningv1alpha1.DurationEnvKnob) {
	if e != nil {
		ks.add(knobDef{knob: Knob(e.Env), role: r, family: f, min: ceilSeconds(e.Min.Duration),
			max: floorSeconds(e.Max.Duration), env: true, unit: "s"})
	}
}

func (ks *knobSet) addRange(k Knob, r knobRole, rg *tuningv1alpha1.Int32Range, unit string, inverse bool) {
	if rg != nil {
		ks.add(knobDef{knob: k, role: r, family: FamilyAutoscaling, min: int64(rg.Min), max: int64(rg.Max),
			unit: unit, inverse: inverse})
	}
}

// knobsOf lists the knobs a profile declares.
func knobsOf(spec tuningv1alpha1.PerformanceProfileSpec) knobSet {
	ks := knobSet{byKnob: map[Knob]knobDef{}, byRole: map[knobRole]knobDef{}}
	if p := spec.ConnectionPool; p != nil {
		ks.addInt(rolePoolMax, FamilyPool, p.MaxConnections)
		ks.addInt(rolePoolMin, FamilyPool, p.MinConnections)
		ks.addDuration(rolePoolLifetime, FamilyPool, p.MaxLifetime)
		ks.addDuration(rolePoolIdle, FamilyPool, p.IdleTimeout)
	}
	ks.addInt(roleWorkers, FamilyWorkers, spec.WorkerThreads)
	if c := spec.Cache; c != nil {
		if m := c.Memory; m != nil {
			ks.addInt(roleMemoryItems, FamilyCache, m.MaxItems)
			ks.addDuration(roleMemoryTTL, FamilyCache, m.TTL)
		}
		if r := c.Redis; r != nil {
			ks.addDuration(roleRedisTTL, FamilyCache, r.TTL)
			if rr := r.Replicas; rr != nil {
				ks.add(knobDef{knob: KnobRedisReplicas, role: roleRedisReplicas, family: FamilyRedis,
					min: int64(rr.Min), max: int64(rr.Max)})
			}
		}
	}
	if a := spec.Autoscaling; a != nil {
		ks.addRange(KnobHPAMinReplicas, roleHPAMin, a.MinReplicas, "", false)
		ks.addRange(KnobHPAMaxReplicas, roleHPAMax, a.MaxReplicas, "", false)
		ks.addRange(KnobHPATargetCPU, roleHPATarget, a.TargetCPUUtilization, "%", true)
		if b := a.Behavior; b != nil {
			w := b.ScaleDownStabilizationWindow
			ks.add(knobDef{knob: KnobHPAScaleDownWindowS, role: roleHPAWindow, family: FamilyAutoscaling,
				min: ceilSeconds(w.Min.Duration), max: floorSeconds(w.Max.Duration), unit: "s"})
		}
	}
	return ks
}

// startingPoint is the guide's value for a knob that has none yet, clamped to
// its bounds; ok is false when the guide gives none (or the CPU limit is unknown).
func startingPoint(d knobDef, cpuLimitMillis int64) (int64, bool) {
	cores := int64(math.Ceil(float64(cpuLimitMillis) / 1000))
	var v int64
	switch d.role {
	case rolePoolMax:
		if cpuLimitMillis <= 0 {
			return 0, false
		}
		v = max(poolConnectionsPerCore*cores, StartPoolMinMax)
	case roleWorkers:
		if cpuLimitMillis <= 0 {
			return 0, false
		}
		v = cores
	case rolePoolLifetime:
		v = StartPoolLifetimeS
	case rolePoolIdle:
		v = StartPoolIdleTimeoutS
	case roleMemoryItems:
		v = StartMemoryMaxItems
	case roleMemoryTTL:
		v = StartMemoryTTLSeconds
	case roleRedisTTL:
		v = StartRedisTTLSeconds
	default:
		return 0, false
	}
	return d.clamp(v), true
}

// isEnvFamily: changes to these families are env changes, one rolling restart each.
func isEnvFamily(f Family) bool {
	return f == FamilyPool || f == FamilyCache || f == FamilyWorkers
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

func floorSeconds(d time.Duration) int64 {
	return int64(math.Floor(d.Seconds()))
}
