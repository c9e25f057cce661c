package controllers

import (
	"context"
	"math/bits"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Metrics are the operator's own metrics, prefixed navius_tuner_.
//
// The per-profile series are not kept between scrapes: the profile
// collector builds them at each scrape from the profiles in the manager's
// cache (their spec, annotations and status) and from what the last period
// observed, so a deleted profile's series are gone at the next scrape and
// holding them costs nothing between scrapes. The counters and the
// histogram carry no profile label.
//
// A profile's namespace is the label profile_namespace, never namespace: the
// Prometheus Operator's ServiceMonitors scrape with honor_labels false and set
// namespace to the namespace of the scraped Service (the manager's), which
// would overwrite it.
type Metrics struct {
	adjustments       *prometheus.CounterVec
	rollbacks         *prometheus.CounterVec
	decisions         *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
	profiles          *profileCollector
}

// Labels of every per-profile series.
const (
	labelProfileNamespace = "profile_namespace"
	labelProfile          = "profile"
)

// Results of an adjustment or rollback.
const (
	resultApplied = "applied"
	resultFailed  = "failed"
)

// NewMetrics creates the metrics and registers them with reg, the
// per-profile series included. The per-profile series appear once
// readProfiles says where the profiles are (SetupWithManager: the manager's
// cache).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics(reg)
	reg.MustRegister(m.profiles)
	return m
}

// newMetrics creates the metrics and registers with reg all but the
// per-profile series (see MetricsHandler).
func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		adjustments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "navius_tuner_adjustments_total",
			Help: "Adjustments by knob family and result (applied, failed).",
		}, []string{"family", "result"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "navius_tuner_rollbacks_total",
			Help: "Rollbacks of adjustments that made the SLIs worse or did not help, by knob family and result (applied, failed).",
		}, []string{"family", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "navius_tuner_decisions_total",
			Help: "Decisions of every profile by the outcome their status history recorded: Pending when a change is recorded before it is applied, then Kept, RolledBack or Reverted when it is judged.",
		}, []string{"outcome"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "navius_tuner_reconcile_duration_seconds",
			Help:    "Duration of PerformanceProfile reconciles by result (success, waiting, stalled, error).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		profiles: newProfileCollector(),
	}
	// Every known label value starts at 0, so that rate() and increase()
	// see the first event and a dashboard panel is not empty before it.
	for _, f := range []tuning.Family{tuning.FamilyPool, tuning.FamilyCache, tuning.FamilyRedis, tuning.FamilyAutoscaling, tuning.FamilyWorkers} {
		for _, r := range []string{resultApplied, resultFailed} {
			m.adjustments.WithLabelValues(string(f), r)
			m.rollbacks.WithLabelValues(string(f), r)
		}
	}
	for _, o := range outcomes {
		m.decisions.WithLabelValues(string(o))
	}
	reg.MustRegister(m.adjustments, m.rollbacks, m.decisions, m.reconcileDuration)
	return m
}

// defaultMetrics are the manager's: registered with controller-runtime's
// registry, but for the per-profile series, which MetricsHandler serves.
var defaultMetrics = sync.OnceValue(func() *Metrics { return newMetrics(ctrlmetrics.Registry) })

// MetricsHandler serves the manager's /metrics: the families of registry
// (controller-runtime's), then the per-profile series of the reconciler's
// default metrics, one family at a time (metricsHandler).
func MetricsHandler(registry prometheus.Gatherer) http.Handler {
	return defaultMetrics().handler(registry)
}

// outcomes are the values of Decision.Outcome, each a series of navius_tuner_decisions_total.
var outcomes = []tuningv1alpha1.Outcome{tuningv1alpha1.OutcomePending, tuningv1alpha1.OutcomeKept,
	tuningv1alpha1.OutcomeRolledBack, tuningv1alpha1.OutcomeReverted}

// readProfiles makes the per-profile series those of the profiles c lists
// (the manager's cache), while elected is closed: a replica that is not the
// leader reconciles nothing and exports no profile's series, so that a sum
// over replicas counts each profile once. A nil elected means always.
func (m *Metrics) readProfiles(c client.Reader, elected <-chan struct{}) {
	m.profiles.source.Store(&profileSource{reader: c, elected: elected})
}

// report keeps what the period observed that the status does not hold fresh:
// the SLIs (status.slis is rewritten at most every slisRefresh when only they
// moved) and the number of knobs another field manager took over. A nil
// observation keeps the SLIs of the last one.
func (m *Metrics) report(p *tuningv1alpha1.PerformanceProfile, obs *signals.Observation, conflicts int) {
	m.profiles.report(p, obs, conflicts)
}

