package plugin

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// ago says how long before now t was, such as "5m ago"; "never" for zero.
func ago(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if d := now.Sub(t.Time); d >= 0 {
		return duration.HumanDuration(d) + " ago"
	}
	return "in " + duration.HumanDuration(t.Sub(now))
}

// changes reads "DB_POOL_MAX_CONNECTIONS 10→14, hpa.minReplicas <unset>→3".
func changes(cs []tuningv1alpha1.Change) string {
	if len(cs) == 0 {
		return "no change"
	}
	return period.ChangesString(cs)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// condition returns the profile's condition of a type, nil when it has none.
func condition(p *tuningv1alpha1.PerformanceProfile, typ string) *metav1.Condition {
	return meta.FindStatusCondition(p.Status.Conditions, typ)
}

// doing says in a few words what navius-tuner does with the profile now.
func doing(p *tuningv1alpha1.PerformanceProfile) string {
	if p.Status.ObservedGeneration == 0 && len(p.Status.Conditions) == 0 {
		return "not reconciled yet"
	}
	if p.Annotations[tuningv1alpha1.PausedAnnotation] == "true" || p.Status.Paused {
		return "paused: recommends only"
	}
	if c := condition(p, tuningv1alpha1.ConditionProgressing); c != nil && c.Status == metav1.ConditionTrue {
		if d := pending(p); d != nil {
			return fmt.Sprintf("%s: settling %s", strings.ToLower(c.Reason), changes(d.Changes))
		}
		return strings.ToLower(c.Reason)
	}
	ready := condition(p, tuningv1alpha1.ConditionReady)
	if ready == nil {
		return "not reconciled yet"
	}
	switch ready.Reason {
	case tuningv1alpha1.ReasonSucceeded:
		if slo := condition(p, tuningv1alpha1.ConditionSLOMet); slo != nil && slo.Status == metav1.ConditionTrue {
			return "holding: SLO met"
		}
		return "tuning"
	case tuningv1alpha1.ReasonRecommending:
		if r := p.Status.Recommendation; r != nil && len(r.Changes) > 0 {
			return "recommends " + changes(r.Changes)
		}
		return "recommends no change"
	}
	return ready.Reason
}

// pending is the decision still settling, nil when none is.
func pending(p *tuningv1alpha1.PerformanceProfile) *tuningv1alpha1.Decision {
	h := p.Status.History
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Outcome == tuningv1alpha1.OutcomePending {
			return &h[i]
		}
	}
	return nil
}

// nextRollout says when navius-tuner may next restart the pods with an env
// change: after the settling change is judged and once maxRolloutsPerHour
// allows it.
func nextRollout(p *tuningv1alpha1.PerformanceProfile, now time.Time) string {
	switch {
	case p.Spec.Mode == tuningv1alpha1.ModeOff:
		return "never (mode Off)"
	case p.Spec.Mode == tuningv1alpha1.ModeRecommend:
		return "never (mode Recommend)"
	case p.Annotations[tuningv1alpha1.PausedAnnotation] == "true":
		return "never (paused)"
	}
	var at time.Time
	why := ""
	if m := p.Status.Memory; m != nil {
		if until := tuning.RolloutsWaitUntil(p.Spec, *m, now); until.After(at) {
			at, why = until, "rollout budget"
		}
	}
	if d := pending(p); d != nil {
		if until := d.Time.Add(tuning.SettingsOf(p.Spec).SettleFor); until.After(at) {
			at, why = until, "settling"
		}
	}
	if !at.After(now) {
		return "now"
	}
	return fmt.Sprintf("in %s (%s)", duration.HumanDuration(at.Sub(now)), why)
}

// decisionLines describes one decision in plain words, one line each.
func decisionLines(d tuningv1alpha1.Decision, now time.Time) []string {
	head := fmt.Sprintf("%s  %s  %s  [%s]", ago(d.Time, now), d.Family, changes(d.Changes), d.Outcome)
	if d.Rollout {
		head += "  (restarted the pods)"
	}
	out := []string{head}
	if d.Diagnosis != "" {
		out = append(out, "  diagnosis: "+d.Diagnosis)
	}
	if d.Reason != "" {
		out = append(out, "  evidence:  "+d.Reason)
	}
	if b := d.Baseline; b != nil && b.WorstObjective != "" {
		out = append(out, fmt.Sprintf("  before:    %s at %s", b.WorstObjective, b.WorstSLI))
	}
	if d.Predicted != "" {
		out = append(out, "  predicted: "+d.Predicted)
	}
	if pr := d.Prediction; pr != nil {
		line := fmt.Sprintf("  model:     %s predicted %s = %s", pr.Model, pr.Signal, pr.Value)
		if pr.Observed != "" {
			line += fmt.Sprintf(", observed %s (error %s)", pr.Observed, pr.Error)
		} else {
			line += ", not judged yet"
		}
		out = append(out, line)
	}
	switch {
	case d.Observed != "":
		out = append(out, "  outcome:   "+d.Observed)
	case d.Outcome == tuningv1alpha1.OutcomePending:
		out = append(out, "  outcome:   settling, judged after the settle time")
	}
	return out
}

// memoryLines says what status.memory remembers, in plain words.
func memoryLines(p *tuningv1alpha1.PerformanceProfile, now time.Time) []string {
	m := p.Status.Memory
	if m == nil {
		return []string{"nothing remembered yet"}
	}
	var out []string
	s := tuning.SettingsOf(p.Spec)
	n := 0
	for _, t := range m.Rollouts {
		if now.Sub(t.Time) < time.Hour {
			n++
		}
	}
	out = append(out, fmt.Sprintf("restarts in the last hour: %d of %d allowed (rollbacks count)", n, s.MaxRolloutsPerHour))
	if m.LastEnvSaving != nil {
		out = append(out, "last saving that restarted the pods: "+ago(*m.LastEnvSaving, now))
	}
	for _, k := range m.Knobs {
		line := fmt.Sprintf("%s: last set to %s", k.Knob, orDash(k.LastApplied))
		if k.LastChange != nil {
			line += " " + ago(*k.LastChange, now)
		}
		if k.ReturnTo != "" {
			line += fmt.Sprintf("; returns to %s when the pressure is gone", k.ReturnTo)
		}
		out = append(out, line)
		for _, b := range []struct {
			dir string
			b   *tuningv1alpha1.BackOff
		}{{"up", k.Up}, {"down", k.Down}} {
			if b.b == nil {
				continue
			}
			l := fmt.Sprintf("  moving it %s was undone %d time(s) in a row, since %s", b.dir, b.b.Level, ago(b.b.Since, now))
			if b.b.Bound != "" {
				l += fmt.Sprintf("; %s is not tried again without new evidence", b.b.Bound)
			}
			if b.b.Load != nil {
				l += fmt.Sprintf(" (load then %d req/s)", *b.b.Load)
			}
			out = append(out, l)
		}
	}
	for _, me := range m.Models {
		l := fmt.Sprintf("model %s: running error %s over %d checked prediction(s)", me.Model, me.Error, me.Samples)
		if me.LastPrediction != nil {
			l += ", last " + ago(*me.LastPrediction, now)
		}
		out = append(out, l)
	}
	if c := m.CPU; c != nil {
		out = append(out, fmt.Sprintf("CPU per request: %s, learned from %d sample(s)", c.PerRequest.Duration, c.Samples))
	}
	return out
}
