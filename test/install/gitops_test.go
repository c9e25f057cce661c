package install_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
)

// argoHealthKey is the argocd-cm key of the PerformanceProfile health check.
const argoHealthKey = "resource.customizations.health.tuning.navius.io_PerformanceProfile"

// yamlBlocks returns the ```yaml blocks of a Markdown file.
func yamlBlocks(t *testing.T, rel string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readFile(t, rel)), -1) {
		out = append(out, m[1])
	}
	return out
}

// shBlocks returns the ```sh blocks of a Markdown file, unindented.
func shBlocks(t *testing.T, rel string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile("(?s)( *)```sh\n(.*?)```").FindAllStringSubmatch(string(readFile(t, rel)), -1) {
		indent := m[1]
		var lines []string
		for _, l := range strings.Split(m[2], "\n") {
			lines = append(lines, strings.TrimPrefix(l, indent))
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	return out
}

// blockWith returns the one block that contains marker.
func blockWith(t *testing.T, blocks []string, marker, rel string) string {
	t.Helper()
	var found []string
	for _, b := range blocks {
		if strings.Contains(b, marker) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one code block with %q, found %d", rel, marker, len(found))
	}
	return found[0]
}

// argoHealthScript is the health Lua exactly as docs/gitops.md gives it.
func argoHealthScript(t *testing.T) string {
	t.Helper()
	var cm struct {
		Data map[string]string `json:"data"`
	}
	block := blockWith(t, yamlBlocks(t, "docs/gitops.md"), argoHealthKey, "docs/gitops.md")
	if err := yaml.UnmarshalStrict([]byte(block), &cm); err != nil {
		t.Fatalf("docs/gitops.md: the argocd-cm block does not parse: %v", err)
	}
	script := cm.Data[argoHealthKey]
	if script == "" {
		t.Fatalf("docs/gitops.md: no %s in the argocd-cm block", argoHealthKey)
	}
	return script
}

// health is what an Argo CD health script returns.
type health struct {
	status, message string
}

// argoHealth runs the documented health check on p as Argo CD does
// (util/lua in argo-cd): gopher-lua with only the package, base and table
// libraries (custom scripts get no string library), the object decoded from
// its JSON form into nested tables as the global obj, and a returned table
// whose status must be one of Argo CD's health codes.
func argoHealth(t *testing.T, p *tuningv1alpha1.PerformanceProfile) health {
	t.Helper()
	p = p.DeepCopy()
	p.APIVersion, p.Kind = tuningv1alpha1.GroupVersion.String(), "PerformanceProfile"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for name, open := range map[string]lua.LGFunction{lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), NRet: 0, Protect: true}, lua.LString(name)); err != nil {
			t.Fatal(err)
		}
	}
	l.SetGlobal("obj", luaValue(l, obj))
	if err := l.DoString(argoHealthScript(t)); err != nil {
		t.Fatalf("the health Lua of docs/gitops.md failed on %s: %v", b, err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the health Lua returned %s, not a table", l.Get(-1).Type())
	}
	h := health{status: lua.LVAsString(ret.RawGetString("status")), message: lua.LVAsString(ret.RawGetString("message"))}
	switch h.status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		t.Fatalf("the health Lua returned status %q, which Argo CD replaces with Unknown", h.status)
	}
	return h
}

