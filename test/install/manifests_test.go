package install_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// TestInstallerIsFresh fails when dist/install.yaml or the chart's copies of
// generated files are not what `make build-installer` writes now.
func TestInstallerIsFresh(t *testing.T) {
	g := NewWithT(t)
	rendered := command(t, nil, nil, kustomize(t), "build", "config/default")
	g.Expect(rendered.err).NotTo(HaveOccurred(), rendered.String())
	g.Expect(string(readFile(t, "dist/install.yaml"))).To(Equal(rendered.stdout),
		"dist/install.yaml is stale: run 'make build-installer' and commit it")

	chart := t.TempDir()
	const img = "registry.example:5000/platform/navius-tuner@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	built := command(t, nil, []string{"CHART_DIR=" + chart}, filepath.Join(root, "hack", "build-installer.sh"), kustomize(t), img)
	g.Expect(built.err).NotTo(HaveOccurred(), built.String())
	// The installer is config/default with one line changed: the image.
	want := strings.Replace(rendered.stdout, "image: "+defaultIMG+"\n", "image: "+img+"\n", 1)
	g.Expect(want).NotTo(Equal(rendered.stdout), "config/default no longer sets image %s", defaultIMG)
	g.Expect(built.stdout).To(Equal(want))

	// The chart carries copies of the CRD, the generated manager role, the alerts and the dashboard.
	entries, err := os.ReadDir(chart)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(entries).NotTo(BeEmpty())
	// Only files/ (the CRD under files/crds/, rendered by a template): a
	// crds/ directory would have Helm install a second copy it never upgrades.
	g.Expect(filepath.Join(chart, "crds")).NotTo(BeADirectory())
	var copies []string
	g.Expect(filepath.WalkDir(filepath.Join(chart, "files"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(chart, path)
		if err != nil {
			return err
		}
		copies = append(copies, rel)
		fresh, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		g.Expect(string(readFile(t, filepath.Join("dist", "chart", rel)))).To(Equal(string(fresh)), "dist/chart/%s is stale: run 'make build-installer' and commit it", rel)
		return nil
	})).To(Succeed())
	g.Expect(copies).To(ContainElement(HavePrefix("files/crds/")))
	g.Expect(filepath.Join(root, "dist", "chart", "crds")).NotTo(BeADirectory())
}

// TestInstallManifestsAcceptedByAPIServer applies dist/install.yaml with a
// server-side dry run, client-side and server-side apply alike, into a
// namespace that enforces the restricted Pod Security Standard.
func TestInstallManifestsAcceptedByAPIServer(t *testing.T) {
	install := readFile(t, "dist/install.yaml")
	createSystemNamespace(t, install)

	for _, mode := range [][]string{{"apply"}, {"apply", "--server-side"}} {
		t.Run(strings.Join(mode, " "), func(t *testing.T) {
			g := NewWithT(t)
			args := append(append([]string{}, mode...), "--dry-run=server", "-f", "-")
			r := kubectl(t, install, args...)
			g.Expect(r.err).NotTo(HaveOccurred(), r.String())
			// PodSecurity admission warns about a workload that the namespace's level would refuse.
			g.Expect(r.stderr).NotTo(ContainSubstring("PodSecurity"), r.String())
			for _, kind := range []string{"customresourcedefinition", "deployment", "clusterrole", "service"} {
				g.Expect(r.stdout).To(ContainSubstring(kind))
			}
		})
	}
}

