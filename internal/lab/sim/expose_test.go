package sim

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape parses the exposition and returns every sample by series identity
// (name and sorted labels), counters and histogram buckets included.
func scrape(t *testing.T, body io.Reader) (map[string]*dto.MetricFamily, map[string]float64) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(body)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	samples := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			id := name + "{" + strings.Join(ls, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				samples[id] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[id] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				samples[id+"_count"] = float64(h.GetSampleCount())
				samples[id+"_sum"] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					samples[id+"_le"+strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return fams, samples
}

func get(t *testing.T, h http.Handler, target string) *bytes.Buffer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics"+target, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Body
}

func TestExpositionFollowsTheMetricContract(t *testing.T) {
	m := New(Config{Namespace: "shop", Service: "orders-api"})
	m.SetTrace(Constant(200))
	m.SyncPods(MakePods("orders-api", 2, GuideDefaults, 500, 1000))
	m.SetRedisReplicas(2)
	m.Run(30, 1)
	p0, p1 := PodName("orders-api", 0), PodName("orders-api", 1)
	h := m.Handler(ExpositionOptions{})
	fams, first := scrape(t, get(t, h, ""))

	want := map[string]dto.MetricType{
		"http_request_duration_seconds":        dto.MetricType_HISTOGRAM,
		"http_requests_total":                  dto.MetricType_COUNTER,
		"db_pool_connections":                  dto.MetricType_GAUGE,
		"db_pool_max_connections":              dto.MetricType_GAUGE,
		"db_pool_wait_seconds":                 dto.MetricType_HISTOGRAM,
		"db_query_duration_seconds":            dto.MetricType_HISTOGRAM,
		"cache_requests_total":                 dto.MetricType_COUNTER,
		"container_cpu_usage_seconds_total":    dto.MetricType_COUNTER,
		"kube_pod_container_resource_requests": dto.MetricType_GAUGE,
		"kube_pod_container_resource_limits":   dto.MetricType_GAUGE,
		"redis_commands_processed_total":       dto.MetricType_COUNTER,
		"redis_cpu_sys_seconds_total":          dto.MetricType_COUNTER,
		"redis_cpu_user_seconds_total":         dto.MetricType_COUNTER,
		"redis_connected_clients":              dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), typ)
		}
		for _, mm := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mm.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != "shop" || labels["service"] != "orders-api" || labels["pod"] == "" {
				t.Errorf("%s: labels %v lack namespace/service/pod", name, labels)
			}
		}
	}
	for _, id := range []string{
		`db_pool_connections{namespace=shop,pod=` + p0 + `,service=orders-api,state=in_use}`,
		`db_pool_connections{namespace=shop,pod=` + p0 + `,service=orders-api,state=idle}`,
		`http_requests_total{namespace=shop,pod=` + p1 + `,service=orders-api,status=200}`,
		`cache_requests_total{namespace=shop,pod=` + p0 + `,result=hit,service=orders-api,tier=memory}`,
		`cache_requests_total{namespace=shop,pod=` + p0 + `,result=miss,service=orders-api,tier=redis}`,
		`kube_pod_container_resource_requests{container=app,namespace=shop,pod=` + p0 + `,resource=cpu,service=orders-api,unit=core}`,
		`redis_commands_processed_total{namespace=shop,pod=redis-1,service=orders-api}`,
	} {
		if _, ok := first[id]; !ok {
			t.Errorf("missing series %s", id)
		}
	}
	if v := first[`db_pool_max_connections{namespace=shop,pod=`+p0+`,service=orders-api}`]; v != 10 {
		t.Errorf("db_pool_max_connections = %v, want 10", v)
	}
	if v := first[`kube_pod_container_resource_limits{container=app,namespace=shop,pod=`+p0+`,resource=cpu,service=orders-api,unit=core}`]; v != 1 {
		t.Errorf("cpu limit = %v cores, want 1", v)
	}
	// The histogram agrees with the request counter.
	var reqs, count float64
	for id, v := range first {
		if strings.HasPrefix(id, "http_requests_total{") {
			reqs += v
		}
		if strings.HasPrefix(id, "http_request_duration_seconds{") && strings.HasSuffix(id, "_count") {
			count += v
		}
	}
	if reqs == 0 || reqs != count {
		t.Errorf("http_requests_total %v, histogram count %v", reqs, count)
	}

	// Counters only grow between scrapes while the pods live.
	m.SetTrace(Constant(50))
	m.Run(30, 1)
	_, second := scrape(t, get(t, h, ""))
	for id, v := range first {
		if !isCounterish(id) {
			continue
		}
		if second[id] < v {
			t.Errorf("%s went down: %v → %v", id, v, second[id])
		}
	}

	// A restarted pod (same name, new start) starts its counters from zero.
	specs := MakePods("orders-api", 2, GuideDefaults, 500, 1000)
	specs[0].Env[EnvPoolMax] = "20"
	m.SyncPods(specs)
	m.Step(1)
	_, third := scrape(t, get(t, h, ""))
	restarted := `http_requests_total{namespace=shop,pod=` + p0 + `,service=orders-api,status=200}`
	kept := `http_requests_total{namespace=shop,pod=` + p1 + `,service=orders-api,status=200}`
	if third[restarted] >= second[restarted] || third[kept] < second[kept] {
		t.Errorf("restart: restarted pod %v → %v, other pod %v → %v", second[restarted], third[restarted], second[kept], third[kept])
	}
}

