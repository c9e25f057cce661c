package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Latency returns the field of s that holds percentile p; nil for a name the
// enum does not accept. With QueryOverrides.Latency it is the API's half of
// the percentile table (internal/signals.Percentiles).
func (s *SLIs) Latency(p Percentile) **metav1.Duration {
	switch p {
	case P50:
		return &s.P50
	case P90:
		return &s.P90
	case P95:
		return &s.P95
	case P99:
		return &s.P99
	case P999:
		return &s.P999
	}
	return nil
}

// Latency returns the override query of percentile p; nil for a name the enum does not accept.
func (q *QueryOverrides) Latency(p Percentile) *string {
	switch p {
	case P50:
		return &q.LatencyP50
	case P90:
		return &q.LatencyP90
	case P95:
		return &q.LatencyP95
	case P99:
		return &q.LatencyP99
	case P999:
		return &q.LatencyP999
	}
	return nil
}
