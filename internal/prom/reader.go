// Package prom reads the SLIs and saturation signals of PerformanceProfiles
// from a Prometheus-compatible HTTP API, in batches: all profiles that share an
// endpoint are observed with a fixed number of queries per period, whatever
// their number. The queries and what makes a signal missing are documented in
// docs/metrics.md.
package prom

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Target is one profile to observe.
type Target struct {
	// Key identifies the profile in the result, such as "namespace/name".
	Key string
	// Labels scope every default query (spec.metrics.labels). Names must be
	// Prometheus label names; values are matched literally.
	Labels Labels
	// Window is the rate()/quantile window of the SLO signals (latency,
	// errors, cache hit ratios; spec.slo.window); 0 means 5m.
	Window time.Duration
	// SaturationWindow is the rate() window of the saturation signals (CPU,
	// pool in use and wait, DB time and calls, Redis, throughput;
	// spec.metrics.saturationWindow); 0 means SaturationWindowFor the
	// Reader's scrape interval (Options.Freshness).
	SaturationWindow time.Duration
	// Preset names the metric conventions the default queries read
	// (spec.metrics.preset); empty is navius.
	Preset tuningv1alpha1.MetricsPreset
	// LatencyHistogram replaces the preset's latency histogram (spec.metrics.latencyHistogram).
	LatencyHistogram *tuningv1alpha1.LatencyHistogram
	// Overrides replace the default query of individual signals; each costs
	// one query per period for this profile alone. nil when it has none: the
	// Batcher holds a Target per profile, and the thirty queries' strings
	// were most of its bytes.
	Overrides *tuningv1alpha1.QueryOverrides
	// Percentiles are the latency signals to compute; nil means DefaultPercentiles.
	Percentiles []signals.Signal
	// Thresholds are the latency objectives by percentile: a percentile with
	// one is missing (BucketsTooCoarse) when the histogram cannot measure it.
	Thresholds Thresholds
	// Workload is the target Deployment, which scopes CPU utilisation; nil
	// leaves CPUUtilization missing (NotConfigured) unless overridden.
	Workload *Workload
	// Redis is the Redis workload, which scopes RedisCPU and RedisOpsRate; nil
	// leaves them missing (NotConfigured) unless overridden.
	Redis *Workload
}

// Label is one label a target's default queries match.
type Label struct{ Name, Value string }

// Labels are a target's labels sorted by name. A Target holds them, and its
// latency objectives (Thresholds), in slices rather than maps: the Batcher
// holds a Target per profile, and a map of one or two entries costs 250 to
// 340 bytes however small they are. Build them with LabelsOf: Get and the
// queries take each name to be there once.
type Labels []Label

// LabelsOf returns the labels of m sorted by name.
func LabelsOf(m map[string]string) Labels {
	if len(m) == 0 {
		return nil
	}
	ls := make(Labels, 0, len(m))
	for name, value := range m {
		ls = append(ls, Label{Name: name, Value: value})
	}
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return ls
}

// Get returns the value of the label name; "" when there is none.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Threshold is the latency objective of one percentile.
type Threshold struct {
	Signal    signals.Signal
	Threshold time.Duration
}

// Thresholds are a target's latency objectives sorted by percentile signal,
// each once (build them with ThresholdsOf).
type Thresholds []Threshold

// ThresholdsOf returns the objectives of m sorted by signal.
func ThresholdsOf(m map[signals.Signal]time.Duration) Thresholds {
	if len(m) == 0 {
		return nil
	}
	ts := make(Thresholds, 0, len(m))
	for s, d := range m {
		ts = append(ts, Threshold{Signal: s, Threshold: d})
	}
	slices.SortFunc(ts, func(a, b Threshold) int { return strings.Compare(string(a.Signal), string(b.Signal)) })
	return ts
}

// Of returns the objective of the percentile s, and whether it has one.
func (ts Thresholds) Of(s signals.Signal) (time.Duration, bool) {
	for _, t := range ts {
		if t.Signal == s {
			return t.Threshold, true
		}
	}
	return 0, false
}

// Workload names the pods of a Deployment or StatefulSet. Pods are matched by
// name: <name>-<pod-template-hash>-<suffix> for a Deployment, <name>-<ordinal>
// for a StatefulSet.
type Workload struct {
	Namespace string
	Name      string
	// Kind is Deployment (the default) or StatefulSet.
	Kind string
	// Container limits CPU to one container; empty sums all containers of the pod.
	Container string
}

