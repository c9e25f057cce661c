package reliability

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// TestCredentialsNotSentWithoutTheLabel: a profile can name any Secret of
// its namespace in authSecretRef and choose the URL, so a Secret's token
// goes out only when the Secret carries the opt-in label. Without it no
// query is sent with it, every signal is missing with reason
// CredentialsNotAllowed, and MetricsAvailable says which Secret to label and
// how; once labelled, the token is sent.
func TestCredentialsNotSentWithoutTheLabel(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses-token"},
		Data: map[string][]byte{"token": []byte("not-for-you")}}
	g.Expect(env.Client.Create(ctx, secret)).To(Succeed())
	ref := &corev1.LocalObjectReference{Name: secret.Name}

	t.Run("the observer sends nothing", func(t *testing.T) {
		g := NewWithT(t)
		rec := &authRecorder{}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		obs := &controllers.PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(
			prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(), MaxAttempts: 1}), prom.BatcherOptions{Period: time.Minute})}
		p := poolProfile(ns, srv.URL)
		p.Spec.Metrics.Prometheus.AuthSecretRef = ref
		o, err := obs.Observe(ctx, p)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(rec.seen()).To(BeEmpty(), "no query at all, so no token")
		g.Expect(o.Values).To(BeEmpty())
		m := o.Missing[signals.LatencyP99]
		g.Expect(m.Reason).To(Equal(signals.ReasonCredentialsNotAllowed))
		for _, want := range []string{ns + "/someone-elses-token", tuningv1alpha1.PrometheusCredentialsLabel + `="true"`, "kubectl label secret"} {
			g.Expect(m.Message).To(ContainSubstring(want))
		}
	})

	t.Run("the profile's condition names the Secret and the label", func(t *testing.T) {
		g := NewWithT(t)
		clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
		testenv.AutoStep(t, clk, 20*time.Millisecond) // a query that never answers times out after 2 s of fake time
		h := newBlindHarnessOn(t, ns, clk, newFakeProm(t, clk, ns))
		deployment(t, ns, "10")
		p := poolProfile(ns, h.prom.URL())
		p.Spec.Metrics.Prometheus.AuthSecretRef = ref
		g.Expect(env.Client.Create(ctx, p)).To(Succeed())
		h.prom.set(healthy, steady)

		c := condition(h.period(), tuningv1alpha1.ConditionMetricsAvailable)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(tuningv1alpha1.ReasonCredentialsNotAllowed))
		g.Expect(c.Message).To(ContainSubstring("someone-elses-token"))
		g.Expect(c.Message).To(ContainSubstring(tuningv1alpha1.PrometheusCredentialsLabel))
		g.Expect(h.writes.workload.Load()).To(BeZero())

		// The owner of the Secret allows it: the next period reads the metrics.
		patch := client.MergeFrom(secret.DeepCopy())
		secret.Labels = map[string]string{tuningv1alpha1.PrometheusCredentialsLabel: "true"}
		g.Expect(env.Client.Patch(ctx, secret, patch)).To(Succeed())
		c = condition(h.period(), tuningv1alpha1.ConditionMetricsAvailable)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(strings.Contains(c.Message, "someone-elses-token")).To(BeFalse())
	})
}

// TestEveryCredentialSecretNeedsTheLabel: the OAuth2 client secret, the AWS
// access key and the client certificate's key are credentials too: from a
// Secret without the opt-in label nothing is sent (no query, no token
// request), and every signal is missing with reason CredentialsNotAllowed.
// A labelled Secret without the keys a mode needs is an error that names
// the Secret, the field and the keys.
func TestEveryCredentialSecretNeedsTheLabel(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	data := map[string][]byte{"client-secret": []byte("s"), "accessKeyID": []byte("AKID"), "secretAccessKey": []byte("k"),
		"tls.crt": []byte("cert"), "tls.key": []byte("key")}
	NewWithT(t).Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unlabelled"},
		Data: data})).To(Succeed())
	NewWithT(t).Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-keys",
		Labels: map[string]string{tuningv1alpha1.PrometheusCredentialsLabel: "true"}}, Data: map[string][]byte{"other": []byte("x")}})).To(Succeed())
	rec := &authRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	obs := &controllers.PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(
		prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(), MaxAttempts: 1}), prom.BatcherOptions{Period: time.Minute})}
	modes := map[string]struct {
		set  func(ep *tuningv1alpha1.PrometheusEndpoint, secret string)
		want []string // with the Secret without keys
	}{
		"oauth2.clientSecretRef": {func(ep *tuningv1alpha1.PrometheusEndpoint, secret string) {
			ep.OAuth2 = &tuningv1alpha1.OAuth2Config{TokenURL: srv.URL + "/token", ClientID: "id",
				ClientSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "client-secret"}}
		}, []string{ns + "/no-keys", `no key "client-secret"`, "spec.metrics.prometheus.oauth2.clientSecretRef"}},
		"sigv4.credentialsSecretRef": {func(ep *tuningv1alpha1.PrometheusEndpoint, secret string) {
			ep.SigV4 = &tuningv1alpha1.SigV4Config{Region: "us-east-1", CredentialsSecretRef: corev1.LocalObjectReference{Name: secret}}
		}, []string{ns + "/no-keys", "spec.metrics.prometheus.sigv4.credentialsSecretRef", "accessKeyID and secretAccessKey"}},
		"tls.clientCertSecretRef": {func(ep *tuningv1alpha1.PrometheusEndpoint, secret string) {
			ep.TLS = &tuningv1alpha1.TLSConfig{ClientCertSecretRef: &corev1.LocalObjectReference{Name: secret}}
		}, []string{ns + "/no-keys", "spec.metrics.prometheus.tls.clientCertSecretRef", "tls.crt and tls.key"}},
	}
	for name, m := range modes {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p := poolProfile(ns, srv.URL)
			m.set(&p.Spec.Metrics.Prometheus, "unlabelled")
			o, err := obs.Observe(ctx, p)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rec.seen()).To(BeEmpty(), "no query and no token request")
			g.Expect(o.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonCredentialsNotAllowed))
			g.Expect(o.Missing[signals.LatencyP99].Message).To(ContainSubstring(ns + "/unlabelled"))

			p = poolProfile(ns, srv.URL)
			m.set(&p.Spec.Metrics.Prometheus, "no-keys")
			_, err = obs.Observe(ctx, p)
			g.Expect(err).To(HaveOccurred())
			for _, w := range m.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}
