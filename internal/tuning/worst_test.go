package tuning

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

func TestWorstObjective(t *testing.T) {
	slo := tuningv1alpha1.SLO{
		Latency: []tuningv1alpha1.LatencyObjective{
			{Percentile: tuningv1alpha1.P95, Threshold: metav1.Duration{Duration: 50 * time.Millisecond}},
			{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
		},
		MaxErrorRate:  ptr.To(tuningv1alpha1.Percent("0.5%")),
		MinThroughput: ptr.To[int32](100),
	}
	for _, tc := range []struct {
		name      string
		values    map[signals.Signal]float64
		want, sli string
	}{
		{"p99 nearest its limit", map[signals.Signal]float64{signals.LatencyP95: 0.020, signals.LatencyP99: 0.09312, signals.ErrorRate: 0.001, signals.Throughput: 400},
			"p99<=100ms", "93.1ms"},
		{"p95 past its limit", map[signals.Signal]float64{signals.LatencyP95: 0.0604, signals.LatencyP99: 0.09, signals.ErrorRate: 0.001, signals.Throughput: 400},
			"p95<=50ms", "60.4ms"},
		{"errors", map[signals.Signal]float64{signals.LatencyP95: 0.02, signals.LatencyP99: 0.03, signals.ErrorRate: 0.0123, signals.Throughput: 400},
			"errors<=0.5%", "1.2%"},
		{"throughput short", map[signals.Signal]float64{signals.LatencyP95: 0.02, signals.LatencyP99: 0.03, signals.ErrorRate: 0, signals.Throughput: 42.4},
			"throughput>=100/s", "42/s"},
		{"judged on what was read", map[signals.Signal]float64{signals.LatencyP99: 0.08}, "p99<=100ms", "80ms"},
		{"nothing read", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := signals.NewObservation(time.Unix(0, 0))
			for s, v := range tc.values {
				o.Set(s, v, o.Time)
			}
			name, sli := WorstObjective(slo, o)
			if name != tc.want || sli != tc.sli {
				t.Errorf("WorstObjective = %q, %q; want %q, %q", name, sli, tc.want, tc.sli)
			}
		})
	}
}