// forget drops what report kept of a deleted profile (its series went with
// it from the cache already).
func (m *Metrics) forget(key types.NamespacedName) {
	m.profiles.mu.Lock()
	delete(m.profiles.periods, key)
	m.profiles.mu.Unlock()
}

// countDecisions adds to navius_tuner_decisions_total the outcomes the
// status history reached between before and after, both as the API server
// held them: a decision new in after counts under its outcome (Pending when
// recorded), one whose outcome moved counts under the new one. Counting what
// was persisted, not what a reconcile computed, counts a verdict once even
// when the patch that carried it failed and a later reconcile judged again.
func (m *Metrics) countDecisions(before, after []tuningv1alpha1.Decision) {
	for i := range after {
		d := &after[i]
		if prev := findDecision(before, d); prev == nil || prev.Outcome != d.Outcome {
			m.decisions.WithLabelValues(string(d.Outcome)).Inc()
		}
	}
}

// findDecision is the decision of h made at the same time on the same
// family as d, nil when h has none.
func findDecision(h []tuningv1alpha1.Decision, d *tuningv1alpha1.Decision) *tuningv1alpha1.Decision {
	for i := range h {
		if h[i].Family == d.Family && h[i].Time.Equal(&d.Time) {
			return &h[i]
		}
	}
	return nil
}

