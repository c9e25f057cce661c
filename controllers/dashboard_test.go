package controllers

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/prom"
)

// TestDashboardQueriesNameExportedSeries loads the shipped Grafana dashboard
// and checks every query it makes (panels, annotations, variables): each
// series selector must match a series that a real manager exports. The
// manager runs with leader election, its cache, the reconciler with the
// real Prometheus reader (against fake Prometheus servers: one answering a
// starved service, one failing) and the operator's metrics registered as
// cmd/manager registers them; its profiles are tuned, blind, waiting for
// their target, stalled and paused.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	h := newHarness(t)
	g := h.g
	exprs := dashboardExprs(t)
	g.Expect(len(exprs)).To(BeNumerically(">", 20))

	healthy := testenv.NewFakeProm(t, clock.RealClock{})
	healthy.AnswerSeries(func(q string) []testenv.Series {
		return testenv.ServiceSeries(q, testenv.Service{Namespace: h.ns, Name: targetName,
			Load: testenv.Load{P99: 0.235, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.025}})
	})
	failing := testenv.NewFakeProm(t, clock.RealClock{})
	failing.SetFault(testenv.FaultUnavailable)

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfo("v0.0.0-test", "test", "go"))
	reader := prom.NewReader(prom.Options{Registerer: reg, MaxAttempts: 2, BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                  env.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		Cache:                   cache.Options{DefaultNamespaces: map[string]cache.Config{h.ns: {}}, ByObject: CacheTransforms()},
		Controller:              config.Controller{SkipNameValidation: ptr.To(true)},
		LeaderElection:          true,
		LeaderElectionID:        "navius-tuner-dashboard",
		LeaderElectionNamespace: h.ns,
	})
	g.Expect(err).NotTo(HaveOccurred())
	r, err := NewPerformanceProfileReconciler(mgr.GetClient(), Options{
		Source:  &PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(reader, prom.BatcherOptions{Period: time.Second})},
		Metrics: NewMetrics(reg),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()

	withHPA := func(p *tuningv1alpha1.PerformanceProfile, url string) *tuningv1alpha1.PerformanceProfile {
		p.Spec.Metrics.Prometheus.URL = url
		p.Spec.Metrics.Labels = map[string]string{"namespace": h.ns, "service": targetName}
		p.Spec.Cache = &tuningv1alpha1.Cache{Memory: &tuningv1alpha1.MemoryCache{MaxItems: &tuningv1alpha1.IntEnvKnob{Env: "CACHE_ITEMS", Min: 1000, Max: 100000}}}
		p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{HPARef: &corev1.LocalObjectReference{Name: p.Spec.TargetRef.Name},
			MaxReplicas: &tuningv1alpha1.Int32Range{Min: 4, Max: 20}}
		return p
	}
	for _, target := range []string{targetName, "blind-api", "paused-api"} {
		h.scaledTarget(target, corev1.EnvVar{Name: "CACHE_ITEMS", Value: "10000"})
	}
	time.Sleep(1100 * time.Millisecond) // the Deployments' managedFields second is past (raisedPool)
	h.create(withHPA(poolProfile(h.ns, tuningv1alpha1.ModeAuto), healthy.URL()))
	named := func(name, target string, mode tuningv1alpha1.Mode, url string) *tuningv1alpha1.PerformanceProfile {
		p := withHPA(poolProfile(h.ns, mode), url)
		p.Name, p.Spec.TargetRef.Name = name, target
		return p
	}
	h.create(named("blind", "blind-api", tuningv1alpha1.ModeAuto, failing.URL()))
	h.create(named("missing", "missing-api", tuningv1alpha1.ModeAuto, healthy.URL()))
	stalled := named("stalled", "blind-api", tuningv1alpha1.ModeRecommend, healthy.URL())
	stalled.Spec.TargetRef.Container = "no-such-container"
	h.create(stalled)
	paused := named("paused", "paused-api", tuningv1alpha1.ModeOff, healthy.URL())
	paused.Annotations = map[string]string{tuningv1alpha1.PausedAnnotation: "true"}
	h.create(paused)

	gatherers := prometheus.Gatherers{reg, ctrlmetrics.Registry}
	vars := strings.NewReplacer("$namespace", regexp.QuoteMeta(h.ns), "$profile", ".*",
		"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	g.Eventually(func(g Gomega) {
		mfs, err := gatherers.Gather()
		g.Expect(err).NotTo(HaveOccurred())
		for _, e := range exprs {
			for _, s := range selectors(vars.Replace(e)) {
				g.Expect(matches(mfs, s)).To(BeTrue(), "%q: no series the manager exports matches %s", e, s.text)
			}
		}
	}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())

	// docs/install.md's table of the operator's metrics lists what it exports.
	mfs, err := gatherers.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	exported := map[string]bool{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "navius_tuner_") {
			exported[mf.GetName()] = true
		}
	}
	page, err := os.ReadFile("../docs/install.md")
	g.Expect(err).NotTo(HaveOccurred())
	listed := map[string]bool{}
	for _, row := range regexp.MustCompile("(?m)^\\| (`navius_tuner_[a-z_]+`(?:, `navius_tuner_[a-z_]+`)*) \\|").FindAllStringSubmatch(string(page), -1) {
		for _, name := range strings.Split(row[1], ", ") {
			listed[strings.Trim(name, "`")] = true
		}
	}
	g.Expect(listed).To(Equal(exported), "docs/install.md's table of metrics")
}

