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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
	"github.com/navius-dev/navius-tuner/internal/guard"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// +kubebuilder:rbac:groups=tuning.navius.io,resources=performanceprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=tuning.navius.io,resources=performanceprofiles/status,verbs=get;patch
// +kubebuilder:rbac:groups=tuning.navius.io,resources=performanceprofiles/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=list
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
	// ScaledObjects lists KEDA's ScaledObjects from the API server
	// [NewScaledObjectReader, set by SetupWithManager; APIReader otherwise].
	ScaledObjects client.Reader
	// Recorder emits Events [a recorder for "navius-tuner", rate-limited,
	// on connections of its own (newEventRecorder), set by SetupWithManager].
	Recorder events.EventRecorder
	// Clock gives the time [the real clock].
	Clock clock.PassiveClock
	// Decide is the decision engine [tuning.Decide].
	Decide Decider
	// Metrics are the operator's metrics [registered in controller-runtime's
	// metrics.Registry but for the per-profile series, which MetricsHandler serves].
	Metrics *Metrics
	// Jitter spreads the periodic requeues [wait.Jitter(interval, 0.1)].
	Jitter func(time.Duration) time.Duration
	// ScrapeInterval is Prometheus' scrape interval: a profile whose breach
	// is CPU-saturated is checked again this often (period.NextCheck) [0:
	// every spec.interval].
	ScrapeInterval time.Duration
	// MaxConcurrentReconciles [1].
	MaxConcurrentReconciles int
	// Shard, in a sharded install, is what this manager's cache holds
	// (CacheByObject): the reconciler then labels the objects its profiles
	// read so that the cache holds them [nil: every profile and workload].
	Shard *Shard
}

