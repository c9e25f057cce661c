package controllers

import (
	"testing"

	"k8s.io/client-go/tools/events"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// A burst of Events beyond the budget is dropped, Warnings with a budget
// of their own.
func TestRecorderDropsEventsBeyondItsBudget(t *testing.T) {
	fake := events.NewFakeRecorder(1000)
	r := newRateLimitedRecorder(fake)
	p := &tuningv1alpha1.PerformanceProfile{}
	for range 300 {
		r.Eventf(p, nil, "Normal", "Adjusted", "Tune", "%s", "x")
	}
	for range 300 {
		r.Eventf(p, nil, "Warning", "ApplyFailed", "Apply", "%s", "x")
	}
	normal, warning := 0, 0
	for len(fake.Events) > 0 {
		if e := <-fake.Events; e[:6] == "Normal" {
			normal++
		} else {
			warning++
		}
	}
	// Tokens refill while the loop runs: a few more than the burst pass.
	if normal < eventBurst || normal > eventBurst+5 || warning < 2*eventBurst || warning > 2*eventBurst+10 {
		t.Errorf("%d Normal and %d Warning Events passed of 300 each, want about %d and %d", normal, warning, eventBurst, 2*eventBurst)
	}
}
