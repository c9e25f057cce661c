package controllers

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// countingProxy forwards TCP connections to addr and counts them.
type countingProxy struct {
	l     net.Listener
	conns atomic.Int64
}

func newCountingProxy(t *testing.T, addr string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{l: l}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			out, err := net.Dial("tcp", addr)
			if err != nil {
				_ = in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return p
}

// Events reach the API server on a connection of their own: the reconciler's
// client keeps its one connection for the status patches, and the Events
// open another.
func TestEventsHaveAConnectionOfTheirOwn(t *testing.T) {
	h := newHarness(t)
	g := h.g
	u, err := url.Parse(env.Config.Host)
	g.Expect(err).NotTo(HaveOccurred())
	proxy := newCountingProxy(t, u.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.l.Addr().String()

	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	g.Expect(c.Create(h.ctx, p)).To(Succeed())
	g.Expect(proxy.conns.Load()).To(Equal(int64(1)))

	rec, run, err := newEventRecorder(cfg, env.Scheme)
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	go func() { _ = run.Start(ctx) }()
	g.Eventually(func(g Gomega) {
		rec.Eventf(p, nil, "Normal", EventAdjusted, "Tune", "%s", "a change")
		list := &eventsv1.EventList{}
		g.Expect(env.Client.List(h.ctx, list, client.InNamespace(h.ns))).To(Succeed())
		g.Expect(list.Items).NotTo(BeEmpty())
	}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	g.Expect(proxy.conns.Load()).To(Equal(int64(2)), "the Events' own connection")

	// The reconciler's client still has its one connection.
	p.Status.Paused = true
	g.Expect(c.Status().Update(h.ctx, p)).To(Succeed())
	g.Expect(proxy.conns.Load()).To(Equal(int64(2)))
}
