package install_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// TestChartWatchNamespacesGrantsExactlyThose installs the chart for real with
// watchNamespaces set. As its ServiceAccount, the manager may do what its
// role allows in each watched namespace (Secrets included) and nothing in any
// other namespace or cluster-wide; and the manager binary, run with that
// ServiceAccount's token and the chart's flags, reconciles a profile in a
// watched namespace without a single forbidden request.
func TestChartWatchNamespacesGrantsExactlyThose(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	const (
		release   = "scoped"
		namespace = "navius-scoped"
		sa        = "scoped-navius-tuner-controller-manager"
	)
	watched := []string{"team-a", "team-b"}
	for _, ns := range append([]string{namespace, "team-c"}, watched...) {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	r := helm(t, "template", release, "dist/chart", "--namespace", namespace, "--kube-version", testenv.KubernetesVersion,
		"--set", "watchNamespaces={"+strings.Join(watched, ",")+"}")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	rendered := []byte(r.stdout)
	applied := kubectl(t, rendered, "apply", "--server-side", "--force-conflicts", "-f", "-")
	g.Expect(applied.err).NotTo(HaveOccurred(), applied.String())

	objs := decodeAll(t, rendered)
	c := saClientIn(t, namespace, sa)
	var role *unstructured.Unstructured
	for _, o := range objs {
		g.Expect(o.GetKind()+"/"+o.GetName()).NotTo(Equal("ClusterRole/scoped-navius-tuner-manager-role"), "a cluster-wide manager role with watchNamespaces")
		if o.GetKind() == "Role" && o.GetName() == "scoped-navius-tuner-manager-role" {
			role = o
		}
	}
	g.Expect(role).NotTo(BeNil())
	granted := grants(role)
	g.Expect(granted).To(ContainElement(access{resource: "secrets", verb: "get"}), "Secrets are part of the manager's role")
	for _, a := range granted {
		for _, ns := range watched {
			in := a
			in.namespace = ns
			g.Expect(allowed(t, c, in)).To(BeTrue(), "the manager may not %s", in)
		}
		for _, ns := range []string{"team-c", "default", ""} {
			out := a
			out.namespace = ns
			g.Expect(allowed(t, c, out)).To(BeFalse(), "the manager may %s", out)
		}
	}
	g.Expect(allowed(t, c, access{namespace: namespace, group: "coordination.k8s.io", resource: "leases", verb: "update"})).To(BeTrue())

	// The manager with exactly these rights, as the chart runs it.
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	logPath, stopManager := runManager(t, buildManager(t), serviceAccountToken(t, namespace, sa),
		"--leader-elect", "--leader-election-namespace="+namespace, "--watch-namespaces="+strings.Join(watched, ","),
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)
	g.Eventually(func() (int, error) { return status(ctx, "http://"+probeAddr+"/readyz", "") }, 30*time.Second, 200*time.Millisecond).To(Equal(http.StatusOK))
	reconcilesAProfile(t, g, watched[0])
	stopManager()
	out, err := os.ReadFile(logPath)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(out)).NotTo(ContainSubstring("forbidden"))
}

// saClientIn is a client authenticated as the ServiceAccount namespace/name.
func saClientIn(t *testing.T, namespace, name string) client.Client {
	t.Helper()
	c, err := client.New(tokenConfig(serviceAccountToken(t, namespace, name)), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
