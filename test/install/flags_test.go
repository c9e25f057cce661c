package install_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// managerFlag is one flag as `manager --help` prints it.
type managerFlag struct {
	typ, def string
}

// managerFlags builds the manager and reads its flag set from --help.
func managerFlags(t *testing.T) map[string]managerFlag {
	t.Helper()
	r := command(t, nil, nil, buildManager(t), "--help")
	// The flag package prints the usage and exits 0 on -help.
	if r.err != nil {
		t.Fatalf("manager --help: %s", r)
	}
	flags := map[string]managerFlag{}
	lines := strings.Split(r.stderr, "\n")
	head := regexp.MustCompile(`^  -(\S+)(?: (\S+))?$`)
	def := regexp.MustCompile(` \(default (.*)\)$`)
	for i, l := range lines {
		m := head.FindStringSubmatch(l)
		if m == nil || i+1 >= len(lines) {
			continue
		}
		f := managerFlag{typ: m[2]}
		if f.typ == "" {
			f.typ, f.def = "bool", "false"
		}
		if d := def.FindStringSubmatch(lines[i+1]); d != nil {
			f.def = strings.Trim(d[1], `"`)
		}
		flags[m[1]] = f
	}
	if len(flags) < 10 {
		t.Fatalf("read %d flags from manager --help:\n%s", len(flags), r)
	}
	return flags
}

// TestFlagsPageListsEveryFlag compares docs/flags.md with the flag set of the
// built manager: the same flags, with the same defaults.
func TestFlagsPageListsEveryFlag(t *testing.T) {
	g := NewWithT(t)
	real := managerFlags(t)
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\|([^|]*)\\|").FindAllStringSubmatch(string(readFile(t, "docs/flags.md")), -1) {
		documented[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
	}
	for name, f := range real {
		g.Expect(documented).To(HaveKey(name), "docs/flags.md lacks --%s", name)
		g.Expect(documented[name]).To(Equal(f.def), "docs/flags.md gives --%s another default than the manager", name)
	}
	for name := range documented {
		g.Expect(real).To(HaveKey(name), "docs/flags.md lists --%s, which the manager does not have", name)
	}
}

// TestDocsNameOnlyFlagsTheManagerHas: every manager flag the docs, the
// README and the chart's templates pass or mention exists (a flag the manager
// does not know makes it exit at start), and none tells to use klog's -v.
func TestDocsNameOnlyFlagsTheManagerHas(t *testing.T) {
	g := NewWithT(t)
	real := managerFlags(t)
	families := regexp.MustCompile(`^(zap-|metrics-|leader-|prometheus-|health-|observe-|max-concurrent|watch-|pprof-|enable-http2)`)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	g.Expect(err).NotTo(HaveOccurred())
	templates, err := filepath.Glob(filepath.Join(root, "dist", "chart", "templates", "*"))
	g.Expect(err).NotTo(HaveOccurred())
	files = append(append(files, templates...), filepath.Join(root, "README.md"), filepath.Join(root, "config", "manager", "manager.yaml"))
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		text := string(readFile(t, rel))
		g.Expect(text).NotTo(MatchRegexp("`-v=[0-9]"), "%s tells to run the manager with klog's -v, which it does not have: --zap-log-level", rel)
		for _, m := range regexp.MustCompile(`--([a-z][a-z0-9-]+)`).FindAllStringSubmatch(text, -1) {
			if families.MatchString(m[1]) {
				g.Expect(real).To(HaveKey(m[1]), "%s names --%s, which the manager does not have", rel, m[1])
			}
		}
	}
}

// TestChartLogLevelIsOneTheManagerAccepts: the chart's schema accepts a
// logLevel exactly when the manager starts with it as --zap-log-level.
func TestChartLogLevelIsOneTheManagerAccepts(t *testing.T) {
	bin := buildManager(t)
	for _, level := range []string{"debug", "info", "error", "panic", "1", "4", "dpanic", "warn", "0", "-1"} {
		t.Run(level, func(t *testing.T) {
			// --version exits right after the flags are parsed.
			starts := command(t, nil, nil, bin, "--zap-log-level="+level, "--version").err == nil
			rendered := helm(t, "template", "navius-tuner", "dist/chart", "--kube-version", testenv.KubernetesVersion, "--set", "logLevel="+level)
			if accepted := rendered.err == nil; accepted != starts {
				t.Errorf("logLevel %s: the chart accepts it: %v; the manager starts with it: %v\n%s", level, accepted, starts, rendered)
			}
		})
	}
}
