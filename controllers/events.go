package controllers

import (
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// Event budget of the manager: Events are news for people, never worth
// delaying the status patches and applies that share the API server's
// attention. Beyond the budget an Event is dropped; the status and the
// metrics still say what it said.
const (
	eventsPerSecond = 5
	eventBurst      = 50
)

// rateLimitedRecorder drops the Normal Events beyond eventsPerSecond (after
// a burst of eventBurst), and the Warnings beyond twice that: a start with
// thousands of profiles, or a fault that touches all of them at once, posts
// at most that many Events a second.
type rateLimitedRecorder struct {
	events.EventRecorder
	normal, warning *rate.Limiter
}

func newRateLimitedRecorder(r events.EventRecorder) *rateLimitedRecorder {
	return &rateLimitedRecorder{EventRecorder: r,
		normal:  rate.NewLimiter(eventsPerSecond, eventBurst),
		warning: rate.NewLimiter(2*eventsPerSecond, 2*eventBurst)}
}

func (r *rateLimitedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	limiter := r.normal
	if eventtype != "Normal" {
		limiter = r.warning
	}
	if limiter.Allow() {
		r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
	}
}
