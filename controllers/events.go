package controllers

import (
	"context"
	"net"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
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

// newEventRecorder is navius-tuner's rate-limited recorder, posting on
// connections of its own: at start-up most of the manager's requests are
// Event POSTs, and on the manager's connection (its HTTP client, which
// client-go shares between every client of one rest.Config) they would
// queue beside the status patches and applies that do the work. The
// runnable posts the Events while the manager runs (on the leader, which
// alone reconciles).
func newEventRecorder(cfg *rest.Config, scheme *runtime.Scheme) (*rateLimitedRecorder, manager.Runnable, error) {
	own := rest.CopyConfig(cfg)
	// client-go reuses one transport, so one pool of connections, for every
	// config with the same TLS settings; a dialer of its own opts out.
	own.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	cs, err := eventsv1client.NewForConfig(own)
	if err != nil {
		return nil, nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs})
	run := manager.RunnableFunc(func(ctx context.Context) error {
		if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		b.Shutdown()
		return nil
	})
	return newRateLimitedRecorder(b.NewRecorder(scheme, tuningv1alpha1.FieldManager)), run, nil
}
