// Package replay runs the shipped period (engine, guard, ledger) over a
// profile's recorded metrics: at every spec.interval of a past time range it
// reads the signals as the manager's reader read them then (queries
// evaluated at that time) and asks the period what it would have done,
// starting from the knob values the workload had. It writes nothing.
//
// Only the first decision is a counterfactual statement about the past:
// once a replayed change differs from what the workload ran, the recorded
// metrics no longer describe the workload the replay assumes, so what
// follows is a preview of what those metrics would have triggered (Report
// marks it).
package replay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/period/step"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Observer reads the profile's signals as they were at a past time.
type Observer func(ctx context.Context, at time.Time) (signals.Observation, error)

// Config is one replay.
type Config struct {
	// Profile is the profile replayed: its spec (its status is not read;
	// the replay starts from an empty ledger, as a new profile does).
	Profile *tuningv1alpha1.PerformanceProfile
	// From and To bound the replay: periods at From, From + interval, …, up to To.
	From, To time.Time
	// State is the workload as read (replicas, scalers, strategy, limits)
	// with the knob values it had at From.
	State tuning.State
	// Observe reads the signals at a period's time.
	Observe Observer
	// Decide is the engine [tuning.Decide].
	Decide func(tuning.Input) tuning.Plan
}

// MaxPeriods bounds a replay's length: a week at 30s is about 20,000 periods.
const MaxPeriods = 50000

// Period is what the replay decided at one period.
type Period struct {
	Time time.Time `json:"time"`
	// SLO is the worst objective and its SLI ("p99<=100ms", "180ms").
	Objective string `json:"objective,omitempty"`
	SLI       string `json:"sli,omitempty"`
	Diagnosis string `json:"diagnosis,omitempty"`
	// Reason is the engine's reason: the evidence of a change, or why it holds.
	Reason string `json:"reason,omitempty"`
	// Decision is the change the period would have made (recorded as the
	// manager records it: evidence, baseline, predicted effect), nil when none.
	Decision *tuningv1alpha1.Decision `json:"decision,omitempty"`
	// Judged is the earlier decision this period's judgement settled, nil when none.
	Judged *tuningv1alpha1.Decision `json:"judged,omitempty"`
	// Refused are the changes the guard refused, in words.
	Refused []string `json:"refused,omitempty"`
	// Holds are why nothing (or less) was done.
	Holds []string `json:"holds,omitempty"`
	// Missing are the signals the period could not use.
	Missing []string `json:"missing,omitempty"`
	// Values are the knob values after the period.
	Values tuning.Values `json:"values"`
	// PeakConnections is the most connections the pods can hold at the
	// worst moment of this period (during its change's rollout, if any),
	// nil when unknown.
	PeakConnections *int64 `json:"peakConnections,omitempty"`
	// Preview is true after the first change: the metrics are those of the
	// workload as it ran, not as the replay changed it.
	Preview bool `json:"preview"`
}

