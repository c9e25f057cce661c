package install_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// gitopsCRDs are the real CRDs of the tools docs/gitops.md gives recipes
// for (hack/gitops-crds.sh copies them from the tools' modules).
const gitopsCRDs = "test/install/testdata/gitops-crds"

// installGitOpsCRDs installs the tools' CRDs in the API server and waits
// until each is served.
func installGitOpsCRDs(t *testing.T) {
	t.Helper()
	g := NewWithT(t)
	files, err := filepath.Glob(filepath.Join(root, gitopsCRDs, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(HaveLen(3))
	for _, f := range files {
		data, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		crd := &unstructured.Unstructured{}
		g.Expect(yaml.Unmarshal(data, &crd.Object)).To(Succeed(), f)
		if err := env.Client.Create(t.Context(), crd); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s: %v", f, err)
		}
		g.Eventually(func(g Gomega) {
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(crd.GroupVersionKind())
			g.Expect(env.Client.Get(t.Context(), client.ObjectKeyFromObject(crd), live)).To(Succeed())
			conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
			established := false
			for _, c := range conds {
				m, _ := c.(map[string]any)
				established = established || (m["type"] == "Established" && m["status"] == "True")
			}
			g.Expect(established).To(BeTrue())
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}
}

// elided fills the fields the page leaves to the reader ("# interval,
// sourceRef ...": where the Git repository is, which is the reader's), only
// where the page sets none.
func elided(u *unstructured.Unstructured) {
	set := func(v any, path ...string) {
		if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, path...); !found {
			_ = unstructured.SetNestedField(u.Object, v, path...)
		}
	}
	switch u.GetKind() {
	case "Kustomization":
		set("10m", "spec", "interval")
		set(true, "spec", "prune")
		set(map[string]any{"kind": "GitRepository", "name": "shop"}, "spec", "sourceRef")
	case "HelmRelease":
		set("10m", "spec", "interval")
		set(map[string]any{"kind": "OCIRepository", "name": "orders-api"}, "spec", "chartRef")
	case "Application":
		set("default", "spec", "project")
		set(map[string]any{"server": "https://kubernetes.default.svc", "namespace": "shop"}, "spec", "destination")
		set(map[string]any{"repoURL": "https://git.example.com/shop.git", "path": "orders-api", "targetRevision": "HEAD"}, "spec", "source")
	}
}

// The GitOps recipes of docs/gitops.md (Flux's Kustomization and
// HelmRelease, Argo CD's Application) are created as the page writes them,
// with strict field validation, in an API server serving the tools' real
// CRDs: a field the tool does not have, or a value its schema refuses, fails
// here. The Kustomization's ignore rules under the name an earlier version
// of the page used (driftIgnoreRules) are refused, which shows the check
// can fail.
func TestGitOpsRecipesAgainstTheToolsCRDs(t *testing.T) {
	g := NewWithT(t)
	installGitOpsCRDs(t)
	ctx := t.Context()
	for _, ns := range []string{"flux-system", "argocd", "shop"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	blocks := yamlBlocks(t, "docs/gitops.md")
	created := map[string]bool{}
	for _, kind := range []string{"kind: Kustomization", "kind: HelmRelease", "kind: Application"} {
		u := &unstructured.Unstructured{}
		g.Expect(yaml.Unmarshal([]byte(blockWith(t, blocks, kind, "docs/gitops.md")), &u.Object)).To(Succeed())
		elided(u)
		if u.GetNamespace() == "" {
			u.SetNamespace("shop")
		}
		g.Expect(env.Client.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict))).To(Succeed(), "docs/gitops.md's %s", u.GetKind())
		created[u.GetKind()] = true
	}
	g.Expect(created).To(HaveLen(3))

	old := &unstructured.Unstructured{}
	g.Expect(yaml.Unmarshal([]byte(strings.Replace(blockWith(t, blocks, "kind: Kustomization", "docs/gitops.md"), "  ignore:", "  driftIgnoreRules:", 1)), &old.Object)).To(Succeed())
	elided(old)
	old.SetName("shop-old-recipe")
	err := env.Client.Create(ctx, old, client.FieldValidation(metav1.FieldValidationStrict))
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring(`unknown field "spec.driftIgnoreRules"`))
}