// Defaults of Options.MaxResponseBytes and Options.MaxSeriesPerProfile;
// docs/operations.md sizes them against the manager's memory limit.
const (
	DefaultMaxResponseBytes    = 32 << 20
	DefaultMaxSeriesPerProfile = 200
)

// DefaultWindow is the window of a Target without one.
const DefaultWindow = 5 * time.Minute

// DefaultPercentiles are computed for a Target without Percentiles: those of
// signals.Percentiles observed for every profile.
var DefaultPercentiles = signals.AlwaysObserved()

// SaturationWindowFor is the saturation window of a Target without one,
// max(4 × scrape interval, 1m): rate() needs a few scrapes in its window, and
// a window much longer than that lags a load step.
func SaturationWindowFor(scrapeInterval time.Duration) time.Duration {
	return max(4*scrapeInterval, time.Minute)
}

// MinNoiseSamples: ThroughputNoise needs this many request rates in the SLO
// window (two moves between them) to tell a load that came back from a step
// or a trend.
const MinNoiseSamples = 3

// NoiseStep is the step at which ThroughputNoise samples the request rate
// (each sample a rate over the step itself), false when the SLO window
// cannot hold MinNoiseSamples of them. It is the saturation window when the
// SLO window holds three of those, else the SLO window's third (whole
// seconds), but never under two scrape intervals, the shortest window
// rate() reads reliably. The samples do not overlap: a rate over a longer
// window sampled more often shares its requests with the previous sample,
// and their differences under-read the noise by the overlap. A shorter
// step reads more of the load's fast swings than the saturation window's
// rate shows; ThroughputNoise only caps the variation taken from
// ThroughputPeak and tells a noisy load from a calm one, so reading more of
// it errs towards headroom and a later back-down.
func NoiseStep(window, satWindow, scrapeInterval time.Duration) (time.Duration, bool) {
	step := min(satWindow, (window / MinNoiseSamples).Truncate(time.Second))
	if step <= 0 || step < 2*scrapeInterval || window/step < MinNoiseSamples {
		return 0, false
	}
	return step, true
}

// noiseUnmeasured says why NoiseStep finds no step for these windows.
func noiseUnmeasured(window, satWindow, scrapeInterval time.Duration) string {
	floor := 2 * scrapeInterval
	if satWindow < floor {
		return fmt.Sprintf("the saturation window (%s) is shorter than two scrape intervals (%s): too short a rate to tell noise from a trend",
			promDuration(satWindow), promDuration(floor))
	}
	return fmt.Sprintf("the SLO window (%s) holds fewer than %d request rates of two scrape intervals (%s) each: too few to tell noise from a trend; a window of %s or more measures it",
		promDuration(window), MinNoiseSamples, promDuration(floor), promDuration(MinNoiseSamples*floor))
}

// Options configure a Reader. Zero values take the defaults in brackets.
type Options struct {
	// Clock drives timeouts, backoff and freshness [the real clock].
	Clock clock.Clock
	// Rand returns numbers in [0, 1) for the backoff jitter [math/rand/v2.Float64].
	Rand func() float64
	// Registerer receives the operator's query metrics [controller-runtime's metrics.Registry].
	Registerer prometheus.Registerer
	// Timeout bounds each query attempt when the Endpoint sets none [10s].
	Timeout time.Duration
	// MaxAttempts per query, the first included [3].
	MaxAttempts int
	// BackoffBase and BackoffMax bound the exponential backoff between attempts [250ms, 4s].
	BackoffBase, BackoffMax time.Duration
	// Freshness is the one rule for a sample that is too old (Stale): its age
	// against the query's evaluation time may be at most 2 × the scrape
	// interval plus the observe period [1m scrape interval, 30s period].
	Freshness signals.Freshness
	// MaxMatcherValues is how many distinct values of a label a batch query
	// lists in its regex matcher; beyond that it matches any value and the
	// series are filtered client-side [256, Prometheus' set-matcher limit].
	MaxMatcherValues int
	// Concurrency is the number of queries in flight per Observe [4].
	Concurrency int
	// MaxResponseBytes bounds the body of one answer; a larger answer makes
	// its signals Malformed [32 MiB]. With MaxSeriesPerProfile it bounds the
	// memory a broken or hostile endpoint can take: answers are decoded as
	// they arrive and only the series of the batch's profiles are kept, so
	// the decoding heap stays within a fraction of the answer's size
	// (docs/benchmarks/observe.md), at most Concurrency answers at a time.
	// The largest default answer of 10,000 profiles (latency, 10 buckets
	// each) is about 14 MiB.
	MaxResponseBytes int64
	// MaxSeriesPerProfile caps the series of one answer at this many per
	// profile of the batch, plus as many again for one profile's worth of
	// slack; beyond it the family's signals are missing with reason
	// TooManySeries [200: a latency histogram of up to about 190 buckets].
	MaxSeriesPerProfile int
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 4 * time.Second
	}
	o.Freshness = o.Freshness.WithDefaults()
	if o.MaxMatcherValues <= 0 {
		o.MaxMatcherValues = 256
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxSeriesPerProfile <= 0 {
		o.MaxSeriesPerProfile = DefaultMaxSeriesPerProfile
	}
	return o
}