// luaValue turns a value decoded from JSON into Lua values, as Argo CD does.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		tbl := l.CreateTable(len(v), 0)
		for _, item := range v {
			tbl.Append(luaValue(l, item))
		}
		return tbl
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for k, item := range v {
			tbl.RawSetString(k, luaValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// profileAfter is a profile whose status the condition setters of
// internal/conditions (the ones the reconciler calls) wrote from each period's
// facts in turn, as the reconciler does on one profile over time.
func profileAfter(generation int64, periods ...conditions.Facts) *tuningv1alpha1.PerformanceProfile {
	p := &tuningv1alpha1.PerformanceProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-api", Generation: generation}}
	for _, f := range periods {
		conditions.SetAll(&p.Status.Conditions, f)
		p.Status.ObservedGeneration = f.Generation
	}
	return p
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// period returns the facts of a reconcile n periods after t0 that read every
// signal and found every SLO met, changed by edit.
func period(n int, edit func(*conditions.Facts)) conditions.Facts {
	f := conditions.Facts{
		Generation: 1, Now: t0.Add(time.Duration(n) * 30 * time.Second), Mode: tuningv1alpha1.ModeAuto,
		Observed: true, Evaluated: true, SLOKnown: true, SLOMet: true,
	}
	if edit != nil {
		edit(&f)
	}
	return f
}

func metricsDown(f *conditions.Facts) {
	f.SLOMissing = []string{"latencyP99: EndpointDown: dial tcp 10.96.0.10:9090: connect: connection refused"}
	f.SLOKnown, f.SLOMet = false, false
}

// TestArgoCDHealthOfOperatorStatuses runs the documented health check on the
// statuses the operator writes in each state a profile can be in.
func TestArgoCDHealthOfOperatorStatuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile *tuningv1alpha1.PerformanceProfile
		want    string
	}{
		{"tuning, every SLO met", profileAfter(1, period(0, nil)), "Healthy"},
		{"an SLO breached is the workload's state, not the profile's", profileAfter(1, period(0, func(f *conditions.Facts) { f.SLOMet = false })), "Healthy"},
		{"Recommend mode", profileAfter(1, period(0, func(f *conditions.Facts) { f.Mode = tuningv1alpha1.ModeRecommend })), "Healthy"},
		{"paused", profileAfter(1, period(0, func(f *conditions.Facts) { f.Paused = true })), "Suspended"},
		{"a change settling", profileAfter(1, period(0, func(f *conditions.Facts) {
			f.Pending = &tuningv1alpha1.Decision{Family: "connectionPool", Time: metav1.NewTime(t0)}
		})), "Progressing"},
		{"the target rolling out", profileAfter(1, period(0, func(f *conditions.Facts) { f.RolloutInProgress = true })), "Progressing"},
		{"Prometheus not answering", profileAfter(1, period(0, metricsDown)), "Progressing"},
		{"the target not created yet", profileAfter(1, period(0, func(f *conditions.Facts) {
			f.Evaluated = false
			f.Blocker = &conditions.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "Deployment shop/orders-api does not exist"}
		})), "Progressing"},
		{"an invalid spec", profileAfter(1, period(0, func(f *conditions.Facts) {
			f.Evaluated = false
			f.Blocker = &conditions.Blocker{Reason: tuningv1alpha1.ReasonInvalidSpec, Message: "container app not found in Deployment orders-api", Stalled: true}
		})), "Degraded"},
		{"a field conflict", profileAfter(1, period(0, func(f *conditions.Facts) {
			f.Conflicts = []conditions.Conflict{{Knob: "connectionPool.maxConnections", Field: "env[DB_POOL_MAX_CONNECTIONS]", Manager: "argocd-controller", Applied: "20", Live: "10"}}
		})), "Degraded"},
		{"a new spec not observed yet", profileAfter(2, period(0, nil)), "Progressing"},
		{"no status yet", profileAfter(1), "Progressing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := argoHealth(t, tc.profile)
			if h.status != tc.want {
				t.Errorf("health %q (%s), want %q; conditions: %+v", h.status, h.message, tc.want, tc.profile.Status.Conditions)
			}
		})
	}
}

// TestArgoCDHealthMetricsBlip: one period without metrics between healthy
// periods never shows the application as Degraded, and it is Healthy again
// once the metrics are back.
func TestArgoCDHealthMetricsBlip(t *testing.T) {
	periods := []conditions.Facts{period(0, nil), period(1, nil), period(2, metricsDown), period(3, nil)}
	var got []string
	for i := range periods {
		got = append(got, argoHealth(t, profileAfter(1, periods[:i+1]...)).status)
	}
	if want := []string{"Healthy", "Healthy", "Progressing", "Healthy"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("health over the periods: %v, want %v", got, want)
	}
}

// ignoreRule is an Argo CD ignoreDifferences entry.
type ignoreRule struct {
	Group                 string   `json:"group"`
	Kind                  string   `json:"kind"`
	ManagedFieldsManagers []string `json:"managedFieldsManagers"`
}

