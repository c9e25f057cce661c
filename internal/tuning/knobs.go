package tuning

import (
	"math"
	"strconv"
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

// Place is where a knob lives in the cluster.
type Place int

const (
	// PlaceEnv is a literal env variable of the target container: changing
	// it rolls the pods.
	PlaceEnv Place = iota + 1
	// PlaceHPA is a field of the HorizontalPodAutoscaler.
	PlaceHPA
	// PlaceRedisReplicas is spec.replicas of the Redis workload.
	PlaceRedisReplicas
)

// Unit of a knob's value.
const (
	UnitCount   = ""
	UnitSeconds = "s"
	UnitPercent = "%"
)

// fixedKnobs are the knobs whose names do not come from the profile, in the
// order the catalogue lists them; every other knob is an env variable named
// by the profile.
var fixedKnobs = []struct {
	knob   Knob
	family Family
	place  Place
}{
	{KnobRedisReplicas, FamilyRedis, PlaceRedisReplicas},
	{KnobHPAMinReplicas, FamilyAutoscaling, PlaceHPA},
	{KnobHPAMaxReplicas, FamilyAutoscaling, PlaceHPA},
	{KnobHPATargetCPU, FamilyAutoscaling, PlaceHPA},
	{KnobHPAScaleDownWindowS, FamilyAutoscaling, PlaceHPA},
}

// PlaceOf is where knob k lives: the fixed knobs' own place, else an env variable.
func PlaceOf(k Knob) Place {
	for _, f := range fixedKnobs {
		if f.knob == k {
			return f.place
		}
	}
	return PlaceEnv
}

// HPAKnobs lists the knobs that are fields of the HPA, in the catalogue's order.
func HPAKnobs() []Knob {
	var out []Knob
	for _, f := range fixedKnobs {
		if f.place == PlaceHPA {
			out = append(out, f.knob)
		}
	}
	return out
}

// HPAKnobDeclared reports whether a (spec.autoscaling) lets navius-tuner
// turn HPA knob k: what Knobs lists of the HPA, without building the
// catalogue (the metrics ask it for every profile at every scrape).
func HPAKnobDeclared(a *tuningv1alpha1.Autoscaling, k Knob) bool {
	if a == nil {
		return false
	}
	switch k {
	case KnobHPAMinReplicas:
		return a.MinReplicas != nil
	case KnobHPAMaxReplicas:
		return a.MaxReplicas != nil
	case KnobHPATargetCPU:
		return a.TargetCPUUtilization != nil
	case KnobHPAScaleDownWindowS:
		return a.Behavior != nil
	}
	return false
}

// KnobInfo describes one knob a profile declares: the catalogue's entry.
type KnobInfo struct {
	Knob   Knob
	Family Family
	Place  Place
	// Unit is UnitSeconds, UnitPercent or UnitCount.
	Unit string
	// Min and Max are the profile's bounds (whole seconds for durations).
	Min, Max int64
	// Inverse knobs give more capacity when lowered (the HPA's CPU target).
	Inverse bool
}

// Parse reads a value of the knob as the cluster holds it: an integer, or
// for a seconds knob also a Go duration such as 30s (rounded to seconds).
func (k KnobInfo) Parse(v string) (int64, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, true
	}
	if k.Unit == UnitSeconds {
		if d, err := time.ParseDuration(v); err == nil {
			return int64(math.Round(d.Seconds())), true
		}
	}
	return 0, false
}

// Knobs lists the knobs a profile declares, in the profile's order. It is
// the one catalogue of knobs: what reads or writes a knob derives its
// family, place and unit from here.
func Knobs(spec tuningv1alpha1.PerformanceProfileSpec) []KnobInfo {
	ks := knobsOf(spec)
	out := make([]KnobInfo, 0, len(ks.order))
	for _, k := range ks.order {
		d := ks.byKnob[k]
		out = append(out, KnobInfo{Knob: k, Family: d.family, Place: PlaceOf(k), Unit: d.unit, Min: d.min, Max: d.max, Inverse: d.inverse})
	}
	return out
}

// FamilyOf is the family of knob k: the profile's declaration, else the
// fixed knobs' own family; "" when the profile declares no such env knob.
func FamilyOf(spec tuningv1alpha1.PerformanceProfileSpec, k Knob) Family {
	if d, ok := knobsOf(spec).get(k); ok {
		return d.family
	}
	for _, f := range fixedKnobs {
		if f.knob == k {
			return f.family
		}
	}
	return ""
}

// Routed are changes sorted by the object they are written to.
type Routed struct {
	// Env holds the env changes, by variable name.
	Env map[Knob]int64
	// HPA holds the HPA field changes, by knob.
	HPA map[Knob]int64
	// RedisReplicas is the Redis workload's new spec.replicas, nil when unchanged.
	RedisReplicas *int64
}

// Route sorts changes by where their knobs live.
func Route(changes []Change) Routed {
	r := Routed{Env: map[Knob]int64{}, HPA: map[Knob]int64{}}
	for _, c := range changes {
		switch PlaceOf(c.Knob) {
		case PlaceRedisReplicas:
			n := c.To
			r.RedisReplicas = &n
		case PlaceHPA:
			r.HPA[c.Knob] = c.To
		default:
			r.Env[c.Knob] = c.To
		}
	}
	return r
}

// knobDef is one knob the profile lets the engine turn, with its bounds.
type knobDef struct {
	knob     Knob
	role     knobRole
	family   Family
	min, max int64
	// inverse knobs give more capacity when lowered (the HPA's CPU target).
	inverse bool
	unit    string // UnitSeconds, UnitPercent or UnitCount
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
		ks.add(knobDef{knob: Knob(e.Env), role: r, family: f, min: int64(e.Min), max: int64(e.Max)})
	}
}

func (ks *knobSet) addDuration(r knobRole, f Family, e *tuningv1alpha1.DurationEnvKnob) {
	if e != nil {
		ks.add(knobDef{knob: Knob(e.Env), role: r, family: f, min: ceilSeconds(e.Min.Duration),
			max: floorSeconds(e.Max.Duration), unit: UnitSeconds})
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
		ks.addRange(KnobHPAMinReplicas, roleHPAMin, a.MinReplicas, UnitCount, false)
		ks.addRange(KnobHPAMaxReplicas, roleHPAMax, a.MaxReplicas, UnitCount, false)
		ks.addRange(KnobHPATargetCPU, roleHPATarget, a.TargetCPUUtilization, UnitPercent, true)
		if b := a.Behavior; b != nil {
			w := b.ScaleDownStabilizationWindow
			ks.add(knobDef{knob: KnobHPAScaleDownWindowS, role: roleHPAWindow, family: FamilyAutoscaling,
				min: ceilSeconds(w.Min.Duration), max: floorSeconds(w.Max.Duration), unit: UnitSeconds})
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

// IsEnvFamily reports whether a family's knobs are env variables: each
// change to it is one rolling restart.
func IsEnvFamily(f Family) bool {
	return f == FamilyPool || f == FamilyCache || f == FamilyWorkers
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

func floorSeconds(d time.Duration) int64 {
	return int64(math.Floor(d.Seconds()))
}
