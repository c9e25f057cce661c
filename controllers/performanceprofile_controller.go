// Package controllers holds the PerformanceProfile reconciler: each period it
// observes the SLIs, reads the knob values and rollout state from the
// cluster, asks the decision engine for a plan, applies it with server-side
// apply (mode Auto, not paused) and patches the profile's status once.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// +kubebuilder:rbac:groups=tuning.navius.io,resources=performanceprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=tuning.navius.io,resources=performanceprofiles/status,verbs=get;patch
// +kubebuilder:rbac:groups=tuning.navius.io,resources=performanceprofiles/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SignalSource reads the signals of one profile.
type SignalSource interface {
	Observe(ctx context.Context, profile *tuningv1alpha1.PerformanceProfile) (signals.Observation, error)
}

// Decider is the decision engine: tuning.Decide.
type Decider func(tuning.Input) tuning.Plan

// Options configure a PerformanceProfileReconciler. Source is required;
// the others take the defaults in brackets.
type Options struct {
	// Source reads the SLIs and saturation signals.
	Source SignalSource
	// APIReader reads from the API server, not from the cache: the profile
	// and its workload are read through it right before a write [the
	// manager's API reader, set by SetupWithManager; the client otherwise].
	APIReader client.Reader
	// Recorder emits Events [the manager's recorder for "navius-tuner", set by SetupWithManager].
	Recorder events.EventRecorder
	// Clock gives the time [the real clock].
	Clock clock.PassiveClock
	// Decide is the decision engine [tuning.Decide].
	Decide Decider
	// Metrics are the operator's metrics [registered in controller-runtime's metrics.Registry].
	Metrics *Metrics
	// Jitter spreads the periodic requeues [wait.Jitter(interval, 0.1)].
	Jitter func(time.Duration) time.Duration
	// MaxConcurrentReconciles [1].
	MaxConcurrentReconciles int
}

// PerformanceProfileReconciler reconciles PerformanceProfiles.
type PerformanceProfileReconciler struct {
	client client.Client
	opts   Options
}

