package envtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// validationNamespace holds the objects of the PerformanceProfile validation tests.
const validationNamespace = "profile-validation"

// validProfile is a complete profile that every rule accepts; each invalid case
// below breaks exactly one thing in it.
const validProfile = `
apiVersion: tuning.navius.io/v1alpha1
kind: PerformanceProfile
metadata:
  name: orders-api
spec:
  targetRef: {kind: Deployment, name: orders-api, container: app}
  mode: Auto
  interval: 30s
  slo:
    latency:
      - {percentile: p95, threshold: 80ms}
      - {percentile: p99, threshold: 100ms}
    maxErrorRate: "0.5%"
    minThroughput: 500
    window: 5m
  metrics:
    prometheus:
      url: https://prometheus.monitoring:9091
      authSecretRef: {name: prom-token}
      tls: {caSecretRef: {name: prom-ca, key: ca.crt}}
      timeout: 10s
    labels: {namespace: shop, service: orders-api}
    saturationWindow: 1m
    queries: {latencyP99: 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'}
  connectionPool:
    maxConnections: {env: DB_POOL_MAX_CONNECTIONS, min: 5, max: 25}
    minConnections: {env: DB_POOL_MIN_CONNECTIONS, min: 1, max: 10}
    maxLifetime: {env: DB_POOL_MAX_LIFETIME_SECONDS, min: 5m, max: 30m}
    idleTimeout: {env: DB_POOL_IDLE_TIMEOUT_SECONDS, min: 1m, max: 10m}
    database: {maxConnections: 200, reserved: 20}
  cache:
    memory:
      maxItems: {env: CACHE_MEMORY_MAX_ITEMS, min: 1000, max: 200000}
      ttl: {env: CACHE_MEMORY_TTL_SECONDS, min: 10s, max: 10m}
    redis:
      ttl: {env: CACHE_REDIS_TTL_SECONDS, min: 30s, max: 1h}
      replicas: {targetRef: {kind: StatefulSet, name: redis-replicas}, min: 1, max: 5}
  autoscaling:
    hpaRef: {name: orders-api}
    minReplicas: {min: 2, max: 10}
    maxReplicas: {min: 4, max: 30}
    targetCPUUtilization: {min: 50, max: 85}
    behavior: {scaleDownStabilizationWindow: {min: 1m, max: 10m}}
  workerThreads: {env: WORKER_THREADS, min: 1, max: 16}
  guardrails: {maxStepPercent: 50, settleTime: 3m, maxRolloutsPerHour: 2, rollbackOnRegression: true}
`

// edit changes the valid profile; set and del build the common edits.
type edit func(g Gomega, obj map[string]any)

// set replaces the value at a dotted path with a value written in YAML.
func set(path, value string) edit {
	return func(g Gomega, obj map[string]any) {
		var v any
		g.Expect(yaml.Unmarshal([]byte(value), &v)).To(Succeed())
		g.Expect(unstructured.SetNestedField(obj, v, strings.Split(path, ".")...)).To(Succeed())
	}
}

// del removes the field at a dotted path.
func del(path string) edit {
	return func(_ Gomega, obj map[string]any) {
		unstructured.RemoveNestedField(obj, strings.Split(path, ".")...)
	}
}

func profileFrom(g Gomega, doc string, edits ...edit) *unstructured.Unstructured {
	obj := map[string]any{}
	g.Expect(yaml.Unmarshal([]byte(doc), &obj)).To(Succeed())
	for _, e := range edits {
		e(g, obj)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(validationNamespace)
	return u
}

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(g Gomega, name string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	g.Expect(client.IgnoreAlreadyExists(env.Client.Create(context.Background(), ns))).To(Succeed())
}

// causes returns the field errors of an API error, one "field: message" each.
func causes(err error) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	return status.Status().Details.Causes
}

// durationSyntax is the message of the rule that checks a duration's syntax.
// A malformed duration also makes the rules that compare it fail to evaluate;
// the API server reports those too, naming the rule.
const durationSyntax = "must be a duration such as 30s, 5m or 1h30m"

