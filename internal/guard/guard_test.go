package guard

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// base is a Deployment of 6 pods (spec and status), 2 of them ready, pool
// 10, a budget of 100, the default strategy and grace, pods that take 40 s
// to be ready (one step's pods terminate at a time), with an HPA the
// profile does not name.
func base() World {
	surge, unavail := intstr.FromString("25%"), intstr.FromString("25%")
	return World{
		Spec: budgetSpec(100),
		State: tuning.State{Values: tuning.Values{poolKnob: 10, cacheKnob: 60}, Replicas: 2, PodsCeiling: 6,
			GraceSeconds: 30, StepSeconds: 40, Strategy: tuning.RolloutStrategy{MaxSurge: &surge, MaxUnavailable: &unavail}},
		Observation: signals.NewObservation(now),
	}
}

func change(k tuning.Knob, from, to int64) tuning.Change {
	return tuning.Change{Knob: k, From: from, HasFrom: true, To: to}
}

func breach(p tuning.Plan) tuning.Plan { p.SLOKnown = true; return p }
func met(p tuning.Plan) tuning.Plan    { p.SLOKnown, p.SLOMet = true, true; return p }

func TestInvariants(t *testing.T) {
	pending := tuningv1alpha1.Decision{Time: metav1.NewTime(now.Add(-10 * time.Minute)), Family: "pool", Outcome: tuningv1alpha1.OutcomePending,
		Rollout: true, Changes: []tuningv1alpha1.Change{{Knob: string(poolKnob), From: "14", To: "10"}}}
	for _, tc := range []struct {
		name   string
		world  func(*World)
		plan   tuning.Plan
		allow  bool
		reason string // part of the refusal
	}{
		{"a pool raise counted at ready pods would fit; at the 6 pods the Deployment runs it does not",
			nil, breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
				Changes: []tuning.Change{change(poolKnob, 10, 15)}}), false, "over the budget of 100"},
		{"an HPA the profile does not name lets the pods reach its maximum",
			func(w *World) { w.State.PodsCeiling = 30; w.Spec = budgetSpec(2000) },
			breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
				Changes: []tuning.Change{change(poolKnob, 10, 40)}}), false, "over the budget of 2000"},
		{"a raise that fits at the worst moment", func(w *World) { w.Spec = budgetSpec(200) },
			breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
				Changes: []tuning.Change{change(poolKnob, 10, 12)}}), true, ""},
		{"a maxReplicas raise below the pods another scaler allows does not raise the worst moment",
			func(w *World) { w.State.PodsCeiling = 30; w.State.Values[tuning.KnobHPAMaxReplicas] = 8 },
			breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisHPAAtMax,
				Changes: []tuning.Change{change(tuning.KnobHPAMaxReplicas, 8, 12)}}), true, ""},
		{"a floor raise below maxReplicas does not raise the worst moment, which counts the pods at the maximum",
			func(w *World) {
				w.State.Values[tuning.KnobHPAMaxReplicas], w.State.Values[tuning.KnobHPAMinReplicas] = 20, 2
			},
			breach(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisCPUSaturated,
				Changes: []tuning.Change{change(tuning.KnobHPAMinReplicas, 2, 13)}}), true, ""},
		{"a rollout whose peak at maxReplicas is over the budget is held, the floor raise beside it or not",
			func(w *World) {
				w.State.Values[tuning.KnobHPAMaxReplicas], w.State.Values[tuning.KnobHPAMinReplicas] = 20, 13
			},
			breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisCacheMisses,
				Changes: []tuning.Change{change(cacheKnob, 60, 120)}}), false, "already exceeded"},
		{"a cache rollout while the budget is already exceeded", func(w *World) { w.State.PodsCeiling = 53 },
			breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisCacheMisses,
				Changes: []tuning.Change{change(cacheKnob, 60, 120)}}), false, "already exceeded"},
		{"a pool cut that lowers the peak while the budget is exceeded", func(w *World) { w.State.PodsCeiling = 53 },
			met(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisOverProvisioned,
				Changes: []tuning.Change{change(poolKnob, 10, 5)}}), true, ""},
		{"terminating pods count", func(w *World) { w.Spec = budgetSpec(110); w.State.Terminating = 5 },
			breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
				Changes: []tuning.Change{change(poolKnob, 10, 11)}}), false, "over the budget of 110"},
		{"a raise that fits this profile's budget but not the one it shares", func(w *World) {
			w.Spec = budgetSpec(300)
			w.Shared = &Shared{Budget: 250, Others: 120, Profiles: []string{"checkout"}}
		}, breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisPoolSaturated,
			Changes: []tuning.Change{change(poolKnob, 10, 12)}}), false, "shared with checkout"},
		{"a field an existing HPA does not set is not the creation of an HPA", func(w *World) {
			w.Spec = budgetSpec(1000)
			w.State.Values[tuning.KnobHPAMaxReplicas], w.State.HasHPA = 10, true
			w.Spec.Autoscaling.Behavior = &tuningv1alpha1.BehaviorTuning{ScaleDownStabilizationWindow: tuningv1alpha1.DurationRange{
				Min: metav1.Duration{}, Max: metav1.Duration{Duration: 10 * time.Minute}}}
		}, met(tuning.Plan{Family: tuning.FamilyAutoscaling, Diagnosis: tuning.DiagnosisOverProvisioned,
			Changes: []tuning.Change{{Knob: tuning.KnobHPAScaleDownWindowS, To: 60}}}), true, ""},
		{"a reduction while the SLO is breached", func(w *World) { w.Spec = budgetSpec(1000) },
			breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisOverProvisioned,
				Changes: []tuning.Change{change(poolKnob, 10, 8)}}), false, "while the SLO is breached"},
		{"a reduction while its family's signals are missing", func(w *World) { w.Spec = budgetSpec(1000) },
			func() tuning.Plan {
				p := met(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisOverProvisioned,
					Changes: []tuning.Change{change(poolKnob, 10, 8)}})
				p.Missing.Families = []tuning.FamilyMissing{{Family: tuning.FamilyPool, Signals: []string{"poolWait: Stale"}}}
				return p
			}(), false, "signals of the pool family are missing"},
		{"a rollback restores the recorded value during a breach", func(w *World) {
			w.Spec, w.History = budgetSpec(1000), []tuningv1alpha1.Decision{pending}
		}, breach(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisRegression,
			Changes:   []tuning.Change{change(poolKnob, 10, 14)},
			Judgement: &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeRolledBack}}), true, ""},
		{"a knob set through a Secret", func(w *World) {
			w.Spec = budgetSpec(1000)
			w.Unknown = map[tuning.Knob]string{cacheKnob: "Secret app-env"}
		}, breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisCacheMisses,
			Changes: []tuning.Change{change(cacheKnob, 60, 120)}}), false, "Secret app-env"},
		{"a starting point for a knob with no value: its built-in default is unknown", func(w *World) {
			w.Spec = budgetSpec(1000)
			delete(w.State.Values, cacheKnob)
		}, met(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisStartingPoint,
			Changes: []tuning.Change{{Knob: cacheKnob, To: 30}}}), false, "built-in default is unknown"},
		{"a knob with no value, raised as the diagnosed bottleneck of a breach", func(w *World) {
			w.Spec = budgetSpec(1000)
			delete(w.State.Values, cacheKnob)
		}, breach(tuning.Plan{Family: tuning.FamilyCache, Rollout: true, Diagnosis: tuning.DiagnosisCacheMisses,
			Changes: []tuning.Change{{Knob: cacheKnob, To: 300}}}), true, ""},
		{"a pool with no value below what the pods report", func(w *World) {
			w.Spec = budgetSpec(1000)
			delete(w.State.Values, poolKnob)
			w.Observation.Set(signals.PoolMax, 50, now)
		}, met(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisStartingPoint,
			Changes: []tuning.Change{{Knob: poolKnob, To: 18}}}), false, "the pods report 50"},
		{"the Redis workload another profile tunes", func(w *World) {
			w.Spec = budgetSpec(1000)
			w.State.Values[tuning.KnobRedisReplicas] = 2
			w.Claimed = map[tuning.Knob]string{tuning.KnobRedisReplicas: "PerformanceProfile checkout"}
		}, breach(tuning.Plan{Family: tuning.FamilyRedis, Diagnosis: tuning.DiagnosisRedisSaturated,
			Changes: []tuning.Change{change(tuning.KnobRedisReplicas, 2, 3)}}), false, "claimed by PerformanceProfile checkout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := base()
			if tc.world != nil {
				tc.world(&w)
			}
			if tc.name == "the Redis workload another profile tunes" {
				w.Spec.Cache.Redis = &tuningv1alpha1.RedisCache{Replicas: &tuningv1alpha1.RedisReplicas{
					TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: "redis"}, Min: 1, Max: 5}}
			}
			got, refused := Check(w, tc.plan)
			if allowed := len(got.Changes) == len(tc.plan.Changes) && len(refused) == 0; allowed != tc.allow {
				t.Fatalf("allowed %v, want %v: %v", allowed, tc.allow, refused)
			}
			if !tc.allow {
				if len(got.Changes) != 0 || got.Family != "" || got.Judgement != nil && got.Judgement.Outcome != tuningv1alpha1.OutcomeKept {
					t.Errorf("a refused plan keeps %+v", got)
				}
				if len(refused) == 0 || !strings.Contains(refused[0].String(), tc.reason) {
					t.Errorf("refusal %v, want one saying %q", refused, tc.reason)
				}
			}
		})
	}
}

// A pool with no value in the pod spec that the pods report starts from
// the reported value: the record can restore it.
func TestStartFromTheReportedValue(t *testing.T) {
	w := base()
	w.Spec = budgetSpec(1000)
	delete(w.State.Values, poolKnob)
	w.Observation.Set(signals.PoolMax, 8, now)
	got, refused := Check(w, met(tuning.Plan{Family: tuning.FamilyPool, Rollout: true, Diagnosis: tuning.DiagnosisStartingPoint,
		Changes: []tuning.Change{{Knob: poolKnob, To: 10}}}))
	if len(refused) != 0 || len(got.Changes) != 1 || got.Changes[0] != change(poolKnob, 8, 10) {
		t.Errorf("changes %+v refused %v, want %s 8→10", got.Changes, refused, poolKnob)
	}
}
