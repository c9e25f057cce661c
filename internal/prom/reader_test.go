package prom

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

func orders(key, service string) Target {
	return Target{
		Key:      key,
		Labels:   LabelsOf(map[string]string{"namespace": "shop", "service": service}),
		Workload: &Workload{Namespace: "shop", Name: service, Container: "app"},
		Redis:    &Workload{Namespace: "shop", Name: "redis", Kind: "StatefulSet"},
	}
}

func TestObserveHealthyBatch(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders", "payments"))
	o, _, _ := testReader(t, Options{})
	// an SLO window of three saturation windows (4m at the default 1m scrape) and more: ThroughputNoise is read too
	a0, b0 := orders("shop/orders", "orders"), orders("shop/payments", "payments")
	a0.Window, b0.Window = 12*time.Minute, 12*time.Minute
	got := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{a0, b0})
	g.Expect(prom.Count()).To(Equal(5), "one query per family for both profiles")

	a := got["shop/orders"]
	g.Expect(a.Missing).To(BeEmpty())
	want := map[signals.Signal]float64{
		// buckets 50/90/99/100 with bounds 0.05/0.1/0.25/+Inf
		signals.LatencyP50:      0.05,
		signals.LatencyP95:      0.1 + 0.15*(95.0-90)/9,
		signals.LatencyP99:      0.25,
		signals.LatencyMean:     0.04,
		signals.Throughput:      100,
		signals.ThroughputNow:   105,
		signals.ThroughputPeak:  110,
		signals.ThroughputNoise: 5,
		signals.ErrorRate:       0.01,
		signals.Pods:            3,
		signals.PoolInUse:       6,
		signals.PoolMax:         10,
		signals.PoolWait:        0.01,
		// p99, the highest percentile observed (no objective), of the wait histogram
		signals.PoolWaitTail:   0.09,
		signals.DBTime:         0.01,
		signals.DBCallRate:     50,
		signals.MemoryHitRatio: 0.8,
		signals.RedisHitRatio:  0.5,
		// L1 lookups from the cache's hit and miss counters (80 + 20/s), in
		// the same query as the hit ratio: still 5 queries
		signals.MemoryLookupRate: 100,
		signals.CPUUtilization:   0.5, // container "app" only
		signals.RedisCPU:         0.3,
		signals.RedisOpsRate:     1500,
	}
	for sig, v := range want {
		x, ok := a.Get(sig)
		g.Expect(ok).To(BeTrue(), string(sig))
		g.Expect(x).To(BeNumerically("~", v, 1e-9), string(sig))
	}
	// Freshness: the latency family's newest raw sample is 5 s old.
	g.Expect(a.Values[signals.LatencyP99].At).To(BeTemporally("==", t0.Add(-5*time.Second)))
	g.Expect(a.Values[signals.Throughput].At).To(BeTemporally("==", t0))

	b := got["shop/payments"]
	g.Expect(val(b, signals.Throughput)).To(BeNumerically("==", 200))
	g.Expect(val(b, signals.PoolInUse)).To(BeNumerically("==", 12))
	g.Expect(val(b, signals.RedisHitRatio)).To(BeNumerically("~", 10.0/30, 1e-9))
	g.Expect(val(b, signals.CPUUtilization)).To(BeNumerically("==", 1))
}

func TestObserveWholePodCPUAndNotConfigured(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	o, _, _ := testReader(t, Options{})
	whole := orders("a", "orders")
	whole.Workload.Container = ""
	bare := Target{Key: "b", Labels: LabelsOf(map[string]string{"namespace": "shop", "service": "orders"})}
	got := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{whole, bare})
	g.Expect(val(got["a"], signals.CPUUtilization)).To(BeNumerically("~", 0.6/1.1, 1e-9))
	for _, sig := range []signals.Signal{signals.CPUUtilization, signals.RedisCPU, signals.RedisOpsRate} {
		g.Expect(got["b"].Missing[sig].Reason).To(Equal(signals.ReasonNotConfigured), string(sig))
	}
	g.Expect(got["b"].Has(signals.LatencyP99, signals.ErrorRate, signals.PoolInUse)).To(BeTrue())
}

