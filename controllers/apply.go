package controllers

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Event reasons of actions (condition transitions use the condition's reason).
const (
	EventAdjusted    = "Adjusted"
	EventRolledBack  = "RolledBack"
	EventKept        = "Kept"
	EventHPACreated  = "HPACreated"
	EventApplyFailed = "ApplyFailed"
)

// apply writes the plan to the cluster in mode Auto when not paused and the
// SLO signals were read. Each object is written only when its content changes.
//
// Record, then act: before the first write to the workload, the decision is
// recorded in the status as Pending, with the optimistic lock, and the
// workload is read again from the API server. A reconcile that started from
// a stale copy of the profile or of the workload writes nothing and runs
// again, and every write navius-tuner makes is in the history before it
// happens. A crash between the record and the write leaves a decision that
// was never applied: the next reconcile drops it (dropUnapplied).
// recoverUnrecorded remains for a write whose record was lost.
func (r *PerformanceProfileReconciler) apply(ctx context.Context, s *scope) error {
	p, plan := s.profile, s.plan
	if !status.MayWrite(s.settings.Mode, s.paused, *plan) {
		return nil
	}
	s.recommended = nil
	writes, err := r.writes(p, s.cluster, plan.Changes)
	if err != nil {
		return err
	}
	if len(writes) > 0 {
		if writes, err = r.recheck(ctx, s); err != nil {
			return err
		}
	}
	family := string(plan.Family)
	rollback := plan.Judgement != nil && plan.Judgement.Outcome != tuningv1alpha1.OutcomeKept
	counter := r.opts.Metrics.adjustments
	if rollback {
		counter = r.opts.Metrics.rollbacks
	}
	committed := status.Commit(&p.Status, *plan, s.now, len(writes) > 0)
	if committed.Recorded != nil {
		if err := r.recordPending(ctx, s); err != nil {
			committed.Undo(&p.Status)
			return err
		}
	}
	for i, w := range writes {
		if err := actuate.Apply(ctx, r.client, w); err != nil {
			if i == 0 {
				// Nothing was written: the final status patch takes the
				// decision out of the history again.
				committed.Undo(&p.Status)
			}
			counter.WithLabelValues(family, resultFailed).Inc()
			r.event(p, false, EventApplyFailed, "Apply", fmt.Sprintf("Could not apply the %s change: %v", family, err))
			return err
		}
	}
	if d, j := committed.Judged, plan.Judgement; d != nil {
		reason := EventKept
		if rollback {
			reason = EventRolledBack
		}
		r.event(p, !rollback, reason, "Judge", fmt.Sprintf("The %s change of %s was %s: %s", d.Family, d.Time.UTC().Format("15:04:05"), j.Outcome, j.Observed))
	}
	if d := committed.Recorded; d != nil {
		if cs := s.cluster; cs.hpaManaged && cs.hpa == nil && plan.Family == tuning.FamilyAutoscaling {
			r.event(p, true, EventHPACreated, "Create", fmt.Sprintf("Created HorizontalPodAutoscaler %s for Deployment %s: %s", cs.hpaName, cs.target.Name, status.ChangesString(d.Changes)))
		}
		counter.WithLabelValues(family, resultApplied).Inc()
		if !rollback {
			r.event(p, true, EventAdjusted, "Tune", fmt.Sprintf("%s: %s (%s)", d.Diagnosis, status.ChangesString(d.Changes), plan.Reason))
		}
		ctrl.LoggerFrom(ctx).Info("Applied changes", "family", family, "changes", status.ChangesString(d.Changes), "reason", plan.Reason)
	}
	return nil
}

// recheck reads the profile and its workload from the API server right
// before a write, and builds the writes from what it read. The plan was made
// from the cache: when the live knob values, rollout or blocked knobs differ
// from the cached ones, the plan may be wrong (it could even undo
// navius-tuner's own last change), so nothing is written and the reconcile
// runs again.
func (r *PerformanceProfileReconciler) recheck(ctx context.Context, s *scope) ([]runtime.ApplyConfiguration, error) {
	live, err := r.readLive(ctx, s)
	if err != nil {
		return nil, err
	}
	live.blockConflicts(s.profile)
	if why := changedSince(s.cluster, live); why != "" {
		return nil, stale("%s", why)
	}
	s.cluster = live
	return r.writes(s.profile, live, s.plan.Changes)
}

// recordPending patches the status with the decision about to be applied,
// under the optimistic lock of the profile this reconcile read. When the
// patch fails, nothing is written to the workload.
func (r *PerformanceProfileReconciler) recordPending(ctx context.Context, s *scope) error {
	patch := client.MergeFromWithOptions(s.original, client.MergeFromWithOptimisticLock{})
	if err := r.client.Status().Patch(ctx, s.profile, patch); err != nil {
		if apierrors.IsConflict(err) {
			return stale("PerformanceProfile %s changed before its decision was recorded", s.profile.Name)
		}
		return fmt.Errorf("recording the decision before applying it: %w", err)
	}
	s.original = s.profile.DeepCopy()
	return nil
}

// writes builds the apply configurations of a plan's changes, one per object
// whose tuned fields change. Every field navius-tuner already owns on that
// object is applied again with its live value, so ownership is kept.
func (r *PerformanceProfileReconciler) writes(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, changes []tuning.Change) ([]runtime.ApplyConfiguration, error) {
	routed := tuning.Route(changes)
	env, hpa := map[string]string{}, actuate.HPASettings{}
	for k, v := range routed.Env {
		env[string(k)] = strconv.FormatInt(v, 10)
	}
	for k, v := range routed.HPA {
		n := int32(v)
		*hpaSlot(&hpa, k) = &n
	}
	var out []runtime.ApplyConfiguration
	if w := envWrite(p, cs, env); w != nil {
		out = append(out, w)
	}
	if routed.RedisReplicas != nil && cs.redis != nil {
		want := int32(*routed.RedisReplicas)
		if n, _ := redisReplicas(cs.redis); n != want {
			w, err := actuate.Replicas(cs.redisRef.Kind, p.Namespace, cs.redisRef.Name, want)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
	}
	if len(routed.HPA) > 0 && (cs.hpa != nil || cs.hpaManaged) {
		w, err := hpaWrite(p, cs, hpa)
		if err != nil || w == nil {
			return out, err
		}
		out = append(out, w)
	}
	return out, nil
}

// envWrite applies the changed env values plus those navius-tuner owns; nil when nothing changes.
func envWrite(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, changed map[string]string) runtime.ApplyConfiguration {
	if len(changed) == 0 || cs.target == nil {
		return nil
	}
	env := map[string]string{}
	for _, n := range cs.targetOwn.OwnedEnv(tuningv1alpha1.FieldManager, cs.container.Name) {
		if v, ok := cs.env[n]; ok {
			env[n] = v
		}
	}
	maps.Copy(env, changed)
	same := true
	for n, v := range changed {
		if cur, ok := cs.env[n]; !ok || cur != v {
			same = false
		}
	}
	if same {
		return nil
	}
	return actuate.DeploymentEnv(p.Namespace, cs.target.Name, cs.container.Name, env)
}

// hpaWrite applies the changed HPA fields: the whole HPA when navius-tuner
// manages it, otherwise the changed fields plus those navius-tuner owns.
func hpaWrite(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, changed actuate.HPASettings) (runtime.ApplyConfiguration, error) {
	if cs.hpa == nil { // the engine's plan creates the managed HPA
		return actuate.ManagedHPA(p, cs.hpaName, cs.target, changed)
	}
	live := actuate.SettingsOf(cs.hpa)
	if cs.hpaManaged {
		want := overlay(live, changed)
		if equalSettings(want, live) {
			return nil, nil
		}
		return actuate.ManagedHPA(p, cs.hpaName, cs.target, want)
	}
	owned := actuate.HPASettings{}
	for _, k := range hpaKnobs {
		if f, ok := cs.field(k); ok && f.own.Owns(tuningv1alpha1.FieldManager, f.path) {
			*hpaSlot(&owned, k) = *hpaSlot(&live, k)
		}
	}
	want := overlay(owned, changed)
	if equalSettings(overlay(live, changed), live) {
		return nil, nil
	}
	return actuate.HPAFields(cs.hpa, want)
}

// hpaKnobs are the catalogue's HPA knobs.
var hpaKnobs = tuning.HPAKnobs()

// hpaField is where an HPA knob lives: its field in actuate.HPASettings, its
// path in managedFields and its name as a person reads it.
type hpaField struct {
	slot func(*actuate.HPASettings) **int32
	path fieldpath.Path
	name string
}

// hpaFields maps each HPA knob of the catalogue (tuning.HPAKnobs) to its
// field; TestHPAFieldsCoverCatalogue keeps the two in step.
var hpaFields = map[tuning.Knob]hpaField{
	tuning.KnobHPAMinReplicas: {func(s *actuate.HPASettings) **int32 { return &s.MinReplicas },
		actuate.HPAMinReplicasPath, "spec.minReplicas"},
	tuning.KnobHPAMaxReplicas: {func(s *actuate.HPASettings) **int32 { return &s.MaxReplicas },
		actuate.HPAMaxReplicasPath, "spec.maxReplicas"},
	tuning.KnobHPATargetCPU: {func(s *actuate.HPASettings) **int32 { return &s.TargetCPUUtilization },
		actuate.HPAMetricsPath, "spec.metrics"},
	tuning.KnobHPAScaleDownWindowS: {func(s *actuate.HPASettings) **int32 { return &s.ScaleDownWindowSeconds },
		actuate.HPAScaleDownWindowPath, "spec.behavior.scaleDown.stabilizationWindowSeconds"},
}

// hpaSlot is the field of s that holds HPA knob k.
func hpaSlot(s *actuate.HPASettings, k tuning.Knob) **int32 { return hpaFields[k].slot(s) }

// overlay returns base with every field set in top replaced.
func overlay(base, top actuate.HPASettings) actuate.HPASettings {
	for _, k := range hpaKnobs {
		if v := *hpaSlot(&top, k); v != nil {
			*hpaSlot(&base, k) = v
		}
	}
	return base
}

func equalSettings(a, b actuate.HPASettings) bool {
	for _, k := range hpaKnobs {
		x, y := *hpaSlot(&a, k), *hpaSlot(&b, k)
		if (x == nil) != (y == nil) || (x != nil && *x != *y) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func joinHolds(h []string) string { return strings.Join(h, "; ") }
