package install_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sigs.k8s.io/yaml"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// TestHelmChart lints the chart and applies what it renders, with default and
// with non-default values, with a server-side dry run.
func TestHelmChart(t *testing.T) {
	g := NewWithT(t)
	r := helm(t, "lint", "--strict", "--kube-version", testenv.KubernetesVersion, "dist/chart")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())

	createSystemNamespace(t, readFile(t, "dist/install.yaml"))
	installMonitoringCRDs(t)
	for _, ns := range []string{"shop", "payments"} {
		if r := kubectl(t, nil, "create", "namespace", ns); r.err != nil && !strings.Contains(r.stderr, "AlreadyExists") {
			t.Fatal(r)
		}
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	g.Expect(yaml.Unmarshal(readFile(t, "dist/chart/Chart.yaml"), &chart)).To(Succeed())
	g.Expect(chart.AppVersion).NotTo(BeEmpty())
	generated := decodeAll(t, readFile(t, "config/crd/bases/tuning.navius.io_performanceprofiles.yaml"))
	g.Expect(generated).To(HaveLen(1))
	generatedCRD := generated[0]

	cases := []struct {
		name   string
		values []string
		check  func(g Gomega, objs []*unstructured.Unstructured)
	}{{
		name: "defaults",
		check: func(g Gomega, objs []*unstructured.Unstructured) {
			// The same names as dist/install.yaml for the release "navius-tuner".
			c := managerContainer(g, objs)
			g.Expect(c["image"]).To(Equal("ghcr.io/navius-dev/navius-tuner:" + chart.AppVersion))
			g.Expect(c["args"]).To(ContainElements("--leader-elect=true", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"))
			g.Expect(c["args"]).NotTo(ContainElement(HavePrefix("--watch-namespaces")))
			g.Expect(c["args"]).NotTo(ContainElement(HavePrefix("--metrics-cert-path")))
			g.Expect(kinds(objs)).To(ContainElements(
				"CustomResourceDefinition/performanceprofiles.tuning.navius.io",
				"ServiceAccount/"+managerSA,
				"ClusterRole/navius-tuner-manager-role",
				"ClusterRoleBinding/navius-tuner-manager-rolebinding",
				"Role/navius-tuner-leader-election-role",
				"ClusterRole/navius-tuner-metrics-auth-role",
				"ClusterRole/navius-tuner-metrics-reader",
				"Service/navius-tuner-controller-manager-metrics-service",
			))
			g.Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("ServiceMonitor/")))
			g.Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("PodDisruptionBudget/")))
			g.Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("NetworkPolicy/")))
			g.Expect(kinds(objs)).NotTo(ContainElement("Role/navius-tuner-manager-role"))
			// The CRD is a template (upgraded with the release), the same as
			// config/crd/bases but kept on uninstall.
			crd := findKind(g, objs, "CustomResourceDefinition")
			g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
			g.Expect(crd.Object["spec"]).To(Equal(generatedCRD.Object["spec"]))
			// The restricted Pod Security Standard by default.
			dep := findKind(g, objs, "Deployment")
			nonRoot, _, _ := unstructured.NestedBool(dep.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot")
			g.Expect(nonRoot).To(BeTrue())
			g.Expect(c["securityContext"]).To(HaveKeyWithValue("readOnlyRootFilesystem", true))
		},
	}, {
		name: "everything on",
		values: []string{
			"image.repository=registry.example/navius-tuner", "image.tag=v0.1.0",
			"watchNamespaces={shop,payments}", "replicaCount=2", "resources.limits.memory=1Gi",
			"serviceMonitor.enabled=true", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true",
			"serviceMonitor.labels.release=kube-prometheus-stack",
			"leaderElection.leaseDuration=30s", "logLevel=debug",
			"podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=1",
			"networkPolicy.enabled=true", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
			"securityContext.runAsUser=65532", "metrics.certSecret=navius-tuner-metrics-server-cert",
			"crds.keep=false",
		},
		check: func(g Gomega, objs []*unstructured.Unstructured) {
			c := managerContainer(g, objs)
			g.Expect(c["image"]).To(Equal("registry.example/navius-tuner:v0.1.0"))
			g.Expect(c["args"]).To(ContainElements("--watch-namespaces=shop,payments", "--leader-elect-lease-duration=30s", "--zap-log-level=debug",
				"--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"))
			g.Expect(c["resources"]).To(HaveKeyWithValue("limits", HaveKeyWithValue("memory", "1Gi")))
			g.Expect(c["securityContext"]).To(HaveKeyWithValue("runAsUser", BeNumerically("==", 65532)))
			g.Expect(kinds(objs)).To(ContainElements(
				"ServiceMonitor/navius-tuner-controller-manager-metrics-monitor",
				"PrometheusRule/navius-tuner-alerts",
				"ConfigMap/navius-tuner-grafana-dashboard",
				"PodDisruptionBudget/navius-tuner-controller-manager",
				"NetworkPolicy/navius-tuner-controller-manager",
			))
			// Watched namespaces: a Role in each, no cluster-wide grant.
			var roles []string
			for _, o := range objs {
				if o.GetKind() == "Role" || o.GetKind() == "RoleBinding" {
					roles = append(roles, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
				}
			}
			g.Expect(roles).To(ContainElements(
				"Role/shop/navius-tuner-manager-role", "RoleBinding/shop/navius-tuner-manager-rolebinding",
				"Role/payments/navius-tuner-manager-role", "RoleBinding/payments/navius-tuner-manager-rolebinding"))
			g.Expect(kinds(objs)).NotTo(ContainElements("ClusterRole/navius-tuner-manager-role", "ClusterRoleBinding/navius-tuner-manager-rolebinding"))
			rule := findKind(g, objs, "PrometheusRule")
			g.Expect(rule.GetLabels()).NotTo(HaveKey("release"))
			groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
			g.Expect(groups).NotTo(BeEmpty())
			monitor := findKind(g, objs, "ServiceMonitor")
			g.Expect(monitor.GetLabels()).To(HaveKeyWithValue("release", "kube-prometheus-stack"))
			endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
			g.Expect(endpoints[0]).To(HaveKeyWithValue("tlsConfig", And(
				HaveKeyWithValue("insecureSkipVerify", false),
				HaveKeyWithValue("serverName", "navius-tuner-controller-manager-metrics-service."+systemNamespace+".svc"),
				HaveKeyWithValue("ca", HaveKeyWithValue("secret", HaveKeyWithValue("name", "navius-tuner-metrics-server-cert"))))))
			cm := findKind(g, objs, "ConfigMap")
			dashboard, _, _ := unstructured.NestedString(cm.Object, "data", "navius-tuner.json")
			g.Expect(dashboard).To(Equal(string(readFileG(g, "config/grafana/navius-tuner.json"))))
			g.Expect(findKind(g, objs, "PodDisruptionBudget").Object["spec"]).To(HaveKeyWithValue("minAvailable", BeNumerically("==", 1)))
			g.Expect(findKind(g, objs, "PodDisruptionBudget").Object["spec"]).NotTo(HaveKey("maxUnavailable"))
			g.Expect(findKind(g, objs, "CustomResourceDefinition").GetAnnotations()).NotTo(HaveKey("helm.sh/resource-policy"))
		},
	}, {
		name:   "no leader election, plain-HTTP metrics, digest, no CRD",
		values: []string{"leaderElection.enabled=false", "metrics.secure=false", "metrics.port=8080", "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "serviceMonitor.enabled=true", "crds.install=false"},
		check: func(g Gomega, objs []*unstructured.Unstructured) {
			c := managerContainer(g, objs)
			g.Expect(c["image"]).To(HaveSuffix("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
			g.Expect(c["args"]).To(ContainElements("--leader-elect=false", "--metrics-bind-address=:8080", "--metrics-secure=false"))
			g.Expect(kinds(objs)).NotTo(ContainElements("Role/navius-tuner-leader-election-role", "ClusterRole/navius-tuner-metrics-auth-role"))
			g.Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("CustomResourceDefinition/")))
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			args := []string{"template", "navius-tuner", "dist/chart", "--namespace", systemNamespace, "--kube-version", testenv.KubernetesVersion}
			for _, v := range tc.values {
				args = append(args, "--set", v)
			}
			r := helm(t, args...)
			g.Expect(r.err).NotTo(HaveOccurred(), r.String())
			tc.check(g, decodeAll(t, []byte(r.stdout)))

			applied := kubectl(t, []byte(r.stdout), "apply", "--server-side", "--dry-run=server", "-f", "-")
			g.Expect(applied.err).NotTo(HaveOccurred(), applied.String())
			g.Expect(applied.stderr).NotTo(ContainSubstring("PodSecurity"), applied.String())
		})
	}

	// values.schema.json refuses what the templates would misread.
	for _, bad := range [][]string{
		{"replicaCount=-1"},
		{"metricz.enabled=true"},
		{"watchNamespaces={Shop_1}"},
		{"podDisruptionBudget.maxUnavailable=half"},
		{"image.pullPolicy=Sometimes"},
		{"leaderElection.leaseDuration=15"},
	} {
		r := helm(t, "template", "navius-tuner", "dist/chart", "--kube-version", testenv.KubernetesVersion, "--set", bad[0])
		g.Expect(r.err).To(HaveOccurred(), "--set %s was accepted", bad[0])
		g.Expect(r.stderr).To(ContainSubstring("values don't meet the specifications of the schema"), "--set %s", bad[0])
	}
	r = helm(t, "template", "navius-tuner", "dist/chart", "--kube-version", testenv.KubernetesVersion, "--set", "metrics.secure=false", "--set", "metrics.certSecret=tls")
	g.Expect(r.err).To(HaveOccurred())
	g.Expect(r.stderr).To(ContainSubstring("metrics.certSecret needs metrics.secure"))
}

