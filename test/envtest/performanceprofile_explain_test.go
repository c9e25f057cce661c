package envtest_test

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// schemaField is one property of the CRD's schema.
type schemaField struct {
	path        string // dotted, such as spec.slo.latency (list items share the list's path)
	description string
	object      bool // has properties of its own: kubectl explain lists them
}

// schemaFields walks an OpenAPI v3 schema and returns every property below it.
func schemaFields(prefix string, node map[string]any) []schemaField {
	var out []schemaField
	if items, ok := node["items"].(map[string]any); ok {
		return schemaFields(prefix, items)
	}
	props, _ := node["properties"].(map[string]any)
	for name, raw := range props {
		child := raw.(map[string]any)
		path := strings.TrimPrefix(prefix+"."+name, ".")
		desc, _ := child["description"].(string)
		_, hasProps := child["properties"]
		if items, ok := child["items"].(map[string]any); ok {
			_, hasProps = items["properties"]
		}
		out = append(out, schemaField{path: path, description: desc, object: hasProps})
		out = append(out, schemaFields(path, child)...)
	}
	return out
}

// crdSchema reads the PerformanceProfile CRD's schema back from the API server.
func crdSchema(g Gomega) map[string]any {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Name: "performanceprofiles.tuning.navius.io"}, crd)).To(Succeed())
	versions, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(versions).To(HaveLen(1))
	s, _, err := unstructured.NestedMap(versions[0].(map[string]any), "schema", "openAPIV3Schema")
	g.Expect(err).NotTo(HaveOccurred())
	return s
}

// Every property of the schema, in spec and status, has a description: it is
// what `kubectl explain` shows. (metadata is Kubernetes' ObjectMeta: the API
// server publishes its documentation.)
func TestPerformanceProfileSchemaIsDocumented(t *testing.T) {
	g := NewWithT(t)
	fields := schemaFields("", crdSchema(g))
	g.Expect(len(fields)).To(BeNumerically(">", 100))
	var undocumented []string
	for _, f := range fields {
		if f.path != "metadata" && strings.TrimSpace(f.description) == "" {
			undocumented = append(undocumented, f.path)
		}
	}
	sort.Strings(undocumented)
	g.Expect(undocumented).To(BeEmpty(), "fields without a description")
}

// writeKubeconfig writes a kubeconfig for the test API server.
func writeKubeconfig(g Gomega, cfg *rest.Config, path string) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	g.Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
}

// kubectl runs the kubectl built by hack/build-tools.sh against the test API server.
type kubectl struct {
	bin, kubeconfig, cacheDir string
}

func newKubectl(t *testing.T, g Gomega) kubectl {
	assets, err := testenv.AssetsDir()
	g.Expect(err).NotTo(HaveOccurred())
	dir := t.TempDir()
	k := kubectl{
		bin:        filepath.Join(assets, "kubectl"),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
		cacheDir:   filepath.Join(dir, "cache"),
	}
	writeKubeconfig(g, env.Config, k.kubeconfig)
	return k
}

func (k kubectl) run(args ...string) (string, error) {
	args = append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}, args...)
	out, err := exec.Command(k.bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// explainFields parses the FIELDS section of `kubectl explain` (not recursive):
// each field's name and the description printed under it.
func explainFields(out string) map[string]string {
	fields := map[string]string{}
	_, section, ok := strings.Cut(out, "\nFIELDS:\n")
	if !ok {
		return fields
	}
	current := ""
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && strings.Contains(line, "\t<"):
			current = strings.Fields(line)[0]
			fields[current] = ""
		case strings.HasPrefix(strings.TrimSpace(line), "enum:"):
			// The allowed values, printed under the field's name: not a description.
		case strings.TrimSpace(line) == "<no description>":
			// What kubectl prints for a field without one.
		case strings.HasPrefix(line, "    ") && current != "":
			fields[current] += strings.TrimSpace(line) + " "
		}
	}
	return fields
}

// explainRecursivePaths parses `kubectl explain --recursive`: one field a
// line ("name<TAB><type>"), indented two spaces per level below the explained
// object; enum lines in between are skipped.
func explainRecursivePaths(prefix, out string) []string {
	_, section, ok := strings.Cut(out, "\nFIELDS:\n")
	if !ok {
		return nil
	}
	var stack, paths []string
	for _, line := range strings.Split(section, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if !strings.Contains(trimmed, "\t<") {
			continue
		}
		depth := (len(line)-len(trimmed))/2 - 1
		if depth < 0 || depth > len(stack) {
			continue
		}
		stack = append(stack[:depth], strings.Fields(trimmed)[0])
		paths = append(paths, prefix+"."+strings.Join(stack, "."))
	}
	return paths
}

