package harness

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// Profile timing of the harness: short enough that a decision, its rollout
// and its verdict fit in about a minute and a half of wall time.
const (
	ProfileInterval = 10 * time.Second
	// ProfileWindow is the API's minimum.
	ProfileWindow = time.Minute
	// ProfileSettleTime covers the rollout, a full window of fresh data and
	// the age of the operator's batched observation (up to 30 s): a change is
	// judged on data that is all from after it.
	ProfileSettleTime = 90 * time.Second
	// ProfileMaxStepPercent lets the engine jump to its estimate (pool 4 -> 12
	// in one step) rather than climb.
	ProfileMaxStepPercent = 200
)

// SLO of the default profile: the guide's case study ends at p95 ≤ 100 ms; the
// simulated database's call times (exponential, 60 ms mean) put p99 near
// 230 ms even with warm caches, so the p99 objective is 300 ms.
var (
	SLOP95 = 150 * time.Millisecond
	SLOP99 = 300 * time.Millisecond
)

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

// DefaultProfile is the PerformanceProfile of a workload: p95/p99 latency
// objectives, every knob the simulated service has (pool, L1, L2, Redis
// replicas, the HPA), short timing (ProfileInterval, ProfileWindow,
// ProfileSettleTime) and a generous rollout budget.
func DefaultProfile(namespace, name, prometheusURL string, withHPA bool) *tuningv1alpha1.PerformanceProfile {
	p := &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Kind: "Deployment", Name: name, Container: Container},
			Mode:      tuningv1alpha1.ModeAuto,
			Interval:  dur(ProfileInterval),
			SLO: tuningv1alpha1.SLO{
				Latency: []tuningv1alpha1.LatencyObjective{
					{Percentile: tuningv1alpha1.P95, Threshold: dur(SLOP95)},
					{Percentile: tuningv1alpha1.P99, Threshold: dur(SLOP99)},
				},
				MaxErrorRate: ptr.To(tuningv1alpha1.Percent("1%")),
				Window:       dur(ProfileWindow),
			},
			Metrics: tuningv1alpha1.MetricsSource{
				Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: prometheusURL, Timeout: dur(5 * time.Second)},
				Labels:     map[string]string{"namespace": namespace, "service": name},
			},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: sim.EnvPoolMax, Min: 2, Max: 40},
				MinConnections: &tuningv1alpha1.IntEnvKnob{Env: sim.EnvPoolMin, Min: 1, Max: 10},
				Database:       &tuningv1alpha1.DatabaseBudget{MaxConnections: 200, Reserved: 20},
			},
			Cache: &tuningv1alpha1.Cache{
				Memory: &tuningv1alpha1.MemoryCache{
					MaxItems: &tuningv1alpha1.IntEnvKnob{Env: sim.EnvL1Items, Min: 1000, Max: 100000},
					TTL:      &tuningv1alpha1.DurationEnvKnob{Env: sim.EnvL1TTL, Min: dur(10 * time.Second), Max: dur(10 * time.Minute)},
				},
				Redis: &tuningv1alpha1.RedisCache{
					TTL: &tuningv1alpha1.DurationEnvKnob{Env: sim.EnvL2TTL, Min: dur(30 * time.Second), Max: dur(time.Hour)},
					Replicas: &tuningv1alpha1.RedisReplicas{
						TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: RedisName}, Min: 1, Max: 5,
					},
				},
			},
			Guardrails: tuningv1alpha1.Guardrails{
				MaxStepPercent:       ProfileMaxStepPercent,
				SettleTime:           dur(ProfileSettleTime),
				MaxRolloutsPerHour:   60,
				RollbackOnRegression: ptr.To(true),
			},
		},
	}
	if withHPA {
		p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{
			HPARef:               &corev1.LocalObjectReference{Name: name},
			MinReplicas:          &tuningv1alpha1.Int32Range{Min: 1, Max: 10},
			MaxReplicas:          &tuningv1alpha1.Int32Range{Min: 2, Max: 20},
			TargetCPUUtilization: &tuningv1alpha1.Int32Range{Min: 50, Max: 85},
		}
	}
	return p
}
