package prom

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestEverySignalCanBeOverridden: spec.metrics.queries has one field per
// signal, named as the signal, and the reader sends each as that signal's
// query: a signal without a field (or a field the reader ignores) fails.
func TestEverySignalCanBeOverridden(t *testing.T) {
	var q tuningv1alpha1.QueryOverrides
	v := reflect.ValueOf(&q).Elem()
	fields := map[signals.Signal]string{}
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		v.Field(i).SetString("query_of_" + name)
		fields[signals.Signal(name)] = "query_of_" + name
	}
	for _, s := range signals.All() {
		if _, ok := fields[s]; !ok {
			t.Errorf("signal %s has no field in spec.metrics.queries", s)
		}
	}
	got := overrideQueries(&q)
	for s, query := range fields {
		if got[s] != query {
			t.Errorf("spec.metrics.queries.%s is sent as %q, want %q", s, got[s], query)
		}
	}
	if len(got) != len(fields) {
		t.Errorf("%d overrides read, %d fields", len(got), len(fields))
	}
}

// TestOverridingAFamilyReplacesItsQuery: a family whose signals are all
// overridden is not queried; each override costs one query of its own.
func TestOverridingAFamilyReplacesItsQuery(t *testing.T) {
	g := NewWithT(t)
	tg := orders("k", "orders")
	tg.Overrides = &tuningv1alpha1.QueryOverrides{PoolInUse: "a", PoolMax: "b", PoolWait: "c", PoolWaitTail: "d",
		DBTime: "e", DBCallRate: "f", RedisCPU: "g", RedisOpsRate: "h"}
	qs, err := QueriesOf(tg, Options{})
	g.Expect(err).NotTo(HaveOccurred())
	var families []string
	for _, q := range qs {
		families = append(families, q.Family)
	}
	g.Expect(families).To(Equal([]string{famLatency, famTraffic, famCache, famWorkload,
		famOverride, famOverride, famOverride, famOverride, famOverride, famOverride, famOverride, famOverride}))
	// The workload query still reads CPU, no longer Redis.
	g.Expect(qs[3].Signals).To(Equal([]signals.Signal{signals.CPUUtilization}))
	g.Expect(qs[3].PromQL).NotTo(ContainSubstring("redis_"))
}

// presetSeries are the metric names each preset's queries must read, and
// the navius names they replace (which they must not read).
var presetSeries = map[tuningv1alpha1.MetricsPreset]struct{ reads, replaces []string }{
	tuningv1alpha1.PresetNavius: {reads: []string{"http_request_duration_seconds_bucket", "http_requests_total",
		`db_pool_connections{namespace="shop",service="orders",state="in_use"}`, "db_pool_max_connections",
		"db_pool_wait_seconds_sum", "db_pool_wait_seconds_bucket", "db_query_duration_seconds_sum", `cache_requests_total`}},
	tuningv1alpha1.PresetOpenTelemetry: {
		reads: []string{"http_server_request_duration_seconds_bucket", `http_server_request_duration_seconds_count{namespace="shop",service="orders",http_response_status_code=~"5.."}`,
			`db_client_connection_count{namespace="shop",service="orders",db_client_connection_state="used"}`, "db_client_connection_max",
			"db_client_connection_wait_time_seconds_sum", "db_client_connection_wait_time_seconds_bucket",
			"db_client_connection_use_time_seconds_sum", "db_client_connection_use_time_seconds_count", "cache_requests_total"},
		replaces: []string{"http_request_duration_seconds", "http_requests_total", "db_pool_", "db_query_duration_seconds"}},
	tuningv1alpha1.PresetMicrometer: {
		reads: []string{"http_server_requests_seconds_bucket", `http_server_requests_seconds_count{namespace="shop",service="orders",status=~"5.."}`,
			"hikaricp_connections_active", "hikaricp_connections_max", "hikaricp_connections_acquire_seconds_sum",
			"hikaricp_connections_acquire_seconds_bucket", "hikaricp_connections_usage_seconds_sum", "cache_gets_total",
			`cache_requests_total{namespace="shop",service="orders",tier="redis"}`},
		replaces: []string{"http_request_duration_seconds", "http_requests_total", "db_pool_", "db_query_duration_seconds"}},
	tuningv1alpha1.PresetGo: {
		reads: []string{"http_request_duration_seconds_bucket", `http_requests_total{namespace="shop",service="orders",code=~"5.."}`,
			"pgxpool_acquired_conns", "pgxpool_max_conns", "pgxpool_acquire_duration_ns", "pgxpool_acquire_count", "cache_requests_total"},
		replaces: []string{"db_pool_", "db_query_duration_seconds", `status=~"5.."`}},
	tuningv1alpha1.PresetIstio: {
		reads: []string{`istio_request_duration_milliseconds_bucket{namespace="shop",service="orders",reporter="destination"}`,
			`istio_requests_total{namespace="shop",service="orders",reporter="destination",response_code=~"5.."}`,
			"db_pool_connections", "db_query_duration_seconds_sum", "cache_requests_total"},
		replaces: []string{"http_request_duration_seconds", "http_requests_total"}},
}

