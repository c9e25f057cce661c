package prom

import (
	"fmt"
	"iter"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Query families: the batch queries of one group. Each is one HTTP query per
// period for all targets of the group.
const (
	famLatency  = "latency"
	famTraffic  = "traffic"
	famPool     = "pool"
	famCache    = "cache"
	famWorkload = "workload"
	famOverride = "override"
)

var familyOrder = []string{famLatency, famTraffic, famPool, famCache, famWorkload}

// familySignals are the signals each family yields (latency also yields the
// target's percentiles).
var familySignals = map[string][]signals.Signal{
	famLatency:  {signals.LatencyMean},
	famTraffic:  {signals.ErrorRate, signals.Throughput, signals.ThroughputWindow, signals.ThroughputNow, signals.ThroughputPeak, signals.ThroughputNoise, signals.Pods},
	famPool:     {signals.PoolInUse, signals.PoolMax, signals.PoolWait, signals.PoolWaitTail, signals.DBTime, signals.DBCallRate},
	famCache:    {signals.MemoryHitRatio, signals.RedisHitRatio, signals.MemoryLookupRate},
	famWorkload: {signals.CPUUtilization, signals.RedisCPU, signals.RedisOpsRate},
}

// Pod name patterns. The alphabet is the one Kubernetes uses for generated
// names (k8s.io/apimachinery/pkg/util/rand), so a StatefulSet pod such as
// redis-0 is never taken for a Deployment pod.
const (
	genAlphabet     = "[bcdfghjklmnpqrstvwxz2456789]"
	deploymentPodRE = "(.+)-" + genAlphabet + "{1,10}-" + genAlphabet + "{5}"
	statefulPodRE   = "(.+)-[0-9]+"
	deployLabel     = "navius_deploy"
	stsLabel        = "navius_sts"
)

// group is the targets that share label keys, windows and metric
// conventions (preset and latency histogram), and their queries.
type group struct {
	conv   convention
	keys   []string
	window time.Duration
	// satWindow is the window of the saturation signals (CPU, pool, DB time,
	// Redis, throughput): shorter than the SLO window, so that they follow a
	// load step within a minute or two.
	satWindow time.Duration
	// noiseStep is NoiseStep of the windows and the scrape interval; 0 when
	// ThroughputNoise cannot be measured, and noiseUnmeasured says why.
	noiseStep       time.Duration
	noiseUnmeasured string
	targets         []Target
	jobs            []*job
	byFamily        map[string]*job
	overrides       []override
}

type invalidTarget struct {
	target Target
	reason string
}

// plan validates the targets, groups them and builds the queries.
func (o *Reader) plan(targets iter.Seq[Target]) ([]*group, []invalidTarget) {
	var invalid []invalidTarget
	byKey := map[string]*group{}
	var order []string
	for t := range targets {
		if t.Window == 0 {
			t.Window = DefaultWindow
		}
		if t.SaturationWindow == 0 {
			t.SaturationWindow = SaturationWindowFor(o.opts.Freshness.ScrapeInterval)
		}
		if msg := validate(t); msg != "" {
			invalid = append(invalid, invalidTarget{target: t, reason: msg})
			continue
		}
		conv, err := conventionOf(t)
		if err != nil {
			invalid = append(invalid, invalidTarget{target: t, reason: err.Error()})
			continue
		}
		k := groupKey(t) + "|" + conv.key()
		g, ok := byKey[k]
		if !ok {
			g = &group{conv: conv, window: t.Window, satWindow: t.SaturationWindow, byFamily: map[string]*job{}}
			var measured bool
			if g.noiseStep, measured = NoiseStep(t.Window, t.SaturationWindow, o.opts.Freshness.ScrapeInterval); !measured {
				g.noiseUnmeasured = noiseUnmeasured(t.Window, t.SaturationWindow, o.opts.Freshness.ScrapeInterval)
			}
			for _, l := range t.Labels {
				g.keys = append(g.keys, l.Name)
			}
			sort.Strings(g.keys)
			byKey[k] = g
			order = append(order, k)
		}
		g.targets = append(g.targets, t)
		for s, q := range overrideQueries(t.Overrides) {
			g.overrides = append(g.overrides, override{target: t, signal: s,
				job: &job{family: famOverride, query: q, maxSeries: o.opts.MaxSeriesPerProfile}})
		}
	}
	groups := make([]*group, 0, len(order))
	for _, k := range order {
		g := byKey[k]
		sort.Slice(g.overrides, func(i, j int) bool {
			a, b := g.overrides[i], g.overrides[j]
			return a.target.Key < b.target.Key || a.target.Key == b.target.Key && a.signal < b.signal
		})
		g.build(o.opts.MaxMatcherValues, o.opts.MaxSeriesPerProfile)
		groups = append(groups, g)
	}
	return groups, invalid
}

func validate(t Target) string {
	for _, l := range t.Labels {
		k := l.Name
		if !labelNameRE.MatchString(k) {
			return fmt.Sprintf("label name %q is not a valid Prometheus label name", k)
		}
		if k == partLabel || k == "le" {
			return fmt.Sprintf("label name %q is reserved", k)
		}
	}
	if t.Window < time.Second {
		return fmt.Sprintf("window %s is shorter than 1s", t.Window)
	}
	if t.SaturationWindow < time.Second {
		return fmt.Sprintf("saturation window %s is shorter than 1s", t.SaturationWindow)
	}
	for _, p := range percentiles(t) {
		if _, ok := signals.Quantile(p); !ok {
			return fmt.Sprintf("%q is not a latency percentile", p)
		}
	}
	return ""
}

// needs reports whether a target needs a family's default query.
func needs(t Target, fam string) bool {
	want := familySignals[fam]
	switch fam {
	case famLatency:
		want = append(append([]signals.Signal{}, percentiles(t)...), signals.LatencyMean)
	case famWorkload:
		return wantsCPU(t) || wantsRedis(t)
	}
	for _, s := range want {
		if overrideQuery(t.Overrides, s) == "" {
			return true
		}
	}
	return false
}

// build writes the group's batch queries: at most one per family, and only
// for the families some target needs. Each answer may hold perProfile series
// per target, plus one target's worth.
func (g *group) build(maxValues, perProfile int) {
	ms := make([]matcher, 0, len(g.keys))
	for _, k := range g.keys {
		vals := make([]string, 0, len(g.targets))
		for _, t := range g.targets {
			vals = append(vals, t.Labels.Get(k))
		}
		ms = append(ms, anyOf(k, vals, maxValues))
	}
	// SLO signals (latency, errors, hit ratios) use the SLO window;
	// saturation signals the saturation window.
	w, ws := promDuration(g.window), promDuration(g.satWindow)
	by := byClause(g.keys...)
	sel := func(metric string, extra ...matcher) string {
		return selector(metric, append(append([]matcher{}, ms...), extra...)...)
	}
	sumRateOver := func(window, metric string, extra ...matcher) string {
		return fmt.Sprintf("sum %s (rate(%s[%s]))", by, sel(metric, extra...), window)
	}
	sumRate := func(metric string, extra ...matcher) string { return sumRateOver(w, metric, extra...) }
	sumRateShort := func(metric string, extra ...matcher) string { return sumRateOver(ws, metric, extra...) }
	newest := func(metric string, extra ...matcher) string {
		return fmt.Sprintf("max %s (timestamp(%s))", by, sel(metric, extra...))
	}
	c := g.conv
	app := func(extra ...matcher) []matcher { return append(append([]matcher{}, c.appMatch...), extra...) }
	queries := map[string]func() string{
		famLatency: func() string {
			h := c.latency.name
			return union(
				tagged("bucket", fmt.Sprintf("sum %s (rate(%s[%s]))", byClause(append(append([]string{}, g.keys...), "le")...),
					sel(h+"_bucket", app()...), w)),
				tagged("sum", sumRate(h+"_sum", app()...)),
				tagged("count", sumRate(h+"_count", app()...)),
				tagged("ts", newest(h+"_count", app()...)),
			)
		},
		famTraffic: func() string {
			branches := []string{
				tagged("requests", sumRate(c.requests, app()...)),
				tagged("errors", sumRate(c.requests, app(matcher{c.statusLabel, "=~", "5.."})...)),
				tagged("throughput", sumRateShort(c.requests, app()...)),
				// the newest scrape interval of each pod: irate over the
				// saturation window reads the last two samples in it
				tagged("throughput_now", fmt.Sprintf("sum %s (irate(%s[%s]))", by, sel(c.requests, app()...), ws)),
				tagged("throughput_peak", g.peakQuery(sumRateOver, c.requests, app()...)),
				tagged("pods", fmt.Sprintf("count %s (count %s (%s))", by, byClause(append(append([]string{}, g.keys...), "pod")...),
					sel(c.requests, app(matcher{"pod", "!=", ""})...))),
				tagged("ts", newest(c.requests, app()...)),
			}
			if g.noiseStep > 0 {
				step := promDuration(g.noiseStep)
				r, prev := sumRateOver(step, c.requests, app()...),
					fmt.Sprintf("sum %s (rate(%s[%s] offset %s))", by, sel(c.requests, app()...), step, step)
				noise, rates, moves := g.noiseQueries(r, prev)
				branches = append(branches, tagged("throughput_noise", noise),
					tagged("throughput_noise_rates", rates), tagged("throughput_noise_moves", moves))
			}
			return union(branches...)
		},
		famPool: func() string {
			inUse := fmt.Sprintf("avg_over_time(%s[%s])", sel(c.inUse, c.inUseMatch...), ws)
			branches := []string{
				tagged("in_use", fmt.Sprintf("avg %s (%s)", by, inUse)),
				tagged("max", fmt.Sprintf("avg %s (%s)", by, sel(c.poolMax))),
				tagged("wait_sum", sumRateShort(c.wait.sum)),
				tagged("wait_count", sumRateShort(c.wait.count)),
			}
			if c.littles {
				branches = append(branches, tagged("held", fmt.Sprintf("sum %s (%s)", by, inUse)))
			} else {
				branches = append(branches, tagged("db_sum", sumRateShort(c.dbTime.sum)), tagged("db_count", sumRateShort(c.dbTime.count)))
			}
			if c.calls != c.dbTime.count || c.littles {
				branches = append(branches, tagged("calls", sumRateShort(c.calls)))
			}
			if h := c.waitHistogram; h != nil {
				branches = append(branches, tagged("wait_bucket", fmt.Sprintf("sum %s (rate(%s[%s]))",
					byClause(append(append([]string{}, g.keys...), "le")...), sel(h.name+"_bucket"), ws)))
			}
			return union(append(branches, tagged("ts", newest(c.poolMax)))...)
		},
		famCache: func() string {
			byTierResult := byClause(append(append([]string{}, g.keys...), "tier", "result")...)
			if c.memoryCache == "" {
				return union(
					tagged("cache", fmt.Sprintf("sum %s (rate(%s[%s]))", byTierResult,
						sel("cache_requests_total", matcher{"tier", "=~", "memory|redis"}), w)),
					tagged("ts", newest("cache_requests_total")),
				)
			}
			// The stack's cache counter is the memory tier: its series are
			// given tier="memory", and the Redis tier is the contract's.
			byResult := byClause(append(append([]string{}, g.keys...), "result")...)
			return union(
				tagged("cache", fmt.Sprintf("label_replace(sum %s (rate(%s[%s])), \"tier\", \"memory\", \"\", \"\")",
					byResult, sel(c.memoryCache), w)),
				tagged("cache", fmt.Sprintf("sum %s (rate(%s[%s]))", byTierResult,
					sel("cache_requests_total", matcher{"tier", "=", "redis"}), w)),
				tagged("ts", newest(c.memoryCache)),
			)
		},
		famWorkload: func() string { return g.workloadQuery(maxValues) },
	}
	var appIDs map[string]int32 // the app families' target numbers, one map for all of them
	for _, fam := range familyOrder {
		need := false
		for _, t := range g.targets {
			if needs(t, fam) {
				need = true
				break
			}
		}
		if !need {
			continue
		}
		j := &job{family: fam, query: queries[fam](), maxSeries: perProfile * (len(g.targets) + 1)}
		if fam != famWorkload && appIDs == nil {
			appIDs = g.appIDs()
		}
		j.wanted, j.ids = g.filer(fam, appIDs)
		g.jobs = append(g.jobs, j)
		g.byFamily[fam] = j
	}
}

// peakQuery is ThroughputPeak: the largest request rate within the SLO
// window, sampled at the noise step (rates over the step) when the noise
// is measured, so that the peak and the noise it is capped by come from the
// same rates across the whole window, else at the saturation window (a
// window holding fewer than three of those has one or two samples, which
// may miss most of it).
func (g *group) peakQuery(sumRateOver func(window, metric string, extra ...matcher) string, requests string, ms ...matcher) string {
	step := g.satWindow
	if g.noiseStep > 0 {
		step = g.noiseStep
	}
	s := promDuration(step)
	return fmt.Sprintf("max_over_time((%s)[%s:%s])", sumRateOver(s, requests, ms...), promDuration(g.window), s)
}

// noiseQueries are ThroughputNoise: the request rate r over the noise
// step, sampled once per step over the SLO window (the subquery's steps),
// its total movement between samples (the sum of |r − r one step earlier|;
// prev is r offset by one step) less its range (max − min of the same
// samples); the moves span the window's samples, one step fewer than the
// range's. rates and moves count the samples of each: a step where r is
// missing (a rate over two scrape intervals that one late scrape leaves
// with a single sample) drops the two moves around it but only one sample
// from the range, so the noise would under-read; the extraction keeps it
// only when every sample but the first has its move.
func (g *group) noiseQueries(r, prev string) (noise, rates, moves string) {
	w, step := promDuration(g.window), promDuration(g.noiseStep)
	span := promDuration(g.window - g.noiseStep)
	movesOf := fmt.Sprintf("(abs(%s - %s))[%s:%s]", r, prev, span, step)
	ratesOf := fmt.Sprintf("(%s)[%s:%s]", r, w, step)
	return fmt.Sprintf("sum_over_time(%s) - (max_over_time(%s) - min_over_time(%s))", movesOf, ratesOf, ratesOf),
		fmt.Sprintf("count_over_time(%s)", ratesOf), fmt.Sprintf("count_over_time(%s)", movesOf)
}

// workloadQuery reads CPU utilisation and Redis load by workload: series are
// summed per pod-name prefix (label_replace on the pod label), so the answer
// has one series per workload and container, never one per pod.
func (g *group) workloadQuery(maxValues int) string {
	var cpuNS, redisNS []string
	for _, t := range g.targets {
		if wantsCPU(t) {
			cpuNS = append(cpuNS, t.Workload.Namespace)
		}
		if wantsRedis(t) {
			redisNS = append(redisNS, t.Redis.Namespace)
		}
	}
	w := promDuration(g.satWindow) // CPU and Redis load are saturation signals
	var branches []string
	if len(cpuNS) > 0 {
		ns := anyOf("namespace", cpuNS, maxValues)
		usage := fmt.Sprintf("rate(%s[%s])", selector("container_cpu_usage_seconds_total", ns,
			matcher{"container", "!=", ""}, matcher{"container", "!=", "POD"}), w)
		requests := fmt.Sprintf("%s and on (namespace, pod, container) %s",
			selector("kube_pod_container_resource_requests", ns, matcher{"resource", "=", "cpu"}), usage)
		byDeploy := func(expr string) string {
			return fmt.Sprintf("sum by (namespace, %s, container) (label_replace(%s, %q, \"$1\", \"pod\", %q))",
				deployLabel, expr, deployLabel, deploymentPodRE)
		}
		branches = append(branches, tagged("cpu_usage", byDeploy(usage)), tagged("cpu_requests", byDeploy(requests)))
	}
	if len(redisNS) > 0 {
		ns := anyOf("namespace", redisNS, maxValues)
		byWorkload := func(agg, expr string) string {
			return fmt.Sprintf("%s by (namespace, %s, %s) (label_replace(label_replace(%s, %q, \"$1\", \"pod\", %q), %q, \"$1\", \"pod\", %q))",
				agg, stsLabel, deployLabel, expr, stsLabel, statefulPodRE, deployLabel, deploymentPodRE)
		}
		cpu := fmt.Sprintf("rate(%s[%s]) + rate(%s[%s])",
			selector("redis_cpu_sys_seconds_total", ns), w, selector("redis_cpu_user_seconds_total", ns), w)
		branches = append(branches,
			tagged("redis_cpu", byWorkload("sum", cpu)),
			tagged("redis_ops", byWorkload("sum", fmt.Sprintf("rate(%s[%s])", selector("redis_commands_processed_total", ns), w))),
			tagged("redis_pods", byWorkload("count", selector("redis_connected_clients", ns))),
		)
	}
	return union(branches...)
}

// index files the kept series of a family's answer by target key and part.
// The points are held in one slice as they are decoded, each with its part
// and a link to the target's previous point (heads holds each target's last),
// rather than in a map of parts per target: at 10,000 profiles a refresh
// held every family's maps at once, tens of MiB that set the manager's peak.
type index struct {
	// ids numbers the group's target keys (shared by every answer of the family).
	ids     map[string]int32
	heads   []int32 // by target number: its last point in entries, -1 for none
	entries []filed
	// containers are the container label values of the entries, each once
	// (0 is none); overflow holds, by entry, those past the table's last
	// number.
	containers   []string
	containerIDs map[string]uint16
	overflow     map[int32]string
	// scratch and buf hold what parts returns (see there).
	scratch map[string]series
	buf     []point
}

// filed is one kept point with its part and the index in entries of the
// previous point of its target (-1 for none), held in 32 bytes rather than
// the 56 of a point and its links: an index holds every kept point of a
// family's answer until the refresh has read every target (190,000 points
// at 10,000 profiles), at the time the manager's heap peaks.
type filed struct {
	value, le float64
	at        model.Time
	prev      int32
	container uint16 // in containers; overflowContainer: in overflow
	part      uint8
	flags     uint8 // flagBadLE, and the cache tier and result (tierShift, resultShift)
}

const (
	flagBadLE         = 1
	tierShift         = 1
	resultShift       = 3
	twoBits           = 3
	overflowContainer = math.MaxUint16
)

// newIndex is an index of the targets numbered by ids, with room for
// capacity points.
func newIndex(ids map[string]int32, capacity int) *index {
	return &index{ids: ids, entries: make([]filed, 0, capacity)}
}

// add files p under the target numbered id (one of ids) and part (a
// knownParts number).
func (ix *index) add(id int32, part uint8, p point) {
	if ix.heads == nil {
		ix.heads = make([]int32, len(ix.ids))
		for i := range ix.heads {
			ix.heads[i] = -1
		}
	}
	e := filed{value: p.Value, le: p.LE, at: p.At, prev: ix.heads[id], part: part,
		flags: uint8(p.Tier)<<tierShift | uint8(p.Result)<<resultShift}
	if p.BadLE {
		e.flags |= flagBadLE
	}
	if p.Container != "" {
		e.container = ix.containerID(int32(len(ix.entries)), p.Container)
	}
	ix.entries = append(ix.entries, e)
	ix.heads[id] = int32(len(ix.entries) - 1)
}

// containerID numbers a container label value for the entry at position
// at, one copy of each value for every point that has it.
func (ix *index) containerID(at int32, c string) uint16 {
	if id, ok := ix.containerIDs[c]; ok {
		return id
	}
	if ix.containerIDs == nil {
		ix.containerIDs, ix.containers = map[string]uint16{}, []string{""}
	}
	if len(ix.containers) < overflowContainer {
		id := uint16(len(ix.containers))
		ix.containers = append(ix.containers, c)
		ix.containerIDs[c] = id
		return id
	}
	if ix.overflow == nil {
		ix.overflow = map[int32]string{}
	}
	ix.overflow[at] = c
	return overflowContainer
}

// point is the entry at position i as it was added.
func (ix *index) point(i int32) point {
	e := &ix.entries[i]
	p := point{Value: e.value, LE: e.le, At: e.at, BadLE: e.flags&flagBadLE != 0,
		Tier: cacheTier(e.flags >> tierShift & twoBits), Result: cacheResult(e.flags >> resultShift & twoBits)}
	switch e.container {
	case 0:
	case overflowContainer:
		p.Container = ix.overflow[i]
	default:
		p.Container = ix.containers[e.container]
	}
	return p
}

// parts returns the series of the target key by part, each in the answer's
// order; nil when it has none. The map and its series are the index's own,
// valid until its next call: a target's family is read (extract) before the
// next target's, and building a map per target and family doubled the bytes
// a refresh allocated.
func (ix *index) parts(key string) map[string]series {
	if ix == nil || ix.heads == nil {
		return nil
	}
	id, ok := ix.ids[key]
	if !ok || ix.heads[id] < 0 {
		return nil
	}
	var count [256]int
	total := 0
	for i := ix.heads[id]; i >= 0; i = ix.entries[i].prev {
		count[ix.entries[i].part]++
		total++
	}
	if cap(ix.buf) < total {
		ix.buf = make([]point, total)
	}
	buf := ix.buf[:total]
	if ix.scratch == nil {
		ix.scratch = map[string]series{}
	}
	clear(ix.scratch)
	// Each part gets its run of buf, filled from its end: the links go
	// from the newest point to the oldest.
	var end [256]int
	at := 0
	for part, n := range count {
		if n > 0 {
			at += n
			end[part] = at
		}
	}
	for i := ix.heads[id]; i >= 0; i = ix.entries[i].prev {
		part := ix.entries[i].part
		end[part]--
		buf[end[part]] = ix.point(i)
	}
	for part, n := range count {
		if n > 0 {
			ix.scratch[partNames[part]] = buf[end[part] : end[part]+n : end[part]+n]
		}
	}
	return ix.scratch
}

// labelsKey is the key of a target (or a sample) in an app family's answer.
func labelsKey(keys []string, get func(string) string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(get(k))
		b.WriteByte(0xff)
	}
	return b.String()
}