// Reader reads observations from Prometheus-compatible endpoints. It is
// safe for concurrent use; it keeps one HTTP client per endpoint.
type Reader struct {
	opts    Options
	metrics *selfMetrics

	mu      sync.Mutex
	clients map[string]*cachedAPI
}

type cachedAPI struct {
	api      *promClient
	err      error
	lastUsed time.Time
}

// clientIdleTTL is how long an unused endpoint client is kept.
const clientIdleTTL = 30 * time.Minute

// NewReader returns a Reader and registers its metrics.
func NewReader(opts Options) *Reader {
	opts = opts.withDefaults()
	return &Reader{opts: opts, metrics: newSelfMetrics(opts.Registerer), clients: map[string]*cachedAPI{}}
}

func (o *Reader) client(ep Endpoint) (*promClient, error) {
	now := o.opts.Clock.Now()
	key := ep.key()
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, c := range o.clients {
		if now.Sub(c.lastUsed) > clientIdleTTL {
			delete(o.clients, k)
		}
	}
	c, ok := o.clients[key]
	if !ok {
		a, err := newClient(ep, o.opts.MaxResponseBytes)
		c = &cachedAPI{api: a, err: err}
		o.clients[key] = c
	}
	c.lastUsed = now
	return c.api, c.err
}

// forget drops the client of an endpoint no profile uses any more (its URL
// or credentials changed, or its profiles are gone), closing its idle
// connections, rather than keeping it for clientIdleTTL.
func (o *Reader) forget(ep Endpoint) {
	key := ep.key()
	o.mu.Lock()
	c, ok := o.clients[key]
	delete(o.clients, key)
	o.mu.Unlock()
	if ok && c.api != nil {
		c.api.http.CloseIdleConnections()
	}
}

// job is one query of a period: a batch family for a group, or an override.
type job struct {
	family string
	query  string
	// maxSeries caps the series of the answer.
	maxSeries int
	// wanted, for a batch family, says which series to keep: those of the
	// group's targets (see group.file); nil for an override.
	wanted func(ix *index, metric map[string]string, p point)
	// ids numbers the group's target keys for wanted.
	ids map[string]int32
	// ix holds the kept series of a batch family by target key and part.
	ix *index
	// series counts the series of the answer; first is the first of them
	// (an override must return exactly one).
	series int
	first  point
	fail   *failure
}

// keep returns the keepFunc of one attempt, which starts from nothing, with
// room for capacity points.
func (j *job) keep(capacity int) keepFunc {
	j.ix, j.series, j.first = newIndex(j.ids, capacity), 0, point{}
	return func(metric map[string]string, p point) {
		j.series++
		if j.series == 1 {
			j.first = p
		}
		if j.wanted != nil {
			j.wanted(j.ix, metric, p)
		}
	}
}

// Observe reads every target from the endpoint and returns one Observation
// per Target.Key. Default signals cost a fixed number of queries per group of
// targets sharing label keys and window (at most five), whatever the number
// of targets; every override costs one more query. A signal that could not be
// read is in Observation.Missing with the reason; nothing is guessed.
func (o *Reader) Observe(ctx context.Context, ep Endpoint, targets []Target) map[string]signals.Observation {
	return o.ObserveAt(ctx, ep, targets, o.opts.Clock.Now())
}

// ObserveAt is Observe with the queries evaluated at a past time now, as
// Prometheus' instant queries allow: the same queries, decoding and
// freshness rule (a sample's age is measured against now), so that a
// replay of recorded history reads each period as the manager read it then.
func (o *Reader) ObserveAt(ctx context.Context, ep Endpoint, targets []Target, now time.Time) map[string]signals.Observation {
	out := make(map[string]signals.Observation, len(targets))
	o.observeEach(ctx, ep, slices.Values(targets), now, func(key string, obs signals.Observation) { out[key] = obs.Clone() })
	return out
}