func ignoreDifferences(t *testing.T, rel string) []ignoreRule {
	t.Helper()
	var doc struct {
		Spec struct {
			IgnoreDifferences []ignoreRule `json:"ignoreDifferences"`
		} `json:"spec"`
	}
	block := blockWith(t, yamlBlocks(t, rel), "ignoreDifferences:", rel)
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return doc.Spec.IgnoreDifferences
}

// TestArgoCDIgnoreDifferencesAgree: docs/install.md and docs/gitops.md give
// the same ignoreDifferences, and it covers every kind navius-tuner writes.
func TestArgoCDIgnoreDifferencesAgree(t *testing.T) {
	g := NewWithT(t)
	install, gitops := ignoreDifferences(t, "docs/install.md"), ignoreDifferences(t, "docs/gitops.md")
	g.Expect(install).To(Equal(gitops))
	var kinds []string
	for _, r := range gitops {
		g.Expect(r.ManagedFieldsManagers).To(Equal([]string{tuningv1alpha1.FieldManager}))
		kinds = append(kinds, r.Group+"/"+r.Kind)
	}
	g.Expect(kinds).To(ConsistOf("apps/Deployment", "apps/StatefulSet", "autoscaling/HorizontalPodAutoscaler"))
}

// TestGitOpsDocsYAMLParses: every YAML block of the install and GitOps guides
// is valid YAML, so a reader can paste it.
func TestGitOpsDocsYAMLParses(t *testing.T) {
	for _, rel := range []string{"docs/install.md", "docs/gitops.md"} {
		for i, b := range yamlBlocks(t, rel) {
			var v any
			if err := yaml.Unmarshal([]byte(b), &v); err != nil {
				t.Errorf("%s: YAML block %d does not parse: %v\n%s", rel, i+1, err, b)
			}
		}
	}
}

// pointer resolves an RFC 6901 JSON Pointer in v.
func pointer(v any, p string) (any, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q does not start with /", p)
	}
	for _, tok := range strings.Split(p[1:], "/") {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(tok, "~0", ""), "~1", ""), "~") {
			return nil, fmt.Errorf("%q: bad escape in %q", p, tok)
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch cur := v.(type) {
		case map[string]any:
			next, ok := cur[tok]
			if !ok {
				return nil, fmt.Errorf("%q: no %q", p, tok)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(cur) || (len(tok) > 1 && tok[0] == '0') {
				return nil, fmt.Errorf("%q: no item %q in a list of %d", p, tok, len(cur))
			}
			v = cur[i]
		default:
			return nil, fmt.Errorf("%q: %q goes below a scalar", p, tok)
		}
	}
	return v, nil
}

// fluxRule is a Flux drift ignore rule, as both of Flux's types have it
// (Kustomization spec.ignore, HelmRelease spec.driftDetection.ignore).
type fluxRule struct {
	Paths []string
	Kind  string
}