func TestEachPresetReadsItsStacksSeries(t *testing.T) {
	for _, p := range Presets() {
		t.Run(string(p), func(t *testing.T) {
			g := NewWithT(t)
			tg := orders("k", "orders")
			tg.Preset = p
			qs, err := QueriesOf(tg, Options{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(qs).To(HaveLen(5))
			var all strings.Builder
			for _, q := range qs {
				all.WriteString(q.PromQL + "\n")
			}
			want, ok := presetSeries[p]
			g.Expect(ok).To(BeTrue(), "a preset without expectations")
			for _, m := range want.reads {
				g.Expect(all.String()).To(ContainSubstring(m))
			}
			for _, m := range want.replaces {
				g.Expect(all.String()).NotTo(ContainSubstring(m))
			}
		})
	}
}

// TestPresetsBatchPerPreset: the preset is part of the batch key, so a
// period costs at most five queries per preset, whatever the number of
// profiles; profiles of different presets never share a query.
func TestPresetsBatchPerPreset(t *testing.T) {
	g := NewWithT(t)
	o, _, _ := testReader(t, Options{})
	var targets []Target
	for i := range 200 {
		p := Presets()[i%len(Presets())]
		tg := orders(fmt.Sprintf("%s-%d", p, i), fmt.Sprintf("svc-%d", i))
		tg.Preset = p
		targets = append(targets, tg)
	}
	groups, invalid := o.plan(slices.Values(targets))
	g.Expect(invalid).To(BeEmpty())
	g.Expect(groups).To(HaveLen(len(Presets())))
	for _, gr := range groups {
		g.Expect(len(gr.jobs)).To(BeNumerically("<=", 5), string(gr.conv.preset))
		g.Expect(gr.targets).To(HaveLen(200 / len(Presets())))
		for _, tg := range gr.targets {
			g.Expect(tg.Preset).To(Equal(gr.conv.preset))
		}
	}
	// The same preset with another latency histogram is another batch.
	ms := targets[0]
	ms.Key, ms.LatencyHistogram = "ms", &tuningv1alpha1.LatencyHistogram{Name: "app_latency_ms", Unit: tuningv1alpha1.UnitMilliseconds}
	groups, _ = o.plan(slices.Values(append(targets[:1:1], ms)))
	g.Expect(groups).To(HaveLen(2))
}

func TestLatencyHistogramReplacesThePresets(t *testing.T) {
	g := NewWithT(t)
	tg := orders("k", "orders")
	tg.Preset = tuningv1alpha1.PresetOpenTelemetry
	tg.LatencyHistogram = &tuningv1alpha1.LatencyHistogram{Name: "envoy_cluster_upstream_rq_time", Unit: tuningv1alpha1.UnitMilliseconds}
	qs, err := QueriesOf(tg, Options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(qs[0].Family).To(Equal(famLatency))
	g.Expect(qs[0].PromQL).To(ContainSubstring("envoy_cluster_upstream_rq_time_bucket"))
	g.Expect(qs[0].PromQL).NotTo(ContainSubstring("http_server_request_duration_seconds"))
	// The traffic family keeps the preset's counter.
	g.Expect(qs[1].PromQL).To(ContainSubstring("http_server_request_duration_seconds_count"))

	for _, bad := range []*tuningv1alpha1.LatencyHistogram{
		{Name: `x{a="b"} or vector(1)`},
		{Name: "x", Unit: "minutes"},
	} {
		tg.LatencyHistogram = bad
		_, err := QueriesOf(tg, Options{})
		g.Expect(err).To(HaveOccurred(), bad.Name)
	}
	tg.LatencyHistogram, tg.Preset = nil, "prometheus-operator"
	_, err = QueriesOf(tg, Options{})
	g.Expect(err).To(MatchError(ContainSubstring(`unknown metrics preset "prometheus-operator"`)))
}

// TestQueriesOfNamesTheSignalsOfEachQuery: every signal of a target comes
// from exactly one listed query, so a check can say which query a missing
// signal depends on.
func TestQueriesOfNamesTheSignalsOfEachQuery(t *testing.T) {
	g := NewWithT(t)
	tg := orders("k", "orders")
	tg.Overrides = &tuningv1alpha1.QueryOverrides{DBTime: "my_db_time"}
	tg.SaturationWindow = time.Minute
	qs, err := QueriesOf(tg, Options{})
	g.Expect(err).NotTo(HaveOccurred())
	var got []signals.Signal
	for _, q := range qs {
		got = append(got, q.Signals...)
		if q.Family == famOverride {
			g.Expect(q.PromQL).To(Equal("my_db_time"))
			g.Expect(q.Signals).To(Equal([]signals.Signal{signals.DBTime}))
		}
	}
	want := targetSignals(tg)
	slices.Sort(got)
	slices.Sort(want)
	g.Expect(got).To(Equal(want))
}

// TestMetricsDocListsEveryPresetAndOverride keeps docs/metrics.md true: the
// preset table has a column per preset and names each preset's series, and
// every signal has its override in the signals table.
func TestMetricsDocListsEveryPresetAndOverride(t *testing.T) {
	raw, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	header := "| signal |"
	for _, p := range Presets() {
		header += " `" + string(p) + "`"
		if p == tuningv1alpha1.PresetNavius {
			header += " (default)"
		}
		header += " |"
	}
	if !strings.Contains(doc, header) {
		t.Errorf("docs/metrics.md has no preset table with the header %q", header)
	}
	for _, p := range Presets() {
		c := conventions[p]
		names := []string{c.latency.name, c.requests, c.statusLabel, c.inUse, c.poolMax, c.calls, strings.TrimSuffix(c.wait.count, "_count")}
		if c.waitHistogram != nil {
			names = append(names, c.waitHistogram.name+"_bucket")
		}
		if c.memoryCache != "" {
			names = append(names, c.memoryCache)
		}
		for _, m := range c.appMatch {
			names = append(names, m.String())
		}
		for _, n := range names {
			if !strings.Contains(doc, n) {
				t.Errorf("docs/metrics.md does not name %s, which the %s preset reads", n, p)
			}
		}
	}
	for _, s := range signals.All() {
		row := regexp.MustCompile("(?m)^\\| `[^\\n]*\\| [^|\\n]*`" + string(s) + "`[^|\\n]*\\|$")
		if !row.MatchString(doc) {
			t.Errorf("docs/metrics.md's signals table does not list the override %s", s)
		}
	}
}

// TestEveryPresetReadsThroughputNow: every preset has the load over the
// newest scrape interval, the irate of its own request counter, in the
// traffic query.
func TestEveryPresetReadsThroughputNow(t *testing.T) {
	counters := map[tuningv1alpha1.MetricsPreset]string{
		tuningv1alpha1.PresetNavius:        "http_requests_total",
		tuningv1alpha1.PresetOpenTelemetry: "http_server_request_duration_seconds_count",
		tuningv1alpha1.PresetMicrometer:    "http_server_requests_seconds_count",
		tuningv1alpha1.PresetGo:            "http_requests_total",
		tuningv1alpha1.PresetIstio:         "istio_requests_total",
	}
	for _, p := range Presets() {
		t.Run(string(p), func(t *testing.T) {
			g := NewWithT(t)
			counter, ok := counters[p]
			g.Expect(ok).To(BeTrue(), "a preset without its request counter here")
			tg := orders("k", "orders")
			tg.Preset = p
			qs, err := QueriesOf(tg, Options{})
			g.Expect(err).NotTo(HaveOccurred())
			found := false
			for _, q := range qs {
				if slices.Contains(q.Signals, signals.ThroughputNow) {
					found = true
					g.Expect(q.PromQL).To(ContainSubstring("irate(" + counter + "{"))
				}
			}
			g.Expect(found).To(BeTrue(), "no query yields throughputNow")
		})
	}
}
