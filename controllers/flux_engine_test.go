package controllers

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/jsondiff"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// gitopsDoc is the page whose Flux recipe the engine test runs.
const gitopsDoc = "../docs/gitops.md"

// fluxRecipe reads docs/gitops.md's Kustomization into Flux's own API type
// (strictly: a field Flux does not have fails) and converts its ignore rules
// as kustomize-controller does before it calls its apply engine, for the
// objects of namespace ns (the page's are in shop).
func fluxRecipe(t *testing.T, ns string) []jsondiff.IgnoreRule {
	t.Helper()
	page, err := os.ReadFile(gitopsDoc)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomizev1.Kustomization
	found := false
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(page), -1) {
		if strings.Contains(m[1], "kind: Kustomization") {
			if err := yaml.UnmarshalStrict([]byte(m[1]), &k); err != nil {
				t.Fatalf("%s: the Kustomization is not Flux's: %v", gitopsDoc, err)
			}
			found = true
		}
	}
	if !found || len(k.Spec.Ignore) == 0 {
		t.Fatalf("%s: no Kustomization with ignore rules", gitopsDoc)
	}
	var rules []jsondiff.IgnoreRule
	for _, r := range k.Spec.Ignore {
		rule := jsondiff.IgnoreRule{Paths: r.Paths}
		if s := r.Target; s != nil {
			namespace := s.Namespace
			if namespace == "shop" {
				namespace = ns
			}
			rule.Selector = &jsondiff.Selector{Group: s.Group, Version: s.Version, Kind: s.Kind, Name: s.Name,
				Namespace: namespace, AnnotationSelector: s.AnnotationSelector, LabelSelector: s.LabelSelector}
		}
		rules = append(rules, rule)
	}
	return rules
}

// coOwnership is the manifest of the page's handover step 2 (navius-tuner
// becomes a co-owner of the field, with the value it already has).
func coOwnership(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	page, err := os.ReadFile(gitopsDoc)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)--field-manager=navius-tuner -f - <<'EOF'\n(.*?)\n *EOF`).FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("%s: no co-ownership step", gitopsDoc)
	}
	var lines []string
	indent := len(m[1]) - len(strings.TrimLeft(m[1], " "))
	for _, l := range strings.Split(m[1], "\n") {
		lines = append(lines, strings.TrimPrefix(l, strings.Repeat(" ", indent)))
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &u.Object); err != nil {
		t.Fatalf("%s: the co-ownership manifest: %v", gitopsDoc, err)
	}
	u.SetNamespace(ns)
	return u
}

// gitObjects are the tour's Deployment and HPA as Git holds them, in ns.
func gitObjects(t *testing.T, ns string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("../config/samples/tour/orders-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		u.SetNamespace(ns)
		out = append(out, u)
	}
	return out
}

// Flux's own apply engine (fluxcd/pkg/ssa, called as kustomize-controller
// calls it: its field manager, its ignore rules) syncs the Git copy of the
// tour's workload every interval while navius-tuner raises a starved pool.
// With docs/gitops.md's recipe (the handover's co-ownership step, then the
// Kustomization's ignore rules) every later sync leaves the Deployment
// unchanged and navius-tuner keeps tuning; without it, the first sync puts
// Git's value back and navius-tuner reports a FieldConflict naming
// kustomize-controller and holds, so the two never ping-pong.
func TestFluxApplyEngineAndTheGitOpsRecipe(t *testing.T) {
	for _, recipe := range []bool{true, false} {
		name := "without the recipe"
		if recipe {
			name = "with the recipe"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			g := h.g
			flux := ssa.NewResourceManager(env.Client, nil, ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})
			opts := ssa.DefaultApplyOptions()
			sync := func() []ssa.Action {
				t.Helper()
				cs, err := flux.ApplyAll(h.ctx, gitObjects(t, h.ns), opts)
				g.Expect(err).NotTo(HaveOccurred())
				var actions []ssa.Action
				for _, e := range cs.Entries {
					actions = append(actions, e.Action)
				}
				h.rolledOut(targetName)
				return actions
			}
			g.Expect(sync()).To(HaveEach(ssa.CreatedAction))
			if recipe {
				g.Expect(env.Client.Patch(h.ctx, coOwnership(t, h.ns), client.Apply, client.FieldOwner(tuningv1alpha1.FieldManager))).To(Succeed())
				opts.DriftIgnoreRules = fluxRecipe(t, h.ns)
				g.Expect(sync()).To(HaveEach(ssa.UnchangedAction), "the handover changes nothing Flux applies")
			}
			time.Sleep(1100 * time.Millisecond) // managedFields times have a one-second resolution
			h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
			h.observer.set(starvedPool(), false)
			h.period("orders")
			raised := h.envValue(targetName, poolEnv)
			g.Expect(raised).NotTo(Equal("10"), "navius-tuner raises the starved pool")
			h.rolledOut(targetName)

			for i := range 3 { // three of Flux's intervals, each followed by a period
				actions := sync()
				_, p := h.period("orders")
				stalled := condition(p, tuningv1alpha1.ConditionStalled)
				if recipe {
					g.Expect(actions).To(HaveEach(ssa.UnchangedAction), "sync %d: Flux leaves the tuned value alone", i)
					g.Expect(stalled.Status).NotTo(Equal(metav1.ConditionTrue), "sync %d: %s", i, stalled.Message)
					continue
				}
				g.Expect(stalled.Reason).To(Equal(tuningv1alpha1.ReasonFieldConflict), "sync %d", i)
				g.Expect(stalled.Message).To(ContainSubstring("kustomize-controller"))
				if i == 0 {
					g.Expect(actions).To(ContainElement(ssa.ConfiguredAction), "Flux puts Git's value back")
					g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))
					continue
				}
				g.Expect(actions).To(HaveEach(ssa.UnchangedAction), "sync %d: navius-tuner holds; nothing to put back", i)
			}
			if recipe {
				g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"), "the tuned value stays")
			}
		})
	}
}