// NewBuildInfo is navius_tuner_build_info: always 1, its labels say which
// build runs (version and revision set with -ldflags -X by the Makefile and
// the Dockerfile; see internal/version).
func NewBuildInfo(version, revision, goVersion string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "navius_tuner_build_info",
		Help:        "Always 1; the labels say the version, VCS revision and Go version of the running manager.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// sliSeries maps the signals reported as navius_tuner_sli to their label
// value, and says which profiles report each: every percentile of
// signals.Percentiles ("latency_p999_seconds") when an objective names it,
// the error ratio and throughput always, and each family's saturation
// signal when the profile declares the family (what explains its
// decisions). The status holds the others (status.slis), and the service's
// own metrics all of them: the series budget is the profile's (about 20).
var sliSeries = func() []sliLabel {
	var out []sliLabel
	for _, p := range signals.Percentiles {
		name := p.Name
		out = append(out, sliLabel{p.Signal, "latency_" + name + "_seconds", func(spec *tuningv1alpha1.PerformanceProfileSpec) bool {
			return slices.ContainsFunc(spec.SLO.Latency, func(o tuningv1alpha1.LatencyObjective) bool { return string(o.Percentile) == name })
		}})
	}
	always := func(*tuningv1alpha1.PerformanceProfileSpec) bool { return true }
	return append(out,
		sliLabel{signals.ErrorRate, "error_ratio", always},
		sliLabel{signals.Throughput, "throughput_rps", always},
		sliLabel{signals.PoolWait, "pool_wait_seconds", func(s *tuningv1alpha1.PerformanceProfileSpec) bool { return s.ConnectionPool != nil }},
		sliLabel{signals.MemoryHitRatio, "memory_hit_ratio", func(s *tuningv1alpha1.PerformanceProfileSpec) bool {
			return s.Cache != nil && s.Cache.Memory != nil
		}},
		sliLabel{signals.RedisHitRatio, "redis_hit_ratio", func(s *tuningv1alpha1.PerformanceProfileSpec) bool {
			return s.Cache != nil && s.Cache.Redis != nil
		}},
		sliLabel{signals.CPUUtilization, "cpu_utilization_ratio", func(s *tuningv1alpha1.PerformanceProfileSpec) bool {
			return s.Autoscaling != nil || s.WorkerThreads != nil
		}},
	)
}()

type sliLabel struct {
	signal signals.Signal
	label  string
	// reported says whether a profile with this spec reports the series.
	reported func(*tuningv1alpha1.PerformanceProfileSpec) bool
}

// profileCollector builds the per-profile series at each scrape (see Metrics).
type profileCollector struct {
	source atomic.Pointer[profileSource]

	mu      sync.Mutex
	periods map[types.NamespacedName]periodRecord

	sloCompliance, sli, fieldConflicts, condition, paused, mode, knobValue *prometheus.Desc
}

type profileSource struct {
	reader  client.Reader
	elected <-chan struct{}
	// listed is set once the reader is found to hold no single informer's
	// store of profiles: every scrape lists them.
	listed atomic.Bool
}

// periodRecord is what report keeps of one profile: about 100 bytes.
type periodRecord struct {
	sli [maxSLISeries]float64
	// read has bit i set when sli[i] was read and is reported.
	read      uint16
	conflicts int32
}

const maxSLISeries = 16

func newProfileCollector() *profileCollector {
	if len(sliSeries) > maxSLISeries {
		panic("more SLI series than periodRecord holds")
	}
	profile := []string{labelProfileNamespace, labelProfile}
	with := func(l ...string) []string { return append(append([]string(nil), profile...), l...) }
	return &profileCollector{
		periods: map[types.NamespacedName]periodRecord{},
		sloCompliance: prometheus.NewDesc("navius_tuner_slo_compliance",
			"1 when every SLO of the profile held in the latest observation, 0 when one was breached; absent when unknown (the SLOMet condition).",
			profile, nil),
		sli: prometheus.NewDesc("navius_tuner_sli",
			"The profile's service level indicators as last observed: the latency percentiles its objectives name (seconds), the error ratio, the throughput (requests per second) and the saturation signals of the knob families it declares (ratios between 0 and 1, seconds).",
			with("sli"), nil),
		fieldConflicts: prometheus.NewDesc("navius_tuner_field_conflicts",
			"Knobs of the profile that navius-tuner stopped tuning because another field manager took them over.",
			profile, nil),
		condition: prometheus.NewDesc("navius_tuner_profile_condition",
			"The profile's status conditions but SLOMet (navius_tuner_slo_compliance): one series per condition type, 1, labelled with the status it has (True, False, Unknown).",
			with("type", "status"), nil),
		paused: prometheus.NewDesc("navius_tuner_profile_paused",
			"1 when the profile's paused annotation stops every write to its workload, 0 otherwise.",
			profile, nil),
		mode: prometheus.NewDesc("navius_tuner_profile_mode",
			"1, labelled with the profile's spec.mode (Auto, Recommend, Off).",
			with("mode"), nil),
		knobValue: prometheus.NewDesc("navius_tuner_knob_value",
			"The value of each knob the profile declares as last read from the cluster (status.current): counts, seconds for durations, percent for the HPA's CPU target.",
			with("knob"), nil),
	}
}

func (c *profileCollector) report(p *tuningv1alpha1.PerformanceProfile, obs *signals.Observation, conflicts int) {
	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.periods[key]
	rec.conflicts = int32(conflicts)
	if obs != nil {
		rec.read = 0
		for i, s := range sliSeries {
			if !s.reported(&p.Spec) {
				continue
			}
			if v, ok := obs.Get(s.signal); ok {
				rec.sli[i], rec.read = v, rec.read|1<<i
			}
		}
	}
	c.periods[key] = rec
}

// Describe sends the descriptors of the per-profile series.
func (c *profileCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.families() {
		ch <- d
	}
}

// families are the descriptors of the per-profile series, one per family.
func (c *profileCollector) families() []*prometheus.Desc {
	return []*prometheus.Desc{c.sloCompliance, c.sli, c.fieldConflicts, c.condition, c.paused, c.mode, c.knobValue}
}

// listTimeout bounds the wait for the cache at a scrape that comes before
// it is filled: the scrape then has no per-profile series.
const listTimeout = 2 * time.Second

// Collect sends every per-profile series.
func (c *profileCollector) Collect(ch chan<- prometheus.Metric) {
	if profiles, ok := c.list(); ok {
		c.send(ch, profiles, nil)
	}
}

// list returns the profiles of the cache as the cache holds them (nothing
// here writes to them); false when this replica exports no profile's
// series (not the leader) or they could not be read.
func (c *profileCollector) list() ([]*tuningv1alpha1.PerformanceProfile, bool) {
	src := c.source.Load()
	if src == nil {
		return nil, false
	}
	if src.elected != nil {
		select {
		case <-src.elected:
		default:
			return nil, false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	if profiles, ok := src.stored(ctx); ok {
		return profiles, true
	}
	list := &tuningv1alpha1.PerformanceProfileList{}
	if err := src.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.Log.WithName("metrics").V(1).Info("No per-profile series in this scrape: the profiles could not be listed", "error", err.Error())
		return nil, false
	}
	profiles := make([]*tuningv1alpha1.PerformanceProfile, len(list.Items))
	for i := range list.Items {
		profiles[i] = &list.Items[i]
	}
	return profiles, true
}

// stored reads the profiles from the store of the cache's synced
// informer, when the reader is such a cache: a list, even without deep
// copies, copies each profile's struct (about 700 bytes, 7 MiB a scrape at
// 10,000 profiles) into its items. false when the reader is no cache with
// a single informer of profiles (a cache of several namespaces has one per
// namespace, and asking it for its informer starts a goroutine each time:
// it is asked once) or the informer has not synced: the caller lists.
func (src *profileSource) stored(ctx context.Context) ([]*tuningv1alpha1.PerformanceProfile, bool) {
	if src.listed.Load() {
		return nil, false
	}
	informers, ok := src.reader.(cache.Informers)
	if !ok {
		src.listed.Store(true)
		return nil, false
	}
	inf, err := informers.GetInformer(ctx, &tuningv1alpha1.PerformanceProfile{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, false
	}
	stored, ok := inf.(interface{ GetStore() toolscache.Store })
	if !ok {
		src.listed.Store(true)
		return nil, false
	}
	if !inf.HasSynced() {
		return nil, false
	}
	objs := stored.GetStore().List()
	profiles := make([]*tuningv1alpha1.PerformanceProfile, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*tuningv1alpha1.PerformanceProfile); ok {
			profiles = append(profiles, p)
		}
	}
	return profiles, true
}

// send sends the series of the profiles of the family only, or of every
// family when only is nil.
func (c *profileCollector) send(ch chan<- prometheus.Metric, profiles []*tuningv1alpha1.PerformanceProfile, only *prometheus.Desc) {
	for _, p := range profiles {
		c.mu.Lock()
		rec, observed := c.periods[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]
		c.mu.Unlock()
		b := seriesBuilder{only: only}
		b.start(p, c.bound(p, &rec, observed, only))
		c.build(&b, p, &rec, observed)
		for j := range b.series {
			ch <- &b.series[j]
		}
	}
}

// bound is the most series build makes for p in the family only, or in
// every family when only is nil: one per condition (SLOMet's is
// slo_compliance), paused and mode, with an observation the conflicts and
// each SLI read, and one per knob value. The builder's arrays are sized by it:
// they live until the scrape is written (a series points into them).
func (c *profileCollector) bound(p *tuningv1alpha1.PerformanceProfile, rec *periodRecord, observed bool, only *prometheus.Desc) int {
	knobs, slis, conflicts := 0, 0, 0
	if cur := p.Status.Current; cur != nil {
		knobs = len(cur.Env) + 1 + 4
	}
	if observed {
		slis, conflicts = bits.OnesCount16(rec.read), 1
	}
	switch only {
	case nil:
		return len(p.Status.Conditions) + 2 + conflicts + slis + knobs
	case c.sloCompliance, c.paused, c.mode:
		return 1
	case c.condition:
		return len(p.Status.Conditions)
	case c.fieldConflicts:
		return conflicts
	case c.sli:
		return slis
	case c.knobValue:
		return knobs
	}
	return 0
}

// build adds the profile's series to b. Their number is at most bound's.
func (c *profileCollector) build(b *seriesBuilder, p *tuningv1alpha1.PerformanceProfile, rec *periodRecord, observed bool) {
	for i := range p.Status.Conditions {
		cond := &p.Status.Conditions[i]
		if cond.Type == tuningv1alpha1.ConditionSLOMet {
			switch cond.Status {
			case "True":
				b.add(c.sloCompliance, 1)
			case "False":
				b.add(c.sloCompliance, 0)
			}
			continue
		}
		b.add(c.condition, 1, pairNamed(labelStatus, string(cond.Status)), pairNamed(labelType, cond.Type))
	}
	b.add(c.paused, oneIf(p.Annotations[tuningv1alpha1.PausedAnnotation] == "true"))
	mode := p.Spec.Mode
	if mode == "" {
		mode = tuningv1alpha1.ModeAuto
	}
	b.add(c.mode, 1, pairNamed(labelMode, string(mode)))
	if observed {
		b.add(c.fieldConflicts, float64(rec.conflicts))
		for i, s := range sliSeries {
			if rec.read&(1<<i) != 0 {
				b.add(c.sli, rec.sli[i], pairNamed(labelSLI, s.label))
			}
		}
	}
	actuate.EachKnown(p.Status.Current, func(knob, value string) {
		// Every knob's value is an integer, and a duration knob's may be a
		// Go duration: read as seconds, the engine's unit for it.
		if n, ok := (tuning.KnobInfo{Unit: tuning.UnitSeconds}).Parse(value); ok {
			b.add(c.knobValue, float64(n), pairNamed(labelKnob, knob))
		}
	}, func(k tuning.Knob, n int32) {
		// status.current holds every field of the HPA; the profile's knobs
		// are the ones it declares.
		if tuning.PlaceOf(k) != tuning.PlaceHPA || tuning.HPAKnobDeclared(p.Spec.Autoscaling, k) {
			b.add(c.knobValue, float64(n), pairNamed(labelKnob, string(k)))
		}
	})
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Label names of the per-profile series besides the profile's own, as
// variables: a label pair points to its name.
var (
	labelSLI    = "sli"
	labelType   = "type"
	labelStatus = "status"
	labelMode   = "mode"
	labelKnob   = "knob"
	nameProfile = labelProfile
	nameNS      = labelProfileNamespace
)
