package period

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// NextCheck is how soon a profile whose status is st is observed and
// decided again: every interval (spec.interval), and every scrape interval
// while a breach is CPU-saturated: the SLO is breached and the newest
// decision is a capacity change for saturated CPU still pending. The
// engine may raise the floor again in the same breach without waiting for
// the last raise to settle (an HPA change restarts nothing), and each
// scrape brings the load the pods added since: checking only every
// interval would leave a raise that fell short standing for up to an
// interval more. Never longer than interval; scrape 0 is unknown.
func NextCheck(st tuningv1alpha1.PerformanceProfileStatus, interval, scrape time.Duration) time.Duration {
	if scrape <= 0 || scrape >= interval || !SaturatedBreach(st) {
		return interval
	}
	return scrape
}

// SaturatedBreach reports whether st shows a breach being answered for
// saturated CPU: the SLOMet condition is False (the SLO was judged and
// breached) and the newest decision, still pending, was made for
// saturated CPU.
func SaturatedBreach(st tuningv1alpha1.PerformanceProfileStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, tuningv1alpha1.ConditionSLOMet)
	if c == nil || c.Status != metav1.ConditionFalse {
		return false
	}
	pd := tuning.Pending(st.History)
	return pd != nil && tuning.Diagnosis(pd.Diagnosis) == tuning.DiagnosisCPUSaturated
}
