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

// TestBatcherServesThePreviousBatchWhileItRefreshes: with ServePrevious, a
// profile whose batch is a period old gets it at once while the next one is
// read, so reconciles do not wait on Prometheus; but never a batch two
// periods old, and never to a new profile or one that asks for a younger
// batch: those wait for the refresh.
func TestBatcherServesThePreviousBatchWhileItRefreshes(t *testing.T) {
	g := NewWithT(t)
	var mu sync.Mutex
	gate := make(chan struct{})
	close(gate)
	hold := func() { mu.Lock(); gate = make(chan struct{}); mu.Unlock() }
	open := func() { mu.Lock(); close(gate); mu.Unlock() }
	prom := newFakeProm(t, func(q string) (int, string) {
		mu.Lock()
		ch := gate
		mu.Unlock()
		<-ch
		return healthy("orders", "payments")(q) // sampled at t0, whenever asked
	})
	// A sample may be 2 × 10 s + 30 s = 50 s old.
	o, clk, _ := testReader(t, Options{Freshness: signals.Freshness{ScrapeInterval: 10 * time.Second, ObservePeriod: 30 * time.Second}})
	b := NewBatcher(o, BatcherOptions{Period: 30 * time.Second, ServePrevious: true})
	ep := Endpoint{URL: prom.URL()}
	known, newcomer := orders("shop/orders", "orders"), orders("shop/payments", "payments")
	observe := func(tg Target, maxAge time.Duration) chan signals.Observation {
		done := make(chan signals.Observation, 1)
		go func() { done <- b.ObserveWithin(context.Background(), ep, tg, maxAge) }()
		return done
	}
	refreshed := func() bool { return idle(b) }
	var obs signals.Observation

	g.Expect(b.Observe(context.Background(), ep, known).Has(signals.LatencyP99)).To(BeTrue())
	g.Expect(prom.Count()).To(Equal(5))

	// A period later, with Prometheus not answering: the previous batch at once.
	hold()
	clk.Step(30 * time.Second)
	g.Eventually(observe(known, b.opts.Period), 5*time.Second).Should(Receive(&obs), "served without waiting for Prometheus")
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), "30 s old samples are within 50 s")
	g.Expect(obs.Time).To(Equal(t0), "the observation keeps the time it was made")
	g.Eventually(prom.Count).Should(BeNumerically(">", 5), "and the refresh started")
	// A new profile, and one checked every 15 s, wait for the refresh.
	fresh, first := observe(known, 15*time.Second), observe(newcomer, b.opts.Period)
	g.Consistently(fresh, 300*time.Millisecond).ShouldNot(Receive())
	g.Consistently(first, 10*time.Millisecond).ShouldNot(Receive())
	open()
	g.Eventually(fresh, 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Time).To(Equal(t0.Add(30 * time.Second)))
	g.Eventually(first, 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue())
	g.Eventually(refreshed, 5*time.Second).Should(BeTrue())

	// A period on, the batch made at 30 s is served: its p99 was sampled
	// 65 s before, within the 80 s a batch serves a value at the end of its
	// own period (50 s at its evaluation + 30 s).
	hold()
	clk.Step(30 * time.Second)
	g.Eventually(observe(known, b.opts.Period), 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), "65 s old when served: within 80 s")
	g.Expect(obs.Time).To(Equal(t0.Add(30 * time.Second)))
	open()
	g.Eventually(refreshed, 5*time.Second).Should(BeTrue())

	// A batch two periods old is not served: the caller waits.
	hold()
	clk.Step(60 * time.Second)
	late := observe(known, b.opts.Period)
	g.Consistently(late, 300*time.Millisecond).ShouldNot(Receive())
	open()
	g.Eventually(late, 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Time).To(Equal(t0.Add(120 * time.Second)))
}

// laggingProm is a fake Prometheus whose answers can be held, and whose
// samples (the answer's and the newest raw ones, the "ts" parts) are
// stamped lag before the time of the fake clock it is given.
type laggingProm struct {
	*testenv.FakeProm
	mu   sync.Mutex
	gate chan struct{}
	lag  time.Duration
	clk  interface{ Now() time.Time }
}

func newLaggingProm(t *testing.T, lag time.Duration) *laggingProm {
	p := &laggingProm{gate: make(chan struct{}), lag: lag}
	close(p.gate)
	p.FakeProm = newFakeProm(t, func(q string) (int, string) {
		p.mu.Lock()
		ch, lag := p.gate, p.lag
		p.mu.Unlock()
		<-ch
		code, body := healthy("orders")(q)
		at := p.clk.Now().Add(-lag)
		unix := fmt.Sprintf("%q", fmt.Sprint(at.Unix()))
		body = strings.ReplaceAll(body, fmt.Sprintf("%q", fmt.Sprint(t0.Unix()-5)), unix)
		body = strings.ReplaceAll(body, fmt.Sprintf("%q", fmt.Sprint(t0.Unix())), unix)
		return code, strings.ReplaceAll(body, fmt.Sprintf("[%d,", t0.Unix()), fmt.Sprintf("[%d,", at.Unix()))
	})
	return p
}