// dashboardExprs are the PromQL queries of config/grafana/navius-tuner.json:
// the panels' (rows' panels included), the annotations' and the selectors of
// the label_values(selector, label) variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../config/grafana/navius-tuner.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels      []json.RawMessage `json:"panels"`
		Annotations struct {
			List []struct {
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	annotations := 0
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, a.Expr)
			annotations++
		}
	}
	if annotations < 2 {
		t.Fatalf("the dashboard has %d query annotations, want the adjustments' and the rollbacks'", annotations)
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			if m := labelValues.FindStringSubmatch(q["query"].(string)); m != nil {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// selector is one series selector of a query: a metric name and its label
// matchers.
type selector struct {
	text     string
	name     string
	matchers []matcher
}

type matcher struct {
	label, op, value string
}

var (
	// grouping removes the label lists of by, without, on and ignoring.
	grouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// ranges removes range and subquery durations.
	ranges   = regexp.MustCompile(`\[[^\]]*\]`)
	strs     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	ident    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	matcherR = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	// operators are PromQL's keywords that look like metric names.
	operators = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
)

// selectors finds the series selectors of a PromQL expression: every name
// that is not a function, an aggregation or a keyword, with its matchers.
// The dashboard's queries use nothing that would need a full parser.
func selectors(e string) []selector {
	e = grouping.ReplaceAllString(e, "")
	e = ranges.ReplaceAllString(e, "")
	var out []selector
	for i := 0; i < len(e); {
		loc := ident.FindStringIndex(e[i:])
		if loc == nil {
			break
		}
		start, end := i+loc[0], i+loc[1]
		name := e[start:end]
		rest := strings.TrimLeft(e[end:], " ")
		next := end
		s := selector{name: name, text: name}
		if strings.HasPrefix(rest, "{") {
			// The matchers' values may hold braces: skip quoted strings.
			brace := end + strings.Index(e[end:], "{")
			body := e[brace:]
			masked := strs.ReplaceAllStringFunc(body, func(q string) string { return strings.Repeat("x", len(q)) })
			n := strings.Index(masked, "}") + 1
			s.text = name + body[:n]
			for _, m := range matcherR.FindAllStringSubmatch(body[:n], -1) {
				s.matchers = append(s.matchers, matcher{m[1], m[2], m[3]})
			}
			next = brace + n
		}
		// A name right after a digit is part of a number (1h, 0.5e3).
		number := start > 0 && (e[start-1] >= '0' && e[start-1] <= '9' || e[start-1] == '.')
		if !number && !strings.HasPrefix(rest, "(") && !operators[name] {
			out = append(out, s)
		}
		i = next
	}
	return out
}

// matches reports whether a series of mfs matches s: a histogram's
// _bucket, _count and _sum are series of its family.
func matches(mfs []*dto.MetricFamily, s selector) bool {
	for _, mf := range mfs {
		name, suffix := mf.GetName(), strings.TrimPrefix(s.name, mf.GetName())
		if s.name != name && (mf.GetType() != dto.MetricType_HISTOGRAM || (suffix != "_bucket" && suffix != "_count" && suffix != "_sum")) {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if suffix == "_bucket" {
				labels["le"] = "+Inf"
			}
			if matchesAll(labels, s.matchers) {
				return true
			}
		}
	}
	return false
}

func matchesAll(labels map[string]string, ms []matcher) bool {
	for _, m := range ms {
		v := labels[m.label]
		switch m.op {
		case "=":
			if v != m.value {
				return false
			}
		case "!=":
			if v == m.value {
				return false
			}
		case "=~", "!~":
			re := regexp.MustCompile("^(?:" + m.value + ")$")
			if re.MatchString(v) != (m.op == "=~") {
				return false
			}
		}
	}
	return true
}
