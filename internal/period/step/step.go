// Package step is one period of a profile as one call, for the callers
// whose cluster needs no reads between the engine and the guard: tier A's
// emulated cluster and a replay of recorded metrics. It lives beside
// internal/period, not in it, because it joins the period code with the
// guard, whose own tests use the period code.
package step

import (
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/guard"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Input is one period of a profile whose cluster needs no reads between
// the engine and the guard: tier A's emulated cluster, and a replay of
// recorded metrics. The manager runs the same calls as phases, with its
// reads of the API server in between (controllers).
type Input struct {
	Spec       tuningv1alpha1.PerformanceProfileSpec
	Generation int64
	Gate       period.Gate
	// Observation is what the period observed.
	Observation signals.Observation
	// State is the cluster as read this period.
	State tuning.State
	Now   time.Time
	// Decide is the engine [tuning.Decide].
	Decide func(tuning.Input) tuning.Plan
}

// Result is what one period decided and did.
type Result struct {
	// Proposed is the engine's plan, before the guard.
	Proposed tuning.Plan
	// Plan is the plan the guard let through: what was applied (when the
	// gate let it) or recommended.
	Plan tuning.Plan
	// Refused are the changes the guard refused, and why.
	Refused []guard.Refusal
	// Committed is what the ledger settled and recorded.
	Committed period.Committed
	// Written is false when the gate kept the plan to publishing.
	Written bool
	// PeakConnections is the worst moment of a rollout with the values
	// read this period (status.peakConnections), nil when unknown.
	PeakConnections *int64
}

// Run runs one period on the profile's status st, in the manager's order:
// the engine's plan for the period's input, the guard's last gate, the
// ledger and the writes through w (Apply), then the status summary and its
// conditions (Summarize).
func Run(st *tuningv1alpha1.PerformanceProfileStatus, in Input, w period.Writer) (Result, error) {
	decide := in.Decide
	if decide == nil {
		decide = tuning.Decide
	}
	var res Result
	res.Proposed = decide(period.EngineInput(in.Spec, *st, in.Generation, in.Observation, in.State, in.Now))
	res.Plan, res.Refused = guard.Check(guard.World{Spec: in.Spec, State: in.State, History: st.History, Observation: in.Observation}, res.Proposed)
	c, written, err := period.Apply(st, res.Plan, in.Gate, in.Now, w)
	res.Committed, res.Written = c, written
	if err != nil {
		return res, err
	}
	read := &period.Read{RolloutInProgress: in.State.RolloutInProgress, HPADesiredReplicas: in.State.HPADesiredReplicas}
	if peak, ok := tuning.WorstMoment(in.Spec, in.State, in.State.Values, in.Observation); ok {
		read.PeakConnections, res.PeakConnections = &peak, &peak
	}
	sum := period.Summary{Now: in.Now, Mode: in.Gate.Mode, Paused: in.Gate.Paused, Observation: &in.Observation, Plan: &res.Plan, Cluster: read}
	if !written {
		sum.Recommended = res.Plan.Changes
	}
	for _, rf := range res.Refused {
		sum.Refused = append(sum.Refused, rf.String())
	}
	p := tuningv1alpha1.PerformanceProfile{Spec: in.Spec, Status: *st}
	p.Generation = in.Generation
	period.Summarize(&p, sum)
	*st = p.Status
	return res, nil
}