// TestObserveOddResponses runs each odd answer through an override (one
// series expected) and through the batch (every family answers the same way).
func TestObserveOddResponses(t *testing.T) {
	old := t0.Add(-10 * time.Minute)
	cases := []struct {
		name   string
		answer func() (int, string)
		want   signals.Reason
	}{
		{"empty", func() (int, string) { return ok() }, signals.ReasonEmpty},
		{"NaN", func() (int, string) { return ok(s("NaN", partLabel, "x")) }, signals.ReasonNaN},
		{"+Inf", func() (int, string) { return ok(s("+Inf", partLabel, "x")) }, signals.ReasonNaN},
		{"503", func() (int, string) { return http.StatusServiceUnavailable, unavailable }, signals.ReasonHTTPError},
		{"400 bad query", func() (int, string) { return http.StatusBadRequest, badQueryJSON }, signals.ReasonBadQuery},
		{"401", func() (int, string) { return http.StatusUnauthorized, "no" }, signals.ReasonUnauthorized},
		{"timeout", func() (int, string) { return -1, "" }, signals.ReasonTimeout},
		{"malformed JSON", func() (int, string) {
			return http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[{]}}`
		}, signals.ReasonMalformed},
		{"matrix", func() (int, string) {
			return http.StatusOK, `{"status":"success","data":{"resultType":"matrix","result":[]}}`
		}, signals.ReasonMalformed},
		{"several series", func() (int, string) {
			return ok(s("1", "pod", "a"), s("2", "pod", "b"))
		}, signals.ReasonMultipleSeries},
		{"stale sample", func() (int, string) {
			x := s("1", partLabel, "x")
			x.At = old
			return ok(x)
		}, signals.ReasonStale},
	}
	for _, tc := range cases {
		t.Run("override/"+tc.name, func(t *testing.T) {
			g := NewWithT(t)
			prom := newFakeProm(t, func(q string) (int, string) {
				if family(q) == famOverride {
					return tc.answer()
				}
				return healthy("orders")(q)
			})
			o, clk, _ := testReader(t, Options{})
			testenv.AutoStep(t, clk, 100*time.Millisecond)
			tg := orders("k", "orders")
			tg.Overrides = &tuningv1alpha1.QueryOverrides{LatencyP99: `my_p99{app="orders"}`}
			obs := o.Observe(context.Background(), Endpoint{URL: prom.URL(), Timeout: 10 * time.Second}, []Target{tg})["k"]
			g.Expect(obs.Missing).To(HaveKey(signals.LatencyP99))
			g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(tc.want), obs.Missing[signals.LatencyP99].String())
			g.Expect(obs.Has(signals.LatencyP50, signals.Throughput)).To(BeTrue(), "the batch is unaffected")
		})
	}
	batchWant := map[string]signals.Reason{"NaN": signals.ReasonNaN, "+Inf": signals.ReasonNaN}
	for _, tc := range cases {
		if tc.name == "several series" || tc.name == "NaN" || tc.name == "+Inf" || tc.name == "stale sample" {
			continue // batch variants below, with per-family series
		}
		t.Run("batch/"+tc.name, func(t *testing.T) {
			g := NewWithT(t)
			prom := newFakeProm(t, func(string) (int, string) { return tc.answer() })
			o, clk, _ := testReader(t, Options{})
			testenv.AutoStep(t, clk, 100*time.Millisecond)
			obs := o.Observe(context.Background(), Endpoint{URL: prom.URL(), Timeout: 10 * time.Second}, []Target{orders("k", "orders")})["k"]
			g.Expect(obs.Values).To(BeEmpty())
			want := tc.want
			if w, ok := batchWant[tc.name]; ok {
				want = w
			}
			for sig, m := range obs.Missing {
				g.Expect(m.Reason).To(Equal(want), string(sig)+": "+m.String())
			}
			g.Expect(obs.Missing).To(HaveLen(len(targetSignals(orders("k", "orders")))))
		})
	}
}

// TestObserveOddBatchSeries covers odd series inside a successful batch answer.
func TestObserveOddBatchSeries(t *testing.T) {
	old := t0.Add(-10 * time.Minute)
	cases := []struct {
		name    string
		traffic []sample
		sig     signals.Signal
		want    signals.Reason
	}{
		{"NaN", []sample{s("NaN", app("orders", "throughput")...)}, signals.Throughput, signals.ReasonNaN},
		{"+Inf", []sample{s("+Inf", app("orders", "throughput")...)}, signals.Throughput, signals.ReasonNaN},
		{"several series", []sample{s("1", app("orders", "throughput")...), s("2", app("orders", "throughput")...)}, signals.Throughput, signals.ReasonMultipleSeries},
		{"stale by newest sample", []sample{s("1", app("orders", "throughput")...), s(fmtUnix(old), app("orders", "ts")...)}, signals.Throughput, signals.ReasonStale},
		{"several request series", []sample{s("1", app("orders", "requests")...), s("2", app("orders", "requests")...)}, signals.ErrorRate, signals.ReasonMultipleSeries},
		{"no requests", []sample{s("0", app("orders", "requests")...)}, signals.ErrorRate, signals.ReasonNaN},
		{"other profile only", []sample{s("1", app("payments", "throughput")...)}, signals.Throughput, signals.ReasonEmpty},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			prom := newFakeProm(t, func(q string) (int, string) {
				if family(q) == famTraffic {
					return ok(tc.traffic...)
				}
				return healthy("orders")(q)
			})
			o, _, _ := testReader(t, Options{})
			obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{orders("k", "orders")})["k"]
			g.Expect(obs.Missing[tc.sig].Reason).To(Equal(tc.want), obs.Missing[tc.sig].String())
			g.Expect(obs.Has(signals.LatencyP99, signals.PoolInUse)).To(BeTrue())
		})
	}
	t.Run("no 5xx series is a measured zero", func(t *testing.T) {
		g := NewWithT(t)
		prom := newFakeProm(t, func(q string) (int, string) {
			if family(q) == famTraffic {
				return ok(s("50", app("orders", "requests")...))
			}
			return healthy("orders")(q)
		})
		o, _, _ := testReader(t, Options{})
		obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{orders("k", "orders")})["k"]
		g.Expect(val(obs, signals.ErrorRate)).To(BeNumerically("==", 0))
		g.Expect(obs.Missing[signals.Pods].Reason).To(Equal(signals.ReasonEmpty))
	})
}

func fmtUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestRetriesThenSucceeds(t *testing.T) {
	g := NewWithT(t)
	calls := 0
	prom := newFakeProm(t, func(q string) (int, string) {
		if family(q) != famOverride {
			return healthy("orders")(q)
		}
		calls++
		if calls < 3 {
			return http.StatusServiceUnavailable, unavailable
		}
		return ok(s("0.2"))
	})
	o, clk, reg := testReader(t, Options{MaxAttempts: 3})
	testenv.AutoStep(t, clk, 100*time.Millisecond)
	tg := orders("k", "orders")
	tg.Overrides = &tuningv1alpha1.QueryOverrides{ErrorRate: "my_errors"}
	obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{tg})["k"]
	g.Expect(val(obs, signals.ErrorRate)).To(BeNumerically("==", 0.2))
	g.Expect(calls).To(Equal(3))
	g.Expect(counterValue(t, reg, QueryRetriesName, map[string]string{"family": "override", "reason": "HTTPError"})).To(BeNumerically("==", 2))
}

func TestNoRetryOnBadQuery(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, func(string) (int, string) { return http.StatusBadRequest, badQueryJSON })
	o, _, _ := testReader(t, Options{MaxAttempts: 5})
	obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{orders("k", "orders")})["k"]
	g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonBadQuery))
	g.Expect(prom.Count()).To(Equal(5), "each family once, no retry")
}

func TestTimeoutIsRetriedThenMissing(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, func(string) (int, string) { return -1, "" })
	o, clk, reg := testReader(t, Options{MaxAttempts: 2})
	testenv.AutoStep(t, clk, time.Second)
	start := time.Now()
	obs := o.Observe(context.Background(), Endpoint{URL: prom.URL(), Timeout: 10 * time.Second}, []Target{orders("k", "orders")})["k"]
	g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "the fake clock drives the timeout")
	g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonTimeout))
	g.Expect(obs.Missing[signals.LatencyP99].Message).To(ContainSubstring("after 2 attempts"))
	g.Expect(prom.Count()).To(Equal(10))
	g.Expect(counterValue(t, reg, QueryErrorsName, map[string]string{"family": "latency", "reason": "Timeout"})).To(BeNumerically("==", 1))
}

func TestEndpointDown(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	url := prom.URL()
	prom.SetFault(testenv.FaultStopped)
	o, clk, _ := testReader(t, Options{MaxAttempts: 2})
	testenv.AutoStep(t, clk, time.Minute)
	obs := o.Observe(context.Background(), Endpoint{URL: url}, []Target{orders("k", "orders")})["k"]
	g.Expect(obs.Values).To(BeEmpty())
	g.Expect(obs.Missing[signals.Throughput].Reason).To(Equal(signals.ReasonEndpointDown))
}

func TestBackoffIsExponentialWithJitter(t *testing.T) {
	g := NewWithT(t)
	base, max := 250*time.Millisecond, 4*time.Second
	g.Expect(backoff(1, base, max, func() float64 { return 0 })).To(Equal(125 * time.Millisecond))
	g.Expect(backoff(1, base, max, func() float64 { return 0.999999 })).To(BeNumerically("~", 250*time.Millisecond, time.Millisecond))
	g.Expect(backoff(3, base, max, func() float64 { return 0.5 })).To(Equal(750 * time.Millisecond))
	g.Expect(backoff(10, base, max, func() float64 { return 1 })).To(Equal(max))
}

func TestInvalidTargets(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	o, _, _ := testReader(t, Options{})
	bad := []Target{
		{Key: "label", Labels: LabelsOf(map[string]string{"service) or vector(1) or sum by (x": "a"})},
		{Key: "window", Labels: LabelsOf(map[string]string{"service": "a"}), Window: time.Millisecond},
		{Key: "percentile", Labels: LabelsOf(map[string]string{"service": "a"}), Percentiles: []signals.Signal{signals.Throughput}},
	}
	got := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, bad)
	for _, tg := range bad {
		g.Expect(got[tg.Key].Values).To(BeEmpty())
		g.Expect(got[tg.Key].Missing[signals.Throughput].Reason).To(Equal(signals.ReasonBadQuery), tg.Key)
	}
	g.Expect(prom.Count()).To(BeZero())
}

func TestQuantileEdges(t *testing.T) {
	g := NewWithT(t)
	inf := math.Inf(1)
	b := func(pairs ...float64) []Bucket {
		var out []Bucket
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, Bucket{pairs[i], pairs[i+1]})
		}
		return out
	}
	g.Expect(bucketQuantile(0.5, b(1, 0, inf, 0))).To(Satisfy(math.IsNaN), "no observations")
	g.Expect(bucketQuantile(0.5, b(1, 10))).To(Satisfy(math.IsNaN), "no +Inf bucket")
	// Prometheus returns the highest finite bound here; navius-tuner returns
	// +Inf, so that an outage never reads as meeting an objective.
	g.Expect(bucketQuantile(0.99, b(1, 10, inf, 20))).To(Equal(inf), "rank in +Inf: above every bound")
	g.Expect(bucketQuantile(0.5, b(inf, 20, 1, 10, 2, 20))).To(Equal(1.0), "unsorted input")
	g.Expect(bucketQuantile(0.75, b(1, 10, 2, 20, 2, 0, inf, 20))).To(Equal(1.5), "equal bounds coalesced")
	g.Expect(bucketQuantile(0.5, b(1, 10, 2, 8, 4, 20, inf, 20))).To(Equal(1.0), "forced monotonic")
	g.Expect(bucketQuantile(0.25, b(-1, 10, 1, 20, inf, 40))).To(Equal(-1.0), "non-positive first bound")
	g.Expect(BucketQuantile(0.5, []float64{0.1, 0.2, inf}, []float64{0, 10, 10})).To(BeNumerically("~", 0.15, 1e-12))
}

// TestTargetLabelsAndThresholdsReadAsTheirMaps: a target's labels and
// latency objectives are held in slices sorted by name, and read as the
// maps they come from: every entry, and nothing for a name they lack.
func TestTargetLabelsAndThresholdsReadAsTheirMaps(t *testing.T) {
	g := NewWithT(t)
	m := map[string]string{"service": "orders", "namespace": "shop", "env": ""}
	ls := LabelsOf(m)
	g.Expect(ls).To(Equal(Labels{{"env", ""}, {"namespace", "shop"}, {"service", "orders"}}))
	for name, value := range m {
		g.Expect(ls.Get(name)).To(Equal(value))
	}
	g.Expect(ls.Get("pod")).To(BeEmpty())
	g.Expect(LabelsOf(nil)).To(BeNil())

	ts := ThresholdsOf(map[signals.Signal]time.Duration{signals.LatencyP99: 300 * time.Millisecond, signals.LatencyP50: 50 * time.Millisecond})
	g.Expect(ts).To(HaveLen(2))
	d, ok := ts.Of(signals.LatencyP99)
	g.Expect(ok).To(BeTrue())
	g.Expect(d).To(Equal(300 * time.Millisecond))
	_, ok = ts.Of(signals.LatencyP90)
	g.Expect(ok).To(BeFalse())
	g.Expect(ThresholdsOf(nil)).To(BeNil())
}
