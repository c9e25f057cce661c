package controllers

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// gathered maps each series of family name that c collects, written as its
// sorted labels (`a="x",b="y"`), to its value. The registry is pedantic: a
// series whose labels do not match its descriptor fails the gather.
func gathered(g Gomega, c prometheus.Collector, name string) map[string]float64 {
	out := map[string]float64{}
	for _, mf := range gatherPedantic(g, c) {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[strings.Join(ls, ",")] = v
		}
	}
	return out
}

// seriesPerProfile counts the series c collects for each profile, keyed
// "namespace/name".
func seriesPerProfile(g Gomega, c prometheus.Collector) map[string]int {
	out := map[string]int{}
	for _, mf := range gatherPedantic(g, c) {
		for _, m := range mf.GetMetric() {
			var ns, name string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case labelProfileNamespace:
					ns = lp.GetValue()
				case labelProfile:
					name = lp.GetValue()
				}
			}
			if name != "" {
				out[ns+"/"+name]++
			}
		}
	}
	return out
}

// gatherPedantic gathers c alone; the pedantic registry fails a series
// whose labels do not match its descriptor.
func gatherPedantic(g Gomega, c prometheus.Collector) []*dto.MetricFamily {
	reg := prometheus.NewPedanticRegistry()
	g.Expect(reg.Register(c)).To(Succeed())
	mfs, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	return mfs
}

// scaledTarget creates a Deployment with the pool env (and vars) and an HPA
// of it (2 to 10 replicas) that GitOps owns.
func (h *harness) scaledTarget(name string, vars ...corev1.EnvVar) {
	h.t.Helper()
	h.deployment(name, append([]corev1.EnvVar{poolVar("10")}, vars...)...)
	h.g.Expect(env.Client.Create(h.ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
		},
	}, client.FieldOwner("gitops"))).To(Succeed())
}

func cond(typ string, st metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: "m", LastTransitionTime: metav1.NewTime(t0)}
}

