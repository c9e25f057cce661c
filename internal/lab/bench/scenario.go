package bench

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// SLO is what a scenario scores every arm against (ground truth).
type SLO struct {
	// Percentile (0..1) and its Threshold in seconds.
	Percentile, Threshold float64
	// MaxErrorRate is the largest tolerated share of errors.
	MaxErrorRate float64
}

// Start is the configuration every arm starts from.
type Start struct {
	// Replicas of the static arms (and the Deployment before the HPA's first sync).
	Replicas int32
	// Knobs on every pod at the start (static-default keeps them).
	Knobs sim.Knobs
	// RedisReplicas at the start.
	RedisReplicas int
	// HPA bounds of the HPA arms and of the HPA the tuner tunes.
	HPAMin, HPAMax int32
	// TunerTargetPct is the CPU target of the HPA the tuner starts from.
	TunerTargetPct int32
}

// Scenario is one benchmark of the suite.
type Scenario struct {
	ID, Title string
	// Duration of a run and Warmup (not scored), in simulated seconds. The
	// operator starts at TunerStart, once the service is warm and its SLO window
	// holds no cold start.
	Duration, Warmup float64
	// Trace is the load for a seed.
	Trace func(seed uint64) sim.Trace
	// Model constants (the seed is set per run).
	Model sim.Config
	SLO   SLO
	Start Start
	// CPU request and limit of a pod, in millicores.
	CPURequest, CPULimit int64
	// Profile is the tuner's PerformanceProfile spec.
	Profile tuningv1alpha1.PerformanceProfileSpec
	// Arms to run, in table order.
	Arms []string
	// Sweep lists further HPA settings (ArmHPAWindow names) run on every
	// seed and shown in a table of their own (B2: the range the profile allows).
	Sweep []string
	// Grid for the static-best oracle (nil: no static-best arm).
	Grid *sim.Grid
	// Faults injected into the tuner's observations (B6).
	Faults []Fault
	// Kill lists times at which the operator is restarted mid-rollout (B6):
	// no decisions for KillFor seconds, then it resumes from the status.
	Kill    []float64
	KillFor float64
	// Marks are the times the load changes phase (B1: step up, step down; B7: each level).
	Marks []float64
	// Deviations says where the tuner's profile differs from what ships (the
	// default SLO window and guardrails) and why; empty: nothing differs.
	Deviations string
}

// FaultKind is a way the signals can fail.
type FaultKind string

const (
	FaultDown  FaultKind = "prometheus-down" // every query fails
	FaultNaN   FaultKind = "nan"             // the latency percentiles are NaN
	FaultStale FaultKind = "stale"           // every sample is older than allowed
)

// Fault makes the tuner's observations fail from From to To (seconds).
type Fault struct {
	Kind     FaultKind
	From, To float64
}

// Pod startup: a new pod serves StartSeconds after its creation.
const StartSeconds = 20.0

// profile is the tuner's spec for a scenario: p99 (and errors) as scored,
// the pool, both cache tiers, Redis replicas and an existing HPA, with what
// ships: the default SLO window (the CRD's default, tuning.DefaultWindow) and
// the default guardrails (Guardrails left empty). A scenario that needs other
// values sets them and says why in its Deviations.
func profile(slo SLO, dbMax, reserved int32, hpaMin, hpaMax int32) tuningv1alpha1.PerformanceProfileSpec {
	dur := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	errPct := tuningv1alpha1.Percent(pct(slo.MaxErrorRate))
	return tuningv1alpha1.PerformanceProfileSpec{
		TargetRef: tuningv1alpha1.TargetRef{Kind: "Deployment", Name: "orders-api", Container: "app"},
		Mode:      tuningv1alpha1.ModeAuto,
		Interval:  dur(30 * time.Second),
		SLO: tuningv1alpha1.SLO{
			Latency:      []tuningv1alpha1.LatencyObjective{{Percentile: percentileName(slo.Percentile), Threshold: dur(time.Duration(slo.Threshold * float64(time.Second)))}},
			MaxErrorRate: &errPct,
			Window:       dur(tuning.DefaultWindow),
		},
		Metrics: tuningv1alpha1.MetricsSource{
			Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: "http://prometheus.monitoring:9090"},
			Labels:     map[string]string{"namespace": "default", "service": "orders-api"},
		},
		ConnectionPool: &tuningv1alpha1.ConnectionPool{
			MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: sim.EnvPoolMax, Min: 5, Max: 100},
			MinConnections: &tuningv1alpha1.IntEnvKnob{Env: sim.EnvPoolMin, Min: 1, Max: 20},
			Database:       &tuningv1alpha1.DatabaseBudget{MaxConnections: dbMax, Reserved: reserved},
		},
		Cache: &tuningv1alpha1.Cache{
			Memory: &tuningv1alpha1.MemoryCache{
				MaxItems: &tuningv1alpha1.IntEnvKnob{Env: sim.EnvL1Items, Min: 1000, Max: 200000},
				TTL:      &tuningv1alpha1.DurationEnvKnob{Env: sim.EnvL1TTL, Min: dur(10 * time.Second), Max: dur(10 * time.Minute)},
			},
			Redis: &tuningv1alpha1.RedisCache{
				TTL: &tuningv1alpha1.DurationEnvKnob{Env: sim.EnvL2TTL, Min: dur(30 * time.Second), Max: dur(time.Hour)},
				Replicas: &tuningv1alpha1.RedisReplicas{TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: "redis"},
					Min: 1, Max: 5},
			},
		},
		Autoscaling: &tuningv1alpha1.Autoscaling{
			HPARef:               nil,
			Managed:              &tuningv1alpha1.ManagedHPA{},
			MinReplicas:          &tuningv1alpha1.Int32Range{Min: 1, Max: hpaMin * 10},
			MaxReplicas:          &tuningv1alpha1.Int32Range{Min: 2, Max: hpaMax * 2},
			TargetCPUUtilization: &tuningv1alpha1.Int32Range{Min: 50, Max: 85},
			// the upstream default (300 s) and the range a user would allow around it
			Behavior: &tuningv1alpha1.BehaviorTuning{ScaleDownStabilizationWindow: tuningv1alpha1.DurationRange{
				Min: dur(0), Max: dur(10 * time.Minute)}},
		},
	}
}

// percentileName is the highest percentile of the table at or below p.
func percentileName(p float64) tuningv1alpha1.Percentile {
	return tuningv1alpha1.Percentile(signals.PercentileAtMost(p).Name)
}
