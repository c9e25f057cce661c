package tuning

import (
	"fmt"
	"slices"
	"strings"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Missing is what one decision could not see, computed once by Decide (and
// by MissingOf for a reconcile that stopped before deciding). The reconciler
// reports it as it is, so the MetricsAvailable condition, its Events and the
// plan always agree.
type Missing struct {
	// SLO lists the SLO signals that could not be used, each as "signal: reason".
	// While one is missing every knob holds: nothing is judged or changed.
	SLO []string
	// Families lists the knob families whose own saturation signals could not
	// be used. Each holds on its own (it is neither raised, reduced nor given a
	// starting point) and is "unknown" in the diagnosis; the other families act.
	Families []FamilyMissing
}

// FamilyMissing is a knob family held for its missing signals.
type FamilyMissing struct {
	Family Family
	// Knobs are the declared knobs the family holds.
	Knobs []Knob
	// Signals are the missing signals, each as "signal: reason".
	Signals []string
}

// String reads "cache (holds CACHE_TTL, REDIS_TTL): dbTime: Empty".
func (m FamilyMissing) String() string {
	knobs := make([]string, len(m.Knobs))
	for i, k := range m.Knobs {
		knobs[i] = string(k)
	}
	return fmt.Sprintf("%s (holds %s): %s", m.Family, strings.Join(knobs, ", "), joinNotes(m.Signals))
}

// None reports whether nothing the profile needs is missing.
func (m Missing) None() bool { return len(m.SLO) == 0 && len(m.Families) == 0 }

// FamilyNotes lists the held families in words, one entry per family.
func (m Missing) FamilyNotes() []string {
	out := make([]string, len(m.Families))
	for i, f := range m.Families {
		out[i] = f.String()
	}
	return out
}

// family returns the entry of a held family.
func (m Missing) family(f Family) (FamilyMissing, bool) {
	for _, fm := range m.Families {
		if fm.Family == f {
			return fm, true
		}
	}
	return FamilyMissing{}, false
}

// MissingOf is what Decide reports as Plan.Missing for this spec and observation.
func MissingOf(spec tuningv1alpha1.PerformanceProfileSpec, o signals.Observation) Missing {
	v := newView(o)
	return missingOf(v, knobsOf(spec), evaluateSLO(spec.SLO, v.get, v.absent))
}

func missingOf(v view, ks knobSet, slo sloReport) Missing {
	m := Missing{SLO: slo.missing}
	for _, f := range familyOrder {
		absent := v.absent(familySignals(ks, f))
		if f == FamilyCache && len(familySignals(ks, f)) > 0 {
			if why, ok := missCostAbsent(v); ok {
				absent = append(absent, why)
			}
		}
		if len(absent) == 0 {
			continue
		}
		m.Families = append(m.Families, FamilyMissing{Family: f, Signals: absent, Knobs: familyKnobs(ks, f)})
	}
	return m
}

// FamilyReadiness says whether one knob family a profile declares can be
// tuned on an observation: it can when every signal it needs was read.
// The engine holds exactly the families that are not ready (Missing is
// computed from the same table, familySignals), so `kubectl navius check`,
// status.readiness and the decisions agree.
type FamilyReadiness struct {
	Family Family
	// Knobs are the family's declared knobs, in the profile's order.
	Knobs []Knob
	// Needs are the signals the family needs before it may act: the SLO's
	// signals first (while one is missing every knob holds), then the
	// saturation signals its diagnosis reads.
	Needs []signals.Signal
	// Found are the needed signals that were read, in the order of Needs.
	Found []signals.Signal
	// Missing are the needed signals that could not be used, in the order
	// of Needs, each with why.
	Missing []SignalGap
}

// SignalGap is a needed signal that could not be used, and why.
type SignalGap struct {
	Signal signals.Signal
	signals.Missing
}

func (g SignalGap) String() string { return fmt.Sprintf("%s: %s", g.Signal, g.Missing) }

// Tunable reports whether the family may act: nothing it needs is missing.
func (r FamilyReadiness) Tunable() bool { return len(r.Missing) == 0 }

// API is the family's entry of status.readiness: the reasons without
// their messages, which change from period to period (a stale sample's
// age) while the readiness does not.
func (r FamilyReadiness) API() tuningv1alpha1.FamilyReadiness {
	out := tuningv1alpha1.FamilyReadiness{Family: string(r.Family), Tunable: r.Tunable()}
	for _, k := range r.Knobs {
		out.Knobs = append(out.Knobs, string(k))
	}
	for _, s := range r.Found {
		out.Found = append(out.Found, string(s))
	}
	for _, g := range r.Missing {
		out.Missing = append(out.Missing, fmt.Sprintf("%s: %s", g.Signal, g.Reason))
	}
	return out
}

// Readiness lists each knob family the profile declares, in the order the
// diagnosis checks them, with the signals it needs, which of them the
// observation holds and why the others are missing. A profile without
// knobs lists nothing.
func Readiness(spec tuningv1alpha1.PerformanceProfileSpec, o signals.Observation) []FamilyReadiness {
	v, ks, slo := newView(o), knobsOf(spec), SLOSignals(spec)
	var out []FamilyReadiness
	for _, f := range familyOrder {
		knobs := familyKnobs(ks, f)
		if len(knobs) == 0 {
			continue
		}
		r := FamilyReadiness{Family: f, Knobs: knobs}
		for _, s := range append(slices.Clone(slo), familySignals(ks, f)...) {
			if slices.Contains(r.Needs, s) {
				continue
			}
			r.Needs = append(r.Needs, s)
			if _, ok := v.get(s); ok {
				r.Found = append(r.Found, s)
			} else {
				r.Missing = append(r.Missing, SignalGap{Signal: s, Missing: v.why(s)})
			}
		}
		// The cache's miss cost has several estimates, none needed alone:
		// the family is not ready only when none exists, as missingOf says.
		if f == FamilyCache && len(familySignals(ks, f)) > 0 {
			if why, absent := missCostAbsent(v); absent {
				gap := SignalGap{Signal: signals.DBTime, Missing: v.why(signals.DBTime)}
				gap.Message = why
				r.Missing = append(r.Missing, gap)
			}
		}
		out = append(out, r)
	}
	return out
}

// familyKnobs lists the declared knobs of a family, in the profile's order.
func familyKnobs(ks knobSet, f Family) []Knob {
	var out []Knob
	for _, k := range ks.order {
		if def, _ := ks.get(k); def.family == f {
			out = append(out, k)
		}
	}
	return out
}

// familyOrder lists the families in the order the diagnosis checks them.
var familyOrder = []Family{FamilyPool, FamilyAutoscaling, FamilyRedis, FamilyCache, FamilyWorkers}

// familySignals are the saturation signals a family needs before it may act:
// those its diagnosis reads. Empty for a family the profile does not declare
// (and for workers, which only get the guide's starting point).
func familySignals(ks knobSet, f Family) []signals.Signal {
	has := func(rs ...knobRole) bool {
		for _, r := range rs {
			if _, ok := ks.role(r); ok {
				return true
			}
		}
		return false
	}
	var out []signals.Signal
	switch f {
	case FamilyPool:
		if has(rolePoolMax) {
			out = append(out, signals.PoolInUse, signals.PoolWait)
		}
	case FamilyAutoscaling:
		if has(roleHPAMin, roleHPAMax, roleHPATarget) {
			out = append(out, signals.CPUUtilization)
		}
	case FamilyRedis:
		if has(roleRedisReplicas) {
			out = append(out, signals.RedisCPU)
		}
	case FamilyCache:
		if has(roleMemoryItems, roleMemoryTTL) {
			out = append(out, signals.MemoryHitRatio)
		}
		if has(roleRedisTTL) {
			out = append(out, signals.RedisHitRatio)
		}
		// and an estimate of the miss cost (missCostAbsent): the DB time,
		// or Little's law on the pool over the DB calls (measured, or the
		// requests that miss every tier); no single signal is required.
	}
	return out
}

// couldCause lists, for a family whose signals are missing, the diagnoses it
// could be the real cause of; a finding it could cause is acted on only when
// its measured saturation is unambiguous (see decisive).
//
//   - cache: misses load the database, which lengthens every call; the pool
//     then looks saturated because the database is (see preferCache).
//   - autoscaling: CPU-starved pods are slow to return their connections,
//     so the pool looks saturated because the CPU is.
//
// Redis (its CPU) and the pool cause nothing the other families measure:
// a finding of CPU, Redis or cache misses is its own evidence.
var couldCause = map[Family][]Diagnosis{
	FamilyCache:       {DiagnosisPoolSaturated},
	FamilyAutoscaling: {DiagnosisPoolSaturated},
}
