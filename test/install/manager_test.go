package install_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestManagerRunsWithItsServiceAccount runs the manager binary with a token of
// the ServiceAccount the manifests create: it must win leader election in its
// namespace and serve /metrics to a scraper bound to the metrics-reader role
// only (the metrics-auth role lets it check callers with the API server).
func TestManagerRunsWithItsServiceAccount(t *testing.T) {
	g := NewWithT(t)
	installForReal(t)
	ctx := t.Context()

	bin := filepath.Join(t.TempDir(), "manager")
	build := command(t, nil, []string{"CGO_ENABLED=0"}, "go", "build", "-o", bin, "./cmd/manager")
	g.Expect(build.err).NotTo(HaveOccurred(), build.String())

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(writeKubeconfig(kc, env.Config, serviceAccountToken(t, systemNamespace, managerSA))).To(Succeed())
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	logs, err := os.Create(filepath.Join(t.TempDir(), "manager.log"))
	g.Expect(err).NotTo(HaveOccurred())
	runCtx, stop := context.WithCancel(ctx)
	cmd := exec.CommandContext(runCtx, bin,
		"--leader-elect", "--leader-election-namespace="+systemNamespace,
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	cmd.Stdout, cmd.Stderr = logs, logs
	g.Expect(cmd.Start()).To(Succeed())
	t.Cleanup(func() {
		stop()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("manager log:\n%s", out)
		}
	})

	g.Eventually(func() (int, error) { return status(ctx, "http://"+probeAddr+"/readyz", "") }, 30*time.Second, 200*time.Millisecond).To(Equal(http.StatusOK))

	// Leader election with the leader-election Role.
	g.Eventually(func(g Gomega) {
		lease := &coordinationv1.Lease{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: "navius-tuner.tuning.navius.io"}, lease)).To(Succeed())
		g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed())

	// A scraper bound to the metrics-reader ClusterRole may read /metrics; another may not.
	for _, name := range []string{"scraper", "stranger"} {
		sa := &corev1.ServiceAccount{}
		sa.Namespace, sa.Name = systemNamespace, name
		if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.ClusterRoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "navius-tuner-metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: systemNamespace, Name: "scraper"}},
	}
	binding.Name = "test-navius-tuner-metrics-reader"
	if err := env.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	metricsURL := "https://" + metricsAddr + "/metrics"
	scraper := serviceAccountToken(t, systemNamespace, "scraper")
	g.Eventually(func() (int, error) { return status(ctx, metricsURL, scraper) }, 30*time.Second, 200*time.Millisecond).To(Equal(http.StatusOK))
	g.Expect(status(ctx, metricsURL, serviceAccountToken(t, systemNamespace, "stranger"))).To(Equal(http.StatusForbidden))
	g.Expect(status(ctx, metricsURL, "")).To(Equal(http.StatusUnauthorized))
}

// status GETs url, with a bearer token when given, and returns the status code.
func status(ctx context.Context, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The manager serves a self-signed certificate.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test against a self-signed certificate
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
}
