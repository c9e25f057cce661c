package prom

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// t0 is the fake clock's start; canned samples are stamped with it.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newFakeProm is the tests' one fake Prometheus answering each query with
// handle's status code and body (-1: hang until the client gives up).
func newFakeProm(t testing.TB, handle func(q string) (int, string)) *testenv.FakeProm {
	f := testenv.NewFakeProm(t, nil)
	f.AnswerRaw(handle)
	return f
}

// sample is one canned series.
type sample = testenv.Series

func s(value string, kv ...string) sample {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return sample{Labels: l, Value: value, At: t0}
}

const (
	badQueryJSON = `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected identifier"}`
	unavailable  = "Service Unavailable"
)

func ok(ss ...sample) (int, string) { return http.StatusOK, testenv.VectorJSON(t0, ss...) }

// testReader returns a Reader on a fake clock that steps itself
// whenever a timer waits, with a private registry.
func testReader(t testing.TB, opts Options) (*Reader, *testingclock.FakeClock, *prometheus.Registry) {
	clk := testingclock.NewFakeClock(t0)
	reg := prometheus.NewRegistry()
	opts.Clock, opts.Registerer = clk, reg
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0.5 }
	}
	return NewReader(opts), clk, reg
}

// val returns a signal's value, NaN when missing.
func val(o signals.Observation, s signals.Signal) float64 {
	v, ok := o.Get(s)
	if !ok {
		return math.NaN()
	}
	return v
}

// family names the batch family of a query, for canned handlers: the
// shared fake's reading of the metric contract, checked against the
// reader's own families by TestFakePromSpeaksTheReadersLanguage.
func family(q string) string {
	if f := testenv.QueryFamily(q); f != "" {
		return f
	}
	return famOverride
}

// app returns label pairs of an app series of a target with the given service.
func app(service, part string, kv ...string) []string {
	return append([]string{"namespace", "shop", "service", service, partLabel, part}, kv...)
}

// healthy answers every family with a known, valid set of series for the
// services given, scaled by their index (1, 2, ...), stamped at t0.
func healthy(services ...string) func(q string) (int, string) {
	return func(q string) (int, string) {
		var out []sample
		for i, svc := range services {
			k := float64(i + 1)
			f := func(v float64) string { return fmt.Sprint(v) }
			switch family(q) {
			case famLatency:
				for _, b := range [][2]string{{"0.05", f(50 * k)}, {"0.1", f(90 * k)}, {"0.25", f(99 * k)}, {"+Inf", f(100 * k)}} {
					out = append(out, s(b[1], app(svc, "bucket", "le", b[0])...))
				}
				out = append(out, s(f(4*k), app(svc, "sum")...), s(f(100*k), app(svc, "count")...),
					s(fmt.Sprint(t0.Unix()-5), app(svc, "ts")...))
			case famTraffic:
				out = append(out, s(f(100*k), app(svc, "requests")...), s(f(k), app(svc, "errors")...),
					s(f(100*k), app(svc, "throughput")...), s(f(105*k), app(svc, "throughput_now")...), s(f(110*k), app(svc, "throughput_peak")...),
					s(f(5*k), app(svc, "throughput_noise")...), s("12", app(svc, "throughput_noise_rates")...), s("11", app(svc, "throughput_noise_moves")...),
					s("3", app(svc, "pods")...), s(fmt.Sprint(t0.Unix()), app(svc, "ts")...))
			case famPool:
				out = append(out, s(f(6*k), app(svc, "in_use")...), s("10", app(svc, "max")...),
					s(f(0.2*k), app(svc, "wait_sum")...), s("20", app(svc, "wait_count")...),
					s("0.5", app(svc, "db_sum")...), s("50", app(svc, "db_count")...))
				// the wait histogram: p99 at 0.05 + 0.05 × 0.8 = 0.09 s
				for _, b := range [][2]string{{"0.005", "10"}, {"0.01", "16"}, {"0.05", "19"}, {"0.1", "20"}, {"+Inf", "20"}} {
					out = append(out, s(b[1], app(svc, "wait_bucket", "le", b[0])...))
				}
			case famCache:
				out = append(out, s(f(80), app(svc, "cache", "tier", "memory", "result", "hit")...),
					s(f(20), app(svc, "cache", "tier", "memory", "result", "miss")...),
					s(f(10), app(svc, "cache", "tier", "redis", "result", "hit")...),
					s(f(10*k), app(svc, "cache", "tier", "redis", "result", "miss")...))
			case famWorkload:
				out = append(out,
					s(f(0.5*k), "namespace", "shop", deployLabel, svc, "container", "app", partLabel, "cpu_usage"),
					s("1", "namespace", "shop", deployLabel, svc, "container", "app", partLabel, "cpu_requests"),
					s("0.1", "namespace", "shop", deployLabel, svc, "container", "sidecar", partLabel, "cpu_usage"),
					s("0.1", "namespace", "shop", deployLabel, svc, "container", "sidecar", partLabel, "cpu_requests"))
				if i > 0 {
					continue
				}
				out = append(out,
					s("0.6", "namespace", "shop", stsLabel, "redis", partLabel, "redis_cpu"),
					s("3000", "namespace", "shop", stsLabel, "redis", partLabel, "redis_ops"),
					s("2", "namespace", "shop", stsLabel, "redis", partLabel, "redis_pods"))
			}
		}
		return ok(out...)
	}
}

// TestFakePromSpeaksTheReadersLanguage: the shared fake Prometheus labels
// its series and sorts queries into families as the reader does, so a
// change to the reader's queries cannot leave the fake answering the
// wrong family.
func TestFakePromSpeaksTheReadersLanguage(t *testing.T) {
	if testenv.PartLabel != partLabel || testenv.DeployLabel != deployLabel || testenv.STSLabel != stsLabel {
		t.Fatalf("the fake's labels %q %q %q are not the reader's %q %q %q",
			testenv.PartLabel, testenv.DeployLabel, testenv.STSLabel, partLabel, deployLabel, stsLabel)
	}
	o, _, _ := testReader(t, Options{})
	groups, invalid := o.plan(slices.Values([]Target{orders("k", "orders")}))
	if len(groups) != 1 || len(invalid) != 0 {
		t.Fatalf("want one group of one valid target, got %d groups, %d invalid", len(groups), len(invalid))
	}
	seen := 0
	for _, j := range groups[0].jobs {
		if j.family == famOverride {
			continue
		}
		seen++
		if got := testenv.QueryFamily(j.query); got != j.family {
			t.Errorf("the fake takes the %s query for %q:\n%s", j.family, got, j.query)
		}
	}
	if seen != len(familyOrder) {
		t.Errorf("the target asked %d families, want all %d", seen, len(familyOrder))
	}
}
