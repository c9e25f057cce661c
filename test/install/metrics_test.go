package install_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// TestMetricsAsAServiceMonitorScrapesThem runs the manager binary, built with
// a version set by -ldflags -X as the Makefile and the Dockerfile do, with
// --metrics-cert-path holding a certificate made here. A client that trusts
// only that certificate's CA verifies the endpoint; a real Prometheus scrapes
// it as a Prometheus Operator ServiceMonitor does (HTTPS with that CA, a
// bearer token, honor_labels false, the target labels job, namespace,
// service, pod of the manager), and the per-profile series still say which
// profile they are about.
func TestMetricsAsAServiceMonitorScrapesThem(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	const (
		version   = "v9.9.9-test"
		revision  = "0123abc"
		ns        = "shop-metrics"
		scraperNS = "monitoring"
		job       = "navius-tuner-controller-manager-metrics-service"
	)

	pkg := "github.com/navius-dev/navius-tuner/internal/version"
	bin := buildManager(t, "-ldflags", "-X "+pkg+".Version="+version+" -X "+pkg+".Revision="+revision)
	v := command(t, nil, nil, bin, "--version")
	g.Expect(v.err).NotTo(HaveOccurred(), v.String())
	g.Expect(v.stdout).To(ContainSubstring("navius-tuner " + version + " (revision " + revision))

	// The serving certificate, signed by a CA made for this test, as
	// cert-manager writes it into the Secret mounted at --metrics-cert-path.
	certDir := t.TempDir()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	// The bundle is the serving certificate, then the CA that signed it.
	leaf, caPEM := pem.Decode(certPEM)
	g.Expect(leaf).NotTo(BeNil())
	g.Expect(os.WriteFile(filepath.Join(certDir, "tls.crt"), certPEM, 0o600)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(certDir, "tls.key"), keyPEM, 0o600)).To(Succeed())
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	g.Expect(os.WriteFile(caFile, caPEM, 0o600)).To(Succeed())

	// A profile whose target does not exist: Ready=False, TargetNotFound.
	g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-api"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: "orders-api"},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
			}},
			Metrics: tuningv1alpha1.MetricsSource{
				Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: "http://" + freeAddr(t)},
				Labels:     map[string]string{"namespace": ns, "service": "orders-api"},
			},
		},
	})).To(Succeed())

	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	runManager(t, bin, "", "--leader-elect=false", "--watch-namespaces="+ns,
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr, "--metrics-cert-path="+certDir)

	token := scraperToken(t, scraperNS, "prometheus")
	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(caPEM)).To(BeTrue())
	verifying := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	var body string
	g.Eventually(func(g Gomega) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := verifying.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		// The certificate served is the one given, not a self-signed fallback.
		g.Expect(resp.TLS.PeerCertificates[0].Raw).To(Equal(leaf.Bytes))
		b, err := io.ReadAll(resp.Body)
		g.Expect(err).NotTo(HaveOccurred())
		body = string(b)
	}, 60*time.Second, 250*time.Millisecond).Should(Succeed())
	g.Expect(body).To(ContainSubstring(`navius_tuner_build_info{goversion="go`))
	g.Expect(body).To(ContainSubstring(`revision="` + revision + `",version="` + version + `"} 1`))

	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Targets:         []string{metricsAddr},
		JobName:         job,
		TargetLabelsWin: true,
		Labels: map[string]string{
			"namespace": systemNamespace, "service": job, "endpoint": "https",
			"pod": "navius-tuner-controller-manager-6d4cf56db6-x7k2p", "container": "manager",
		},
		Scheme:      "https",
		CAFile:      caFile,
		BearerToken: token,
	})
	wait, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	target := `namespace="` + systemNamespace + `", job="` + job + `"`
	for _, q := range []string{
		`navius_tuner_profile_condition{` + target + `, profile_namespace="` + ns + `", profile="orders-api", type="Ready", status="False"} == 1`,
		`navius_tuner_profile_condition{` + target + `, profile_namespace="` + ns + `", profile="orders-api", type="Reconciling", status="True"} == 1`,
		`navius_tuner_field_conflicts{` + target + `, profile_namespace="` + ns + `", profile="orders-api"}`,
		`navius_tuner_profile_mode{` + target + `, profile_namespace="` + ns + `", mode="Auto"} == 1`,
		`navius_tuner_build_info{` + target + `, version="` + version + `"}`,
	} {
		g.Expect(prom.WaitForSeries(wait, q)).To(Succeed())
	}
	// No label of the operator's was overwritten by a target label.
	n, err := prom.Count(ctx, `{__name__=~"navius_tuner_.+", exported_namespace!=""}`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
}

// scraperToken returns a token of a ServiceAccount allowed to get /metrics
// and nothing else, as Prometheus' is once bound to the metrics-reader role.
func scraperToken(t *testing.T, namespace, name string) string {
	t.Helper()
	ctx := t.Context()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "test-" + name + "-metrics-reader"},
			Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "test-" + name + "-metrics-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "test-" + name + "-metrics-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}},
		},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return serviceAccountToken(t, namespace, name)
}