// observeEach is ObserveAt handing each target's observation to done as
// soon as it is complete, and each group's answers to the collector once its
// targets are read: a caller that keeps the observations packed (the
// Batcher) never holds every one of them unpacked, nor every group's
// answers, at once. The observation done is handed is valid until done
// returns: the next target's is read into the same maps (a refresh of
// 10,000 profiles made 20,000 maps for one packed copy each).
func (o *Reader) observeEach(ctx context.Context, ep Endpoint, targets iter.Seq[Target], now time.Time, done func(key string, obs signals.Observation)) {
	papi, err := o.client(ep)
	if err != nil {
		for t := range targets {
			obs := signals.NewObservation(now)
			markAll(&obs, t, signals.ReasonEndpointDown, "client: "+err.Error())
			done(t.Key, obs)
		}
		return
	}
	timeout := ep.Timeout
	if timeout <= 0 {
		timeout = o.opts.Timeout
	}

	groups, invalid := o.plan(targets)
	observed := len(invalid)
	for _, g := range groups {
		observed += len(g.targets)
	}
	for _, iv := range invalid {
		obs := signals.NewObservation(now)
		markAll(&obs, iv.target, signals.ReasonBadQuery, iv.reason)
		done(iv.target.Key, obs)
	}
	var jobs []*job
	for _, g := range groups {
		jobs = append(jobs, g.jobs...)
		for _, ov := range g.overrides {
			jobs = append(jobs, ov.job)
		}
	}
	o.runAll(ctx, papi, jobs, now, timeout)
	papi.rememberKept(jobs)
	queries := len(jobs) // jobs is dead from here: each group holds its own
	obs := signals.NewObservation(now)
	for i, g := range groups {
		indexes := g.indexAll()
		overrides := make(map[string][]override, len(g.overrides))
		for _, ov := range g.overrides {
			overrides[ov.target.Key] = append(overrides[ov.target.Key], ov)
		}
		for _, ti := range g.targets {
			obs.Reset(now)
			g.extract(&obs, ti, indexes)
			for _, ov := range overrides[ti.Key] {
				applyOverride(&obs, ov)
			}
			obs.Expire(o.opts.Freshness)
			done(ti.Key, obs)
		}
		groups[i] = nil // its answers are read
	}
	if queries > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("Observed profiles", "targets", observed, "queries", queries)
	}
}

// runAll runs the jobs with bounded concurrency.
func (o *Reader) runAll(ctx context.Context, papi *promClient, jobs []*job, at time.Time, timeout time.Duration) {
	sem := make(chan struct{}, o.opts.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			j.fail = o.query(ctx, papi, j, at, timeout)
		}()
	}
	wg.Wait()
}

// query runs a job's instant query with retries, exponential backoff and jitter.
func (o *Reader) query(ctx context.Context, papi *promClient, j *job, at time.Time, timeout time.Duration) *failure {
	clk := o.opts.Clock
	family := j.family
	for attempt := 1; ; attempt++ {
		start := clk.Now()
		f := queryOnce(ctx, clk, papi, j.query, at, timeout, j.maxSeries, j.keep(papi.keptBefore(j.query)))
		result := "success"
		if f != nil {
			result = "error"
		}
		o.metrics.duration.WithLabelValues(family, result).Observe(clk.Since(start).Seconds())
		if f == nil {
			return nil
		}
		if !f.retry || attempt >= o.opts.MaxAttempts {
			o.metrics.errors.WithLabelValues(family, string(f.Reason)).Inc()
			if attempt > 1 {
				f.Message = fmt.Sprintf("%s (after %d attempts)", f.Message, attempt)
			}
			j.ix = nil // a failed answer keeps nothing
			return f
		}
		o.metrics.retries.WithLabelValues(family, string(f.Reason)).Inc()
		wait := clk.NewTimer(backoff(attempt, o.opts.BackoffBase, o.opts.BackoffMax, o.opts.Rand))
		select {
		case <-ctx.Done():
			wait.Stop()
			o.metrics.errors.WithLabelValues(family, string(f.Reason)).Inc()
			j.ix = nil
			return &failure{Reason: f.Reason, Message: f.Message + " (canceled before retrying)"}
		case <-wait.C():
		}
	}
}

// markAll records every signal a target would have as missing.
func markAll(obs *signals.Observation, t Target, r signals.Reason, msg string) {
	for _, s := range targetSignals(t) {
		obs.SetMissing(s, r, msg)
	}
}