// TestProfileSeriesAreBuiltFromTheProfiles: the per-profile series of a
// scrape are the profiles' as the API server (the cache, in the manager)
// holds them, with the last period's SLIs and conflicts: conditions one
// series each, SLOMet as navius_tuner_slo_compliance, the mode and pause,
// the values of the knobs it declares from status.current (a duration as
// seconds; the HPA's maxReplicas, which it does not tune, is not one), and
// of the SLIs those of the objectives and declared families only.
func TestProfileSeriesAreBuiltFromTheProfiles(t *testing.T) {
	h := newHarness(t)
	g := h.g
	m := h.r.opts.Metrics

	orders := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	orders.Spec.SLO.Latency = []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}}}
	orders.Spec.ConnectionPool.MaxLifetime = &tuningv1alpha1.DurationEnvKnob{Env: "DB_POOL_MAX_LIFETIME_SECONDS",
		Min: metav1.Duration{Duration: time.Minute}, Max: metav1.Duration{Duration: time.Hour}}
	orders.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{HPARef: &corev1.LocalObjectReference{Name: targetName},
		MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 6}}
	h.create(orders)
	orders.Status = tuningv1alpha1.PerformanceProfileStatus{
		Conditions: []metav1.Condition{
			cond(tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded),
			cond(tuningv1alpha1.ConditionSLOMet, metav1.ConditionFalse, tuningv1alpha1.ReasonSLOBreached),
			cond(tuningv1alpha1.ConditionStalled, metav1.ConditionFalse, tuningv1alpha1.ReasonSucceeded),
		},
		Current: &tuningv1alpha1.KnobValues{
			Env: map[string]string{poolEnv: "20", "DB_POOL_MAX_LIFETIME_SECONDS": "5m"},
			HPA: &tuningv1alpha1.HPAValues{MinReplicas: ptr.To[int32](2), MaxReplicas: 10},
		},
	}
	g.Expect(env.Client.Status().Update(h.ctx, orders)).To(Succeed())
	obs := signals.NewObservation(t0)
	for s, v := range map[signals.Signal]float64{signals.LatencyP50: 0.03, signals.LatencyP99: 0.18, signals.ErrorRate: 0.001,
		signals.Throughput: 800, signals.PoolWait: 0.04, signals.CPUUtilization: 0.5, signals.MemoryHitRatio: 0.9} {
		obs.Set(s, v, t0)
	}
	m.report(orders, &obs, 1)

	// Never reconciled: only what the spec and annotations say.
	carts := poolProfile(h.ns, tuningv1alpha1.ModeRecommend)
	carts.Name = "carts"
	carts.Annotations = map[string]string{tuningv1alpha1.PausedAnnotation: "true"}
	h.create(carts)

	// Reconciled without an observation and with its SLOs unknown.
	search := poolProfile(h.ns, "")
	search.Name = "search"
	h.create(search)
	search.Status.Conditions = []metav1.Condition{cond(tuningv1alpha1.ConditionSLOMet, metav1.ConditionUnknown, tuningv1alpha1.ReasonMetricsUnavailable),
		cond(tuningv1alpha1.ConditionReady, metav1.ConditionFalse, tuningv1alpha1.ReasonTargetNotFound)}
	g.Expect(env.Client.Status().Update(h.ctx, search)).To(Succeed())
	m.report(search, nil, 0)

	exposition := strings.NewReplacer("<ns>", h.ns, "<sli help>", helpOf(m.profiles.sli), "<condition help>", helpOf(m.profiles.condition),
		"<knob help>", helpOf(m.profiles.knobValue), "<mode help>", helpOf(m.profiles.mode)).Replace(`
# HELP navius_tuner_slo_compliance 1 when every SLO of the profile held in the latest observation, 0 when one was breached; absent when unknown (the SLOMet condition).
# TYPE navius_tuner_slo_compliance gauge
navius_tuner_slo_compliance{profile="orders",profile_namespace="<ns>"} 0
# HELP navius_tuner_sli <sli help>
# TYPE navius_tuner_sli gauge
navius_tuner_sli{profile="orders",profile_namespace="<ns>",sli="cpu_utilization_ratio"} 0.5
navius_tuner_sli{profile="orders",profile_namespace="<ns>",sli="error_ratio"} 0.001
navius_tuner_sli{profile="orders",profile_namespace="<ns>",sli="latency_p99_seconds"} 0.18
navius_tuner_sli{profile="orders",profile_namespace="<ns>",sli="pool_wait_seconds"} 0.04
navius_tuner_sli{profile="orders",profile_namespace="<ns>",sli="throughput_rps"} 800
# HELP navius_tuner_field_conflicts Knobs of the profile that navius-tuner stopped tuning because another field manager took them over.
# TYPE navius_tuner_field_conflicts gauge
navius_tuner_field_conflicts{profile="orders",profile_namespace="<ns>"} 1
navius_tuner_field_conflicts{profile="search",profile_namespace="<ns>"} 0
# HELP navius_tuner_profile_condition <condition help>
# TYPE navius_tuner_profile_condition gauge
navius_tuner_profile_condition{profile="orders",profile_namespace="<ns>",status="True",type="Ready"} 1
navius_tuner_profile_condition{profile="orders",profile_namespace="<ns>",status="False",type="Stalled"} 1
navius_tuner_profile_condition{profile="search",profile_namespace="<ns>",status="False",type="Ready"} 1
# HELP navius_tuner_profile_paused 1 when the profile's paused annotation stops every write to its workload, 0 otherwise.
# TYPE navius_tuner_profile_paused gauge
navius_tuner_profile_paused{profile="carts",profile_namespace="<ns>"} 1
navius_tuner_profile_paused{profile="orders",profile_namespace="<ns>"} 0
navius_tuner_profile_paused{profile="search",profile_namespace="<ns>"} 0
# HELP navius_tuner_profile_mode <mode help>
# TYPE navius_tuner_profile_mode gauge
navius_tuner_profile_mode{mode="Auto",profile="orders",profile_namespace="<ns>"} 1
navius_tuner_profile_mode{mode="Auto",profile="search",profile_namespace="<ns>"} 1
navius_tuner_profile_mode{mode="Recommend",profile="carts",profile_namespace="<ns>"} 1
# HELP navius_tuner_knob_value <knob help>
# TYPE navius_tuner_knob_value gauge
navius_tuner_knob_value{knob="DB_POOL_MAX_CONNECTIONS",profile="orders",profile_namespace="<ns>"} 20
navius_tuner_knob_value{knob="DB_POOL_MAX_LIFETIME_SECONDS",profile="orders",profile_namespace="<ns>"} 300
navius_tuner_knob_value{knob="hpa.minReplicas",profile="orders",profile_namespace="<ns>"} 2
`)
	g.Expect(testutil.CollectAndCompare(m.profiles, strings.NewReader(exposition))).To(Succeed())
}

