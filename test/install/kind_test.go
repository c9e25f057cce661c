package install_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// The kind path cannot run here (no container engine); these tests check
// what can be checked without one.

// TestScriptsPassShellcheck lints the shell scripts: the kind path, the
// installer, the tool builder, the release and CI's. shellcheck is a Debian
// package (.ci/run installs it); a missing shellcheck fails the test rather
// than skipping it.
func TestScriptsPassShellcheck(t *testing.T) {
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed: `apt-get install shellcheck` (the Debian package; .ci/run installs it)")
	}
	r := command(t, nil, nil, bin, "hack/kind-e2e.sh", "hack/build-installer.sh", "hack/build-tools.sh", "hack/release.sh", ".ci/run")
	if r.err != nil {
		t.Fatalf("shellcheck:\n%s", r)
	}
}

// TestKindManifestsDryRun: every manifest hack/kind-e2e.sh applies is
// accepted by the API server (a server-side dry run: schema, CRD validation
// rules, RBAC references), and the example image it builds is the one the
// example runs.
func TestKindManifestsDryRun(t *testing.T) {
	g := NewWithT(t)
	// A dry run creates no Namespace, so the namespaces the manifests use must exist.
	for _, ns := range []string{"monitoring", "shop"} {
		if err := env.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	r := kubectl(t, nil, "apply", "--server-side", "--dry-run=server", "-f", "hack/kind/")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	for _, want := range []string{
		"deployment.apps/prometheus serverside-applied (server dry run)",
		"deployment.apps/metrics-server serverside-applied (server dry run)",
		"apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io serverside-applied (server dry run)",
		"performanceprofile.tuning.navius.io/orders-api serverside-applied (server dry run)",
	} {
		g.Expect(r.stdout).To(ContainSubstring(want))
	}

	// The Prometheus configuration the kind Prometheus loads is valid.
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	for _, doc := range strings.Split(string(readFile(t, "hack/kind/prometheus.yaml")), "\n---\n") {
		g.Expect(yaml.Unmarshal([]byte(doc), &cm)).To(Succeed())
		if cm.Kind == "ConfigMap" {
			break
		}
	}
	g.Expect(cm.Data).To(HaveKey("prometheus.yml"))
	config := filepath.Join(t.TempDir(), "prometheus.yml")
	g.Expect(os.WriteFile(config, []byte(cm.Data["prometheus.yml"]), 0o600)).To(Succeed())
	check := promtool(t, "check", "config", config)
	g.Expect(check.err).NotTo(HaveOccurred(), check.String())

	script := string(readFile(t, "hack/kind-e2e.sh"))
	img := regexp.MustCompile(`(?m)^EXAMPLE_IMG="([^"]+)"`).FindStringSubmatch(script)
	g.Expect(img).NotTo(BeNil(), "hack/kind-e2e.sh sets EXAMPLE_IMG")
	g.Expect(string(readFile(t, "hack/kind/example.yaml"))).To(ContainSubstring("image: "+img[1]), "the example runs the image the script builds")
	g.Expect(string(readFile(t, "hack/kind/example-service.Dockerfile"))).To(And(
		ContainSubstring("./cmd/example-service"), MatchRegexp(`(?m)^FROM scratch$`)))
}

// TestKindScriptKeepsTheUserKubeconfig runs `hack/kind-e2e.sh e2e` with a
// stand-in for kind (it hands out the local API server's kubeconfig) and a
// kubectl on PATH that records its arguments before running the real one. The
// run ends when the manager's rollout does not complete (nothing runs pods
// here); by then the script must have used the kubectl on PATH, passed every
// call a kubeconfig of its own, left the user's kubeconfig as it was and
// removed its own.
func TestKindScriptKeepsTheUserKubeconfig(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	userKubeconfig := filepath.Join(dir, "user-kubeconfig")
	user := []byte("apiVersion: v1\nkind: Config\ncurrent-context: production\nclusters: []\ncontexts: []\nusers: []\n")
	g.Expect(os.WriteFile(userKubeconfig, user, 0o600)).To(Succeed())
	calls := filepath.Join(dir, "kubectl-calls")
	bin := filepath.Join(dir, "bin")
	g.Expect(os.Mkdir(bin, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(bin, "kind"), []byte(`#!/usr/bin/env bash
case "$1 $2" in
"get clusters") echo navius-tuner ;;
"get kubeconfig") cat "$ENVTEST_KUBECONFIG" ;;
*) echo "kind stand-in: unexpected $*" >&2; exit 1 ;;
esac
`), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(bin, "kubectl"), []byte(`#!/usr/bin/env bash
printf '%s\n' "$*" >>"$KUBECTL_CALLS"
exec "$REAL_KUBECTL" "$@"
`), 0o755)).To(Succeed())

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "kind-e2e.sh"), "e2e")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+userKubeconfig, "ENVTEST_KUBECONFIG="+kubeconfig,
		"KUBECTL_CALLS="+calls, "REAL_KUBECTL="+filepath.Join(assets, "kubectl"),
		"TMPDIR="+dir, "TIMEOUT=2s")
	out, err := cmd.CombinedOutput()
	g.Expect(err).To(HaveOccurred(), "no manager runs here, so its rollout cannot complete:\n%s", out)

	logged, err := os.ReadFile(calls)
	g.Expect(err).NotTo(HaveOccurred(), "the script did not use the kubectl on PATH:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(logged)), "\n")
	g.Expect(lines[len(lines)-1]).To(HaveSuffix("rollout status deployment/navius-tuner-controller-manager --timeout 2s"),
		"the run got as far as the manager's rollout:\n%s", out)
	for _, l := range lines {
		g.Expect(l).To(MatchRegexp(`^--kubeconfig \S+/navius-kind-kubeconfig\.\S+ `), "every kubectl call uses the script's own kubeconfig")
	}
	g.Expect(string(logged)).NotTo(ContainSubstring("use-context"))
	g.Expect(os.ReadFile(userKubeconfig)).To(Equal(user), "the user's kubeconfig is unchanged")
	left, err := filepath.Glob(filepath.Join(dir, "navius-kind-kubeconfig.*"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(left).To(BeEmpty(), "the script's kubeconfig is removed on exit")
}

// TestKindExampleProfileBecomesReady runs what hack/kind-e2e.sh e2e waits
// for, without kind: the example service (cmd/example-service, with the env
// of hack/kind/example.yaml), a real Prometheus that scrapes it with the
// labels hack/kind/prometheus.yaml's relabelling gives it (namespace, service
// from the app label, pod, container), the manager, and the example's
// Deployment, HPA and profile on the API server, with the profile's Prometheus
// URL pointed at that Prometheus. The profile must become Ready.
func TestKindExampleProfileBecomesReady(t *testing.T) {
	g := NewWithT(t)
	const ns = "shop-kind"
	example := string(readFile(t, "hack/kind/example.yaml"))
	g.Expect(example).To(ContainSubstring(`{name: DB_POOL_MAX_CONNECTIONS, value: "4"}`))
	g.Expect(string(readFile(t, "hack/kind/prometheus.yaml"))).To(And(
		ContainSubstring("source_labels: [__meta_kubernetes_namespace]\n            target_label: namespace"),
		ContainSubstring("source_labels: [__meta_kubernetes_pod_label_app]\n            target_label: service"),
		ContainSubstring("source_labels: [__meta_kubernetes_pod_name]\n            target_label: pod")))

	bin := filepath.Join(t.TempDir(), "example-service")
	build := command(t, nil, []string{"CGO_ENABLED=0"}, "go", "build", "-o", bin, "./cmd/example-service")
	g.Expect(build.err).NotTo(HaveOccurred(), build.String())
	addr := freeAddr(t)
	svcCtx, stopSvc := context.WithCancel(context.Background())
	svc := exec.CommandContext(svcCtx, bin, "--listen="+addr)
	svc.Env = append(os.Environ(), "DB_POOL_MAX_CONNECTIONS=4")
	g.Expect(svc.Start()).To(Succeed())
	t.Cleanup(func() { stopSvc(); _ = svc.Wait() })

	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Targets: []string{addr},
		Labels:  map[string]string{"namespace": ns, "service": "orders-api", "pod": "orders-api-7d9c5b6f4-x2x8k", "container": "app"},
	})
	startLocalManager(t, g)

	manifest := strings.NewReplacer(
		"name: shop\n", "name: "+ns+"\n",
		"namespace: shop", "namespace: "+ns,
		"http://prometheus.monitoring:9090", prom.URL,
	).Replace(example)
	r := kubectl(t, []byte(manifest), "apply", "--server-side", "-f", "-")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())

	g.Eventually(func(g Gomega) {
		p := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "orders-api"}, p)).To(Succeed())
		ready := meta.FindStatusCondition(p.Status.Conditions, tuningv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready: %s: %s", ready.Reason, ready.Message)
		g.Expect(p.Status.SLIs).NotTo(BeNil())
	}, 3*time.Minute, time.Second).Should(Succeed())
}
