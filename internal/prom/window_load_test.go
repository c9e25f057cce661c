package prom

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// ThroughputWindow is the request rate over the SLO window (the error
// rate's denominator, 100/s in the canned answer), read with the traffic family.
func TestThroughputWindowIsTheSLOWindowsRequestRate(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	o, _, _ := testReader(t, Options{})
	obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{orders("k", "orders")})["k"]
	g.Expect(obs.Has(signals.ThroughputWindow)).To(BeTrue(), strings.Join(obs.MissingSignals(), "; "))
	g.Expect(val(obs, signals.ThroughputWindow)).To(BeNumerically("==", 100))
	g.Expect(val(obs, signals.ErrorRate)).To(BeNumerically("~", 0.01, 1e-9))
}