// helpOf is a descriptor's help text.
func helpOf(d *prometheus.Desc) string {
	s := d.String()
	_, s, _ = strings.Cut(s, `help: "`)
	s, _, _ = strings.Cut(s, `", `)
	return s
}

// TestProfileSeriesStayWithinBudget reconciles profiles shaped like the
// scale test's (a pool and an HPA, one objective) in several states, and a
// smaller one: each has at most 20 series, against 39 when every condition
// status, mode and percentile was a series of its own.
func TestProfileSeriesStayWithinBudget(t *testing.T) {
	h := newHarness(t)
	g := h.g
	scaled := func(name, target string, mode tuningv1alpha1.Mode) *tuningv1alpha1.PerformanceProfile {
		p := poolProfile(h.ns, mode)
		p.Name, p.Spec.TargetRef.Name = name, target
		p.Spec.SLO.Latency = p.Spec.SLO.Latency[:1]
		p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{HPARef: &corev1.LocalObjectReference{Name: target},
			MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 6}, MaxReplicas: &tuningv1alpha1.Int32Range{Min: 6, Max: 20}}
		return p
	}
	h.scaledTarget("tuned-api")
	h.scaledTarget("recommend-api")
	h.scaledTarget("paused-api")
	h.scaledTarget("down-api")
	time.Sleep(1100 * time.Millisecond) // the Deployments' managedFields second is past (raisedPool)
	h.create(scaled("tuned", "tuned-api", tuningv1alpha1.ModeAuto))
	h.create(scaled("recommend", "recommend-api", tuningv1alpha1.ModeRecommend))
	paused := scaled("paused", "paused-api", tuningv1alpha1.ModeAuto)
	paused.Annotations = map[string]string{tuningv1alpha1.PausedAnnotation: "true"}
	h.create(paused)
	h.create(scaled("missing", "missing-api", tuningv1alpha1.ModeAuto))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto)) // "orders" on a target that does not exist, pool only
	h.observer.set(starvedPool(), false)
	for _, name := range []string{"tuned", "recommend", "paused", "missing", "orders"} {
		h.period(name)
	}
	h.observer.set(starvedPool(), true)
	h.create(scaled("down", "down-api", tuningv1alpha1.ModeAuto))
	h.period("down")
	h.create(scaled("new", "new-api", tuningv1alpha1.ModeAuto)) // not reconciled yet
	h.observer.set(starvedPool(), false)
	_, tuned := h.period("tuned")
	g.Expect(tuned.Status.History).NotTo(BeEmpty(), "the starved pool was raised")
	counts := seriesPerProfile(g, h.r.opts.Metrics.profiles)
	for _, name := range []string{"tuned", "recommend", "paused", "missing", "orders", "down", "new"} {
		g.Expect(counts).To(HaveKeyWithValue(h.ns+"/"+name, BeNumerically("<=", 20)), "profile %s", name)
	}
	// The tuned profile has every kind of series: 7 conditions, SLO
	// compliance, conflicts, pause, mode, 5 SLIs and 3 knobs (not the CPU
	// target the API server gives an HPA, which it does not declare).
	g.Expect(counts).To(HaveKeyWithValue(h.ns+"/tuned", 19))
	t.Logf("series per profile: %v", counts)
}

// TestProfileSeriesGoWithTheProfile: a deleted profile's series are gone
// from the next scrape, before any reconcile runs for it.
func TestProfileSeriesGoWithTheProfile(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.period("orders")
	key := h.ns + "/orders"
	g.Expect(seriesPerProfile(g, h.r.opts.Metrics.profiles)).To(HaveKeyWithValue(key, BeNumerically(">", 10)))

	g.Expect(env.Client.Delete(h.ctx, &tuningv1alpha1.PerformanceProfile{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "orders"}})).To(Succeed())
	g.Expect(seriesPerProfile(g, h.r.opts.Metrics.profiles)).NotTo(HaveKey(key))
	g.Expect(testutil.CollectAndCount(h.r.opts.Metrics.profiles)).To(BeZero())
}

// TestProfileSeriesOnlyFromTheLeader: a replica that is not the leader
// exports no profile's series (a sum over replicas counts each profile once).
func TestProfileSeriesOnlyFromTheLeader(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	m := NewMetrics(prometheus.NewRegistry())
	elected := make(chan struct{})
	m.readProfiles(client.NewNamespacedClient(env.Client, h.ns), elected)
	g.Expect(testutil.CollectAndCount(m.profiles)).To(BeZero())
	close(elected)
	g.Expect(testutil.CollectAndCount(m.profiles)).To(Equal(2), "paused and mode")
}

