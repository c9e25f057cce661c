package reliability

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// authRecorder is a Prometheus that answers nothing but remembers the
// Authorization header of every query.
type authRecorder struct {
	mu      sync.Mutex
	headers []string
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.headers = append(a.headers, r.Header.Get("Authorization"))
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
}

func (a *authRecorder) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string{}, a.headers...)
}

// TestPrometheusObserverResolvesSecrets: the bearer token or the basic-auth
// credentials of authSecretRef reach Prometheus; the CA of caSecretRef is
// trusted; a missing Secret or key is an error that names the Secret and
// the field, and every signal is then missing.
func TestPrometheusObserverResolvesSecrets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	rec := &authRecorder{}
	plain := httptest.NewServer(rec)
	defer plain.Close()
	tlsRec := &authRecorder{}
	secure := httptest.NewTLSServer(tlsRec)
	defer secure.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})

	for name, data := range map[string]map[string][]byte{
		"token": {"token": []byte("s3cr3t\n")},
		"basic": {"username": []byte("tuner"), "password": []byte("pa55")},
		"empty": {"other": []byte("x")},
		"ca":    {"ca.crt": caPEM},
	} {
		// Credentials are sent only from Secrets that allow it; a CA is not a credential.
		labels := map[string]string{tuningv1alpha1.PrometheusCredentialsLabel: "true"}
		if name == "ca" {
			labels = nil
		}
		g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Data: data})).To(Succeed())
	}
	obs := &controllers.PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(
		prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(), MaxAttempts: 1}), prom.BatcherOptions{Period: time.Minute})}
	profileWith := func(name string, ep tuningv1alpha1.PrometheusEndpoint) *tuningv1alpha1.PerformanceProfile {
		p := poolProfile(ns, ep.URL)
		p.Name = name
		p.Spec.Metrics.Prometheus = ep
		return p
	}
	ref := func(n string) *corev1.LocalObjectReference { return &corev1.LocalObjectReference{Name: n} }

	t.Run("bearer token, trimmed", func(t *testing.T) {
		g := NewWithT(t)
		_, err := obs.Observe(ctx, profileWith("a", tuningv1alpha1.PrometheusEndpoint{URL: plain.URL, AuthSecretRef: ref("token")}))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rec.seen()).To(ContainElement("Bearer s3cr3t"))
	})
	t.Run("basic auth", func(t *testing.T) {
		g := NewWithT(t)
		_, err := obs.Observe(ctx, profileWith("b", tuningv1alpha1.PrometheusEndpoint{URL: plain.URL, AuthSecretRef: ref("basic")}))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rec.seen()).To(ContainElement("Basic " + base64.StdEncoding.EncodeToString([]byte("tuner:pa55"))))
	})
	t.Run("CA from a Secret", func(t *testing.T) {
		g := NewWithT(t)
		o, err := obs.Observe(ctx, profileWith("c", tuningv1alpha1.PrometheusEndpoint{URL: secure.URL, AuthSecretRef: ref("token"),
			TLS: &tuningv1alpha1.TLSConfig{CASecretRef: &corev1.SecretKeySelector{LocalObjectReference: *ref("ca"), Key: "ca.crt"}}}))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(tlsRec.seen()).To(ContainElement("Bearer s3cr3t"), "the TLS handshake succeeded with the Secret's CA")
		g.Expect(o.Missing[signals.Throughput].Reason).To(Equal(signals.ReasonEmpty))
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		g := NewWithT(t)
		o, err := obs.Observe(ctx, profileWith("d", tuningv1alpha1.PrometheusEndpoint{URL: secure.URL}))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(o.Missing[signals.Throughput].Reason).To(Equal(signals.ReasonEndpointDown))
		g.Expect(o.Missing[signals.Throughput].Message).To(ContainSubstring("TLS"))
	})
	for _, tc := range []struct {
		name string
		ep   tuningv1alpha1.PrometheusEndpoint
		want []string
	}{
		{"missing Secret", tuningv1alpha1.PrometheusEndpoint{URL: plain.URL, AuthSecretRef: ref("nope")},
			[]string{"reading secret " + ns + "/nope", "not found"}},
		{"Secret without credentials", tuningv1alpha1.PrometheusEndpoint{URL: plain.URL, AuthSecretRef: ref("empty")},
			[]string{ns + "/empty", "spec.metrics.prometheus.authSecretRef", "neither a token nor a username"}},
		{"CA key missing", tuningv1alpha1.PrometheusEndpoint{URL: secure.URL, TLS: &tuningv1alpha1.TLSConfig{
			CASecretRef: &corev1.SecretKeySelector{LocalObjectReference: *ref("ca"), Key: "tls.crt"}}},
			[]string{ns + "/ca", `"tls.crt"`, "spec.metrics.prometheus.tls.caSecretRef"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := obs.Observe(ctx, profileWith("e", tc.ep))
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}
