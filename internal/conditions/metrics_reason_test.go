package conditions

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestMetricsAvailableNamesWhatAPersonCanFix: SLO signals missing for a
// reason someone fixes in a known place (the scope labels, the histogram's
// buckets, the traffic, the Secret's label) give MetricsAvailable=False with
// that reason; any other reason stays MetricsUnavailable.
func TestMetricsAvailableNamesWhatAPersonCanFix(t *testing.T) {
	for _, tc := range []struct {
		missing []signals.Reason
		want    string
	}{
		{[]signals.Reason{signals.ReasonTooManySeries}, tuningv1alpha1.ReasonTooManySeries},
		{[]signals.Reason{signals.ReasonEndpointDown, signals.ReasonBucketsTooCoarse}, tuningv1alpha1.ReasonBucketsTooCoarse},
		{[]signals.Reason{signals.ReasonTooFewSamples}, tuningv1alpha1.ReasonTooFewSamples},
		{[]signals.Reason{signals.ReasonCredentialsNotAllowed}, tuningv1alpha1.ReasonCredentialsNotAllowed},
		{[]signals.Reason{signals.ReasonStale, signals.ReasonEmpty}, tuningv1alpha1.ReasonMetricsUnavailable},
	} {
		var conds []metav1.Condition
		SetMetricsAvailable(&conds, Facts{Now: time.Now(), Observed: true, SLOMissing: []string{"latencyP99: …"},
			MetricsReason: MetricsReason(tc.missing)})
		c := meta.FindStatusCondition(conds, tuningv1alpha1.ConditionMetricsAvailable)
		if c.Status != metav1.ConditionFalse || c.Reason != tc.want {
			t.Errorf("%v: got %s/%s, want False/%s", tc.missing, c.Status, c.Reason, tc.want)
		}
	}
}
