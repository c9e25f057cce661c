package period

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// MayWrite reports whether a plan is written to the cluster: in mode Auto,
// not paused, and only when the SLO signals were read (missing SLO data
// means hold; the plan holds too). Otherwise the plan is only published.
func MayWrite(mode tuningv1alpha1.Mode, paused bool, plan tuning.Plan) bool {
	return mode == tuningv1alpha1.ModeAuto && !paused && len(plan.Missing.SLO) == 0
}

// SLOMetSince is when the SLOs started to hold without a break: the
// transition time of the SLOMet condition while it is True; zero otherwise.
func SLOMetSince(st tuningv1alpha1.PerformanceProfileStatus) time.Time {
	c := meta.FindStatusCondition(st.Conditions, tuningv1alpha1.ConditionSLOMet)
	if c == nil || c.Status != metav1.ConditionTrue {
		return time.Time{}
	}
	return c.LastTransitionTime.Time
}

// EngineInput is the engine's input for one period: the profile's spec,
// what was observed and read from the cluster, and what its status
// remembers (history, memory, and since when the SLOs hold).
func EngineInput(spec tuningv1alpha1.PerformanceProfileSpec, st tuningv1alpha1.PerformanceProfileStatus, generation int64,
	obs signals.Observation, state tuning.State, now time.Time) tuning.Input {
	return tuning.Input{Spec: spec, Observation: obs, State: state, History: st.History, Memory: st.Memory,
		Generation: generation, Now: now, SLOMetSince: SLOMetSince(st)}
}
