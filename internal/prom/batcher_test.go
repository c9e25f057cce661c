package prom

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

func TestBatcherSharesOneBatchPerPeriod(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders", "payments", "search"))
	o, clk, _ := testReader(t, Options{})
	b := NewBatcher(o, BatcherOptions{Period: 30 * time.Second})
	ep := Endpoint{URL: prom.URL()}
	targets := []Target{orders("shop/orders", "orders"), orders("shop/payments", "payments"), orders("shop/search", "search")}
	for _, tg := range targets {
		b.Register(ep, tg)
	}
	observeAll := func() {
		var wg sync.WaitGroup
		for range 4 { // several reconciles of each profile at once
			for _, tg := range targets {
				wg.Go(func() {
					obs := b.Observe(context.Background(), ep, tg)
					g.Expect(obs.Has(signals.LatencyP99, signals.Throughput, signals.CPUUtilization)).To(BeTrue(), tg.Key)
				})
			}
		}
		wg.Wait()
	}
	observeAll()
	g.Expect(prom.Count()).To(Equal(5), "one batch for all profiles")
	clk.Step(29 * time.Second)
	observeAll()
	g.Expect(prom.Count()).To(Equal(5), "still fresh")
	clk.Step(time.Second)
	observeAll()
	g.Expect(prom.Count()).To(Equal(10), "one refresh after the period")

	// A new profile refreshes the batch for everyone, once.
	newcomer := orders("shop/new", "payments")
	g.Expect(b.Observe(context.Background(), ep, newcomer).Has(signals.Throughput)).To(BeTrue())
	g.Expect(prom.Count()).To(Equal(15))
	observeAll()
	g.Expect(prom.Count()).To(Equal(15))

	// A changed spec is a new batch too.
	changed := targets[0]
	changed.Labels = LabelsOf(map[string]string{"namespace": "shop", "service": "search"})
	g.Expect(val(b.Observe(context.Background(), ep, changed), signals.Throughput)).To(BeNumerically("==", 300))
	g.Expect(prom.Count()).To(Equal(20))
}

// TestBatcherServesAYoungerBatchToWhoAsks: a profile that is checked every
// scrape interval (a CPU-saturated breach) asks for a batch no older; the
// refresh it starts serves every profile, and the others keep the period.
func TestBatcherServesAYoungerBatchToWhoAsks(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders", "payments"))
	o, clk, _ := testReader(t, Options{})
	b := NewBatcher(o, BatcherOptions{Period: 30 * time.Second})
	ep := Endpoint{URL: prom.URL()}
	breached, calm := orders("shop/orders", "orders"), orders("shop/payments", "payments")
	b.Register(ep, breached)
	b.Observe(context.Background(), ep, calm)
	g.Expect(prom.Count()).To(Equal(5))
	clk.Step(15 * time.Second)
	b.Observe(context.Background(), ep, calm)
	g.Expect(prom.Count()).To(Equal(5), "15 s old: within the period")
	b.ObserveWithin(context.Background(), ep, breached, 15*time.Second)
	g.Expect(prom.Count()).To(Equal(10), "15 s old: too old for a check every 15 s")
	b.Observe(context.Background(), ep, calm)
	g.Expect(prom.Count()).To(Equal(10), "the refresh served every profile")
	b.ObserveWithin(context.Background(), ep, breached, time.Hour)
	g.Expect(prom.Count()).To(Equal(10), "never older than the period")
}

func TestBatcherForgetsAndExpires(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders", "payments"))
	o, clk, _ := testReader(t, Options{})
	b := NewBatcher(o, BatcherOptions{Period: 10 * time.Second})
	ep := Endpoint{URL: prom.URL()}
	a, p := orders("a", "orders"), orders("p", "payments")
	b.Register(ep, a)
	b.Register(ep, p)
	b.Observe(context.Background(), ep, a)
	lastLatency := func() string {
		qs := prom.QueryTexts()
		for i := len(qs) - 1; i >= 0; i-- {
			if family(qs[i]) == famLatency {
				return qs[i]
			}
		}
		return ""
	}
	g.Expect(lastLatency()).To(ContainSubstring("payments"))

	b.Forget("p")
	clk.Step(10 * time.Second)
	b.Observe(context.Background(), ep, a)
	g.Expect(lastLatency()).NotTo(ContainSubstring("payments"))

	// Registered but never asked for: expires after 3 periods.
	b.Register(ep, p)
	for range 4 {
		clk.Step(10 * time.Second)
		b.Observe(context.Background(), ep, a)
	}
	g.Expect(lastLatency()).NotTo(ContainSubstring("payments"))
}

func TestBatcherCanceledCallerDoesNotPoisonTheBatch(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	prom := newFakeProm(t, func(q string) (int, string) {
		<-release
		return healthy("orders")(q)
	})
	o, _, _ := testReader(t, Options{})
	b := NewBatcher(o, BatcherOptions{})
	ep := Endpoint{URL: prom.URL()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan signals.Observation)
	go func() { done <- b.Observe(ctx, ep, orders("k", "orders")) }()
	g.Eventually(prom.Count).Should(BeNumerically(">", 0))
	cancel()
	canceled := <-done
	g.Expect(canceled.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonTimeout))
	close(release)
	obs := b.Observe(context.Background(), ep, orders("k", "orders"))
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue())
	g.Expect(prom.Count()).To(Equal(5), "the refresh survived the canceled caller")
}

