package install_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestPrometheusRulesParse checks the PrometheusRule's groups with promtool.
func TestPrometheusRulesParse(t *testing.T) {
	g := NewWithT(t)
	objs := decodeAll(t, readFile(t, "config/prometheus/rules.yaml"))
	g.Expect(objs).To(HaveLen(1))
	groups, found, err := unstructured.NestedSlice(objs[0].Object, "spec", "groups")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())

	var alerts []string
	for _, gr := range groups {
		rules, _, _ := unstructured.NestedSlice(gr.(map[string]any), "rules")
		for _, r := range rules {
			if name, ok := r.(map[string]any)["alert"].(string); ok {
				alerts = append(alerts, name)
			}
		}
	}
	// The alerts the issue asks for.
	g.Expect(alerts).To(ContainElements("NaviusTunerSLOBreached", "NaviusTunerProfileStalled", "NaviusTunerStalled",
		"NaviusTunerMetricsUnavailable", "NaviusTunerRollbacksRepeating", "NaviusTunerDown"))

	checkRules(t, map[string]any{"groups": groups})
}

// TestDashboardQueriesParse checks every query of the Grafana dashboard with
// promtool, Grafana's variables replaced by values.
func TestDashboardQueriesParse(t *testing.T) {
	g := NewWithT(t)
	var dashboard struct {
		UID        string          `json:"uid"`
		Panels     []dashboardItem `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	g.Expect(json.Unmarshal(readFile(t, "config/grafana/navius-tuner.json"), &dashboard)).To(Succeed())
	g.Expect(dashboard.UID).NotTo(BeEmpty())

	var exprs []string
	var collect func([]dashboardItem)
	collect = func(items []dashboardItem) {
		for _, p := range items {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			collect(p.Panels)
		}
	}
	collect(dashboard.Panels)
	// Variables of type query: label_values(<selector>, <label>).
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range dashboard.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		text, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(text)
		g.Expect(m).NotTo(BeNil(), "variable %s: %q is not label_values(selector, label)", v.Name, text)
		exprs = append(exprs, m[1])
	}
	g.Expect(len(exprs)).To(BeNumerically(">", 15))

	vars := strings.NewReplacer(
		"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
		"${datasource}", "prometheus", "$namespace", "shop", "$profile", "orders-api",
	)
	var rules []any
	for i, e := range exprs {
		g.Expect(e).NotTo(BeEmpty())
		e = vars.Replace(e)
		g.Expect(e).NotTo(ContainSubstring("$"), "an unknown Grafana variable in %q", e)
		rules = append(rules, map[string]any{"record": fmt.Sprintf("dashboard:query_%d", i), "expr": e})
	}
	checkRules(t, map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
}

type dashboardItem struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardItem `json:"panels"`
}

// checkRules writes a Prometheus rules file and runs `promtool check rules` on it.
func checkRules(t *testing.T, file map[string]any) {
	t.Helper()
	g := NewWithT(t)
	data, err := yaml.Marshal(file)
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "rules.yaml")
	g.Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
	r := promtool(t, "check", "rules", "--lint=all", "--lint-fatal", path)
	g.Expect(r.err).NotTo(HaveOccurred(), "%s\nrules:\n%s", r, data)
	g.Expect(r.stdout).To(ContainSubstring("SUCCESS"))
}

// TestMonitoringUsesTheOperatorsMetricNames fails when the alerts or the
// dashboard name a navius_tuner_ metric that the operator does not define (a
// name in a string literal of controllers/ or internal/metrics/), so that a
// rename does not silently blind them.
func TestMonitoringUsesTheOperatorsMetricNames(t *testing.T) {
	g := NewWithT(t)
	name := regexp.MustCompile(`navius_tuner_[a-z_]*[a-z]`)
	defined := map[string]bool{}
	for _, dir := range []string{"controllers", "internal/metrics"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		g.Expect(err).NotTo(HaveOccurred())
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			g.Expect(err).NotTo(HaveOccurred())
			for _, lit := range regexp.MustCompile(`"(navius_tuner_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
				defined[lit[1]] = true
			}
		}
	}
	g.Expect(defined).NotTo(BeEmpty())
	for _, rel := range []string{"config/prometheus/rules.yaml", "config/grafana/navius-tuner.json"} {
		used := name.FindAllString(string(readFile(t, rel)), -1)
		g.Expect(used).NotTo(BeEmpty())
		for _, u := range used {
			base := u
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(u, suffix); ok && defined[b] {
					base = b
				}
			}
			g.Expect(defined).To(HaveKey(base), "%s uses %s, which the operator does not define", rel, u)
		}
	}
}