// PerformanceProfileReconciler reconciles PerformanceProfiles.
type PerformanceProfileReconciler struct {
	client client.Client
	opts   Options
	// envFrom remembers what the targets' envFrom ConfigMaps gave.
	envFrom envFromMemory
	// indexed: client reads the manager's cache, where SetupWithManager
	// added the field indexes.
	indexed bool
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
	// original is the profile as last read or written: the status patch is
	// computed against it, with its resourceVersion as the optimistic lock.
	// It moves when apply records a decision, and when finish patches the
	// status.
	original *tuningv1alpha1.PerformanceProfile
	settings tuning.Settings
	paused   bool
	now      time.Time

	observed   bool
	obs        signals.Observation
	observeErr error

	// block is why the reconcile stopped early (set by finish), or what
	// keeps navius-tuner from tuning although it ran (a failed rollout, from
	// the plan).
	block *conditions.Blocker

	// claimed are the knobs on objects an older profile tunes too (checkClaim).
	claimed map[tuning.Knob]string
	cluster *clusterState // nil until read
	plan    *tuning.Plan
	// recommended is the part of the plan that is published, not applied.
	recommended []tuning.Change
	// refused are the changes the guard refused.
	refused []guard.Refusal
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
			// Deleted: the workload is left as it is. The profile's series
			// left with it from the cache; what the metrics kept of its
			// last period goes too, and what its envFrom ConfigMaps gave.
			r.opts.Metrics.forget(req.NamespacedName)
			r.envFrom.forget(req.NamespacedName)
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
	recorded := s.original.Status.History
	defer func() {
		result, retErr = r.finish(ctx, s, retErr)
		r.opts.Metrics.reconcileDuration.WithLabelValues(resultLabel(retErr, s)).
			Observe(r.opts.Clock.Since(start).Seconds())
		r.opts.Metrics.countDecisions(recorded, s.original.Status.History)
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
	periodic := true
	result := ctrl.Result{}
	if se, ok := asStall(phaseErr); ok {
		s.block = &conditions.Blocker{Reason: se.reason, Message: se.message, Stalled: true}
		periodic, phaseErr = false, nil
		log.Info("Stalled until the profile or its target changes", "reason", se.reason, "message", se.message)
	} else if we, ok := asWait(phaseErr); ok {
		s.block = &conditions.Blocker{Reason: we.reason, Message: we.message}
		phaseErr = nil
		log.V(1).Info("Waiting for a dependency", "reason", we.reason, "message", we.message)
	} else if phaseErr != nil {
		s.block = &conditions.Blocker{Reason: tuningv1alpha1.ReasonReconciling, Message: phaseErr.Error()}
		periodic = false
	}

	p := s.profile
	facts := period.Summarize(p, summary(s))
	if periodic {
		result.RequeueAfter = r.opts.Jitter(period.NextCheck(p.Status, s.settings.Interval, r.opts.ScrapeInterval))
	}
	s.block = facts.Blocker
	for _, c := range conditions.Announced(original.Status.Conditions, p.Status.Conditions) {
		r.event(p, conditions.Healthy(c), c.Reason, "Reconcile", c.Message)
	}
	r.opts.Metrics.report(p, observation(s), len(facts.Conflicts))

	if statusChanged(original.Status, p.Status, s.now) {
		// The optimistic lock refuses a patch computed from a stale copy of
		// the profile: a reconcile that a watch event started before the
		// cache saw the previous status would otherwise overwrite that
		// status (its history above all) with what it wrongly inferred.
		if err := patchStatus(ctx, r.client, original, p); err != nil {
			if apierrors.IsNotFound(err) {
				return ctrl.Result{}, nil
			}
			if apierrors.IsConflict(err) && phaseErr == nil {
				log.V(1).Info("Profile changed since it was read; reconciling again with the newer copy")
				return ctrl.Result{RequeueAfter: staleRetry}, nil
			}
			return ctrl.Result{}, errors.Join(phaseErr, fmt.Errorf("patching status: %w", err))
		}
		s.original = p
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
// the status changed: rewriting the SLIs (at least observedAt) every period
// would cost every profile a status write per period (at 10,000 profiles and
// 30s, over 300 writes per second). Fresh values are in the navius_tuner_sli
// metric every period, and in the status with every other change (a
// condition, an adjustment). period.Learn rewrites the learned CPU per
// request alone only when it moved, and with this refresh otherwise
// (period.SLIsRefresh is the same: TestSLIsRefreshIsTheLedgers).
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

// summary is what the phases learned, for period.Summarize.
func summary(s *scope) period.Summary {
	sum := period.Summary{Now: s.now, Mode: s.settings.Mode, Paused: s.paused, Block: s.block,
		Observation: observation(s), Plan: s.plan, Recommended: s.recommended}
	for _, rf := range s.refused {
		sum.Refused = append(sum.Refused, rf.String())
	}
	if cs := s.cluster; cs != nil {
		sum.Cluster = &period.Read{Current: cs.objects.Current(cs.state.Values),
			RolloutInProgress: cs.state.RolloutInProgress, Conflicts: cs.conflicts, HPADesiredReplicas: cs.state.HPADesiredReplicas}
		if peak, ok := tuning.WorstMoment(s.profile.Spec, cs.state, cs.state.Values, s.obs); ok {
			sum.Cluster.PeakConnections = &peak
		}
		if cs.delivery != "" {
			sum.Cluster.Notes = []string{period.DeliveryNote(cs.objects.Target.Name, cs.delivery)}
		}
	}
	return sum
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
	r.opts.Recorder.Eventf(p, nil, typ, reason, action, "%s", tuningv1alpha1.Truncate(note, tuningv1alpha1.MaxEventNoteLength))
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

// decide asks the engine for a plan: one call, with the input the period
// assembles from the profile, the observation and the cluster as read.
func (r *PerformanceProfileReconciler) decide(_ context.Context, s *scope) error {
	p := s.profile
	plan := r.opts.Decide(period.EngineInput(p.Spec, p.Status, p.Generation, s.obs, s.cluster.state, s.now))
	s.plan, s.recommended = &plan, plan.Changes
	return nil
}

// SetupWithManager registers the reconciler, its field indexes and watches.
func (r *PerformanceProfileReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.opts.Recorder == nil {
		rec, run, err := newEventRecorder(mgr.GetConfig(), mgr.GetScheme())
		if err != nil {
			return err
		}
		if err := mgr.Add(run); err != nil {
			return err
		}
		r.opts.Recorder = rec
	}
	if r.opts.APIReader == nil {
		r.opts.APIReader = mgr.GetAPIReader()
	}
	if r.opts.ScaledObjects == nil {
		so, err := NewScaledObjectReader(mgr.GetConfig(), mgr.GetScheme())
		if err != nil {
			return err
		}
		r.opts.ScaledObjects = so
	}
	r.opts.Metrics.readProfiles(mgr.GetCache(), mgr.Elected())
	if err := addIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	r.indexed = true
	return r.watches(ctrl.NewControllerManagedBy(mgr).Named("performanceprofile")).
		WithOptions(controllerOptions(r.opts.MaxConcurrentReconciles)).
		Complete(r)
}
