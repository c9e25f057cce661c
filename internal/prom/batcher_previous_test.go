package prom

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestBatcherServesThePreviousBatchWhileItRefreshes: with ServePrevious, a
// profile whose batch is a period old gets it at once while the next one is
// read, so reconciles do not wait on Prometheus; but not when a value of it
// is older than the freshness rule allows counted to the time it is served,
// never a batch two periods old, and never to a new profile or one that
// asks for a younger batch: those wait for the refresh.
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
	refreshed := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, st := range b.endpoints {
			if st.inflight != nil {
				return false
			}
		}
		return true
	}
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

	// Served 60 s after they were sampled, the same values would be stale
	// (over 50 s): the caller waits for the refresh rather than get a
	// period's observation with its signals missing while Prometheus may
	// hold newer ones. (This fake's samples stay at t0, so the refresh
	// finds them stale too, as of its own evaluation.)
	hold()
	clk.Step(30 * time.Second)
	aged := observe(known, b.opts.Period)
	g.Consistently(aged, 300*time.Millisecond).ShouldNot(Receive(), "a batch whose values aged past the freshness rule is not served")
	open()
	g.Eventually(aged, 5*time.Second).Should(Receive(&obs))
	g.Expect(obs.Time).To(Equal(t0.Add(60*time.Second)), "the refresh's observation")
	g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonStale), "Prometheus' newest sample is 60 s old")
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
