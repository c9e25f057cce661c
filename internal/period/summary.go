package period

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Summary is what one period learned, from which the status follows.
type Summary struct {
	Now    time.Time
	Mode   tuningv1alpha1.Mode
	Paused bool
	// Block is why the period stopped early, nil when it ran through.
	Block *conditions.Blocker
	// Observation is what was observed, nil when the period stopped before observing.
	Observation *signals.Observation
	// Plan is the engine's answer, nil when the period stopped before deciding.
	Plan *tuning.Plan
	// Recommended is the part of the plan that is published, not applied.
	Recommended []tuning.Change
	// Cluster is what was read of the cluster, nil when it was not read.
	Cluster *Read
	// Refused are the guard's refusals of the plan's changes, in words.
	Refused []string
}

// Read is what a period read of the cluster, as the status reports it.
type Read struct {
	// Current is status.current.
	Current *tuningv1alpha1.KnobValues
	// PeakConnections is status.peakConnections (tuning.WorstMoment), nil when unknown.
	PeakConnections   *int64
	RolloutInProgress bool
	// HPADesiredReplicas is the profile's HPA's status.desiredReplicas, 0
	// when there is none or it was not read (tuning.WatchScaling).
	HPADesiredReplicas int32
	Conflicts          []conditions.Conflict
	// Notes are what a person should know although nothing stops navius-tuner.
	Notes []string
}

// Summarize writes what the period learned into the profile's status
// (observedGeneration, SLIs, current values, what the engine learned, the
// recommendation and every condition) and returns the facts the conditions
// were set from. prev is the recommendation the status had.
func Summarize(p *tuningv1alpha1.PerformanceProfile, s Summary) conditions.Facts {
	st := &p.Status
	prev := st.Recommendation
	f := facts(p, s)
	st.ObservedGeneration = p.Generation
	st.Paused = s.Paused
	if s.Plan != nil { // before the SLIs: Learn reads when they were written
		Learn(st, s.Plan.CPU, s.Now)
	}
	if s.Observation != nil {
		st.SLIs = tuning.SLIsOf(*s.Observation)
		st.SLIs.WorstObjective, st.SLIs.WorstSLI = tuning.WorstObjective(p.Spec.SLO, *s.Observation)
		st.Readiness = nil
		for _, r := range tuning.Readiness(p.Spec, *s.Observation) {
			st.Readiness = append(st.Readiness, r.API())
		}
	}
	if s.Cluster != nil {
		st.Current, st.PeakConnections = s.Cluster.Current, s.Cluster.PeakConnections
		// after the period's decision is recorded: a write starts its watch
		// at the replicas the HPA had when it was made
		if st.Memory != nil || tuning.Watched(st.History) {
			tuning.WatchScaling(memory(st), st.History, s.Cluster.HPADesiredReplicas, s.Cluster.HPADesiredReplicas > 0, s.Now)
		}
	}
	st.Recommendation = recommendation(s, prev)
	conditions.SetAll(&st.Conditions, f)
	return f
}

// facts gathers what the condition setters need.
func facts(p *tuningv1alpha1.PerformanceProfile, s Summary) conditions.Facts {
	f := conditions.Facts{
		Generation: p.Generation,
		Now:        s.Now,
		Mode:       s.Mode,
		Paused:     s.Paused,
		Blocker:    s.Block,
		Observed:   s.Observation != nil,
		Pending:    Pending(p.Status),
	}
	// What is missing is the engine's call, made once in Decide; a
	// period that stopped before deciding asks the same rule.
	if s.Plan != nil {
		PlanFacts(&f, *s.Plan)
		if f.Blocker == nil && s.Plan.RolloutFailed != "" {
			f.Blocker = &conditions.Blocker{Reason: tuningv1alpha1.ReasonRolloutFailed, Message: s.Plan.RolloutFailed}
		}
	} else if s.Observation != nil {
		m := tuning.MissingOf(p.Spec, *s.Observation)
		f.SLOMissing, f.FamiliesHeld = m.SLO, m.FamilyNotes()
	}
	if s.Observation != nil {
		f.MetricsReason = conditions.MetricsReason(sloMissingReasons(p.Spec, *s.Observation))
	}
	if len(s.Refused) > 0 {
		f.Notes = append(f.Notes, "the safety guard refused "+strings.Join(s.Refused, "; "))
	}
	if c := s.Cluster; c != nil {
		f.RolloutInProgress = c.RolloutInProgress
		f.Conflicts = c.Conflicts
		f.Notes = append(f.Notes, c.Notes...)
	}
	return f
}

// PlanFacts fills in what a plan says about the SLOs, the missing signals
// and the guardrails.
func PlanFacts(f *conditions.Facts, plan tuning.Plan) {
	f.Evaluated, f.SLOKnown, f.SLOMet = true, plan.SLOKnown, plan.SLOMet
	f.SLOMissing, f.FamiliesHeld = plan.Missing.SLO, plan.Missing.FamilyNotes()
	f.BudgetExceeded, f.RolloutBudgetSpent = plan.BudgetExceeded, plan.RolloutBudgetSpent
	f.SLOMessage = ""
	if !plan.SLOMet {
		f.SLOMessage = plan.Reason
	}
}

// sloMissingReasons lists why each missing SLO signal is missing, in the
// order of the profile's objectives.
func sloMissingReasons(spec tuningv1alpha1.PerformanceProfileSpec, obs signals.Observation) []signals.Reason {
	var out []signals.Reason
	for _, s := range tuning.SLOSignals(spec) {
		if m, ok := obs.Missing[s]; ok {
			out = append(out, m.Reason)
		}
	}
	return out
}

// recommendation is what Recommend mode (or Auto while paused) publishes;
// its time only moves when its content does.
func recommendation(s Summary, prev *tuningv1alpha1.Recommendation) *tuningv1alpha1.Recommendation {
	if s.Plan == nil || s.Mode == tuningv1alpha1.ModeOff || (s.Mode == tuningv1alpha1.ModeAuto && !s.Paused) {
		return nil
	}
	rec := &tuningv1alpha1.Recommendation{Time: metav1.NewTime(s.Now), Reason: tuningv1alpha1.Truncate(s.Plan.Reason, tuningv1alpha1.MaxReasonLength)}
	if len(s.Plan.Holds) > 0 && len(s.Recommended) == 0 {
		rec.Reason = tuningv1alpha1.Truncate(joinNonEmpty(s.Plan.Reason, "holding: "+strings.Join(s.Plan.Holds, "; ")), tuningv1alpha1.MaxReasonLength)
	}
	for _, c := range s.Recommended {
		rec.Changes = append(rec.Changes, c.API())
	}
	if prev != nil && prev.Reason == rec.Reason && equality.Semantic.DeepEqual(prev.Changes, rec.Changes) {
		rec.Time = prev.Time
	}
	return rec
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// DeliveryNote is the note of a target that a progressive-delivery
// controller manages: each env change starts a canary analysis.
func DeliveryNote(target, controller string) string {
	return fmt.Sprintf("Deployment %s is managed by %s: each env change navius-tuner makes starts a canary analysis (see docs/gitops.md)",
		target, controller)
}
