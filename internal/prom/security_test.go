package prom

import (
	"compress/gzip"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/sigv4"

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

// bearer is a client configuration with a bearer token.
func bearer(token string) config.HTTPClientConfig {
	return config.HTTPClientConfig{Authorization: &config.Authorization{Type: "Bearer", Credentials: config.Secret(token)}}
}

func TestAuth(t *testing.T) {
	g := NewWithT(t)
	prom := newFakeProm(t, healthy("orders"))
	o, _, _ := testReader(t, Options{})
	o.Observe(context.Background(), Endpoint{URL: prom.URL(), HTTP: bearer("s3cret")}, []Target{orders("k", "orders")})
	g.Expect(prom.Queries()[0].Header.Get("Authorization")).To(Equal("Bearer s3cret"))
	o.Observe(context.Background(), Endpoint{URL: prom.URL(), HTTP: config.HTTPClientConfig{BasicAuth: &config.BasicAuth{Username: "u", Password: "p"}}},
		[]Target{orders("k", "orders")})
	g.Expect(prom.Queries()[len(prom.Queries())-1].Header.Get("Authorization")).To(Equal("Basic dTpw"))
	g.Expect(Endpoint{URL: "x", HTTP: bearer("s3cret")}.key()).NotTo(ContainSubstring("s3cret"))
}

// Every secret of the client configuration is part of an endpoint's key, so
// that a rotated credential gets a fresh client.
func TestEndpointKeyFollowsEverySecret(t *testing.T) {
	g := NewWithT(t)
	base := func() Endpoint {
		return Endpoint{URL: "https://p", HTTP: config.HTTPClientConfig{
			OAuth2:      &config.OAuth2{ClientID: "id", ClientSecret: "s", TokenURL: "https://t"},
			TLSConfig:   config.TLSConfig{CA: "ca", Cert: "cert", Key: "key"},
			HTTPHeaders: &config.Headers{Headers: map[string]config.Header{"X-Scope-OrgID": {Values: []string{"a"}}}},
		}, SigV4: &sigv4.SigV4Config{Region: "us-east-1", AccessKey: "AK", SecretKey: "SK"}}
	}
	changes := map[string]func(*Endpoint){
		"oauth2 client secret": func(e *Endpoint) { e.HTTP.OAuth2.ClientSecret = "s2" },
		"client key":           func(e *Endpoint) { e.HTTP.TLSConfig.Key = "key2" },
		"client certificate":   func(e *Endpoint) { e.HTTP.TLSConfig.Cert = "cert2" },
		"CA":                   func(e *Endpoint) { e.HTTP.TLSConfig.CA = "ca2" },
		"tenant header":        func(e *Endpoint) { e.HTTP.HTTPHeaders.Headers["X-Scope-OrgID"] = config.Header{Values: []string{"b"}} },
		"sigv4 secret key":     func(e *Endpoint) { e.SigV4.SecretKey = "SK2" },
		"timeout":              func(e *Endpoint) { e.Timeout = time.Second },
	}
	g.Expect(base().key()).To(Equal(base().key()), "the key is stable")
	for name, change := range changes {
		e := base()
		change(&e)
		g.Expect(e.key()).NotTo(Equal(base().key()), name)
	}
}

// An endpoint comes from a profile, whose author chooses the URL: no field
// may make the manager read a file of its own (its service-account token),
// a secret manager's reference or its own AWS identity and send it there.
func TestFileFieldsAreRefused(t *testing.T) {
	prom := newFakeProm(t, healthy("orders"))
	token := "/var/run/secrets/kubernetes.io/serviceaccount/token"
	cases := map[string]struct {
		ep   Endpoint
		want string
	}{
		"bearer_token_file":              {Endpoint{HTTP: config.HTTPClientConfig{BearerTokenFile: token}}, "bearer_token_file"},
		"authorization.credentials_file": {Endpoint{HTTP: config.HTTPClientConfig{Authorization: &config.Authorization{CredentialsFile: token}}}, "authorization.credentials_file"},
		"basic_auth.password_file":       {Endpoint{HTTP: config.HTTPClientConfig{BasicAuth: &config.BasicAuth{Username: "u", PasswordFile: token}}}, "basic_auth.password_file"},
		"oauth2.client_secret_file": {Endpoint{HTTP: config.HTTPClientConfig{OAuth2: &config.OAuth2{ClientID: "id", TokenURL: "http://t",
			ClientSecretFile: token}}}, "oauth2.client_secret_file"},
		"oauth2.tls_config.key_file": {Endpoint{HTTP: config.HTTPClientConfig{OAuth2: &config.OAuth2{ClientID: "id", TokenURL: "http://t",
			ClientSecret: "s", TLSConfig: config.TLSConfig{CertFile: "/c", KeyFile: "/k"}}}}, "oauth2.tls_config.cert_file, oauth2.tls_config.key_file"},
		"tls_config.ca_file": {Endpoint{HTTP: config.HTTPClientConfig{TLSConfig: config.TLSConfig{CAFile: "/etc/ssl/private/ca.pem"}}}, "tls_config.ca_file"},
		"tls_config.key_ref": {Endpoint{HTTP: config.HTTPClientConfig{TLSConfig: config.TLSConfig{Cert: "c", KeyRef: "k"}}}, "tls_config.key_ref"},
		"http_headers files": {Endpoint{HTTP: config.HTTPClientConfig{HTTPHeaders: &config.Headers{Headers: map[string]config.Header{
			"X-Token": {Files: []string{token}}}}}}, "http_headers.X-Token.files"},
		"sigv4 profile":             {Endpoint{SigV4: &sigv4.SigV4Config{Region: "us-east-1", AccessKey: "a", SecretKey: "s", Profile: "default"}}, "sigv4.profile"},
		"sigv4 default credentials": {Endpoint{SigV4: &sigv4.SigV4Config{Region: "us-east-1"}}, "sigv4 without an access key, which would sign with the manager's own AWS identity"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o, _, _ := testReader(t, Options{MaxAttempts: 1})
			ep := tc.ep
			ep.URL = prom.URL()
			before := len(prom.Queries())
			obs := o.Observe(context.Background(), ep, []Target{orders("k", "orders")})["k"]
			m := obs.Missing[signals.LatencyP99]
			g.Expect(m.Reason).To(Equal(signals.ReasonEndpointDown))
			g.Expect(m.Message).To(ContainSubstring("reads from the manager (" + tc.want))
			g.Expect(m.Message).To(ContainSubstring("a profile's credentials come only from Secrets in its namespace"))
			g.Expect(prom.Queries()).To(HaveLen(before), "nothing was sent")
		})
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(newFakeProm(t, healthy("orders")))
	t.Cleanup(srv.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	cases := []struct {
		name string
		tls  config.TLSConfig
		want bool
	}{
		{"CA bundle", config.TLSConfig{CA: caPEM}, true},
		{"CA bundle and server name", config.TLSConfig{CA: caPEM, ServerName: "example.com"}, true},
		{"wrong server name", config.TLSConfig{CA: caPEM, ServerName: "other.org"}, false},
		{"unknown CA", config.TLSConfig{}, false},
		{"insecure", config.TLSConfig{InsecureSkipVerify: true}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			o, _, _ := testReader(t, Options{MaxAttempts: 1})
			obs := o.Observe(context.Background(), Endpoint{URL: srv.URL, HTTP: config.HTTPClientConfig{TLSConfig: tc.tls}}, []Target{orders("k", "orders")})["k"]
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
		obs := o.Observe(context.Background(), Endpoint{URL: srv.URL, HTTP: config.HTTPClientConfig{TLSConfig: config.TLSConfig{CA: "nope"}}}, []Target{orders("k", "orders")})["k"]
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

// The answer is asked for compressed (prometheus/common's transport does not
// ask) and decompressed as it is decoded; the body limit bounds the
// decompressed answer, so a small compressed body cannot expand without end.
func TestGzipAnswersAreDecodedWithinTheLimit(t *testing.T) {
	var askedGzip atomic.Bool
	gzipped := func(pad int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			askedGzip.Store(strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"))
			_ = r.ParseForm()
			code, body := healthy("orders")(r.Form.Get("query"))
			// Blanks before the result: 1 MiB of them compresses to about 1 KiB.
			body = strings.Replace(body, `"result":[`, `"result":[`+strings.Repeat(" ", pad), 1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(code)
			zw := gzip.NewWriter(w)
			_, _ = zw.Write([]byte(body))
			_ = zw.Close()
		}
	}
	t.Run("decoded", func(t *testing.T) {
		g := NewWithT(t)
		srv := httptest.NewServer(gzipped(0))
		t.Cleanup(srv.Close)
		o, _, _ := testReader(t, Options{MaxAttempts: 1})
		obs := o.Observe(context.Background(), Endpoint{URL: srv.URL}, []Target{orders("k", "orders")})["k"]
		g.Expect(askedGzip.Load()).To(BeTrue(), "Accept-Encoding: gzip")
		g.Expect(obs.Has(signals.LatencyP99)).To(BeTrue(), strings.Join(obs.MissingSignals(), "; "))
	})
	t.Run("beyond the limit once decompressed", func(t *testing.T) {
		g := NewWithT(t)
		srv := httptest.NewServer(gzipped(1 << 20))
		t.Cleanup(srv.Close)
		o, _, _ := testReader(t, Options{MaxAttempts: 1, MaxResponseBytes: 64 << 10})
		obs := o.Observe(context.Background(), Endpoint{URL: srv.URL}, []Target{orders("k", "orders")})["k"]
		g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonMalformed))
		g.Expect(obs.Missing[signals.LatencyP99].Message).To(ContainSubstring("larger than the limit"))
	})
}
