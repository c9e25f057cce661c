package benchcluster

import (
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/bench"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// DefaultScenarios are run when Options.Scenarios is empty.
var DefaultScenarios = []string{"B1", "B7"}

// Arms of tier B, in table order.
var Arms = []string{bench.ArmTuner, bench.ArmHPA(70)}

// supported reports whether a tier-A scenario can run in tier B: B5 (scale)
// and B6 (injected faults) are measured otherwise.
func supported(id string) bool { return id != "B5" && id != "B6" }

// selectScenarios returns tier A's scenarios by ID ("B4" selects B4a and
// B4b), each scaled in duration by scale.
func selectScenarios(ids []string, scale float64) ([]*bench.Scenario, error) {
	if len(ids) == 0 {
		ids = DefaultScenarios
	}
	all := bench.Scenarios(false)
	var out []*bench.Scenario
	for _, id := range ids {
		// An exact ID selects that scenario (B1 is not B1b); an ID that names
		// no scenario selects its variants (B4: B4a and B4b).
		var picked []*bench.Scenario
		for _, sc := range all {
			if strings.EqualFold(sc.ID, id) {
				picked = append(picked, sc)
			}
		}
		if len(picked) == 0 {
			for _, sc := range all {
				if len(sc.ID) > 2 && strings.EqualFold(sc.ID[:2], id) {
					picked = append(picked, sc)
				}
			}
		}
		if len(picked) == 0 {
			return nil, fmt.Errorf("unknown scenario %q", id)
		}
		for _, sc := range picked {
			if !supported(sc.ID) {
				return nil, fmt.Errorf("%s does not run in tier B (B5 and B6 are measured by their own tests)", sc.ID)
			}
			out = append(out, scaled(sc, scale))
		}
	}
	return out, nil
}

// scaled stretches a scenario's durations, marks and trace by k (1: as is).
func scaled(sc *bench.Scenario, k float64) *bench.Scenario {
	out := *sc
	out.Arms = Arms
	if k == 1 || k <= 0 {
		return &out
	}
	out.Duration, out.Warmup = math.Round(sc.Duration*k), math.Round(sc.Warmup*k)
	out.Marks = make([]float64, len(sc.Marks))
	for i, m := range sc.Marks {
		out.Marks[i] = math.Round(m * k)
	}
	orig := sc.Trace
	out.Trace = func(seed uint64) sim.Trace {
		tr := orig(seed)
		return sim.TraceFunc(func(t float64) float64 { return tr.RPS(t / k) })
	}
	out.Title = fmt.Sprintf("%s (durations ×%g)", sc.Title, k)
	return &out
}

// compress divides d by speed, rounded to whole seconds, at least floor.
func compress(d time.Duration, speed float64, floor time.Duration) time.Duration {
	c := time.Duration(math.Round(d.Seconds()/speed)) * time.Second
	return max(c, floor)
}

// API minimums of the profile's durations.
const (
	minInterval = 5 * time.Second
	minWindow   = time.Minute
)

// clusterProfile is the scenario's profile for namespace ns, with every
// duration compressed by speed (within the API's minimums) and the rollout
// budget multiplied by it. The operator tunes the workload's own HPA.
func clusterProfile(sc *bench.Scenario, ns, promURL string, speed float64) *tuningv1alpha1.PerformanceProfile {
	spec := *sc.Profile.DeepCopy()
	s := tuning.SettingsOf(spec)
	dur := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	spec.TargetRef.Name = workloadName
	spec.Interval = dur(compress(s.Interval, speed, minInterval))
	spec.SLO.Window = dur(compress(s.Window, speed, minWindow))
	spec.Guardrails.SettleTime = dur(max(compress(s.SettleTime, speed, time.Second), spec.Interval.Duration))
	spec.Guardrails.MaxRolloutsPerHour = int32(math.Round(float64(s.MaxRolloutsPerHour) * speed))
	spec.Metrics.Prometheus.URL = promURL
	spec.Metrics.Prometheus.Timeout = dur(5 * time.Second)
	spec.Metrics.Labels = map[string]string{"namespace": ns, "service": workloadName}
	if a := spec.Autoscaling; a != nil {
		a.Managed = nil
		a.HPARef = &corev1.LocalObjectReference{Name: workloadName}
		if b := a.Behavior; b != nil {
			r := &b.ScaleDownStabilizationWindow
			r.Min = dur(compress(r.Min.Duration, speed, 0))
			r.Max = dur(compress(r.Max.Duration, speed, time.Second))
		}
	}
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: workloadName},
		Spec:       spec,
	}
}

// effectiveWindow is the profile's SLO window in simulated seconds once compressed.
func effectiveWindow(sc *bench.Scenario, speed float64) float64 {
	return compress(tuning.SettingsOf(sc.Profile).Window, speed, minWindow).Seconds() * speed
}

// tunerStart is when tier B gives the operator its profile: tier A's rule
// (after the service is warm and a first full SLO window of its own)
// applied to the window the profile runs with once compressed.
func tunerStart(sc *bench.Scenario, speed float64) float64 {
	return withWindow(sc, effectiveWindow(sc, speed)).TunerStart()
}

// withWindow is sc with the profile's SLO window set to seconds (tier A at tier B's window).
func withWindow(sc *bench.Scenario, seconds float64) *bench.Scenario {
	out := *sc
	out.Profile = *sc.Profile.DeepCopy()
	out.Profile.SLO.Window = metav1.Duration{Duration: time.Duration(seconds * float64(time.Second))}
	return &out
}

// workloadName is the Deployment, HPA and profile of every arm.
const workloadName = "orders-api"

// namespace of an arm of a scenario.
func namespace(sc *bench.Scenario, arm string) string {
	return strings.ToLower(sc.ID) + "-" + arm
}

// workloadOptions are the harness options of an arm: tier A's start.
func workloadOptions(sc *bench.Scenario, arm string, seed uint64) harness.WorkloadOptions {
	knobs := sc.Start.Knobs
	target := int32(70)
	if arm == bench.ArmTuner {
		target = sc.Start.TunerTargetPct
	}
	model := sc.Model
	return harness.WorkloadOptions{
		Namespace:     namespace(sc, arm),
		Name:          workloadName,
		Replicas:      sc.Start.Replicas,
		Knobs:         &knobs,
		CPURequest:    fmt.Sprintf("%dm", sc.CPURequest),
		CPULimit:      fmt.Sprintf("%dm", sc.CPULimit),
		HPA:           &harness.HPAOptions{MinReplicas: sc.Start.HPAMin, MaxReplicas: sc.Start.HPAMax, TargetCPU: target},
		RedisReplicas: int32(sc.Start.RedisReplicas),
		Trace:         sc.Trace(seed),
		Seed:          seed,
		SimConfig: func(c *sim.Config) {
			ns, svc, redis, ctn, s := c.Namespace, c.Service, c.RedisName, c.Container, c.Seed
			*c = model
			c.Namespace, c.Service, c.RedisName, c.Container, c.Seed = ns, svc, redis, ctn, s
		},
		// the tuner's profile is created once the service is warm, as in tier A
		NoProfile: true,
	}
}
