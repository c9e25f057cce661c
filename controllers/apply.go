package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/guard"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Event reasons of actions (condition transitions use the condition's reason).
const (
	EventAdjusted    = "Adjusted"
	EventRolledBack  = "RolledBack"
	EventKept        = "Kept"
	EventHPACreated  = "HPACreated"
	EventApplyFailed = "ApplyFailed"
	EventRefused     = "ChangeRefused"
	// EventRolloutStarted is the Event on the target Deployment for each
	// rollout navius-tuner starts, beside its change-cause annotation.
	EventRolloutStarted = "TunerRollout"
)

// apply carries the plan to the cluster (period.Apply owns the order: gate,
// prepare, commit, record, write, undo on the first failure), then reports
// what it did in Events, logs and metrics.
//
// Record, then act: before the first write to the workload, the decision is
// recorded in the status as Pending, with the optimistic lock, and the
// workload is read again from the API server. A reconcile that started from
// a stale copy of the profile or of the workload writes nothing and runs
// again, and every write navius-tuner makes is in the history before it
// happens. A crash between the record and the write leaves a decision that
// was never applied: the next reconcile's repair drops it (period.Repair).
func (r *PerformanceProfileReconciler) apply(ctx context.Context, s *scope) error {
	if err := r.guard(ctx, s); err != nil {
		return err
	}
	p, plan := s.profile, s.plan
	w := &clusterWriter{r: r, ctx: ctx, s: s}
	committed, written, err := period.Apply(&p.Status, *plan, period.Gate{Mode: s.settings.Mode, Paused: s.paused}, s.now, w)
	if written {
		s.recommended = nil
	}
	if err != nil {
		return err
	}
	family := string(plan.Family)
	rollback := plan.Judgement != nil && plan.Judgement.Outcome != tuningv1alpha1.OutcomeKept
	if d, j := committed.Judged, plan.Judgement; d != nil {
		reason := EventKept
		if rollback {
			reason = EventRolledBack
		}
		r.event(p, !rollback, reason, "Judge", fmt.Sprintf("The %s change of %s was %s: %s", d.Family, d.Time.UTC().Format("15:04:05"), j.Outcome, j.Observed))
	}
	if d := committed.Recorded; d != nil {
		if cs := s.cluster; cs.hpaManaged && cs.objects.HPA == nil && plan.Family == tuning.FamilyAutoscaling {
			r.event(p, true, EventHPACreated, "Create", fmt.Sprintf("Created HorizontalPodAutoscaler %s for Deployment %s: %s", cs.hpaName, cs.objects.Target.Name, period.ChangesString(d.Changes)))
		}
		w.counter(rollback).WithLabelValues(family, resultApplied).Inc()
		if !rollback {
			r.event(p, true, EventAdjusted, "Tune", fmt.Sprintf("%s: %s (%s)", d.Diagnosis, period.ChangesString(d.Changes), plan.Reason))
		}
		if target := s.cluster.objects.Target; d.Rollout && target != nil && r.opts.Recorder != nil {
			r.opts.Recorder.Eventf(target, p, "Normal", EventRolloutStarted, "Rollout", "%s",
				tuningv1alpha1.Truncate(actuate.ChangeCause(p.Namespace, p.Name, plan.Changes), tuningv1alpha1.MaxEventNoteLength))
		}
		ctrl.LoggerFrom(ctx).Info("Applied changes", "family", family, "changes", period.ChangesString(d.Changes), "reason", plan.Reason)
	}
	return nil
}

// guard passes the plan through the last gate (guard.Check): what it
// refuses is neither applied nor recommended, and each refusal is reported.
// A candidate write first reads from the API server the target's envFrom
// ConfigMaps when the plan was made on remembered values (verifyEnvFrom),
// and the target's KEDA ScaledObjects: their maximum counts among the pods
// the target can run.
func (r *PerformanceProfileReconciler) guard(ctx context.Context, s *scope) error {
	if len(s.plan.Changes) == 0 {
		return nil
	}
	if err := r.verifyEnvFrom(ctx, s); err != nil {
		return err
	}
	w, err := r.guardWorld(ctx, s)
	if err != nil {
		return err
	}
	plan, refused := guard.Check(w, *s.plan)
	s.plan, s.recommended, s.refused = &plan, plan.Changes, refused
	for _, rf := range refused {
		r.event(s.profile, false, EventRefused, "Guard", rf.String())
	}
	return nil
}