func (p *laggingProm) hold()                  { p.mu.Lock(); p.gate = make(chan struct{}); p.mu.Unlock() }
func (p *laggingProm) open()                  { p.mu.Lock(); close(p.gate); p.mu.Unlock() }
func (p *laggingProm) setLag(d time.Duration) { p.mu.Lock(); p.lag = d; p.mu.Unlock() }

// laggingBatcher is a batcher at the lab's 1 s scrape interval and a 30 s
// period (a value may be 32 s old at a batch's evaluation, 62 s when a
// batch serves it at the end of its own period) over prom, and an
// Observe of the orders profile that answers on a channel.
func laggingBatcher(t *testing.T, prom *laggingProm) (*Batcher, *testingclock.FakeClock, func() chan signals.Observation) {
	// A query times out after an hour of the fake clock, not within a step.
	o, clk, _ := testReader(t, Options{Timeout: time.Hour, Freshness: signals.Freshness{ScrapeInterval: time.Second, ObservePeriod: 30 * time.Second}})
	prom.clk = clk
	b := NewBatcher(o, BatcherOptions{Period: 30 * time.Second, ServePrevious: true})
	ep, known := Endpoint{URL: prom.URL()}, orders("shop/orders", "orders")
	return b, clk, func() chan signals.Observation {
		done := make(chan signals.Observation, 1)
		go func() { done <- b.Observe(context.Background(), ep, known) }()
		return done
	}
}

// idle says whether no refresh of b runs.
func idle(b *Batcher) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, st := range b.endpoints {
		if st.inflight != nil {
			return false
		}
	}
	return true
}

// TestBatcherWaitsRatherThanServeAValueTooOld: the previous batch is served
// while the next is read as long as its values are no older than a batch
// serves at the end of its own period; one holding an older value is not
// (served, the value would be missing for a period, the profile's SLOs
// unknown, while Prometheus holds a newer sample): the caller waits for the
// refresh and gets the newer sample.
func TestBatcherWaitsRatherThanServeAValueTooOld(t *testing.T) {
	g := NewWithT(t)
	prom := newLaggingProm(t, time.Second)
	b, clk, observe := laggingBatcher(t, prom)
	var obs signals.Observation
	g.Eventually(observe(), 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue())

	// 45 s on: the p99 is 46 s old, within 62 s: served at once.
	prom.hold()
	clk.Step(45 * time.Second)
	g.Eventually(observe(), 5*time.Second).Should(Receive(&obs), "served without waiting for Prometheus")
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), "46 s old when served: within 62 s")
	g.Expect(obs.Time).To(Equal(t0))
	// The refresh it started finds Prometheus 10 s behind: 10 s old at
	// the evaluation, within 32 s.
	prom.setLag(10 * time.Second)
	prom.open()
	g.Eventually(func() bool { return idle(b) }, 5*time.Second).Should(BeTrue())

	// 55 s after that batch, its p99 is 65 s old: it is not served; the
	// caller waits for the refresh, which reads a newer sample.
	prom.hold()
	clk.Step(55 * time.Second)
	aged := observe()
	g.Consistently(aged, 300*time.Millisecond).ShouldNot(Receive(), "a batch holding a value older than 62 s is not served")
	prom.open()
	g.Eventually(aged, 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Time).To(Equal(t0.Add(100*time.Second)), "the refresh's observation")
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), "Prometheus' newest sample, 10 s old")
}

// TestBatcherServesTheRefreshItWaitedFor: a refresh that takes longer than
// the period (Prometheus answering in 45 s) reads a batch older than the
// period by the time it ends. The reconcile that waited for it is served
// it, each value judged by the served bound, rather than start another
// refresh and wait as long again (up to four times).
func TestBatcherServesTheRefreshItWaitedFor(t *testing.T) {
	g := NewWithT(t)
	prom := newLaggingProm(t, time.Second)
	b, clk, observe := laggingBatcher(t, prom)
	var obs signals.Observation
	g.Eventually(observe(), 5*time.Second).Should(Receive(&obs))
	queries := prom.Count()

	// Two periods and more on, nothing is served before the refresh.
	prom.hold()
	clk.Step(70 * time.Second)
	slow := observe()
	g.Eventually(prom.Count).Should(BeNumerically(">", queries), "the refresh started")
	clk.Step(45 * time.Second) // Prometheus answers 45 s later
	prom.open()
	g.Eventually(slow, 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Time).To(Equal(t0.Add(70*time.Second)), "the batch of the refresh it waited for")
	g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), "sampled 1 s before the answer")
	g.Eventually(func() bool { return idle(b) }, 5*time.Second).Should(BeTrue())
	g.Expect(prom.Count()).To(Equal(2*queries), "one refresh, not another")
}