// expectRefused asserts that err carries a field error at field whose message
// contains message, and that no rule failed to evaluate (a rule that errors
// instead of returning false refuses with a confusing message), except after a
// malformed duration.
func expectRefused(g Gomega, err error, field, message string) {
	g.Expect(err).To(HaveOccurred(), "the API server accepted the profile")
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not a validation error: %v", err)
	found := false
	for _, c := range causes(err) {
		if message != durationSyntax {
			g.Expect(c.Message).NotTo(ContainSubstring("evaluating rule"), "a rule failed to evaluate: %v", err)
		}
		if c.Field == field && strings.Contains(c.Message, message) {
			found = true
		}
	}
	g.Expect(found).To(BeTrue(), "want a cause at %s containing %q, got: %v", field, message, err)
}

// oauth2Endpoint is a valid OAuth2 client-credentials configuration (Entra ID's shape).
const oauth2Endpoint = `{tokenURL: "https://login.microsoftonline.com/0000/oauth2/v2.0/token", clientID: navius-tuner,
  clientSecretRef: {name: entra, key: client-secret}, scopes: ["https://prometheus.monitor.azure.com/.default"]}`

func TestPerformanceProfileValidation(t *testing.T) {
	ensureNamespace(NewWithT(t), validationNamespace)
	dryRun := []client.CreateOption{client.DryRunAll}

	t.Run("the base profile is valid", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(env.Client.Create(context.Background(), profileFrom(g, validProfile), dryRun...)).To(Succeed())
	})
	t.Run("every auth of a Prometheus endpoint is valid", func(t *testing.T) {
		g := NewWithT(t)
		for _, edits := range [][]edit{
			{del("spec.metrics.prometheus.authSecretRef"), set("spec.metrics.prometheus.oauth2", oauth2Endpoint)},
			{del("spec.metrics.prometheus.authSecretRef"), set("spec.metrics.prometheus.sigv4",
				`{region: eu-central-1, credentialsSecretRef: {name: aws}, roleARN: "arn:aws:iam::123456789012:role/prometheus-query"}`)},
			{set("spec.metrics.prometheus.headers", `{X-Scope-OrgID: tenant-a}`), set("spec.metrics.prometheus.proxyURL", `http://proxy.internal:3128`),
				set("spec.metrics.prometheus.tls.clientCertSecretRef", `{name: navius-client}`)},
		} {
			g.Expect(env.Client.Create(context.Background(), profileFrom(g, validProfile, edits...), dryRun...)).To(Succeed())
		}
	})
	t.Run("a CPU target above 100% is valid (the HPA allows it where the limit is above the request)", func(t *testing.T) {
		g := NewWithT(t)
		u := profileFrom(g, validProfile, set("spec.autoscaling.targetCPUUtilization", `{min: 50, max: 200}`))
		g.Expect(env.Client.Create(context.Background(), u, dryRun...)).To(Succeed())
	})
	t.Run("a preset with a latency histogram in milliseconds and an override of every new signal is valid", func(t *testing.T) {
		g := NewWithT(t)
		u := profileFrom(g, validProfile, set("spec.metrics.preset", `istio`),
			set("spec.metrics.latencyHistogram", `{name: istio_request_duration_milliseconds, unit: milliseconds}`),
			set("spec.metrics.queries", `{latencyMean: a, throughputWindow: b, pods: c, poolMax: d, poolWaitTail: e, dbTime: f, dbCallRate: g, memoryLookupRate: h, redisOpsRate: i}`))
		g.Expect(env.Client.Create(context.Background(), u, dryRun...)).To(Succeed())
	})

	cases := []struct {
		name    string
		edits   []edit
		field   string
		message string
	}{
		// SLO
		{"no objective at all", []edit{del("spec.slo.latency"), del("spec.slo.maxErrorRate"), del("spec.slo.minThroughput")},
			"spec.slo", "slo needs at least one objective: latency, maxErrorRate or minThroughput"},
		{"empty latency list", []edit{set("spec.slo.latency", `[]`)},
			"spec.slo.latency", "should have at least 1 items"},
		{"zero threshold", []edit{set("spec.slo.latency", `[{percentile: p99, threshold: 0s}]`)},
			"spec.slo.latency[0].threshold", "threshold must be more than 0s"},
		{"threshold is not a duration", []edit{set("spec.slo.latency", `[{percentile: p99, threshold: 100 ms}]`)},
			"spec.slo.latency[0].threshold", durationSyntax},
		{"p95 threshold above p99 threshold", []edit{set("spec.slo.latency", `[{percentile: p99, threshold: 100ms}, {percentile: p95, threshold: 150ms}]`)},
			"spec.slo.latency", "a lower percentile's threshold must be less than or equal to a higher percentile's threshold"},
		{"p50 threshold above p999 threshold", []edit{set("spec.slo.latency", `[{percentile: p50, threshold: 2s}, {percentile: p999, threshold: 1s}]`)},
			"spec.slo.latency", "a lower percentile's threshold must be less than or equal to a higher percentile's threshold"},
		{"the same percentile twice", []edit{set("spec.slo.latency", `[{percentile: p99, threshold: 100ms}, {percentile: p99, threshold: 200ms}]`)},
			"spec.slo.latency[1]", "Duplicate value"},
		{"unknown percentile", []edit{set("spec.slo.latency", `[{percentile: p75, threshold: 100ms}]`)},
			"spec.slo.latency[0].percentile", `supported values: "p50", "p90", "p95", "p99", "p999"`},
		{"error rate without %", []edit{set("spec.slo.maxErrorRate", `"0.5"`)},
			"spec.slo.maxErrorRate", "must be a percentage between 0% and 100%, such as 0.5%"},
		{"error rate above 100%", []edit{set("spec.slo.maxErrorRate", `"101%"`)},
			"spec.slo.maxErrorRate", "must be a percentage between 0% and 100%, such as 0.5%"},
		{"error rate of 0%", []edit{set("spec.slo.maxErrorRate", `"0.0%"`)},
			"spec.slo.maxErrorRate", "maxErrorRate must be more than 0%"},
		{"zero throughput", []edit{set("spec.slo.minThroughput", `0`)},
			"spec.slo.minThroughput", "should be greater than or equal to 1"},
		{"window shorter than four scrapes", []edit{set("spec.slo.window", `30s`)},
			"spec.slo.window", "window must be between 1m and 24h"},

		// Cache
		{"unknown TTL start", []edit{set("spec.cache.memory.ttlCountsFrom", `Sometimes`)},
			"spec.cache.memory.ttlCountsFrom", `supported values: "Write", "Access"`},

		// Control loop
		{"unknown mode", []edit{set("spec.mode", `Manual`)},
			"spec.mode", `supported values: "Auto", "Recommend", "Off"`},
		{"interval too short", []edit{set("spec.interval", `1s`)},
			"spec.interval", "interval must be between 5s and 1h"},
		{"interval is not a duration", []edit{set("spec.interval", `30 seconds`)},
			"spec.interval", durationSyntax},
		{"settle time shorter than interval", []edit{set("spec.interval", `1m`), set("spec.guardrails.settleTime", `30s`)},
			"spec", "guardrails.settleTime must be at least interval"},
		{"zero step", []edit{set("spec.guardrails.maxStepPercent", `0`)},
			"spec.guardrails.maxStepPercent", "should be greater than or equal to 1"},
		{"zero rollouts per hour", []edit{set("spec.guardrails.maxRolloutsPerHour", `0`)},
			"spec.guardrails.maxRolloutsPerHour", "should be greater than or equal to 1"},

		// Target
		{"target is not a Deployment", []edit{set("spec.targetRef.kind", `StatefulSet`)},
			"spec.targetRef.kind", `supported values: "Deployment"`},
		{"target name is not an object name", []edit{set("spec.targetRef.name", `Orders_API`)},
			"spec.targetRef.name", "name must be a valid object name"},
		{"container name is not a DNS label", []edit{set("spec.targetRef.container", `App.Main`)},
			"spec.targetRef.container", "container must be a valid container name"},

		// Metrics
		{"metrics missing", []edit{del("spec.metrics")},
			"spec.metrics", "Required value"},
		{"url without scheme", []edit{set("spec.metrics.prometheus.url", `prometheus.monitoring:9090`), del("spec.metrics.prometheus.tls")},
			"spec.metrics.prometheus.url", "url must be an http:// or https:// URL with a host"},
		{"url with another scheme", []edit{set("spec.metrics.prometheus.url", `ftp://prometheus.monitoring`), del("spec.metrics.prometheus.tls")},
			"spec.metrics.prometheus.url", "url must be an http:// or https:// URL with a host"},
		{"tls with an http url", []edit{set("spec.metrics.prometheus.url", `http://prometheus.monitoring:9090`)},
			"spec.metrics.prometheus", "tls applies only to an https:// url"},
		{"custom CA and skipped verification", []edit{set("spec.metrics.prometheus.tls.insecureSkipVerify", `true`)},
			"spec.metrics.prometheus.tls", "set caSecretRef or insecureSkipVerify, not both"},
		{"auth secret without a name", []edit{set("spec.metrics.prometheus.authSecretRef", `{}`)},
			"spec.metrics.prometheus.authSecretRef", "authSecretRef.name must name a Secret"},
		{"bearer token and OAuth2", []edit{set("spec.metrics.prometheus.oauth2", oauth2Endpoint)},
			"spec.metrics.prometheus", "set at most one of authSecretRef, oauth2 and sigv4: each one sets the Authorization header of the queries"},
		{"OAuth2 and SigV4", []edit{del("spec.metrics.prometheus.authSecretRef"), set("spec.metrics.prometheus.oauth2", oauth2Endpoint),
			set("spec.metrics.prometheus.sigv4", `{region: us-east-1, credentialsSecretRef: {name: aws}}`)},
			"spec.metrics.prometheus", "set at most one of authSecretRef, oauth2 and sigv4"},
		{"OAuth2 token URL without a scheme", []edit{del("spec.metrics.prometheus.authSecretRef"),
			set("spec.metrics.prometheus.oauth2", `{tokenURL: login.example.com/token, clientID: navius, clientSecretRef: {name: idp, key: secret}}`)},
			"spec.metrics.prometheus.oauth2.tokenURL", "tokenURL must be an http:// or https:// URL with a host"},
		{"OAuth2 client secret without a key", []edit{del("spec.metrics.prometheus.authSecretRef"),
			set("spec.metrics.prometheus.oauth2", `{tokenURL: https://login.example.com/token, clientID: navius, clientSecretRef: {name: idp, key: ""}}`)},
			"spec.metrics.prometheus.oauth2.clientSecretRef", "clientSecretRef must name a Secret and a key"},
		{"SigV4 region is not a region", []edit{del("spec.metrics.prometheus.authSecretRef"),
			set("spec.metrics.prometheus.sigv4", `{region: Frankfurt, credentialsSecretRef: {name: aws}}`)},
			"spec.metrics.prometheus.sigv4.region", "region must be an AWS region such as us-east-1"},
		{"SigV4 role is not an ARN", []edit{del("spec.metrics.prometheus.authSecretRef"),
			set("spec.metrics.prometheus.sigv4", `{region: us-east-1, credentialsSecretRef: {name: aws}, roleARN: prometheus-query}`)},
			"spec.metrics.prometheus.sigv4.roleARN", "roleARN must be an IAM role ARN"},
		{"a header sets Authorization", []edit{set("spec.metrics.prometheus.headers", `{authorization: Bearer x}`)},
			"spec.metrics.prometheus.headers", "headers must not set Authorization (use authSecretRef, oauth2 or sigv4)"},
		{"a header name with a space", []edit{set("spec.metrics.prometheus.headers", `{"X Org": a}`)},
			"spec.metrics.prometheus.headers", "headers names must be HTTP header names"},
		{"a header value with a line break", []edit{set("spec.metrics.prometheus.headers", `{X-Scope-OrgID: "a\r\nHost: evil"}`)},
			"spec.metrics.prometheus.headers[X-Scope-OrgID]", "headers values must be printable ASCII (no line breaks)"},
		{"proxy URL without a scheme", []edit{set("spec.metrics.prometheus.proxyURL", `proxy.internal:3128`)},
			"spec.metrics.prometheus.proxyURL", "proxyURL must be an http://, https:// or socks5:// URL with a host"},
		{"client certificate Secret without a name", []edit{set("spec.metrics.prometheus.tls.clientCertSecretRef", `{}`)},
			"spec.metrics.prometheus.tls.clientCertSecretRef", "clientCertSecretRef.name must name a Secret"},
		{"timeout of zero", []edit{set("spec.metrics.prometheus.timeout", `0s`)},
			"spec.metrics.prometheus.timeout", "timeout must be between 1s and 5m"},
		{"saturation window too short", []edit{set("spec.metrics.saturationWindow", `15s`)},
			"spec.metrics.saturationWindow", "saturationWindow must be between 30s and 1h: rate() needs at least four scrapes"},
		{"saturation window too long", []edit{set("spec.metrics.saturationWindow", `2h`)},
			"spec.metrics.saturationWindow", "saturationWindow must be between 30s and 1h"},
		{"saturation window not a duration", []edit{set("spec.metrics.saturationWindow", `one minute`)},
			"spec.metrics.saturationWindow", "must be a duration such as 30s, 5m or 1h30m"},
		{"label key is not a label name", []edit{set("spec.metrics.labels", `{service-name: orders}`)},
			"spec.metrics.labels", "labels keys must be Prometheus label names"},
		{"reserved label name", []edit{set("spec.metrics.labels", `{le: "0.1"}`)},
			"spec.metrics.labels", "labels must not use the reserved label names le and navius_part"},
		{"internal label name", []edit{set("spec.metrics.labels", `{__name__: http_requests_total}`)},
			"spec.metrics.labels", "nor names starting with __"},
		{"too many labels", []edit{set("spec.metrics.labels", `{a: x, b: x, c: x, d: x, e: x, f: x, g: x, h: x, i: x, j: x, k: x}`)},
			"spec.metrics.labels", "must have at most 10 items"},
		{"query too long", []edit{set("spec.metrics.queries.latencyP99", strings.Repeat("x", 4097))},
			"spec.metrics.queries.latencyP99", "may not be more than 4096 bytes"},
		{"override of dbTime too long", []edit{set("spec.metrics.queries.dbTime", strings.Repeat("x", 4097))},
			"spec.metrics.queries.dbTime", "may not be more than 4096 bytes"},
		{"unknown preset", []edit{set("spec.metrics.preset", `prometheus`)},
			"spec.metrics.preset", "Unsupported value"},
		{"latency histogram not a metric name", []edit{set("spec.metrics.latencyHistogram", `{name: "http-latency"}`)},
			"spec.metrics.latencyHistogram.name", "name must be a Prometheus metric name"},
		{"latency histogram with its _bucket suffix", []edit{set("spec.metrics.latencyHistogram", `{name: istio_request_duration_milliseconds_bucket}`)},
			"spec.metrics.latencyHistogram.name", "without its _bucket, _sum or _count suffix"},
		{"latency histogram unit", []edit{set("spec.metrics.latencyHistogram", `{name: app_latency, unit: minutes}`)},
			"spec.metrics.latencyHistogram.unit", "Unsupported value"},

		// Knobs
		{"env name starts with a digit", []edit{set("spec.connectionPool.maxConnections.env", `1DB_POOL`)},
			"spec.connectionPool.maxConnections.env", "env must be a valid environment variable name"},
		{"env name with a dash", []edit{set("spec.cache.memory.ttl.env", `CACHE-TTL`)},
			"spec.cache.memory.ttl.env", "env must be a valid environment variable name"},
		{"two knobs share an env", []edit{set("spec.workerThreads.env", `DB_POOL_MAX_CONNECTIONS`)},
			"spec", "each knob needs its own environment variable"},
		{"integer knob min above max", []edit{set("spec.cache.memory.maxItems", `{env: CACHE_MEMORY_MAX_ITEMS, min: 5000, max: 1000}`)},
			"spec.cache.memory.maxItems", "min must be less than or equal to max"},
		{"duration knob min above max", []edit{set("spec.cache.redis.ttl", `{env: CACHE_REDIS_TTL_SECONDS, min: 2h, max: 1h}`)},
			"spec.cache.redis.ttl", "min must be less than or equal to max"},
		{"duration knob below a second", []edit{set("spec.connectionPool.idleTimeout.min", `500ms`)},
			"spec.connectionPool.idleTimeout", "min must be at least 1s: the variable holds whole seconds"},
		{"negative knob", []edit{set("spec.cache.memory.maxItems.min", `-1`)},
			"spec.cache.memory.maxItems.min", "should be greater than or equal to 0"},
		{"pool max of zero", []edit{set("spec.connectionPool.maxConnections.min", `0`)},
			"spec.connectionPool", "maxConnections.min must be at least 1: a pool needs a connection"},
		{"pool min above pool max", []edit{set("spec.connectionPool.minConnections", `{env: DB_POOL_MIN_CONNECTIONS, min: 30, max: 40}`)},
			"spec.connectionPool", "minConnections.min must be less than or equal to maxConnections.max"},
		{"worker threads of zero", []edit{set("spec.workerThreads.min", `0`)},
			"spec.workerThreads", "workerThreads.min must be at least 1"},

		// Connection budget
		{"reserved takes the whole database", []edit{set("spec.connectionPool.database.reserved", `200`)},
			"spec.connectionPool.database", "reserved must be less than maxConnections"},
		{"pool min × min replicas above the budget", []edit{set("spec.connectionPool.minConnections", `{env: DB_POOL_MIN_CONNECTIONS, min: 10, max: 20}`), set("spec.autoscaling.minReplicas", `{min: 20, max: 25}`)},
			"spec", "connection budget can never fit: connectionPool.minConnections.min × autoscaling.minReplicas.min"},
		{"pool max × max replicas above the budget", []edit{set("spec.connectionPool.maxConnections", `{env: DB_POOL_MAX_CONNECTIONS, min: 50, max: 60}`)},
			"spec", "connection budget can never fit: connectionPool.maxConnections.min × autoscaling.maxReplicas.min"},
		{"one pod's pool above the budget without autoscaling", []edit{del("spec.autoscaling"), set("spec.connectionPool.maxConnections", `{env: DB_POOL_MAX_CONNECTIONS, min: 190, max: 190}`)},
			"spec", "connection budget can never fit: connectionPool.maxConnections.min × autoscaling.maxReplicas.min (1 without autoscaling)"},

		// Redis
		{"redis target of another kind", []edit{set("spec.cache.redis.replicas.targetRef.kind", `ReplicaSet`)},
			"spec.cache.redis.replicas.targetRef.kind", `supported values: "StatefulSet", "Deployment"`},
		{"redis replicas min above max", []edit{set("spec.cache.redis.replicas.min", `6`)},
			"spec.cache.redis.replicas", "min must be less than or equal to max"},
		{"redis replicas above 100", []edit{set("spec.cache.redis.replicas.max", `101`)},
			"spec.cache.redis.replicas.max", "should be less than or equal to 100"},
		{"redis target is the target Deployment", []edit{set("spec.cache.redis.replicas.targetRef", `{kind: Deployment, name: orders-api}`)},
			"spec", "cache.redis.replicas.targetRef must not name the target Deployment: navius-tuner would scale the service's own replicas, which its HPA or the Deployment owns"},
		{"redis replicas min of zero", []edit{set("spec.cache.redis.replicas.min", `0`)},
			"spec.cache.redis.replicas.min", "redis replicas min must be at least 1: at 0 replicas there is no Redis CPU to measure"},

		// Autoscaling
		{"both hpaRef and managed", []edit{set("spec.autoscaling.managed", `{}`)},
			"spec.autoscaling", "set exactly one of hpaRef (tune an existing HPA) and managed"},
		{"neither hpaRef nor managed", []edit{del("spec.autoscaling.hpaRef")},
			"spec.autoscaling", "set exactly one of hpaRef (tune an existing HPA) and managed"},
		{"hpaRef without a name", []edit{set("spec.autoscaling.hpaRef", `{}`)},
			"spec.autoscaling.hpaRef", "hpaRef.name must name an HPA"},
		{"managed HPA name is not an object name", []edit{del("spec.autoscaling.hpaRef"), set("spec.autoscaling.managed", `{name: Orders}`)},
			"spec.autoscaling.managed.name", "name must be a valid object name"},
		{"min replicas of zero", []edit{set("spec.autoscaling.minReplicas", `{min: 0, max: 10}`)},
			"spec.autoscaling.minReplicas", "minReplicas.min must be at least 1"},
		{"max replicas of zero", []edit{set("spec.autoscaling.maxReplicas", `{min: 0, max: 30}`)},
			"spec.autoscaling.maxReplicas", "maxReplicas.min must be at least 1"},
		{"min replicas above every max replicas", []edit{set("spec.autoscaling.minReplicas", `{min: 31, max: 40}`)},
			"spec.autoscaling", "minReplicas.min must be less than or equal to maxReplicas.max"},
		{"replica range min above max", []edit{set("spec.autoscaling.maxReplicas", `{min: 30, max: 4}`)},
			"spec.autoscaling.maxReplicas", "min must be less than or equal to max"},
		{"CPU target above 1000%", []edit{set("spec.autoscaling.targetCPUUtilization", `{min: 50, max: 1001}`)},
			"spec.autoscaling.targetCPUUtilization", "targetCPUUtilization must be between 1 and 1000 (percent of the CPU request; above 100 only where the CPU limit is above the request)"},
		{"CPU target of 0%", []edit{set("spec.autoscaling.targetCPUUtilization", `{min: 0, max: 85}`)},
			"spec.autoscaling.targetCPUUtilization", "targetCPUUtilization must be between 1 and 1000 (percent of the CPU request; above 100 only where the CPU limit is above the request)"},
		{"stabilization window above the HPA's limit", []edit{set("spec.autoscaling.behavior.scaleDownStabilizationWindow", `{min: 1m, max: 2h}`)},
			"spec.autoscaling.behavior", "scaleDownStabilizationWindow.max must be at most 1h"},
		{"stabilization window min above max", []edit{set("spec.autoscaling.behavior.scaleDownStabilizationWindow", `{min: 10m, max: 1m}`)},
			"spec.autoscaling.behavior.scaleDownStabilizationWindow", "min must be less than or equal to max"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := env.Client.Create(context.Background(), profileFrom(g, validProfile, tc.edits...), dryRun...)
			expectRefused(g, err, tc.field, tc.message)
		})
	}
}

