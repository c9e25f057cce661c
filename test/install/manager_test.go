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
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestManagerRunsWithItsServiceAccount runs the manager binary with a token of
// the ServiceAccount the manifests create: it must win leader election in its
// namespace and serve /metrics to a scraper bound to the metrics-reader role
// only (the metrics-auth role lets it check callers with the API server); and
// it reconciles a profile with no more rights than its role grants.
func TestManagerRunsWithItsServiceAccount(t *testing.T) {
	g := NewWithT(t)
	installForReal(t)
	ctx := t.Context()

	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	runManager(t, buildManager(t), serviceAccountToken(t, systemNamespace, managerSA),
		"--leader-elect", "--leader-election-namespace="+systemNamespace,
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)

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

	reconcilesAProfile(t, g, "shop-rbac")
}

// TestManagerRunsLocallyWithOnlyAKubeconfig runs the manager binary as
// `make run` does outside a cluster: a kubeconfig and nothing else about
// leader election (there is no in-cluster namespace to find). It must start
// and reconcile; before leader election became opt-in it exited with
// "unable to find leader election namespace: not running in-cluster".
func TestManagerRunsLocallyWithOnlyAKubeconfig(t *testing.T) {
	g := NewWithT(t)
	startLocalManager(t, g)
	reconcilesAProfile(t, g, "shop-local")
}

// startLocalManager builds the manager and runs it as `make run` does on a
// laptop, with the admin kubeconfig and no other setting than its ports (the
// defaults may be taken on a shared machine); it returns once the manager is
// ready and stops it when the test ends.
func startLocalManager(t *testing.T, g Gomega) {
	t.Helper()
	bin := buildManager(t)
	probeAddr := freeAddr(t)
	logs, err := os.Create(filepath.Join(t.TempDir(), "manager.log"))
	g.Expect(err).NotTo(HaveOccurred())
	runCtx, stop := context.WithCancel(context.Background())
	cmd := exec.CommandContext(runCtx, bin, "--metrics-bind-address=0", "--health-probe-bind-address="+probeAddr)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logs, logs
	g.Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stop()
		if err := <-exited; err != nil && t.Failed() {
			t.Logf("manager exit: %v", err)
		}
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("manager log:\n%s", out)
		}
	})
	g.Eventually(func() (int, error) {
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logs.Name())
			return 0, StopTrying(fmt.Sprintf("the manager exited (%v):\n%s", err, out))
		default:
		}
		return status(t.Context(), "http://"+probeAddr+"/readyz", "")
	}, 60*time.Second, 200*time.Millisecond).To(Equal(http.StatusOK))
}

// reconcilesAProfile creates a Deployment, its HPA and a profile whose
// Prometheus is unreachable: the manager, with only its ServiceAccount's
// rights, must read all three, find the target, and patch the profile's status
// with MetricsAvailable=False and an Event, never a permission error.
func reconcilesAProfile(t *testing.T, g Gomega, ns string) {
	ctx := t.Context()
	ensureNamespace(t, ns)
	labels := map[string]string{"app": "orders-api"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-api"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "orders-api:1",
					Env: []corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "10"}},
				}}},
			},
		},
	}
	g.Expect(env.Client.Create(ctx, deploy)).To(Succeed())
	minReplicas := int32(2)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-api"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders-api"},
			MinReplicas:    &minReplicas,
			MaxReplicas:    6,
		},
	}
	g.Expect(env.Client.Create(ctx, hpa)).To(Succeed())
	// Nothing listens at the URL: the reconcile must end in MetricsAvailable=False.
	profile := ordersProfile(ns, "http://"+freeAddr(t))
	profile.Spec.ConnectionPool = &tuningv1alpha1.ConnectionPool{
		MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX_CONNECTIONS", Min: 5, Max: 50},
	}
	profile.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{
		HPARef:      &corev1.LocalObjectReference{Name: "orders-api"},
		MinReplicas: &tuningv1alpha1.Int32Range{Min: 1, Max: 4},
	}
	g.Expect(env.Client.Create(ctx, profile)).To(Succeed())

	g.Eventually(func(g Gomega) {
		got := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(profile), got)).To(Succeed())
		// The HPA and the env knob were read with the manager's rights.
		expectReadWithoutMetrics(g, got)
	}, 60*time.Second, 250*time.Millisecond).Should(Succeed())

	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(env.Client.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		g.Expect(events.Items).NotTo(BeEmpty())
	}, 30*time.Second, 250*time.Millisecond).Should(Succeed())
}

// ordersProfile is a profile of the Deployment orders-api in ns, with a p99
// objective of 100ms read from the Prometheus at url, and no knob.
func ordersProfile(ns, url string) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-api"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: "orders-api", Container: "app"},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
			}},
			Metrics: tuningv1alpha1.MetricsSource{
				Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: url},
				Labels:     map[string]string{"namespace": ns, "service": "orders-api"},
			},
		},
	}
}

// expectReadWithoutMetrics: the manager reconciled the profile's generation,
// found no Prometheus (MetricsAvailable=False), and still read the workload's
// knobs: DB_POOL_MAX_CONNECTIONS=10 and the HPA.
func expectReadWithoutMetrics(g Gomega, got *tuningv1alpha1.PerformanceProfile) {
	g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	available := meta.FindStatusCondition(got.Status.Conditions, tuningv1alpha1.ConditionMetricsAvailable)
	g.Expect(available).NotTo(BeNil())
	g.Expect(available.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(got.Status.Current).NotTo(BeNil())
	g.Expect(got.Status.Current.Env).To(HaveKeyWithValue("DB_POOL_MAX_CONNECTIONS", "10"))
	g.Expect(got.Status.Current.HPA).NotTo(BeNil())
}

// buildManager builds cmd/manager with the go build flags given, such as -ldflags.
func buildManager(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "manager")
	// -trimpath as make release builds: the two share the compiled packages.
	args := append(append([]string{"build", "-trimpath"}, flags...), "-o", bin, "./cmd/manager")
	if r := command(t, nil, []string{"CGO_ENABLED=0"}, "go", args...); r.err != nil {
		t.Fatalf("building the manager: %s", r)
	}
	return bin
}

// runManager starts the manager binary against envtest, as the ServiceAccount
// of token (as envtest's admin when empty), with args. It returns a stop
// function that ends it and waits for it; the test's end calls it too, and
// prints the manager's log when the test failed. Its log is at the path
// returned.
func runManager(t *testing.T, bin, token string, args ...string) (logPath string, stop func()) {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(kc, env.Config, token); err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(t.TempDir(), "manager.log")
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			_ = cmd.Wait()
			_ = logs.Close()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("manager log:\n%s", out)
		}
	})
	return logPath, stop
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