func isCounterish(id string) bool {
	return strings.Contains(id, "_total{") || strings.HasSuffix(id, "_count") || strings.HasSuffix(id, "_sum") || strings.Contains(id, "}_le")
}

func TestExpositionTargetsAndSpeed(t *testing.T) {
	m := New(Config{})
	m.SetTrace(Constant(100))
	m.SyncPods(MakePods("p", 2, GuideDefaults, 500, 1000))
	m.Run(10, 1)
	p0, p1 := PodName("p", 0), PodName("p", 1)
	one := get(t, m.Handler(ExpositionOptions{}), "?target="+p1).String()
	if !strings.Contains(one, `pod="`+p1+`"`) || strings.Contains(one, `pod="`+p0+`"`) || strings.Contains(one, "redis_") {
		t.Errorf("?target=%s served other series:\n%s", p1, one)
	}
	redis := get(t, m.Handler(ExpositionOptions{}), "?target=redis").String()
	if !strings.Contains(redis, "redis_commands_processed_total") || strings.Contains(redis, "http_requests_total") {
		t.Errorf("?target=redis:\n%s", redis)
	}
	rec := httptest.NewRecorder()
	m.Handler(ExpositionOptions{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics?target=gone", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown pod: %d", rec.Code)
	}
	_, normal := scrape(t, get(t, m.Handler(ExpositionOptions{}), ""))
	_, fast := scrape(t, get(t, m.Handler(ExpositionOptions{Speed: 10}), ""))
	id := `container_cpu_usage_seconds_total{container=app,namespace=default,pod=` + p0 + `,service=orders-api}`
	if normal[id] == 0 || fast[id] < normal[id]/10*0.999 || fast[id] > normal[id]/10*1.001 {
		t.Errorf("speed 10: %s %v, want %v/10", id, fast[id], normal[id])
	}
}

// TestHistogramQuantileNearTruth checks that the bucket bounds let
// histogram_quantile over the exposed histograms land near the exact
// per-request quantile.
func TestHistogramQuantileNearTruth(t *testing.T) {
	for _, c := range []struct {
		name  string
		knobs Knobs
		pods  int
		rps   float64
	}{
		{"before", CaseStudyBefore, 2, 100},
		{"after", Knobs{PoolMax: 20, PoolMin: 5, L1Items: 20000, L1TTL: 120, L2TTL: 600}, 3, 500},
	} {
		m := New(Config{})
		m.SetTrace(Constant(c.rps))
		m.SyncPods(MakePods("orders-api", c.pods, c.knobs, 500, 1000))
		m.Run(300, 1)
		var before, after bytes.Buffer
		_ = m.WriteMetrics(&before, "", ExpositionOptions{})
		m.Run(300, 1)
		_ = m.WriteMetrics(&after, "", ExpositionOptions{})
		_, s0 := scrape(t, &before)
		_, s1 := scrape(t, &after)
		cum := make([]float64, len(LatencyBuckets)+1)
		for id, v := range s1 {
			if !strings.HasPrefix(id, "http_request_duration_seconds{") || !strings.Contains(id, "}_le") {
				continue
			}
			le := id[strings.Index(id, "}_le")+4:]
			i := len(LatencyBuckets)
			if le != "+Inf" {
				b, _ := strconv.ParseFloat(le, 64)
				i = sort.SearchFloat64s(LatencyBuckets, b)
			}
			cum[i] += v - s0[id]
		}
		truth := m.Window(300)
		for _, q := range []float64{0.5, 0.95, 0.99} {
			est, exact := HistogramQuantile(q, LatencyBuckets, cum), truth.Quantile(q)
			t.Logf("%s p%.0f: histogram_quantile %.4f, truth %.4f", c.name, q*100, est, exact)
			sameBucket := sort.SearchFloat64s(LatencyBuckets, est) == sort.SearchFloat64s(LatencyBuckets, exact)
			if !sameBucket || (exact <= 0.5 && math.Abs(est-exact) > 0.2*exact+0.003) {
				t.Errorf("%s p%.0f: histogram_quantile %.4f, truth %.4f", c.name, q*100, est, exact)
			}
		}
	}
}