// NewPerformanceProfileReconciler returns a reconciler that reads and writes through c.
func NewPerformanceProfileReconciler(c client.Client, opts Options) (*PerformanceProfileReconciler, error) {
	if c == nil || opts.Source == nil {
		return nil, errors.New("a client and a SignalSource are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Decide == nil {
		opts.Decide = tuning.Decide
	}
	if opts.Metrics == nil {
		opts.Metrics = defaultMetrics()
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration { return wait.Jitter(d, 0.1) }
	}
	return &PerformanceProfileReconciler{client: c, opts: opts}, nil
}

// live is the reader that bypasses the cache.
func (r *PerformanceProfileReconciler) live() client.Reader {
	if r.opts.APIReader != nil {
		return r.opts.APIReader
	}
	return r.client
}

// scope is what one reconcile of one profile learns, phase by phase.
type scope struct {
	profile *tuningv1alpha1.PerformanceProfile
	// original is the profile as the API server last returned it: the
	// status patch is computed against it, with its resourceVersion as the
	// optimistic lock. It moves when apply records a decision.
	original *tuningv1alpha1.PerformanceProfile
	settings tuning.Settings
	paused   bool
	now      time.Time

	observed   bool
	obs        signals.Observation
	observeErr error

	// block is why the reconcile stopped early (set by finish), or what
	// keeps navius-tuner from tuning although it ran (a failed rollout).
	block *status.Blocker

	cluster *clusterState // nil until read
	plan    *tuning.Plan
	// recommended is the part of the plan that is published, not applied.
	recommended []tuning.Change
}

type phase struct {
	name string
	run  func(context.Context, *scope) error
}

func (r *PerformanceProfileReconciler) phases() []phase {
	return []phase{
		{"observe", r.observe},
		{"read state", r.readState},
		{"decide", r.decide},
		{"apply", r.apply},
	}
}

// Reconcile runs the phases of one control period and patches the status once.
func (r *PerformanceProfileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := r.opts.Clock.Now()
	profile := &tuningv1alpha1.PerformanceProfile{}
	if err := r.client.Get(ctx, req.NamespacedName, profile); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted: the workload is left as it is; only our series go.
			r.opts.Metrics.forget(req.Namespace, req.Name)
			if f, ok := r.opts.Source.(forgetter); ok {
				f.Forget(req.NamespacedName)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !profile.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	s := &scope{
		profile:  profile,
		original: profile.DeepCopy(),
		settings: tuning.SettingsOf(profile.Spec),
		paused:   profile.Annotations[tuningv1alpha1.PausedAnnotation] == "true",
		now:      start,
	}
	defer func() {
		result, retErr = r.finish(ctx, s, retErr)
		r.opts.Metrics.reconcileDuration.WithLabelValues(resultLabel(retErr, s)).
			Observe(r.opts.Clock.Since(start).Seconds())
	}()
	for _, p := range r.phases() {
		if err := p.run(ctx, s); err != nil {
			return ctrl.Result{}, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return ctrl.Result{}, nil
}

func resultLabel(err error, s *scope) string {
	switch {
	case err != nil:
		return "error"
	case s.block == nil:
		return "success"
	case s.block.Stalled:
		return "stalled"
	}
	return "waiting"
}

// finish turns the phases' outcome into the status, patches it once,
// emits Events on transitions, records metrics and decides the requeue.
func (r *PerformanceProfileReconciler) finish(ctx context.Context, s *scope, phaseErr error) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	original := s.original
	if se, ok := asStale(phaseErr); ok {
		// Nothing was written; a status computed from the stale copy would
		// be wrong too.
		log.V(1).Info("Read a stale copy; reconciling again with fresh copies", "stale", se.what)
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	result := ctrl.Result{RequeueAfter: r.opts.Jitter(s.settings.Interval)}
	if se, ok := asStall(phaseErr); ok {
		s.block = &status.Blocker{Reason: se.reason, Message: se.message, Stalled: true}
		result, phaseErr = ctrl.Result{}, nil
		log.Info("Stalled until the profile or its target changes", "reason", se.reason, "message", se.message)
	} else if we, ok := asWait(phaseErr); ok {
		s.block = &status.Blocker{Reason: we.reason, Message: we.message}
		if we.after > 0 && we.after < result.RequeueAfter {
			result.RequeueAfter = we.after
		}
		phaseErr = nil
		log.V(1).Info("Waiting for a dependency", "reason", we.reason, "message", we.message)
	} else if phaseErr != nil {
		s.block = &status.Blocker{Reason: tuningv1alpha1.ReasonReconciling, Message: phaseErr.Error()}
		result = ctrl.Result{}
	}

	p := s.profile
	facts := summarize(s, original.Status.Recommendation)
	for _, c := range status.Transitions(original.Status.Conditions, p.Status.Conditions) {
		if c.Type == tuningv1alpha1.ConditionProgressing || c.Type == tuningv1alpha1.ConditionStalled || c.Type == tuningv1alpha1.ConditionReconciling {
			continue // Ready carries the same news
		}
		r.event(p, status.Healthy(c), c.Reason, "Reconcile", c.Message)
	}
	r.opts.Metrics.report(p.Namespace, p.Name, observation(s), facts.SLOKnown && facts.Evaluated, facts.SLOMet, len(facts.Conflicts))
	r.opts.Metrics.reportState(p.Namespace, p.Name, p.Status.Conditions, s.paused, s.settings.Mode)

	if statusChanged(original.Status, p.Status, s.now) {
		// The optimistic lock refuses a patch computed from a stale copy of
		// the profile: a reconcile that a watch event started before the
		// cache saw the previous status would otherwise overwrite that
		// status (its history above all) with what it wrongly inferred.
		patch := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
		if err := r.client.Status().Patch(ctx, p, patch); err != nil {
			if apierrors.IsNotFound(err) {
				return ctrl.Result{}, nil
			}
			if apierrors.IsConflict(err) && phaseErr == nil {
				log.V(1).Info("Profile changed since it was read; reconciling again with the newer copy")
				return ctrl.Result{RequeueAfter: staleRetry}, nil
			}
			return ctrl.Result{}, errors.Join(phaseErr, fmt.Errorf("patching status: %w", err))
		}
	}
	if phaseErr != nil {
		log.Error(phaseErr, "Reconcile failed", "profile", klog.KObj(p))
	}
	return result, phaseErr
}

// staleRetry is how soon a reconcile whose status patch met a newer profile
// runs again: the cache catches up within milliseconds.
const staleRetry = 500 * time.Millisecond

// slisRefresh is how often status.slis is rewritten when nothing else in
// the status changed (never when its values are the same): the values move
// a little every period, and writing
// each period would cost every profile a status write per period (at 10,000
// profiles and 30s, over 300 writes per second). Fresh values are in the
// navius_tuner_sli metric every period, and in the status with every other
// change (a condition, an adjustment).
const slisRefresh = 5 * time.Minute

// statusChanged reports whether the new status must be written.
func statusChanged(old, cur tuningv1alpha1.PerformanceProfileStatus, now time.Time) bool {
	if equality.Semantic.DeepEqual(old, cur) {
		return false
	}
	if old.SLIs == nil || cur.SLIs == nil || old.SLIs.ObservedAt == nil ||
		!equality.Semantic.DeepEqual(old.SLIs.Missing, cur.SLIs.Missing) {
		return true
	}
	oldSLIs, curSLIs := old.SLIs, cur.SLIs
	old.SLIs, cur.SLIs = nil, nil
	if !equality.Semantic.DeepEqual(old, cur) {
		return true
	}
	if curSLIs.ObservedAt == nil {
		return true
	}
	// Only the SLIs moved: not at all when their values are the same, and at
	// most every slisRefresh when they differ.
	a, b := *oldSLIs, *curSLIs
	a.ObservedAt, b.ObservedAt = nil, nil
	if equality.Semantic.DeepEqual(a, b) {
		return false
	}
	return now.Sub(oldSLIs.ObservedAt.Time) >= slisRefresh
}

func observation(s *scope) *signals.Observation {
	if !s.observed {
		return nil
	}
	return &s.obs
}

// summarize turns what the phases learned into the profile's status (no
// client, no clock: the status assembly of finish, as a pure step) and
// returns the facts the conditions were set from. prev is the
// recommendation the profile had.
func summarize(s *scope, prev *tuningv1alpha1.Recommendation) status.Facts {
	p := s.profile
	f := facts(s)
	p.Status.ObservedGeneration = p.Generation
	p.Status.Paused = s.paused
	if s.observed {
		p.Status.SLIs = tuning.SLIsOf(s.obs)
		p.Status.SLIs.WorstObjective, p.Status.SLIs.WorstSLI = tuning.WorstObjective(p.Spec.SLO, s.obs)
	}
	if s.cluster != nil {
		p.Status.Current = s.cluster.current()
	}
	p.Status.Recommendation = recommendation(s, prev)
	status.SetAll(&p.Status.Conditions, f)
	return f
}

// facts gathers what the condition setters need.
func facts(s *scope) status.Facts {
	p := s.profile
	f := status.Facts{
		Generation: p.Generation,
		Now:        s.now,
		Mode:       s.settings.Mode,
		Paused:     s.paused,
		Blocker:    s.block,
		Observed:   s.observed,
		Pending:    status.Pending(p.Status),
	}
	// What is missing is the engine's call, made once in Decide; a
	// reconcile that stopped before deciding asks the same rule.
	if s.plan != nil {
		status.PlanFacts(&f, *s.plan)
	} else if s.observed {
		m := tuning.MissingOf(p.Spec, s.obs)
		f.SLOMissing, f.FamiliesHeld = m.SLO, m.FamilyNotes()
	}
	if s.observed {
		f.MetricsReason = status.MetricsReason(sloMissingReasons(p.Spec, s.obs))
	}
	if s.cluster != nil {
		f.RolloutInProgress = s.cluster.state.RolloutInProgress
		f.Conflicts = s.cluster.conflicts
		if d := s.cluster.delivery; d != "" {
			f.Notes = append(f.Notes, fmt.Sprintf(
				"Deployment %s is managed by %s: each env change navius-tuner makes starts a canary analysis (see docs/gitops.md)",
				s.cluster.target.Name, d))
		}
	}
	return f
}

// recommendation is what Recommend mode (or Auto while paused) publishes;
// its time only moves when its content does.
func recommendation(s *scope, prev *tuningv1alpha1.Recommendation) *tuningv1alpha1.Recommendation {
	if s.plan == nil || s.settings.Mode == tuningv1alpha1.ModeOff || (s.settings.Mode == tuningv1alpha1.ModeAuto && !s.paused) {
		return nil
	}
	rec := &tuningv1alpha1.Recommendation{Time: metav1.NewTime(s.now), Reason: truncate(s.plan.Reason, 1024)}
	if len(s.plan.Holds) > 0 && len(s.recommended) == 0 {
		rec.Reason = truncate(joinNonEmpty(s.plan.Reason, "holding: "+joinHolds(s.plan.Holds)), 1024)
	}
	for _, c := range s.recommended {
		rec.Changes = append(rec.Changes, c.API())
	}
	if prev != nil && prev.Reason == rec.Reason && equality.Semantic.DeepEqual(prev.Changes, rec.Changes) {
		rec.Time = prev.Time
	}
	return rec
}

// event emits an Event on the profile.
func (r *PerformanceProfileReconciler) event(p *tuningv1alpha1.PerformanceProfile, normal bool, reason, action, note string) {
	if r.opts.Recorder == nil {
		return
	}
	typ := "Normal"
	if !normal {
		typ = "Warning"
	}
	r.opts.Recorder.Eventf(p, nil, typ, reason, action, "%s", truncate(note, 1024))
}

// observe reads the signals. A failed read is not an error of the reconcile:
// the signals are missing, and missing data means hold.
func (r *PerformanceProfileReconciler) observe(ctx context.Context, s *scope) error {
	obs, err := r.opts.Source.Observe(ctx, s.profile)
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not read the metrics", "error", err.Error())
		obs = signals.Unread(s.now, signals.ReasonUnauthorized, err.Error())
	}
	if obs.Time.IsZero() {
		obs.Time = s.now
	}
	s.obs, s.observeErr, s.observed = obs, err, true
	return nil
}

// decide asks the engine for a plan; knobs that must not be touched are
// dropped from it whatever the engine says.
func (r *PerformanceProfileReconciler) decide(ctx context.Context, s *scope) error {
	p := s.profile
	// The history is the engine's memory: a change the status missed is
	// recorded before deciding, so it settles and can be rolled back.
	for _, d := range recoverUnrecorded(p, s.cluster, s.now) {
		ctrl.LoggerFrom(ctx).Info("Recorded a change applied before a restart", "family", d.Family, "changes", status.ChangesString(d.Changes))
	}
	plan := r.opts.Decide(tuning.Input{
		Spec:        p.Spec,
		Observation: s.obs,
		State:       s.cluster.state,
		History:     p.Status.History,
		Memory:      p.Status.Memory,
		Generation:  p.Generation,
		Now:         s.now,
		SLOMetSince: status.SLOMetSince(p.Status),
	})
	status.Learn(&p.Status, plan.CPU)
	status.Allow(&plan, s.cluster.state.Blocked)
	if f := s.cluster.rolloutFailure; f != nil {
		// Not an error of the reconcile: the status reports it (Ready
		// False), and navius-tuner undoes its own failed change.
		s.block = failedRolloutPlan(p, s.cluster, *f, &plan)
	}
	s.plan = &plan
	s.recommended = plan.Changes
	return nil
}

// SetupWithManager registers the reconciler, its field indexes and watches.
func (r *PerformanceProfileReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.opts.Recorder == nil {
		r.opts.Recorder = mgr.GetEventRecorder(tuningv1alpha1.FieldManager)
	}
	if r.opts.APIReader == nil {
		r.opts.APIReader = mgr.GetAPIReader()
	}
	if err := addIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return r.watches(ctrl.NewControllerManagedBy(mgr).Named("performanceprofile")).
		WithOptions(controllerOptions(r.opts.MaxConcurrentReconciles)).
		Complete(r)
}
