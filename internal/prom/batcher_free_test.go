package prom

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
)

// batcherState counts what the Batcher and its Reader keep: endpoints,
// observations of the latest batches, and HTTP clients.
func batcherState(b *Batcher) (endpoints, observations, clients int) {
	b.mu.Lock()
	for _, st := range b.endpoints {
		endpoints++
		observations += len(st.result)
	}
	b.mu.Unlock()
	b.obs.mu.Lock()
	defer b.obs.mu.Unlock()
	return endpoints, observations, len(b.obs.clients)
}

// A profile whose endpoint changed (a rotated token, a new URL) leaves no
// state on the old endpoint once no profile uses it: its batch, its
// observations and its HTTP client are freed; a forgotten profile too.
func TestBatcherFreesAnEndpointNoProfileUses(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	o, _, _ := testReader(t, Options{})
	b := NewBatcher(o, BatcherOptions{})
	old, rotated := Endpoint{URL: prom.URL(), HTTP: bearer("old")}, Endpoint{URL: prom.URL(), HTTP: bearer("new")}
	const n = 20
	key := func(i int) string { return fmt.Sprintf("shop/p%d", i) }
	for i := range n {
		b.Observe(context.Background(), old, orders(key(i), "orders"))
	}
	e, obs, c := batcherState(b)
	g.Expect([]int{e, obs, c}).To(Equal([]int{1, n, 1}))

	// The token rotates: every profile moves to the new endpoint, one by one.
	for i := range n {
		b.Observe(context.Background(), rotated, orders(key(i), "orders"))
		if i == 0 {
			_, obs, _ = batcherState(b)
			g.Expect(obs).To(Equal(n), "the moved profile's observation is not kept on the old endpoint")
		}
	}
	e, obs, c = batcherState(b)
	g.Expect([]int{e, obs, c}).To(Equal([]int{1, n, 1}), "endpoints, observations, clients after the rotation")

	for i := range n {
		b.Forget(key(i))
	}
	e, obs, c = batcherState(b)
	g.Expect([]int{e, obs, c}).To(Equal([]int{0, 0, 0}), "endpoints, observations, clients after every profile was forgotten")
}