// TestFluxIgnorePathsPointAtTheTunedFields: the JSON Pointers of the Flux
// recipe are valid and, in the tour's workload as Git holds it, point at the
// fields navius-tuner tunes: the env value of DB_POOL_MAX_CONNECTIONS, the
// HPA's replica bounds and metrics. The page's objects are read into Flux's
// own API types, strictly: a field Flux does not have fails.
func TestFluxIgnorePathsPointAtTheTunedFields(t *testing.T) {
	g := NewWithT(t)
	workload := map[string]map[string]any{}
	for _, doc := range strings.Split(string(readFile(t, "config/samples/tour/orders-api.yaml")), "\n---\n") {
		var obj map[string]any
		g.Expect(yaml.Unmarshal([]byte(doc), &obj)).To(Succeed())
		workload[obj["kind"].(string)] = obj
	}
	var kustomization kustomizev1.Kustomization
	var release helmv2.HelmRelease
	blocks := yamlBlocks(t, "docs/gitops.md")
	g.Expect(yaml.UnmarshalStrict([]byte(blockWith(t, blocks, "kind: Kustomization", "docs/gitops.md")), &kustomization)).To(Succeed())
	g.Expect(yaml.UnmarshalStrict([]byte(blockWith(t, blocks, "driftDetection:", "docs/gitops.md")), &release)).To(Succeed())
	g.Expect(kustomization.APIVersion + "/" + kustomization.Kind).To(Equal("kustomize.toolkit.fluxcd.io/v1/Kustomization"))
	g.Expect(release.APIVersion + "/" + release.Kind).To(Equal("helm.toolkit.fluxcd.io/v2/HelmRelease"))
	g.Expect(release.Spec.DriftDetection).NotTo(BeNil())
	g.Expect(release.Spec.DriftDetection.Mode).To(Equal(helmv2.DriftDetectionEnabled))

	var fromKustomization, fromRelease []fluxRule
	for _, r := range kustomization.Spec.Ignore {
		g.Expect(r.Target).NotTo(BeNil())
		fromKustomization = append(fromKustomization, fluxRule{Paths: r.Paths, Kind: r.Target.Kind})
	}
	for _, r := range release.Spec.DriftDetection.Ignore {
		g.Expect(r.Target).NotTo(BeNil())
		fromRelease = append(fromRelease, fluxRule{Paths: r.Paths, Kind: r.Target.Kind})
	}
	for _, rules := range [][]fluxRule{fromKustomization, fromRelease} {
		var kinds []string
		for _, r := range rules {
			kinds = append(kinds, r.Kind)
			obj, inTour := workload[r.Kind]
			for _, p := range r.Paths {
				if !inTour { // the Redis StatefulSet: no sample, but a valid pointer
					_, err := pointer(map[string]any{"spec": map[string]any{"replicas": 1.0}}, p)
					g.Expect(err).NotTo(HaveOccurred())
					continue
				}
				v, err := pointer(obj, p)
				g.Expect(err).NotTo(HaveOccurred())
				if r.Kind == "Deployment" {
					g.Expect(v).To(Equal("10"), p)
					entry, err := pointer(obj, strings.TrimSuffix(p, "/value"))
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(entry).To(HaveKeyWithValue("name", "DB_POOL_MAX_CONNECTIONS"), p)
				}
			}
		}
		g.Expect(kinds).To(ContainElements("Deployment", "HorizontalPodAutoscaler"))
	}
}

// TestFluxHandoverOrder runs on the API server what the Flux recipe says:
// a field that kustomize-controller alone owns is deleted when it leaves Git;
// after the recipe's co-ownership step (the doc's own command), it stays.
func TestFluxHandoverOrder(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	docs := strings.Split(string(readFile(t, "config/samples/tour/orders-api.yaml")), "\n---\n")
	deployment := docs[0]
	g.Expect(deployment).To(ContainSubstring("kind: Deployment"))
	var withoutEnv []string
	for _, l := range strings.Split(deployment, "\n") {
		if !strings.Contains(l, "env:") && !strings.Contains(l, "DB_POOL_MAX_CONNECTIONS") {
			withoutEnv = append(withoutEnv, l)
		}
	}
	coOwn := blockWith(t, shBlocks(t, "docs/gitops.md"), "--field-manager=navius-tuner", "docs/gitops.md")

	fluxApply := func(ns, manifest string) {
		r := kubectl(t, []byte(strings.ReplaceAll(manifest, "namespace: shop", "namespace: "+ns)),
			"apply", "--server-side", "--field-manager=kustomize-controller", "--force-conflicts", "-f", "-")
		g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	}
	envOf := func(ns string) []corev1.EnvVar {
		d := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders-api"}, d)).To(Succeed())
		return d.Spec.Template.Spec.Containers[0].Env
	}
	for _, tc := range []struct {
		ns      string
		coOwn   bool
		wantEnv []corev1.EnvVar
	}{
		{"flux-removed-from-git", false, nil},
		{"flux-handed-over", true, []corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "10"}}},
	} {
		g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tc.ns}})).To(Succeed())
		fluxApply(tc.ns, deployment)
		g.Expect(envOf(tc.ns)).To(Equal([]corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "10"}}))
		if tc.coOwn {
			r := command(t, nil, []string{"KUBECONFIG=" + kubeconfig, "PATH=" + assets + string(os.PathListSeparator) + os.Getenv("PATH")},
				"bash", "-c", strings.ReplaceAll(coOwn, "-n shop", "-n "+tc.ns))
			g.Expect(r.err).NotTo(HaveOccurred(), r.String())
		}
		fluxApply(tc.ns, strings.Join(withoutEnv, "\n")) // the field left Git
		g.Expect(envOf(tc.ns)).To(Equal(tc.wantEnv), tc.ns)
	}
}