// targetSignals lists the signals observed for a target.
func targetSignals(t Target) []signals.Signal {
	out := append([]signals.Signal{}, percentiles(t)...)
	for _, f := range familyOrder {
		out = append(out, familySignals[f]...)
	}
	return out
}

func percentiles(t Target) []signals.Signal {
	if t.Percentiles == nil {
		return DefaultPercentiles
	}
	return t.Percentiles
}

// overrideFields maps each signal a profile's query overrides can set to its
// field: the one list overrideQuery and overrideQueries read.
var overrideFields = func() []overrideField {
	all := []overrideField{
		{signals.LatencyMean, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.LatencyMean }},
		{signals.ErrorRate, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.ErrorRate }},
		{signals.Throughput, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.Throughput }},
		{signals.ThroughputWindow, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.ThroughputWindow }},
		{signals.ThroughputNow, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.ThroughputNow }},
		{signals.ThroughputPeak, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.ThroughputPeak }},
		{signals.ThroughputNoise, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.ThroughputNoise }},
		{signals.Pods, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.Pods }},
		{signals.PoolInUse, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.PoolInUse }},
		{signals.PoolMax, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.PoolMax }},
		{signals.PoolWait, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.PoolWait }},
		{signals.PoolWaitTail, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.PoolWaitTail }},
		{signals.DBTime, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.DBTime }},
		{signals.DBCallRate, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.DBCallRate }},
		{signals.MemoryHitRatio, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.MemoryHitRatio }},
		{signals.RedisHitRatio, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.RedisHitRatio }},
		{signals.MemoryLookupRate, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.MemoryLookupRate }},
		{signals.CPUUtilization, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.CPUUtilization }},
		{signals.RedisCPU, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.RedisCPU }},
		{signals.RedisOpsRate, func(q *tuningv1alpha1.QueryOverrides) *string { return &q.RedisOpsRate }},
	}
	for _, p := range signals.Percentiles {
		name := tuningv1alpha1.Percentile(p.Name)
		all = append(all, overrideField{p.Signal, func(q *tuningv1alpha1.QueryOverrides) *string { return q.Latency(name) }})
	}
	return all
}()

type overrideField struct {
	signal signals.Signal
	field  func(*tuningv1alpha1.QueryOverrides) *string
}

// overrideQuery is the profile's query for signal s, "" when it sets none.
// It is asked for every target and family of each batch: it reads the one
// field rather than building every override.
func overrideQuery(q *tuningv1alpha1.QueryOverrides, s signals.Signal) string {
	if q == nil {
		return ""
	}
	for _, f := range overrideFields {
		if f.signal == s {
			return f.query(q)
		}
	}
	return ""
}

// query is the field's query in q, "" when blank.
func (f overrideField) query(q *tuningv1alpha1.QueryOverrides) string {
	if v := *f.field(q); strings.TrimSpace(v) != "" {
		return v
	}
	return ""
}

// overrideQueries maps the non-empty overrides to their signals.
func overrideQueries(q *tuningv1alpha1.QueryOverrides) map[signals.Signal]string {
	all := map[signals.Signal]string{}
	if q == nil {
		return all
	}
	for _, f := range overrideFields {
		if v := f.query(q); v != "" {
			all[f.signal] = v
		}
	}
	return all
}

// override is one per-profile override query.
type override struct {
	target Target
	signal signals.Signal
	*job
}

func applyOverride(obs *signals.Observation, ov override) {
	if ov.fail != nil {
		obs.SetMissing(ov.signal, ov.fail.Reason, "override: "+ov.fail.Message)
		return
	}
	switch ov.series {
	case 0:
		obs.SetMissing(ov.signal, signals.ReasonEmpty, "override returned no series")
		return
	case 1:
	default:
		obs.SetMissing(ov.signal, signals.ReasonMultipleSeries,
			fmt.Sprintf("override returned %d series, want 1", ov.series))
		return
	}
	s := ov.first
	if math.IsInf(s.Value, 0) { // an override's own expression: ±Inf is not a measurement
		obs.SetMissing(ov.signal, signals.ReasonNaN, fmt.Sprintf("override returned %v", s.Value))
		return
	}
	obs.Set(ov.signal, s.Value, s.At.Time())
}

// groupKey is what targets must share to be observed by the same batch queries.
func groupKey(t Target) string {
	keys := make([]string, 0, len(t.Labels))
	for _, l := range t.Labels {
		keys = append(keys, l.Name)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",") + "|" + promDuration(t.Window) + "|" + promDuration(t.SaturationWindow)
}