// targetRef cannot change: the operator's history, baseline and owned fields
// all belong to one workload.
func TestPerformanceProfileTargetRefIsImmutable(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureNamespace(g, validationNamespace)
	u := profileFrom(g, validProfile, set("metadata.name", `immutable-target`))
	g.Expect(env.Client.Create(ctx, u)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })

	g.Expect(unstructured.SetNestedField(u.Object, "other-api", "spec", "targetRef", "name")).To(Succeed())
	expectRefused(g, env.Client.Update(ctx, u), "spec.targetRef",
		"targetRef is immutable: delete the profile and create a new one to tune another workload")

	// Everything else may change.
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
	g.Expect(unstructured.SetNestedField(u.Object, "Recommend", "spec", "mode")).To(Succeed())
	g.Expect(env.Client.Update(ctx, u)).To(Succeed())
}

// A Go client that leaves the defaulted fields at their zero values sends
// nothing for them (omitzero), and the API server fills in the defaults.
func TestPerformanceProfileDefaults(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureNamespace(g, validationNamespace)
	p := &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: validationNamespace},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: "orders-api"},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
			}},
			Metrics: tuningv1alpha1.MetricsSource{Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: "http://prometheus.monitoring:9090"}},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX_CONNECTIONS", Min: 5, Max: 20},
				Database:       &tuningv1alpha1.DatabaseBudget{MaxConnections: 100},
			},
			Autoscaling: &tuningv1alpha1.Autoscaling{Managed: &tuningv1alpha1.ManagedHPA{}},
		},
	}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, p) })

	s := p.Spec
	g.Expect(s.TargetRef.Kind).To(Equal("Deployment"))
	g.Expect(s.Mode).To(Equal(tuningv1alpha1.ModeAuto))
	g.Expect(s.Interval.Duration).To(Equal(30 * time.Second))
	g.Expect(s.SLO.Window.Duration).To(Equal(5 * time.Minute))
	// No default: the manager's --prometheus-timeout applies to a profile without one.
	g.Expect(s.Metrics.Prometheus.Timeout.Duration).To(BeZero())
	// Today's contract unless a preset is named.
	g.Expect(s.Metrics.Preset).To(Equal(tuningv1alpha1.PresetNavius))
	g.Expect(s.Metrics.LatencyHistogram).To(BeNil())
	g.Expect(s.ConnectionPool.Database.Reserved).To(BeZero())
	g.Expect(s.Guardrails).To(Equal(tuningv1alpha1.Guardrails{
		MaxStepPercent:       50,
		SettleTime:           metav1.Duration{Duration: 3 * time.Minute},
		MaxRolloutsPerHour:   2,
		RollbackOnRegression: ptr.To(true),
	}))
}

