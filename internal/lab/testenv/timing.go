// This file: time helpers of the tests: a fake clock that steps itself
// while something waits on it, and a function run on a real-time ticker.

package testenv

import (
	"testing"
	"time"
)

// AutoStep advances clk by step every 5 ms of real time while something
// waits on it (a query's timeout, a retry's backoff), until the test ends,
// so that a reader on a fake clock times out and backs off without real
// waits. Keep step small against the query timeout: a query in flight also
// waits on the clock, so its timeout fires after timeout/step ticks.
func AutoStep(t testing.TB, clk interface {
	HasWaiters() bool
	Step(time.Duration)
}, step time.Duration) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				if clk.HasWaiters() {
					clk.Step(step)
				}
			}
		}
	}()
}

// Every calls fn every interval of real time until the test ends: an
// exporter's next batch of samples for a real Prometheus to scrape.
func Every(t testing.TB, interval time.Duration, fn func()) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn()
			}
		}
	}()
}