// `kubectl explain` against the real API server shows every field of the
// schema, and a description under each of them.
func TestPerformanceProfileExplain(t *testing.T) {
	g := NewWithT(t)
	k := newKubectl(t, g)
	const resource = "performanceprofiles"
	apiVersion := "--api-version=tuning.navius.io/v1alpha1"

	// The CRD's OpenAPI is published a moment after the CRD is established.
	var recursive string
	g.Eventually(func() error {
		var err error
		recursive, err = k.run("explain", resource+".spec", "--recursive", apiVersion)
		return err
	}, 30*time.Second, 500*time.Millisecond).Should(Succeed())

	fields := schemaFields("", crdSchema(g))
	var specPaths []string
	for _, f := range fields {
		if strings.HasPrefix(f.path, "spec.") {
			specPaths = append(specPaths, f.path)
		}
	}
	g.Expect(explainRecursivePaths("spec", recursive)).To(ConsistOf(specPaths),
		"kubectl explain %s.spec --recursive lists other fields than the schema", resource)

	// Explaining each object shows a description for each of its fields.
	objects := []string{""}
	for _, f := range fields {
		if f.object {
			objects = append(objects, f.path)
		}
	}
	for _, obj := range objects {
		out, err := k.run("explain", strings.TrimSuffix(resource+"."+obj, "."), apiVersion)
		g.Expect(err).NotTo(HaveOccurred())
		described := explainFields(out)
		g.Expect(described).NotTo(BeEmpty(), "kubectl explain %s.%s shows no fields:\n%s", resource, obj, out)
		for name, desc := range described {
			g.Expect(strings.TrimSpace(desc)).NotTo(BeEmpty(),
				"kubectl explain %s.%s shows no description for %s:\n%s", resource, obj, name, out)
		}
		if obj == "" {
			g.Expect(slices.Sorted(maps.Keys(described))).To(Equal([]string{"apiVersion", "kind", "metadata", "spec", "status"}))
		}
	}
}

// `kubectl get` shows the printer columns, by the fully qualified name, the
// short names and the category.
func TestPerformanceProfilePrinterColumns(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	k := newKubectl(t, g)
	ensureNamespace(g, validationNamespace)
	u := profileFrom(g, validProfile, set("metadata.name", `printed`))
	g.Expect(env.Client.Create(ctx, u)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
	g.Expect(unstructured.SetNestedField(u.Object, map[string]any{
		"slis":   map[string]any{"p99": "93.123456ms", "worstObjective": "p99<=100ms", "worstSLI": "93.1ms"},
		"paused": true,
		"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "TargetNotFound",
			"message": "Deployment orders-api not found", "lastTransitionTime": "2026-01-01T00:00:00Z"}},
	}, "status")).To(Succeed())
	g.Expect(env.Client.Status().Update(ctx, u)).To(Succeed())

	for _, name := range []string{"performanceprofiles.tuning.navius.io", "perfprofile", "npp", "navius"} {
		out, err := k.run("get", name, "-n", validationNamespace, "--field-selector=metadata.name=printed")
		g.Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		g.Expect(lines).To(HaveLen(2), out)
		g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "MODE", "TARGET", "OBJECTIVE", "SLI", "READY", "REASON", "PAUSED", "AGE"}), name)
		g.Expect(strings.Fields(lines[1])[:8]).To(Equal([]string{"printed", "Auto", "orders-api", "p99<=100ms", "93.1ms", "False", "TargetNotFound", "true"}), name)
	}
	// -o wide adds the Ready message, and no raw latency: a p999 above the
	// top bucket is stored as the largest duration, which only the SLI
	// column says in words.
	slis := map[string]any{"p999": "2562047h47m16.854775807s", "worstObjective": "p999<=200ms", "worstSLI": "above the top bucket"}
	g.Expect(unstructured.SetNestedField(u.Object, slis, "status", "slis")).To(Succeed())
	g.Expect(env.Client.Status().Update(ctx, u)).To(Succeed())
	out, err := k.run("get", "npp", "-n", validationNamespace, "--field-selector=metadata.name=printed", "-o", "wide")
	g.Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines).To(HaveLen(2), out)
	g.Expect(strings.Fields(lines[0])).To(HaveExactElements("NAME", "MODE", "TARGET", "OBJECTIVE", "SLI", "READY", "REASON", "PAUSED", "AGE", "MESSAGE"))
	g.Expect(lines[1]).To(ContainSubstring("p999<=200ms   above the top bucket"))
	g.Expect(lines[1]).NotTo(ContainSubstring("2562047h"))
	g.Expect(lines[1]).To(HaveSuffix("Deployment orders-api not found"))
}
