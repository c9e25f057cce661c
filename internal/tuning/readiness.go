package tuning

import (
	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// FamilyNeeds is what one knob family of a profile reads before it may act:
// the answer to "which families can this service be tuned on" for a check
// before a profile is applied, and for the status' per-family readiness.
type FamilyNeeds struct {
	Family Family
	// Knobs are the declared knobs of the family.
	Knobs []Knob
	// Signals are the saturation signals the family needs: while one is
	// missing the family holds (Missing.Families names it), whatever the others do.
	Signals []signals.Signal
	// Optional are signals the family reads when they are present and does
	// without otherwise: their absence holds nothing.
	Optional []signals.Signal
}

// optionalSignals are the signals a family uses when present.
var optionalSignals = map[Family][]signals.Signal{
	// The pool wait at the objective's percentile, from a wait histogram
	// when the stack exports one; without it the tail is the model's.
	FamilyPool: {signals.PoolWaitTail},
	// The load over the newest scrape interval, which a raise of the HPA's
	// floor sizes for when it reads more than the saturation window's
	// (loadNow); without it the window's rate alone.
	FamilyAutoscaling: {signals.ThroughputNow},
}

// SignalsNeeded lists, for each family the profile declares knobs of (in
// the diagnosis' order), the signals it needs and those it uses when
// present. Every family also needs the SLO signals (SLOSignals): while one
// of those is missing every knob holds.
func SignalsNeeded(spec tuningv1alpha1.PerformanceProfileSpec) []FamilyNeeds {
	ks := knobsOf(spec)
	var out []FamilyNeeds
	for _, f := range familyOrder {
		fn := FamilyNeeds{Family: f}
		for _, k := range ks.order {
			if def, _ := ks.get(k); def.family == f {
				fn.Knobs = append(fn.Knobs, k)
			}
		}
		if len(fn.Knobs) == 0 {
			continue
		}
		fn.Signals = familySignals(ks, f)
		fn.Optional = optionalSignals[f]
		out = append(out, fn)
	}
	return out
}
