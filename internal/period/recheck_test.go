package period

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

func TestNextCheckEveryScrapeWhileABreachIsCPUSaturated(t *testing.T) {
	const interval, scrape = 30 * time.Second, 15 * time.Second
	slo := func(s metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{{Type: tuningv1alpha1.ConditionSLOMet, Status: s, Reason: "Observed"}}
	}
	decided := func(d tuning.Diagnosis, o tuningv1alpha1.Outcome) []tuningv1alpha1.Decision {
		return []tuningv1alpha1.Decision{{Family: string(tuning.FamilyAutoscaling), Diagnosis: string(d), Outcome: o,
			Changes: []tuningv1alpha1.Change{{Knob: string(tuning.KnobHPAMinReplicas), From: "2", To: "10"}}}}
	}
	for _, tc := range []struct {
		name   string
		st     tuningv1alpha1.PerformanceProfileStatus
		scrape time.Duration
		want   time.Duration
	}{
		{"a floor raise for saturated CPU pending in a breach: every scrape",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionFalse), History: decided(tuning.DiagnosisCPUSaturated, tuningv1alpha1.OutcomePending)},
			scrape, scrape},
		{"the SLO holds again: every interval",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionTrue), History: decided(tuning.DiagnosisCPUSaturated, tuningv1alpha1.OutcomePending)},
			scrape, interval},
		{"the SLO cannot be judged: every interval",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionUnknown), History: decided(tuning.DiagnosisCPUSaturated, tuningv1alpha1.OutcomePending)},
			scrape, interval},
		{"a breach of another bottleneck: every interval",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionFalse), History: decided(tuning.DiagnosisPoolSaturated, tuningv1alpha1.OutcomePending)},
			scrape, interval},
		{"the floor raise was judged: every interval",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionFalse), History: decided(tuning.DiagnosisCPUSaturated, tuningv1alpha1.OutcomeKept)},
			scrape, interval},
		{"a scrape interval as long as the interval gains nothing",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionFalse), History: decided(tuning.DiagnosisCPUSaturated, tuningv1alpha1.OutcomePending)},
			time.Minute, interval},
		{"an unknown scrape interval",
			tuningv1alpha1.PerformanceProfileStatus{Conditions: slo(metav1.ConditionFalse), History: decided(tuning.DiagnosisCPUSaturated, tuningv1alpha1.OutcomePending)},
			0, interval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextCheck(tc.st, interval, tc.scrape); got != tc.want {
				t.Fatalf("next check in %s, want %s", got, tc.want)
			}
		})
	}
}