// TestDecisionsCountWhatTheHistoryRecorded: a decision counts as Pending
// when recorded and under its verdict when judged; reconciles whose status
// patches fail count nothing, and the one that persists the verdict counts
// it once.
func TestDecisionsCountWhatTheHistoryRecorded(t *testing.T) {
	h := newHarness(t)
	g := h.g
	decisions := func() map[string]float64 {
		return gathered(g, h.r.opts.Metrics.decisions, "navius_tuner_decisions_total")
	}
	count := func(pending, kept, rolledBack, reverted float64) map[string]float64 {
		return map[string]float64{`outcome="Pending"`: pending, `outcome="Kept"`: kept, `outcome="RolledBack"`: rolledBack, `outcome="Reverted"`: reverted}
	}
	g.Expect(decisions()).To(Equal(count(0, 0, 0, 0)))

	h.raisedPool()
	g.Expect(decisions()).To(Equal(count(1, 0, 0, 0)))

	// The raise's rollout fails: each period judges it RolledBack and
	// records the undo, but no status patch goes through.
	h.failRollout(targetName)
	h.statusPatch = func() error { return errors.New("the API server is unavailable") }
	for range 3 {
		h.clock.Step(30 * time.Second)
		_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("orders")})
		g.Expect(err).To(HaveOccurred())
	}
	g.Expect(decisions()).To(Equal(count(1, 0, 0, 0)))

	h.statusPatch = nil
	_, p := h.period("orders")
	g.Expect(p.Status.History).To(HaveLen(2))
	g.Expect(p.Status.History[0].Outcome).To(Equal(tuningv1alpha1.OutcomeRolledBack))
	g.Expect(decisions()).To(Equal(count(2, 0, 1, 0)), "the undo recorded, the raise rolled back")
}

// TestDecisionsCountAVerdictOnceItIsPersisted: a verdict that writes nothing
// (the raise helped: Kept) lives only in the status patch at the end of the
// reconcile; while that patch fails, the verdict is made again each period
// and counted by none.
func TestDecisionsCountAVerdictOnceItIsPersisted(t *testing.T) {
	h := newHarness(t)
	g := h.g
	decisions := func() map[string]float64 {
		return gathered(g, h.r.opts.Metrics.decisions, "navius_tuner_decisions_total")
	}
	h.raisedPool()
	h.rolledOut(targetName)
	h.observer.set(steady(), false)
	h.statusPatch = func() error { return errors.New("the API server is unavailable") }
	for range 20 {
		h.clock.Step(30 * time.Second)
		_, _ = h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("orders")})
	}
	g.Expect(hasEvent(h.drainEvents(), EventKept)).To(BeTrue(), "the raise was judged")
	g.Expect(decisions()).To(HaveKeyWithValue(`outcome="Kept"`, 0.0))

	h.statusPatch = nil
	_, p := h.period("orders")
	g.Expect(p.Status.History[0].Outcome).To(Equal(tuningv1alpha1.OutcomeKept))
	g.Expect(decisions()).To(HaveKeyWithValue(`outcome="Kept"`, 1.0))
}