// createSystemNamespace creates the Namespace of the manifests for real (the
// dry run of the namespaced objects needs it), with its Pod Security labels.
func createSystemNamespace(t *testing.T, manifests []byte) {
	t.Helper()
	g := NewWithT(t)
	var ns *unstructured.Unstructured
	for _, o := range decodeAll(t, manifests) {
		if o.GetKind() == "Namespace" {
			ns = o
		}
	}
	g.Expect(ns).NotTo(BeNil(), "no Namespace in the manifests")
	g.Expect(ns.GetName()).To(Equal(systemNamespace))
	g.Expect(ns.GetLabels()).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	obj := &corev1.Namespace{}
	obj.Name = ns.GetName()
	obj.Labels = ns.GetLabels()
	if err := env.Client.Create(t.Context(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// decodeAll splits a multi-document YAML stream into objects.
func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding YAML: %v", err)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

// find returns the object of kind and name in objs.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the manifests", kind, name)
	return nil
}

// TestManagerDeployment checks what the issue asks of the Deployment.
func TestManagerDeployment(t *testing.T) {
	g := NewWithT(t)
	objs := decodeAll(t, readFile(t, "dist/install.yaml"))
	dep := find(t, objs, "Deployment", "navius-tuner-controller-manager")
	g.Expect(dep.GetNamespace()).To(Equal(systemNamespace))
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	g.Expect(containers).To(HaveLen(1))
	c := containers[0].(map[string]any)
	g.Expect(c["image"]).To(Equal(defaultIMG))
	g.Expect(c["args"]).To(ConsistOf("--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"))
	g.Expect(c).To(HaveKeyWithValue("livenessProbe", HaveKeyWithValue("httpGet", And(HaveKeyWithValue("path", "/healthz"), HaveKeyWithValue("port", BeNumerically("==", 8081))))))
	g.Expect(c).To(HaveKeyWithValue("readinessProbe", HaveKeyWithValue("httpGet", And(HaveKeyWithValue("path", "/readyz"), HaveKeyWithValue("port", BeNumerically("==", 8081))))))
	g.Expect(c).To(HaveKeyWithValue("resources", And(HaveKey("requests"), HaveKey("limits"))))
	g.Expect(c["securityContext"]).To(And(
		HaveKeyWithValue("runAsNonRoot", true),
		HaveKeyWithValue("readOnlyRootFilesystem", true),
		HaveKeyWithValue("allowPrivilegeEscalation", false),
		HaveKeyWithValue("capabilities", HaveKeyWithValue("drop", ConsistOf("ALL"))),
		HaveKeyWithValue("seccompProfile", HaveKeyWithValue("type", "RuntimeDefault")),
	))
	sa, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
	g.Expect(sa).To(Equal(managerSA))
	find(t, objs, "ServiceAccount", managerSA)
	find(t, objs, "Service", "navius-tuner-controller-manager-metrics-service")
}

// TestCRDFitsClientSideApply measures the CRD as client-side apply stores it
// (compact JSON in the last-applied-configuration annotation, whose limit is
// 256 KiB with every other annotation) against what docs/install.md says, and
// has the API server accept a client-side apply of it (a server-side dry run).
func TestCRDFitsClientSideApply(t *testing.T) {
	g := NewWithT(t)
	const rel = "config/crd/bases/tuning.navius.io_performanceprofiles.yaml"
	crds := decodeAll(t, readFile(t, rel))
	g.Expect(crds).To(HaveLen(1))
	raw, err := crds[0].MarshalJSON()
	g.Expect(err).NotTo(HaveOccurred())
	const limit = 256 * 1024
	t.Logf("%s: %d bytes of JSON (the annotation limit is %d)", rel, len(raw), limit)
	g.Expect(len(raw)).To(BeNumerically("<", limit/2), "the CRD nears the annotation limit: docs/install.md must say client-side apply fails")

	doc := strings.Join(strings.Fields(string(readFile(t, "docs/install.md"))), " ")
	m := regexp.MustCompile(`it is about ([0-9]+) KiB as JSON, well under the 256 KiB`).FindStringSubmatch(doc)
	g.Expect(m).To(HaveLen(2), "docs/install.md no longer says how large the CRD is")
	stated, err := strconv.Atoi(m[1])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(float64(len(raw))/1024).To(BeNumerically("~", stated, 0.15*float64(stated)), "docs/install.md says the CRD is about %d KiB", stated)

	r := kubectl(t, nil, "apply", "--dry-run=server", "-f", rel)
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
}
