package install_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// TestProjectFileTellsTheTruth checks the PROJECT file against the tree: the
// repository is go.mod's module, every resource's package exists and
// declares its kind, and the layout it names (main package, reconciler) is
// where the code is, not kubebuilder v4's default paths.
func TestProjectFileTellsTheTruth(t *testing.T) {
	g := NewWithT(t)
	raw := readFile(t, "PROJECT")
	var project struct {
		Repo      string `json:"repo"`
		Resources []struct {
			Kind    string `json:"kind"`
			Group   string `json:"group"`
			Version string `json:"version"`
			Path    string `json:"path"`
		} `json:"resources"`
	}
	g.Expect(yaml.Unmarshal(raw, &project)).To(Succeed())

	module := ""
	for _, l := range strings.Split(string(readFile(t, "go.mod")), "\n") {
		if m, ok := strings.CutPrefix(l, "module "); ok {
			module = strings.TrimSpace(m)
		}
	}
	g.Expect(project.Repo).To(Equal(module), "PROJECT repo is not go.mod's module")

	g.Expect(project.Resources).NotTo(BeEmpty())
	for _, r := range project.Resources {
		rel, ok := strings.CutPrefix(r.Path, module+"/")
		g.Expect(ok).To(BeTrue(), "resource %s: path %s is outside the module", r.Kind, r.Path)
		g.Expect(filepath.Base(rel)).To(Equal(r.Version))
		types, err := os.ReadFile(filepath.Join(root, rel, strings.ToLower(r.Kind)+"_types.go"))
		g.Expect(err).NotTo(HaveOccurred(), "resource %s: no %s_types.go in %s", r.Kind, strings.ToLower(r.Kind), rel)
		g.Expect(string(types)).To(ContainSubstring("type " + r.Kind + " struct"))
	}

	layout := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if kv, ok := strings.CutPrefix(l, "# layout-"); ok {
			k, v, _ := strings.Cut(kv, ":")
			layout[k] = strings.TrimSpace(v)
		}
	}
	g.Expect(layout).To(HaveKey("main"))
	g.Expect(layout).To(HaveKey("controllers"))
	g.Expect(filepath.Join(root, layout["main"], "main.go")).To(BeARegularFile(), "PROJECT names the wrong main package")
	entries, err := os.ReadDir(filepath.Join(root, layout["controllers"]))
	g.Expect(err).NotTo(HaveOccurred(), "PROJECT names the wrong reconciler package")
	reconciler := false
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "_controller.go") {
			reconciler = true
		}
	}
	g.Expect(reconciler).To(BeTrue(), "no *_controller.go in %s", layout["controllers"])
	// The defaults of kubebuilder v4's layout are not where the code is, and
	// the comment says so; fail if someone moves the code there without
	// updating PROJECT.
	g.Expect(filepath.Join(root, "cmd", "main.go")).NotTo(BeAnExistingFile())
	g.Expect(filepath.Join(root, "internal", "controller")).NotTo(BeADirectory())
}

// shipped are the packages the manager binary is built from; README.md's
// layout table lists them under "What ships". Everything else in the module
// is the lab that tests, demonstrates and measures them.
var shipped = []string{
	"api/v1alpha1",
	"cmd/manager",
	"controllers",
	"internal/actuate",
	"internal/prom",
	"internal/signals",
	"internal/conditions",
	"internal/guard",
	"internal/period",
	"internal/tuning",
	"internal/version",
}

// pluginOwn are the packages of the kubectl plugin beyond the manager's: it
// ships too (make release), and imports nothing of the lab either.
var pluginOwn = []string{"cmd/kubectl-navius", "internal/plugin", "internal/replay", "internal/period/step"}