// Report is a whole replay.
type Report struct {
	Namespace string        `json:"namespace"`
	Profile   string        `json:"profile"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Interval  time.Duration `json:"interval"`
	// Start are the knob values the replay started from.
	Start   tuning.Values `json:"start"`
	Periods []Period      `json:"periods"`
	// Changes counts the decisions that change something; Rollouts those
	// that restart the pods; Refusals the changes the guard refused.
	Changes  int `json:"changes"`
	Rollouts int `json:"rollouts"`
	Refusals int `json:"refusals"`
	// FirstChange is the time of the first change, nil when none: the
	// periods after it are a preview.
	FirstChange *time.Time `json:"firstChange,omitempty"`
	// PeakConnections is the largest of the periods' peaks, nil when
	// unknown; Budget is the database budget (maxConnections − reserved),
	// nil when the profile declares none.
	PeakConnections *int64 `json:"peakConnections,omitempty"`
	Budget          *int64 `json:"budget,omitempty"`
}

// OverBudget reports whether the peak would have exceeded the budget.
func (r *Report) OverBudget() bool {
	return r.PeakConnections != nil && r.Budget != nil && *r.PeakConnections > *r.Budget
}

// Unsafe reports whether the guard would have refused a change or the
// connection peak would have exceeded the budget.
func (r *Report) Unsafe() bool { return r.Refusals > 0 || r.OverBudget() }

// Run replays the range. It stops at the first error of the observer
// (a failed read of Prometheus is in the observation, as missing signals;
// an error is one that says nothing about the metrics, such as bad credentials).
func Run(ctx context.Context, c Config) (*Report, error) {
	p := c.Profile
	if p == nil || c.Observe == nil {
		return nil, errors.New("a profile and an observer are required")
	}
	interval := tuning.SettingsOf(p.Spec).Interval
	if !c.To.After(c.From) {
		return nil, fmt.Errorf("the range is empty: from %s to %s", c.From.UTC().Format(time.RFC3339), c.To.UTC().Format(time.RFC3339))
	}
	if n := c.To.Sub(c.From) / interval; n >= MaxPeriods {
		return nil, fmt.Errorf("the range holds %d periods of %s, more than %d: replay a shorter range", n+1, interval, MaxPeriods)
	}
	state := c.State
	state.Values = maps.Clone(state.Values)
	if state.Values == nil {
		state.Values = tuning.Values{}
	}
	// The rollouts the replay starts are assumed done by the next period:
	// it cannot know how long the pods would have taken. What the state
	// says of the pods' present (since when they are warm, how many
	// terminate now) says nothing of the range.
	state.RolloutInProgress, state.PodsWarmSince, state.Terminating = false, time.Time{}, 0
	rep := &Report{Namespace: p.Namespace, Profile: p.Name, From: c.From, To: c.To, Interval: interval,
		Start: maps.Clone(state.Values)}
	if b, ok := tuning.ConnectionBudget(p.Spec); ok {
		rep.Budget = &b
	}
	var st tuningv1alpha1.PerformanceProfileStatus
	for at := c.From; !at.After(c.To); at = at.Add(interval) {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		obs, err := c.Observe(ctx, at)
		if err != nil {
			return rep, fmt.Errorf("observing at %s: %w", at.UTC().Format(time.RFC3339), err)
		}
		if obs.Time.IsZero() {
			obs.Time = at
		}
		before := maps.Clone(state.Values)
		w := &writer{values: state.Values}
		res, err := step.Run(&st, step.Input{Spec: p.Spec, Generation: p.Generation,
			Gate: period.Gate{Mode: tuningv1alpha1.ModeAuto}, Observation: obs, State: state, Now: at, Decide: c.Decide}, w)
		if err != nil {
			return rep, err // the replay's writes cannot fail
		}
		pr := Period{Time: at, Diagnosis: string(res.Plan.Diagnosis), Reason: res.Plan.Reason,
			Holds: res.Plan.Holds, Judged: res.Committed.Judged.DeepCopy(), Preview: rep.FirstChange != nil,
			Values: maps.Clone(state.Values)}
		pr.Objective, pr.SLI = tuning.WorstObjective(p.Spec.SLO, obs)
		pr.Missing = append(slices.Clone(res.Plan.Missing.SLO), res.Plan.Missing.FamilyNotes()...)
		for _, rf := range res.Refused {
			pr.Refused = append(pr.Refused, rf.String())
		}
		rep.Refusals += len(res.Refused)
		if d := res.Committed.Recorded; d != nil {
			pr.Decision = d.DeepCopy()
			rep.Changes++
			if d.Rollout {
				rep.Rollouts++
			}
			if rep.FirstChange == nil {
				t := at
				rep.FirstChange = &t
			}
		}
		pr.PeakConnections = peak(p.Spec, state, before, obs)
		if v := pr.PeakConnections; v != nil && (rep.PeakConnections == nil || *v > *rep.PeakConnections) {
			rep.PeakConnections = ptr(*v)
		}
		rep.Periods = append(rep.Periods, pr)
	}
	return rep, nil
}

// peak is the most connections the pods can hold at the worst moment of the
// period: with the values before and after it, and while its change of the
// pool rolls out (old and new pods at once, as the guard counts them).
func peak(spec tuningv1alpha1.PerformanceProfileSpec, st tuning.State, before tuning.Values, obs signals.Observation) *int64 {
	after := st.Values
	var out *int64
	keep := func(v int64) {
		if out == nil || v > *out {
			out = ptr(v)
		}
	}
	old, okOld := tuning.PoolSize(spec, before, obs.Get)
	next, okNext := tuning.PoolSize(spec, after, obs.Get)
	if v, ok := tuning.WorstMoment(spec, st, before, obs); ok {
		keep(v)
	}
	if v, ok := tuning.WorstMoment(spec, st, after, obs); ok {
		keep(v)
	}
	if okOld && okNext && old > 0 && next > 0 && old != next {
		keep(st.PeakConnections(tuning.BudgetPods(st, after), old, next))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// writer is the replay's period.Writer: its writes are the knob values it
// carries into the next period.
type writer struct {
	values  tuning.Values
	pending []tuning.Change
}

func (w *writer) Prepare(changes []tuning.Change) (int, error) {
	w.pending = nil
	for _, c := range changes {
		if cur, ok := w.values[c.Knob]; !ok || cur != c.To {
			w.pending = append(w.pending, c)
		}
	}
	return len(w.pending), nil
}

func (w *writer) Record() error { return nil }

func (w *writer) Write() (int, error) {
	for _, c := range w.pending {
		w.values[c.Knob] = c.To
	}
	return len(w.pending), nil
}

// ValuesAt are the knob values a workload had at a past time: the values it
// has now, with every change navius-tuner recorded after that time undone
// (status.history, newest first). A change recorded as never applied
// (its outcome Unknown is kept: it was found live) is undone too.
func ValuesAt(now tuning.Values, history []tuningv1alpha1.Decision, at time.Time) tuning.Values {
	out := maps.Clone(now)
	if out == nil {
		out = tuning.Values{}
	}
	for i := len(history) - 1; i >= 0; i-- {
		d := history[i]
		if d.Time.Time.Before(at) {
			break
		}
		for _, c := range d.Changes {
			if c.From == "" {
				delete(out, tuning.Knob(c.Knob))
				continue
			}
			if v, err := strconv.ParseInt(c.From, 10, 64); err == nil {
				out[tuning.Knob(c.Knob)] = v
			}
		}
	}
	return out
}