func workloadKey(kind, namespace, name string) string {
	return kind + "\xff" + namespace + "\xff" + name
}

// filer returns what files the series of a family's answer as they are
// decoded: a series is kept only when it belongs to one of the group's
// targets, so series of other services, namespaces or workloads that a broad
// matcher lets through cost nothing once read.
func (g *group) filer(fam string, appIDs map[string]int32) (func(ix *index, metric map[string]string, p point), map[string]int32) {
	if fam != famWorkload {
		return func(ix *index, metric map[string]string, p point) {
			part, known := knownParts[metric[partLabel]]
			if !known {
				return
			}
			if id, ok := appIDs[labelsKey(g.keys, func(k string) string { return metric[k] })]; ok {
				ix.add(id, part, p)
			}
		}, appIDs
	}
	ids := map[string]int32{}
	for _, t := range g.targets {
		if wantsCPU(t) {
			number(ids, workloadKey("Deployment", t.Workload.Namespace, t.Workload.Name))
		}
		if wantsRedis(t) {
			number(ids, workloadKey(orDeployment(t.Redis.Kind), t.Redis.Namespace, t.Redis.Name))
		}
	}
	return func(ix *index, metric map[string]string, p point) {
		part, known := knownParts[metric[partLabel]]
		if !known {
			return
		}
		ns := metric["namespace"]
		if d := metric[deployLabel]; d != "" {
			if id, ok := ids[workloadKey("Deployment", ns, d)]; ok {
				ix.add(id, part, p)
			}
		}
		if st := metric[stsLabel]; st != "" {
			if id, ok := ids[workloadKey("StatefulSet", ns, st)]; ok {
				ix.add(id, part, p)
			}
		}
	}, ids
}