// guardWorld is what the guard sees of the cluster as s.cluster read it:
// with the target's KEDA ScaledObjects and the budget shared with other
// profiles, read for a candidate write only.
func (r *PerformanceProfileReconciler) guardWorld(ctx context.Context, s *scope) (guard.World, error) {
	cs := s.cluster
	if err := r.readScaledObjects(ctx, s.profile, cs); err != nil {
		return guard.World{}, err
	}
	shared, err := r.sharedBudget(ctx, s.profile)
	if err != nil {
		return guard.World{}, err
	}
	unknown := map[tuning.Knob]string{}
	maps.Copy(unknown, cs.unknown)
	return guard.World{Spec: s.profile.Spec, State: cs.state, History: s.profile.Status.History,
		Observation: s.obs, Unknown: unknown, Claimed: s.claimed, Shared: shared}, nil
}

// sharedBudget is the budget of the database p names as the namespace's
// profiles that name it share it: the smallest maxConnections − reserved
// any of them declares, and what the others' pods can hold at their worst
// moments (their status.peakConnections). nil when no other profile names it.
func (r *PerformanceProfileReconciler) sharedBudget(ctx context.Context, p *tuningv1alpha1.PerformanceProfile) (*guard.Shared, error) {
	name := tuning.SharedDatabase(p.Spec)
	if name == "" {
		return nil, nil
	}
	others, err := r.profilesSharing(ctx, p.Namespace, []indexKey{{indexDatabase, name}})
	if err != nil {
		return nil, err
	}
	own, _ := tuning.ConnectionBudget(p.Spec)
	sh := &guard.Shared{Budget: own}
	for _, o := range others {
		if o.UID == p.UID || tuning.SharedDatabase(o.Spec) != name || !o.DeletionTimestamp.IsZero() {
			continue
		}
		if b, ok := tuning.ConnectionBudget(o.Spec); ok {
			sh.Budget = min(sh.Budget, b)
		}
		sh.Others += ptr.Deref(o.Status.PeakConnections, 0)
		sh.Profiles = append(sh.Profiles, o.Name)
	}
	if len(sh.Profiles) == 0 {
		return nil, nil
	}
	slices.Sort(sh.Profiles)
	return sh, nil
}

// clusterWriter is the manager's period.Writer: it writes with server-side
// apply, and keeps the record in the profile's status first.
type clusterWriter struct {
	r      *PerformanceProfileReconciler
	ctx    context.Context
	s      *scope
	writes []runtime.ApplyConfiguration
}

// Prepare builds the writes of the changes. The plan was made from the
// cache: before anything is written, the profile and its workload are read
// again from the API server, and the writes are built from what was read
// (recheck).
func (w *clusterWriter) Prepare(changes []tuning.Change) (int, error) {
	writes, err := w.r.writes(w.s.profile, w.s.cluster, changes)
	if err != nil || len(writes) == 0 {
		return 0, err
	}
	if w.writes, err = w.r.recheck(w.ctx, w.s); err != nil {
		return 0, err
	}
	return len(w.writes), nil
}

// Record patches the status with the decision about to be applied, under
// the optimistic lock of the profile this reconcile read. When the patch
// fails, nothing is written to the workload.
func (w *clusterWriter) Record() error {
	s := w.s
	if err := patchStatus(w.ctx, w.r.client, s.original, s.profile); err != nil {
		if apierrors.IsConflict(err) {
			return stale("PerformanceProfile %s changed before its decision was recorded", s.profile.Name)
		}
		return fmt.Errorf("recording the decision before applying it: %w", err)
	}
	s.original = s.profile.DeepCopy()
	return nil
}

// Write applies the writes in order, stopping at the first failure, which
// it reports.
func (w *clusterWriter) Write() (int, error) {
	plan := w.s.plan
	for i, ac := range w.writes {
		if err := actuate.Apply(w.ctx, w.r.client, ac); err != nil {
			rollback := plan.Judgement != nil && plan.Judgement.Outcome != tuningv1alpha1.OutcomeKept
			w.counter(rollback).WithLabelValues(string(plan.Family), resultFailed).Inc()
			w.r.event(w.s.profile, false, EventApplyFailed, "Apply", fmt.Sprintf("Could not apply the %s change: %v", plan.Family, err))
			return i, err
		}
	}
	return len(w.writes), nil
}