// benchData builds n profiles over 100 namespaces and canned answers that
// hold the series of all of them, as Prometheus would return them.
func benchData(n int) ([]Target, map[string]string) {
	targets := make([]Target, n)
	var lat, traffic, pool, cache, work []sample
	ns := func(i int) string { return fmt.Sprintf("ns-%d", i%100) }
	for i := range n {
		svc := fmt.Sprintf("svc-%d", i)
		targets[i] = Target{
			Key:      ns(i) + "/" + svc,
			Labels:   LabelsOf(map[string]string{"namespace": ns(i), "service": svc}),
			Workload: &Workload{Namespace: ns(i), Name: svc, Container: "app"},
		}
		l := func(part string, kv ...string) []string {
			return append([]string{"namespace", ns(i), "service", svc, partLabel, part}, kv...)
		}
		for j, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"} {
			lat = append(lat, s(fmt.Sprint(10*(j+1)), l("bucket", "le", le)...))
		}
		lat = append(lat, s("3", l("sum")...), s("100", l("count")...), s(fmt.Sprint(t0.Unix()), l("ts")...))
		traffic = append(traffic, s("100", l("requests")...), s("1", l("errors")...), s("100", l("throughput")...),
			s("3", l("pods")...), s(fmt.Sprint(t0.Unix()), l("ts")...))
		pool = append(pool, s("6", l("in_use")...), s("10", l("max")...), s("0.1", l("wait_sum")...), s("20", l("wait_count")...),
			s("0.5", l("db_sum")...), s("50", l("db_count")...), s(fmt.Sprint(t0.Unix()), l("ts")...))
		for _, tier := range []string{"memory", "redis"} {
			cache = append(cache, s("80", l("cache", "tier", tier, "result", "hit")...), s("20", l("cache", "tier", tier, "result", "miss")...))
		}
		cache = append(cache, s(fmt.Sprint(t0.Unix()), l("ts")...))
		work = append(work, s("0.5", "namespace", ns(i), deployLabel, svc, "container", "app", partLabel, "cpu_usage"),
			s("1", "namespace", ns(i), deployLabel, svc, "container", "app", partLabel, "cpu_requests"))
	}
	return targets, map[string]string{
		famLatency: testenv.VectorJSON(t0, lat...), famTraffic: testenv.VectorJSON(t0, traffic...), famPool: testenv.VectorJSON(t0, pool...),
		famCache: testenv.VectorJSON(t0, cache...), famWorkload: testenv.VectorJSON(t0, work...),
	}
}

var benchSizes = []int{1, 10, 100, 1000, 10000}

// benchSetup serves the canned answers of n profiles and returns a Reader on a fake clock.
func benchSetup(b *testing.B, n int) ([]Target, *testenv.FakeProm, *Reader, *testingclock.FakeClock) {
	targets, bodies := benchData(n)
	prom := newFakeProm(b, func(q string) (int, string) { return 200, bodies[family(q)] })
	// The fake's samples keep their time while the benchmark steps the clock
	// period by period: it measures the cost of a period, not freshness.
	o, clk, _ := testReader(b, Options{Freshness: signals.Freshness{ScrapeInterval: 500 * time.Hour}})
	return targets, prom, o, clk
}

// BenchmarkObservePeriod is one period of one endpoint: Observe for all
// profiles at once. queries/period must not grow with the profiles.
func BenchmarkObservePeriod(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) {
			targets, prom, o, _ := benchSetup(b, n)
			ep := Endpoint{URL: prom.URL()}
			periods := 0
			for b.Loop() {
				res := o.Observe(context.Background(), ep, targets)
				if len(res) != n || !res[targets[n-1].Key].Has(signals.LatencyP99, signals.CPUUtilization) {
					b.Fatalf("incomplete observation: %v", res[targets[n-1].Key].MissingSignals())
				}
				periods++
			}
			b.ReportMetric(float64(prom.Count())/float64(periods), "queries/period")
		})
	}
}

// BenchmarkBatcherPeriod is one period as the reconciler sees it: every
// profile's reconcile asks the Batcher for its own observation (8 workers).
func BenchmarkBatcherPeriod(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) {
			targets, prom, o, clk := benchSetup(b, n)
			bt := NewBatcher(o, BatcherOptions{Period: 30 * time.Second})
			ep := Endpoint{URL: prom.URL()}
			for _, tg := range targets {
				bt.Register(ep, tg)
			}
			periods := 0
			for b.Loop() {
				clk.Step(30 * time.Second)
				work := make(chan Target)
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						for tg := range work {
							if obs := bt.Observe(context.Background(), ep, tg); !obs.Has(signals.LatencyP99) {
								b.Errorf("%s: %s", tg.Key, strings.Join(obs.MissingSignals(), "; "))
							}
						}
					})
				}
				for _, tg := range targets {
					work <- tg
				}
				close(work)
				wg.Wait()
				periods++
			}
			b.ReportMetric(float64(prom.Count())/float64(periods), "queries/period")
		})
	}
}