// Every sample under config/samples is accepted, and the kustomization lists
// them all, with the workloads they tune.
func TestPerformanceProfileSamples(t *testing.T) {
	g := NewWithT(t)
	ensureNamespace(g, validationNamespace)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	dir := filepath.Join(root, "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())

	kustomization, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var k struct {
		Resources []string `json:"resources"`
	}
	g.Expect(yaml.Unmarshal(kustomization, &k)).To(Succeed())

	var samples []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			samples = append(samples, filepath.Base(f))
		}
	}
	g.Expect(samples).To(HaveLen(3))
	// The profiles, and workloads/: what they tune (test/install applies both).
	g.Expect(k.Resources).To(ConsistOf(append(samples, "workloads")))

	for _, name := range samples {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			doc, err := os.ReadFile(filepath.Join(dir, name))
			g.Expect(err).NotTo(HaveOccurred())
			u := profileFrom(g, string(doc))
			g.Expect(u.GetKind()).To(Equal("PerformanceProfile"))
			g.Expect(env.Client.Create(context.Background(), u, client.DryRunAll)).To(Succeed())

			// The sample decodes into the Go types without loss of its fields.
			var p tuningv1alpha1.PerformanceProfile
			g.Expect(yaml.UnmarshalStrict(doc, &p)).To(Succeed())
		})
	}
}

// Every spec.metrics.prometheus example of install.md's "Prometheus
// credentials" section is accepted by the CRD as written (placeholders such
// as <tenant-id> filled in), so that the page never shows a field the API
// refuses.
func TestInstallCredentialExamplesAreValid(t *testing.T) {
	g := NewWithT(t)
	ensureNamespace(g, validationNamespace)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	page, err := os.ReadFile(filepath.Join(root, "docs", "install.md"))
	g.Expect(err).NotTo(HaveOccurred())
	section, _, _ := strings.Cut(string(page[strings.Index(string(page), "## Prometheus credentials"):]), "\n## ")
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1)
	g.Expect(len(blocks)).To(BeNumerically(">=", 6), "an example per way to connect")
	placeholder := regexp.MustCompile(`<[a-z-]+>`)
	for _, b := range blocks {
		example := placeholder.ReplaceAllString(b[1], "x1")
		err := env.Client.Create(context.Background(), profileFrom(g, validProfile, set("spec.metrics.prometheus", example)),
			client.DryRunAll, client.FieldValidation("Strict"))
		g.Expect(err).NotTo(HaveOccurred(), "install.md's example:\n%s", b[1])
	}
}