// TestWhatShipsIsWhatTheReadmeSays fails when the manager starts to depend on
// a lab package (the local cluster, the simulator, the benchmarks, the test
// helpers) or on plotting, or when README.md's list of what ships drifts from
// the manager's real import graph.
func TestWhatShipsIsWhatTheReadmeSays(t *testing.T) {
	g := NewWithT(t)
	deps := command(t, nil, nil, "go", "list", "-deps", "./cmd/manager")
	g.Expect(deps.err).NotTo(HaveOccurred(), deps.String())
	var own []string
	for _, p := range strings.Fields(deps.stdout) {
		g.Expect(p).NotTo(ContainSubstring("gonum.org"), "the manager imports plotting code")
		if rel, ok := strings.CutPrefix(p, "github.com/navius-dev/navius-tuner/"); ok {
			own = append(own, rel)
		}
	}
	g.Expect(own).To(ConsistOf(shipped), "the manager's packages changed: update README.md's layout and the list above")

	// The image is built from exactly these packages.
	var copied []string
	for _, l := range strings.Split(string(readFile(t, "Dockerfile")), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "COPY" && strings.HasSuffix(f[1], "/") && f[1] == f[2] {
			copied = append(copied, strings.TrimSuffix(f[1], "/"))
		}
	}
	g.Expect(copied).To(ConsistOf(shipped), "the Dockerfile copies other packages than the manager is built from")
	for _, l := range strings.Split(string(readFile(t, "Dockerfile")), "\n") {
		g.Expect(strings.HasPrefix(strings.TrimSpace(l), "RUN") && strings.Contains(l, "go mod download")).To(BeFalse(),
			"go mod download would fetch every module of go.mod, the lab's plotting code included")
	}

	// The plugin is built from the manager's packages and its own.
	pdeps := command(t, nil, nil, "go", "list", "-deps", "./cmd/kubectl-navius")
	g.Expect(pdeps.err).NotTo(HaveOccurred(), pdeps.String())
	var pluginPkgs []string
	for _, p := range strings.Fields(pdeps.stdout) {
		g.Expect(p).NotTo(ContainSubstring("gonum.org"), "the plugin imports plotting code")
		if rel, ok := strings.CutPrefix(p, "github.com/navius-dev/navius-tuner/"); ok {
			g.Expect(append(slices.Clone(shipped), pluginOwn...)).To(ContainElement(rel), "the plugin imports %s, which does not ship", rel)
			pluginPkgs = append(pluginPkgs, rel)
		}
	}
	g.Expect(pluginPkgs).To(ContainElements(pluginOwn))

	readme := string(readFile(t, "README.md"))
	ships, _, ok := strings.Cut(readme[strings.Index(readme, "### What ships"):], "### The lab")
	g.Expect(ok).To(BeTrue(), "README.md has no '### What ships' followed by '### The lab'")
	for _, p := range append(slices.Clone(shipped), pluginOwn...) {
		if p == "cmd/manager" {
			continue // listed with the manager binary
		}
		g.Expect(ships).To(ContainSubstring("`"+p+"`"), "README.md's 'What ships' does not list %s", p)
	}

	// Inside internal/, a package either ships or lives under internal/lab/:
	// the tree alone tells a newcomer which is which.
	pkgs := command(t, nil, nil, "go", "list", "./internal/...")
	g.Expect(pkgs.err).NotTo(HaveOccurred(), pkgs.String())
	_, lab, _ := strings.Cut(readme, "### The lab")
	lab, _, _ = strings.Cut(lab, "\n## ")
	for _, p := range strings.Fields(pkgs.stdout) {
		rel := strings.TrimPrefix(p, "github.com/navius-dev/navius-tuner/")
		if slices.Contains(shipped, rel) || slices.Contains(pluginOwn, rel) {
			continue
		}
		g.Expect(rel).To(HavePrefix("internal/lab/"), "%s neither ships nor is in the lab folder internal/lab/", rel)
		if top := strings.Join(strings.Split(rel, "/")[:3], "/"); top == rel {
			g.Expect(lab).To(ContainSubstring("`"+rel+"`"), "README.md's 'The lab' does not list %s", rel)
		}
	}
}
