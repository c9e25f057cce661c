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
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// TestDashboardQueriesParse checks every query of the Grafana dashboard
// (panels, annotations, variables) with promtool, Grafana's variables
// replaced by values. That each one names series the manager exports is
// controllers' TestDashboardQueriesNameExportedSeries.
func TestDashboardQueriesParse(t *testing.T) {
	g := NewWithT(t)
	var dashboard struct {
		UID         string          `json:"uid"`
		Panels      []dashboardItem `json:"panels"`
		Annotations struct {
			List []dashboardAnnotation `json:"list"`
		} `json:"annotations"`
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
	for _, a := range dashboard.Annotations.List {
		if a.Expr != "" {
			exprs = append(exprs, a.Expr)
		}
	}
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

// dashboardAnnotation is an annotation query of the dashboard.
type dashboardAnnotation struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
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
// name in a string literal of controllers/ or internal/prom/), so that a
// rename does not silently blind them.
func TestMonitoringUsesTheOperatorsMetricNames(t *testing.T) {
	g := NewWithT(t)
	name := regexp.MustCompile(`navius_tuner_[a-z_]*[a-z]`)
	defined := map[string]bool{}
	for _, dir := range []string{"controllers", "internal/prom"} {
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

// TestAlertsOnSeriesAsThePrometheusOperatorLabelsThem runs `promtool test
// rules` on the alerts with series labelled as a ServiceMonitor scrape labels
// them (honor_labels false: job is the Service's name, namespace the
// manager's, the profile's namespace in profile_namespace). A rule that
// names a job, or reads a profile's namespace from namespace, fails it; so
// does a stall alert that clears while the profile is still stalled.
func TestAlertsOnSeriesAsThePrometheusOperatorLabelsThem(t *testing.T) {
	g := NewWithT(t)
	groups := alertGroups(t)
	// The annotations are templates promtool check rules already parses
	// (TestPrometheusRulesParse); without them the expected alerts below
	// need only their labels.
	for _, gr := range groups {
		rules, _, _ := unstructured.NestedSlice(gr.(map[string]any), "rules") // a copy
		for _, r := range rules {
			delete(r.(map[string]any), "annotations")
		}
		gr.(map[string]any)["rules"] = rules
	}
	dir := t.TempDir()
	data, err := yaml.Marshal(map[string]any{"groups": groups})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "rules.yaml"), data, 0o600)).To(Succeed())

	// What a ServiceMonitor scrape adds to every series of the manager.
	target := `job="navius-tuner-controller-manager-metrics-service", namespace="navius-tuner-system", service="navius-tuner-controller-manager-metrics-service", pod="navius-tuner-controller-manager-6d4cf56db6-x7k2p", instance="10.244.0.17:8443", endpoint="https"`
	profile := func(extra string) string {
		return `{` + target + `, profile_namespace="shop", profile="orders-api"` + extra + `}`
	}
	tests := fmt.Sprintf(`rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'navius_tuner_build_info{%[1]s, version="v0.3.0", revision="abc", goversion="go1.26.0"}'
    values: '1x180'
  - series: 'leader_election_master_status{%[1]s, name="navius-tuner.tuning.navius.io"}'
    values: '1x180'
  - series: 'navius_tuner_slo_compliance%[2]s'
    values: '0x180'
  # Stalled from the start and never reconciled again: the condition stays.
  - series: 'navius_tuner_profile_condition%[3]s'
    values: '1x180'
  - series: 'navius_tuner_profile_condition%[4]s'
    values: '0x180'
  # The one stalled reconcile, long ago.
  - series: 'navius_tuner_reconcile_duration_seconds_count{%[1]s, result="stalled"}'
    values: '1x180'
  alert_rule_test:
  - eval_time: 40m
    alertname: NaviusTunerSLOBreached
    exp_alerts:
    - exp_labels: {severity: warning, job: navius-tuner-controller-manager-metrics-service, namespace: navius-tuner-system, service: navius-tuner-controller-manager-metrics-service, pod: navius-tuner-controller-manager-6d4cf56db6-x7k2p, instance: "10.244.0.17:8443", endpoint: https, profile_namespace: shop, profile: orders-api}
  - eval_time: 170m
    alertname: NaviusTunerProfileStalled
    exp_alerts:
    - exp_labels: {severity: warning, job: navius-tuner-controller-manager-metrics-service, namespace: navius-tuner-system, service: navius-tuner-controller-manager-metrics-service, pod: navius-tuner-controller-manager-6d4cf56db6-x7k2p, instance: "10.244.0.17:8443", endpoint: https, profile_namespace: shop, profile: orders-api, type: Stalled, status: "True"}
  - eval_time: 170m
    alertname: NaviusTunerDown
    exp_alerts: []
  - eval_time: 170m
    alertname: NaviusTunerNoLeader
    exp_alerts: []
- interval: 1m
  input_series:
  - series: 'navius_tuner_build_info{%[1]s, version="v0.3.0", revision="abc", goversion="go1.26.0"}'
    values: '1x10 _x60'
  - series: 'leader_election_master_status{%[1]s, name="navius-tuner.tuning.navius.io"}'
    values: '0x60'
  # Another operator's controller with the same name is not navius-tuner's.
  - series: 'leader_election_master_status{job="other", instance="10.0.0.9:8080", name="other"}'
    values: '1x60'
  alert_rule_test:
  - eval_time: 8m
    alertname: NaviusTunerNoLeader
    exp_alerts:
    - exp_labels: {severity: critical}
  - eval_time: 30m
    alertname: NaviusTunerDown
    exp_alerts:
    - exp_labels: {severity: critical}
`, target, profile(""), profile(`, type="Stalled", status="True"`), profile(`, type="Stalled", status="False"`))
	g.Expect(os.WriteFile(filepath.Join(dir, "tests.yaml"), []byte(tests), 0o600)).To(Succeed())
	r := promtool(t, "test", "rules", filepath.Join(dir, "tests.yaml"))
	g.Expect(r.err).NotTo(HaveOccurred(), "%s\nrules:\n%s", r, data)
}

// TestEveryAlertHasARunbook checks that each alert links a section of
// docs/runbooks.md that exists, and that each section is an alert's.
func TestEveryAlertHasARunbook(t *testing.T) {
	g := NewWithT(t)
	const base = "https://github.com/navius-dev/navius-tuner/blob/main/docs/runbooks.md#"
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\w+)$`).FindAllStringSubmatch(string(readFile(t, "docs/runbooks.md")), -1) {
		anchors[strings.ToLower(m[1])] = true
	}
	linked := map[string]bool{}
	for _, gr := range alertGroups(t) {
		rules, _, _ := unstructured.NestedSlice(gr.(map[string]any), "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			name, ok := rule["alert"].(string)
			if !ok {
				continue
			}
			url, _, _ := unstructured.NestedString(rule, "annotations", "runbook_url")
			g.Expect(url).To(Equal(base+strings.ToLower(name)), "alert %s", name)
			g.Expect(anchors).To(HaveKey(strings.ToLower(name)), "docs/runbooks.md has no section ## %s", name)
			linked[strings.ToLower(name)] = true
		}
	}
	g.Expect(linked).To(Equal(anchors), "every runbook section belongs to an alert")
}

// alertGroups returns spec.groups of config/prometheus/rules.yaml.
func alertGroups(t *testing.T) []any {
	t.Helper()
	objs := decodeAll(t, readFile(t, "config/prometheus/rules.yaml"))
	if len(objs) != 1 {
		t.Fatalf("config/prometheus/rules.yaml: %d objects, want 1", len(objs))
	}
	groups, found, err := unstructured.NestedSlice(objs[0].Object, "spec", "groups")
	if err != nil || !found {
		t.Fatalf("config/prometheus/rules.yaml: no spec.groups (%v)", err)
	}
	return groups
}

// TestCertManagerOverlay renders config/certmanager and checks that its parts
// agree: the manager reads the Certificate's Secret with --metrics-cert-path,
// the ServiceMonitor verifies with that Secret's CA and a name the
// certificate holds (the metrics Service's), and the API server takes it all.
func TestCertManagerOverlay(t *testing.T) {
	g := NewWithT(t)
	r := kubectl(t, nil, "kustomize", "config/certmanager")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	objs := decodeAll(t, []byte(r.stdout))

	cert := find(t, objs, "Certificate", "navius-tuner-metrics-certs")
	secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	g.Expect(find(t, objs, "Issuer", issuer).GetNamespace()).To(Equal(cert.GetNamespace()))

	dep := find(t, objs, "Deployment", "navius-tuner-controller-manager")
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	manager := containers[0].(map[string]any)
	var certPath string
	for _, a := range stringList(manager["args"]) {
		if v, ok := strings.CutPrefix(a, "--metrics-cert-path="); ok {
			certPath = v
		}
	}
	g.Expect(certPath).NotTo(BeEmpty(), "args: %v", manager["args"])
	mounts, _, _ := unstructured.NestedSlice(manager, "volumeMounts")
	volumes, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	g.Expect(mounts).To(ContainElement(And(HaveKeyWithValue("mountPath", certPath), HaveKeyWithValue("name", "metrics-certs"))))
	g.Expect(volumes).To(ContainElement(And(
		HaveKeyWithValue("name", "metrics-certs"),
		HaveKeyWithValue("secret", HaveKeyWithValue("secretName", secret)))))

	svc := find(t, objs, "Service", "navius-tuner-controller-manager-metrics-service")
	monitor := find(t, objs, "ServiceMonitor", "navius-tuner-controller-manager-metrics-monitor")
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	g.Expect(endpoints).To(HaveLen(1))
	tlsConfig, _, _ := unstructured.NestedMap(endpoints[0].(map[string]any), "tlsConfig")
	g.Expect(tlsConfig).NotTo(HaveKeyWithValue("insecureSkipVerify", true))
	g.Expect(tlsConfig).To(HaveKeyWithValue("ca", HaveKeyWithValue("secret", And(HaveKeyWithValue("name", secret), HaveKeyWithValue("key", "ca.crt")))))
	serverName := svc.GetName() + "." + svc.GetNamespace() + ".svc"
	g.Expect(tlsConfig).To(HaveKeyWithValue("serverName", serverName))
	g.Expect(dnsNames).To(ContainElement(serverName))
	g.Expect(monitor.GetNamespace()).To(Equal(cert.GetNamespace()), "the Prometheus Operator reads the CA Secret in the ServiceMonitor's namespace")

	createSystemNamespace(t, []byte(r.stdout))
	installMonitoringCRDs(t)
	installStandInCRDs(t, "cert-manager.io", [][2]string{{"Issuer", "issuers"}, {"Certificate", "certificates"}})
	applied := kubectl(t, []byte(r.stdout), "apply", "--server-side", "--dry-run=server", "-f", "-")
	g.Expect(applied.err).NotTo(HaveOccurred(), applied.String())
}

// TestServiceMonitorScrapesWithItsOwnToken: the ServiceMonitors of
// config/prometheus, config/certmanager and the chart authenticate with
// `authorization` from a Secret (not the deprecated bearerTokenFile), and
// ship that Secret: a service-account token, in the ServiceMonitor's
// namespace, of a ServiceAccount they ship and bind to the metrics-reader
// ClusterRole. Applied to the API server, a token of that ServiceAccount may
// get /metrics, the request the manager's endpoint authorizes.
func TestServiceMonitorScrapesWithItsOwnToken(t *testing.T) {
	installForReal(t)
	installMonitoringCRDs(t)
	for _, src := range []struct {
		name   string
		apply  bool
		render func() result
	}{
		{"config/prometheus", true, func() result { return command(t, nil, nil, kustomize(t), "build", "config/prometheus") }},
		{"config/certmanager", false, func() result { return command(t, nil, nil, kustomize(t), "build", "config/certmanager") }},
		{"dist/chart", true, func() result {
			return renderChart(t, systemNamespace, "serviceMonitor: {enabled: true}\ncrds: {install: false}\n")
		}},
	} {
		t.Run(src.name, func(t *testing.T) {
			g := NewWithT(t)
			r := src.render()
			g.Expect(r.err).NotTo(HaveOccurred(), r.String())
			objs := decodeAll(t, []byte(r.stdout))
			monitor := findKind(g, objs, "ServiceMonitor")
			endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
			g.Expect(endpoints).To(HaveLen(1))
			ep := endpoints[0].(map[string]any)
			g.Expect(ep).NotTo(HaveKey("bearerTokenFile"))
			g.Expect(ep).To(HaveKeyWithValue("authorization", HaveKeyWithValue("type", "Bearer")))
			creds := ep["authorization"].(map[string]any)["credentials"].(map[string]any)
			g.Expect(creds).To(HaveKeyWithValue("key", "token"))

			secret := find(t, objs, "Secret", creds["name"].(string))
			g.Expect(secret.GetNamespace()).To(Equal(monitor.GetNamespace()), "the Prometheus Operator reads the Secret from the ServiceMonitor's namespace")
			g.Expect(secret.Object["type"]).To(Equal("kubernetes.io/service-account-token"))
			scraper := secret.GetAnnotations()["kubernetes.io/service-account.name"]
			g.Expect(find(t, objs, "ServiceAccount", scraper).GetNamespace()).To(Equal(monitor.GetNamespace()))
			var bound []string
			for _, o := range objs {
				if o.GetKind() != "ClusterRoleBinding" {
					continue
				}
				subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
				for _, s := range subjects {
					if s.(map[string]any)["name"] == scraper {
						role, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
						bound = append(bound, role)
					}
				}
			}
			g.Expect(bound).To(Equal([]string{"navius-tuner-metrics-reader"}))
			if !src.apply {
				return
			}

			// Only the scrape's objects: the chart's Deployment differs from
			// the one installForReal applied in ways the API server does not let change.
			var docs []string
			for _, o := range objs {
				if o.GetKind() == "ServiceMonitor" || strings.Contains(o.GetName(), "metrics-scraper") {
					b, err := yaml.Marshal(o.Object)
					g.Expect(err).NotTo(HaveOccurred())
					docs = append(docs, string(b))
				}
			}
			g.Expect(docs).To(HaveLen(4), "the ServiceMonitor, the scraper's ServiceAccount, its token Secret and its binding")
			a := kubectl(t, []byte(strings.Join(docs, "---\n")), "apply", "--server-side", "--force-conflicts", "-f", "-")
			g.Expect(a.err).NotTo(HaveOccurred(), a.String())
			// The token controller, which fills the Secret, does not run
			// here; a TokenRequest gives a token of the same ServiceAccount.
			c, err := client.New(tokenConfig(serviceAccountToken(t, monitor.GetNamespace(), scraper)), client.Options{Scheme: env.Scheme})
			g.Expect(err).NotTo(HaveOccurred())
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
			}}
			g.Expect(c.Create(t.Context(), review)).To(Succeed())
			g.Expect(review.Status.Allowed).To(BeTrue(), "the scraper's token may not get /metrics: %s", review.Status.Reason)
		})
	}
}
