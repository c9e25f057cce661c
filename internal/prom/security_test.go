package prom

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// stripStrings removes PromQL double-quoted string literals (with their
// escapes), leaving only the code a label value could have injected into.
func stripStrings(q string) string {
	var b strings.Builder
	in, esc := false, false
	for _, r := range q {
		switch {
		case esc:
			esc = false
		case in && r == '\\':
			esc = true
		case r == '"':
			in = !in
			if !in {
				b.WriteString(`""`)
			}
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestLabelValuesCannotInjectPromQL(t *testing.T) {
	evil := []string{
		`"} or vector(1) or up{x="`,
		`a\"} or vector(1) #`,
		"a\"}\nor vector(1)",
		`.*`,
		`a|b`,
		`\`,
	}
	for _, v := range evil {
		t.Run(strconv.Quote(v), func(t *testing.T) {
			g := NewWithT(t)
			prom := newFakeProm(t, func(string) (int, string) { return ok() })
			o, _, _ := testReader(t, Options{})
			tg := orders("k", v)
			tg.Workload.Namespace = v
			tg.Redis.Namespace = v
			o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{tg, orders("k2", "plain")})
			g.Expect(prom.Count()).To(Equal(5))
			for _, q := range prom.QueryTexts() {
				code := stripStrings(q)
				g.Expect(code).NotTo(ContainSubstring("vector(1)"), q)
				g.Expect(code).NotTo(ContainSubstring("up{"), q)
				// The value is matched literally: a string literal of the
				// query holds its regex-quoted form.
				g.Expect(literals(t, q)).To(ContainElement(ContainSubstring(regexp.QuoteMeta(v))), q)
			}
		})
	}
}

// literals returns the unquoted string literals of a query.
func literals(t testing.TB, q string) []string {
	var out []string
	start, esc := -1, false
	for i, r := range q {
		switch {
		case esc:
			esc = false
		case start >= 0 && r == '\\':
			esc = true
		case r == '"' && start < 0:
			start = i
		case r == '"':
			v, err := strconv.Unquote(q[start : i+1])
			if err != nil {
				t.Fatalf("literal %s: %v", q[start:i+1], err)
			}
			out = append(out, v)
			start = -1
		}
	}
	return out
}

func TestMatcherFallsBackToPresenceBeyondMaxValues(t *testing.T) {
	g := NewWithT(t)
	g.Expect(anyOf("service", []string{"a", "b", "c"}, 2).String()).To(Equal(`service!=""`))
	g.Expect(anyOf("service", []string{"b", "a", "a"}, 2).String()).To(Equal(`service=~"a|b"`))
	g.Expect(anyOf("service", []string{"a.b"}, 2).String()).To(Equal(`service="a.b"`))
	g.Expect(anyOf("service", []string{"a.b", "c"}, 2).String()).To(Equal(`service=~"a\\.b|c"`))
}

func TestAuth(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	o, _, _ := testReader(t, Options{})
	o.Observe(context.Background(), Endpoint{URL: prom.URL(), Auth: Auth{BearerToken: "s3cret\n"}}, []Target{orders("k", "orders")})
	g.Expect(prom.Queries()[0].Header.Get("Authorization")).To(Equal("Bearer s3cret"))
	o.Observe(context.Background(), Endpoint{URL: prom.URL(), Auth: Auth{Username: "u", Password: "p"}}, []Target{orders("k", "orders")})
	g.Expect(prom.Queries()[len(prom.Queries())-1].Header.Get("Authorization")).To(Equal("Basic dTpw"))
	g.Expect(Endpoint{URL: "x", Auth: Auth{BearerToken: "s3cret"}}.key()).NotTo(ContainSubstring("s3cret"))
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(newFakeProm(t, healthy("orders")))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cases := []struct {
		name string
		tls  TLS
		want bool
	}{
		{"CA bundle", TLS{CAPEM: caPEM}, true},
		{"CA bundle and server name", TLS{CAPEM: caPEM, ServerName: "example.com"}, true},
		{"wrong server name", TLS{CAPEM: caPEM, ServerName: "other.org"}, false},
		{"unknown CA", TLS{}, false},
		{"insecure", TLS{InsecureSkipVerify: true}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			o, _, _ := testReader(t, Options{MaxAttempts: 1})
			obs := o.Observe(context.Background(), Endpoint{URL: srv.URL, TLS: tc.tls}, []Target{orders("k", "orders")})["k"]
			if tc.want {
				g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), strings.Join(obs.MissingSignals(), "; "))
				return
			}
			g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonEndpointDown))
			g.Expect(obs.Missing[signals.LatencyP99].Message).To(ContainSubstring("TLS"))
		})
	}
	t.Run("bad CA PEM", func(t *testing.T) {
		g := NewWithT(t)
		o, _, _ := testReader(t, Options{})
		obs := o.Observe(context.Background(), Endpoint{URL: srv.URL, TLS: TLS{CAPEM: []byte("nope")}}, []Target{orders("k", "orders")})["k"]
		g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonEndpointDown))
	})
}

func TestSelfMetrics(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, func(q string) (int, string) {
		if family(q) == famPool {
			return http.StatusBadRequest, badQueryJSON
		}
		return healthy("orders")(q)
	})
	o, _, reg := testReader(t, Options{})
	o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{orders("k", "orders")})
	g.Expect(testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP navius_tuner_metrics_query_errors_total PromQL queries that gave no usable answer after all retries, by query family and reason.
# TYPE navius_tuner_metrics_query_errors_total counter
navius_tuner_metrics_query_errors_total{family="pool",reason="BadQuery"} 1
`), QueryErrorsName)).To(Succeed())
	g.Expect(testutil.CollectAndCount(reg, QueryDurationName)).To(Equal(5), "one series per family and result")
	// A second Reader on the same registry reuses the collectors.
	NewReader(Options{Registerer: reg})
	// controller-runtime's registry is the default.
	NewReader(Options{})
}

func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