// appIDs numbers the group's target keys in the app families' answers
// (labelsKey of the group's label keys); targets with the same labels share one.
func (g *group) appIDs() map[string]int32 {
	ids := make(map[string]int32, len(g.targets))
	for _, t := range g.targets {
		number(ids, labelsKey(g.keys, t.Labels.Get))
	}
	return ids
}

// number gives key the next number in ids, unless it has one.
func number(ids map[string]int32, key string) {
	if _, ok := ids[key]; !ok {
		ids[key] = int32(len(ids))
	}
}

// partNames are the parts (partLabel values) the extractors read; knownParts
// maps each to its number in partNames.
var partNames = []string{"bucket", "sum", "count", "ts", "requests", "errors", "throughput", "throughput_now", "throughput_peak", "throughput_noise", "throughput_noise_rates", "throughput_noise_moves", "pods", "in_use", "max",
	"wait_sum", "wait_count", "wait_bucket", "db_sum", "db_count", "held", "calls", "cache", "cpu_usage", "cpu_requests",
	"redis_cpu", "redis_ops", "redis_pods"}

var knownParts = func() map[string]uint8 {
	if len(partNames) > 256 {
		panic("more parts than an index's uint8 part number holds")
	}
	m := map[string]uint8{}
	for i, p := range partNames {
		m[p] = uint8(i)
	}
	return m
}()

// orDeployment is a workload kind, Deployment when unset.
func orDeployment(kind string) string {
	if kind == "" {
		return "Deployment"
	}
	return kind
}

// wantsCPU reports whether the target needs the default CPU query.
func wantsCPU(t Target) bool {
	return t.Workload != nil && overrideQuery(t.Overrides, signals.CPUUtilization) == ""
}

// wantsRedis reports whether the target needs the default Redis queries:
// it names a Redis workload and overrides not both of its signals.
func wantsRedis(t Target) bool {
	return t.Redis != nil && (overrideQuery(t.Overrides, signals.RedisCPU) == "" || overrideQuery(t.Overrides, signals.RedisOpsRate) == "")
}