func managerContainer(g Gomega, objs []*unstructured.Unstructured) map[string]any {
	dep := findKind(g, objs, "Deployment")
	g.Expect(dep.GetName()).To(Equal("navius-tuner-controller-manager"))
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	g.Expect(containers).To(HaveLen(1))
	return containers[0].(map[string]any)
}

func findKind(g Gomega, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	g.Expect(kind).To(BeEmpty(), "no object of this kind rendered")
	return nil
}

func kinds(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

var monitoringCRDs sync.Once

// installMonitoringCRDs installs stand-ins for the Prometheus Operator's
// ServiceMonitor and PrometheusRule CRDs (the rules themselves are checked
// with promtool), so that the API server knows the kinds.
func installMonitoringCRDs(t *testing.T) {
	t.Helper()
	monitoringCRDs.Do(func() {
		installStandInCRDs(t, "monitoring.coreos.com", [][2]string{{"ServiceMonitor", "servicemonitors"}, {"PrometheusRule", "prometheusrules"}})
	})
}

// installStandInCRDs installs CRDs of group with the given kinds and plurals,
// v1, namespaced, any content: enough for the API server to take objects of
// those kinds in a dry run.
func installStandInCRDs(t *testing.T, group string, kinds [][2]string) {
	t.Helper()
	var docs string
	waitFor := []string{"wait", "--for=condition=Established", "--timeout=30s"}
	for _, k := range kinds {
		docs += fmt.Sprintf(`---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[2]s.%[4]s
spec:
  group: %[4]s
  scope: Namespaced
  names: {kind: %[1]s, listKind: %[1]sList, plural: %[2]s, singular: %[3]s}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, k[0], k[1], strings.TrimSuffix(k[1], "s"), group)
		waitFor = append(waitFor, "crd/"+k[1]+"."+group)
	}
	if r := kubectl(t, []byte(docs), "apply", "--server-side", "-f", "-"); r.err != nil {
		t.Fatalf("installing the %s CRDs: %s", group, r)
	}
	if r := kubectl(t, nil, waitFor...); r.err != nil {
		t.Fatalf("waiting for the %s CRDs: %s", group, r)
	}
}

// TestChartReadmeNamesEveryValue: the README that `helm package` ships (and
// Artifact Hub shows) names every top-level value of values.yaml, and no
// value that is not there.
func TestChartReadmeNamesEveryValue(t *testing.T) {
	g := NewWithT(t)
	var values map[string]any
	g.Expect(yaml.Unmarshal(readFile(t, "dist/chart/values.yaml"), &values)).To(Succeed())
	readme := string(readFile(t, "dist/chart/README.md"))
	table := readme[strings.Index(readme, "## Values"):]
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| ([^|]+)\|`).FindAllStringSubmatch(table, -1) {
		for _, name := range regexp.MustCompile("`([A-Za-z]+)[.`]").FindAllStringSubmatch(m[1], -1) {
			named[name[1]] = true
		}
	}
	for k := range values {
		g.Expect(named).To(HaveKey(k), "dist/chart/README.md does not name the value %s", k)
	}
	for k := range named {
		g.Expect(values).To(HaveKey(k), "dist/chart/README.md names %s, which values.yaml does not have", k)
	}
}

// TestChartNotesSayHowToInstallFromACheckout: the chart of a checkout (its
// appVersion is dev, which no registry holds) says after install how to
// build, push and use an image; with an image of a release it does not.
func TestChartNotesSayHowToInstallFromACheckout(t *testing.T) {
	g := NewWithT(t)
	notes := func(set ...string) string {
		// Without the CRD: the API server's CRD belongs to no release, and a
		// dry run still checks that it may adopt it.
		args := []string{"install", "navius-tuner", "dist/chart", "--dry-run=client", "--kubeconfig", kubeconfig, "-n", systemNamespace, "--set", "crds.install=false"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		r := helm(t, args...)
		g.Expect(r.err).NotTo(HaveOccurred(), r.String())
		i := strings.Index(r.stdout, "NOTES:")
		g.Expect(i).To(BeNumerically(">=", 0), r.stdout)
		return r.stdout[i:]
	}
	fromCheckout := notes()
	g.Expect(fromCheckout).To(ContainSubstring("ghcr.io/navius-dev/navius-tuner:dev"))
	g.Expect(fromCheckout).To(ContainSubstring("make docker-build docker-push IMG=<registry>/navius-tuner:<tag>"))
	g.Expect(fromCheckout).To(ContainSubstring("make deploy IMG=<registry>/navius-tuner:<tag>"))
	g.Expect(fromCheckout).To(ContainSubstring("--reset-then-reuse-values"))
	g.Expect(notes("image.tag=v1.2.3")).NotTo(ContainSubstring("make docker-build"))
}

// renderChart renders dist/chart for the Kubernetes version of the tests
// into the namespace ns, with the values of a values file.
func renderChart(t *testing.T, ns, values string) result {
	t.Helper()
	file := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return helm(t, "template", "navius-tuner", "dist/chart", "--kube-version", testenv.KubernetesVersion, "-n", ns, "-f", file)
}

// TestChartEnvSpreadAndNamespace: extraEnv reaches the manager container
// (proxies, GOMEMLIMIT), topologySpreadConstraints the pod, and
// namespace.create renders the release's namespace enforcing the restricted
// Pod Security Standard, which the API server accepts with the manager's pod
// in it (a server-side dry run). The defaults render none of them, and the
// schema rejects an env entry without a name.
func TestChartEnvSpreadAndNamespace(t *testing.T) {
	g := NewWithT(t)
	r := renderChart(t, "navius-psa", "{}")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	defaults := decodeAll(t, []byte(r.stdout))
	g.Expect(kinds(defaults)).NotTo(ContainElement(HavePrefix("Namespace/")))
	g.Expect(managerContainer(g, defaults)).NotTo(HaveKey("env"))

	r = renderChart(t, "navius-psa", `
namespace: {create: true, labels: {team: platform}}
crds: {install: false}
extraEnv:
- {name: HTTPS_PROXY, value: "http://proxy.example:3128"}
- {name: NO_PROXY, value: "10.0.0.0/8,.svc,.cluster.local"}
- name: GOMEMLIMIT
  valueFrom: {resourceFieldRef: {containerName: manager, resource: limits.memory}}
topologySpreadConstraints:
- {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway,
   labelSelector: {matchLabels: {app.kubernetes.io/name: navius-tuner}}}
`)
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	objs := decodeAll(t, []byte(r.stdout))
	ns := findKind(g, objs, "Namespace")
	g.Expect(ns.GetName()).To(Equal("navius-psa"))
	g.Expect(ns.GetLabels()).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(ns.GetLabels()).To(HaveKeyWithValue("team", "platform"))
	env := managerContainer(g, objs)["env"]
	g.Expect(env).To(ContainElement(HaveKeyWithValue("name", "HTTPS_PROXY")))
	g.Expect(env).To(ContainElement(And(HaveKeyWithValue("name", "GOMEMLIMIT"), HaveKey("valueFrom"))))
	spread, _, _ := unstructured.NestedSlice(findKind(g, objs, "Deployment").Object, "spec", "template", "spec", "topologySpreadConstraints")
	g.Expect(spread).To(HaveLen(1))

	// The namespace first, then everything in it: the API server takes the
	// manager's pod under the restricted standard.
	installMonitoringCRDs(t)
	apply := kubectl(t, []byte(r.stdout), "apply", "--server-side", "--force-conflicts", "-f", "-")
	g.Expect(apply.err).NotTo(HaveOccurred(), apply.String())
	g.Expect(apply.stderr).NotTo(ContainSubstring("violate PodSecurity"), apply.String())

	r = renderChart(t, "navius-psa", "extraEnv: [{value: x}]\n")
	g.Expect(r.err).To(HaveOccurred())
	g.Expect(r.stderr).To(ContainSubstring("name"))
}

// TestChartShards: with shards, the chart renders the main manager for the
// unlabelled profiles and one manager per shard, each selecting its
// profiles and electing its leader on a Lease of its own, and the API
// server accepts them (a server-side dry run).
func TestChartShards(t *testing.T) {
	g := NewWithT(t)
	createSystemNamespace(t, readFile(t, "dist/install.yaml"))
	r := renderChart(t, systemNamespace, "shards: [a, b]\nleaderElection: {enabled: true}\n")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	args := map[string][]any{}
	for _, o := range decodeAll(t, []byte(r.stdout)) {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		args[o.GetName()] = containers[0].(map[string]any)["args"].([]any)
	}
	g.Expect(args).To(HaveLen(3))
	g.Expect(args["navius-tuner-controller-manager"]).To(ContainElement("--watch-label-selector=!tuning.navius.io/shard"))
	g.Expect(args["navius-tuner-controller-manager"]).NotTo(ContainElement(HavePrefix("--leader-election-id")))
	for _, s := range []string{"a", "b"} {
		g.Expect(args["navius-tuner-controller-manager-"+s]).To(ContainElements(
			"--watch-label-selector=tuning.navius.io/shard="+s, "--leader-election-id=navius-tuner-"+s+".tuning.navius.io"))
	}
	applied := kubectl(t, []byte(r.stdout), "apply", "--server-side", "--dry-run=server", "-f", "-")
	g.Expect(applied.err).NotTo(HaveOccurred(), applied.String())

	r = renderChart(t, systemNamespace, "{}")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	g.Expect(managerContainer(g, decodeAll(t, []byte(r.stdout)))["args"]).NotTo(ContainElement(HavePrefix("--watch-label-selector")))
	r = renderChart(t, systemNamespace, "shards: [Shard_1]\n")
	g.Expect(r.err).To(HaveOccurred(), "a shard name that is no label value was accepted")
}