func TestBuildInfo(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfo("v0.3.0", "0123abc", "go1.26.0"))
	g.Expect(testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP navius_tuner_build_info Always 1; the labels say the version, VCS revision and Go version of the running manager.
# TYPE navius_tuner_build_info gauge
navius_tuner_build_info{goversion="go1.26.0",revision="0123abc",version="v0.3.0"} 1
`))).To(Succeed())
}

// TestAScrapeServesTheRegistryAndEveryProfileSeries: the manager's /metrics
// handler, which writes the per-profile series a family at a time, answers
// with the families and series client_golang gathers from the registry and
// the per-profile collector together, in the text and protobuf formats,
// gzipped or not.
func TestAScrapeServesTheRegistryAndEveryProfileSeries(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	carts := poolProfile(h.ns, tuningv1alpha1.ModeRecommend)
	carts.Name = "carts"
	h.create(carts)
	h.period("orders")
	// Every family has a series: carts' SLOs held and its knob was read.
	carts.Status = tuningv1alpha1.PerformanceProfileStatus{
		Conditions: []metav1.Condition{cond(tuningv1alpha1.ConditionSLOMet, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded)},
		Current:    &tuningv1alpha1.KnobValues{Env: map[string]string{poolEnv: "20"}},
	}
	g.Expect(env.Client.Status().Update(h.ctx, carts)).To(Succeed())
	m := h.r.opts.Metrics

	registry := prometheus.NewRegistry()
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "other_total", Help: "Another metric of the registry."})
	other.Add(3)
	registry.MustRegister(other)
	profiles := prometheus.NewRegistry()
	profiles.MustRegister(m.profiles)
	all, err := prometheus.Gatherers{registry, profiles}.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	want := exposition(g, all)
	for _, d := range m.profiles.families() {
		name, _, _ := strings.Cut(strings.TrimPrefix(d.String(), `Desc{fqName: "`), `"`)
		g.Expect(want).To(ContainSubstring("\n"+name+"{"), "a series of every family")
	}
	g.Expect(want).To(And(ContainSubstring("other_total 3"), ContainSubstring(`navius_tuner_sli{profile="orders"`), ContainSubstring(`navius_tuner_profile_condition{profile="orders"`),
		ContainSubstring(`navius_tuner_profile_mode{mode="Recommend",profile="carts"`)))

	const protobuf = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`
	type scrape struct {
		name, accept string
		gzip         bool
		chunk        int
	}
	var scrapes []scrape
	for _, chunk := range []int{profileChunk, 1} { // one chunk for both profiles, a chunk each
		for _, tc := range []scrape{
			{"text", "", false, chunk},
			{"text, gzipped", "", true, chunk},
			{"protobuf", protobuf, false, chunk},
			{"protobuf, gzipped", protobuf, true, chunk},
		} {
			tc.name = fmt.Sprintf("%s, %d profiles a chunk", tc.name, chunk)
			scrapes = append(scrapes, tc)
		}
	}
	for _, tc := range scrapes {
		handler := metricsHandler{registry: registry, profiles: m.profiles, chunk: tc.chunk}
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		if tc.gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		resp := rec.Result()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), tc.name)
		body := io.Reader(resp.Body)
		if tc.gzip {
			g.Expect(resp.Header.Get("Content-Encoding")).To(Equal("gzip"), tc.name)
			zr, err := gzip.NewReader(body)
			g.Expect(err).NotTo(HaveOccurred(), tc.name)
			body = zr
		}
		format := expfmt.ResponseFormat(resp.Header)
		g.Expect(format.FormatType()).To(Equal(map[bool]expfmt.FormatType{true: expfmt.TypeProtoDelim, false: expfmt.TypeTextPlain}[tc.accept != ""]), tc.name)
		dec := expfmt.NewDecoder(body, format)
		var got []*dto.MetricFamily
		for {
			mf := &dto.MetricFamily{}
			err := dec.Decode(mf)
			if errors.Is(err, io.EOF) {
				break
			}
			g.Expect(err).NotTo(HaveOccurred(), tc.name)
			got = append(got, mf)
		}
		g.Expect(exposition(g, got)).To(Equal(want), tc.name)
	}
}

// exposition is the text format of the families, sorted by name, each
// with its series sorted.
func exposition(g Gomega, mfs []*dto.MetricFamily) string {
	mfs = slices.Clone(mfs)
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	var b strings.Builder
	for _, mf := range mfs {
		var family strings.Builder
		_, err := expfmt.MetricFamilyToText(&family, mf)
		g.Expect(err).NotTo(HaveOccurred())
		header, series := splitHeader(family.String())
		slices.Sort(series)
		b.WriteString(header + strings.Join(series, ""))
	}
	return b.String()
}

// splitHeader splits a family in the text format into its comment lines
// and its series, a line each.
func splitHeader(family string) (string, []string) {
	lines := strings.SplitAfter(family, "\n")
	i := 0
	for i < len(lines) && strings.HasPrefix(lines[i], "#") {
		i++
	}
	var series []string
	for _, l := range lines[i:] {
		if l != "" {
			series = append(series, l)
		}
	}
	return strings.Join(lines[:i], ""), series
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"identity", false},
		{"br, GZIP;q=0.5", true},
		{"gzip;q=0, identity", false},
		{"gzip; q=0.0", false},
		{"deflate, gzip;q=1.0", true},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Accept-Encoding", tc.header)
		}
		if got := acceptsGzip(h); got != tc.want {
			t.Errorf("Accept-Encoding %q: acceptsGzip = %v, want %v", tc.header, got, tc.want)
		}
	}
}