// counter is the metric a write of the plan counts in.
func (w *clusterWriter) counter(rollback bool) *prometheus.CounterVec {
	if rollback {
		return w.r.opts.Metrics.rollbacks
	}
	return w.r.opts.Metrics.adjustments
}

// recheck reads the profile and its workload from the API server right
// before a write, and builds the writes from what it read. When the live
// knob values, rollout or blocked knobs differ from the cached ones, the
// plan may be wrong (it could even undo navius-tuner's own last change), so
// nothing is written and the reconcile runs again.
func (r *PerformanceProfileReconciler) recheck(ctx context.Context, s *scope) ([]runtime.ApplyConfiguration, error) {
	live, err := r.readLive(ctx, s)
	if err != nil {
		return nil, err
	}
	live.block(period.Conflicts(s.profile, live.world()))
	if why := changedSince(s.cluster, live); why != "" {
		return nil, stale("%s", why)
	}
	s.cluster = live
	// The guard again, on what the API server holds now: a scaler or a
	// ConfigMap the cache had not seen yet must not let a change through.
	w, err := r.guardWorld(ctx, s)
	if err != nil {
		return nil, err
	}
	if _, refused := guard.Check(w, *s.plan); len(refused) > 0 {
		return nil, stale("the guard refuses on the live read what it allowed on the cached one: %s", refused[0])
	}
	return r.writes(s.profile, live, s.plan.Changes)
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
		hpa.Set(k, &n)
	}
	var out []runtime.ApplyConfiguration
	if w := envWrite(p, cs, env, changes); w != nil {
		out = append(out, w)
	}
	if o := cs.objects; routed.RedisReplicas != nil && o.Redis != nil {
		want := int32(*routed.RedisReplicas)
		if n, _ := actuate.RedisReplicas(o.Redis); n != want {
			w, err := actuate.Replicas(cs.redisRef.Kind, p.Namespace, cs.redisRef.Name, want)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
	}
	if len(routed.HPA) > 0 && (cs.objects.HPA != nil || cs.hpaManaged) {
		w, err := hpaWrite(p, cs, hpa)
		if err != nil || w == nil {
			return out, err
		}
		out = append(out, w)
	}
	return out, nil
}

// envWrite applies the changed env values plus those navius-tuner owns,
// with the rollout's change-cause; nil when nothing changes.
func envWrite(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, changed map[string]string, changes []tuning.Change) runtime.ApplyConfiguration {
	o := cs.objects
	if len(changed) == 0 || o.Target == nil {
		return nil
	}
	env := map[string]string{}
	for _, n := range o.TargetOwn.OwnedEnv(tuningv1alpha1.FieldManager, o.Container) {
		if v, ok := o.Env[n]; ok {
			env[n] = v
		}
	}
	maps.Copy(env, changed)
	same := true
	for n, v := range changed {
		if cur, ok := o.Env[n]; !ok || cur != v {
			same = false
		}
	}
	if same {
		return nil
	}
	return actuate.WithChangeCause(actuate.DeploymentEnv(p.Namespace, o.Target.Name, o.Container, env), p.Namespace, p.Name, changes)
}

// hpaWrite applies the changed HPA fields: the whole HPA when navius-tuner
// manages it, otherwise the changed fields plus those navius-tuner owns.
func hpaWrite(p *tuningv1alpha1.PerformanceProfile, cs *clusterState, changed actuate.HPASettings) (runtime.ApplyConfiguration, error) {
	o := cs.objects
	if o.HPA == nil { // the engine's plan creates the managed HPA
		return actuate.ManagedHPA(p, cs.hpaName, o.Target, changed)
	}
	live := actuate.SettingsOf(o.HPA)
	if cs.hpaManaged {
		want := live.Overlay(changed)
		if want.Equal(live) {
			return nil, nil
		}
		return actuate.ManagedHPA(p, cs.hpaName, o.Target, want)
	}
	owned := actuate.HPASettings{}
	for _, k := range tuning.HPAKnobs() {
		if f, ok := o.Field(k); ok && f.Ours() {
			owned.Set(k, live.Get(k))
		}
	}
	if live.Overlay(changed).Equal(live) {
		return nil, nil
	}
	return actuate.HPAFields(o.HPA, owned.Overlay(changed))
}
