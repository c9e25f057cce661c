package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Validation conventions of this API, so that every rule reads the same way:
//
//   - Durations are metav1.Duration strings in Go syntax ("30s", "5m", "1h30m").
//     Each duration field carries a rule that checks the syntax, because the API
//     server does not, and a malformed duration would break every client that
//     decodes the object.
//   - Non-pointer durations and structs use `omitzero`, so that a Go client that
//     leaves them unset sends nothing and the API server applies the default.
//   - Bounds that hold for every use of a type sit on the type; bounds that depend
//     on the use (a pool needs at least one connection) sit on the field.
//   - Rules that relate several fields (the connection budget, unique env names)
//     sit on the smallest object that contains all of them.

// Mode says how far navius-tuner may act on a workload.
// +kubebuilder:validation:Enum=Auto;Recommend;Off
type Mode string

const (
	// ModeAuto applies every plan to the workload.
	ModeAuto Mode = "Auto"
	// ModeRecommend computes the same plans as Auto but only publishes them in status.recommendation.
	ModeRecommend Mode = "Recommend"
	// ModeOff only observes and reports the SLIs.
	ModeOff Mode = "Off"
)

// PerformanceProfileSpec declares the latency SLOs of one workload and the knobs
// navius-tuner may turn, within bounds, to keep them.
// +kubebuilder:validation:XValidation:rule="!has(self.connectionPool) || !has(self.connectionPool.minConnections) || !has(self.connectionPool.database) || self.connectionPool.minConnections.min * self.?autoscaling.?minReplicas.?min.orValue(1) <= self.connectionPool.database.maxConnections - self.connectionPool.database.reserved",message="connection budget can never fit: connectionPool.minConnections.min × autoscaling.minReplicas.min (1 without autoscaling) exceeds database.maxConnections - database.reserved"
// +kubebuilder:validation:XValidation:rule="!has(self.connectionPool) || !has(self.connectionPool.maxConnections) || !has(self.connectionPool.database) || self.connectionPool.maxConnections.min * self.?autoscaling.?maxReplicas.?min.orValue(1) <= self.connectionPool.database.maxConnections - self.connectionPool.database.reserved",message="connection budget can never fit: connectionPool.maxConnections.min × autoscaling.maxReplicas.min (1 without autoscaling) exceeds database.maxConnections - database.reserved"
// +kubebuilder:validation:XValidation:rule="!has(self.guardrails) || !has(self.guardrails.settleTime) || !has(self.interval) || duration(self.guardrails.settleTime) >= duration(self.interval)",message="guardrails.settleTime must be at least interval: a change is judged on fresh observations only"
// +kubebuilder:validation:XValidation:rule="[?self.?connectionPool.?maxConnections.?env, ?self.?connectionPool.?minConnections.?env, ?self.?connectionPool.?maxLifetime.?env, ?self.?connectionPool.?idleTimeout.?env, ?self.?cache.?memory.?maxItems.?env, ?self.?cache.?memory.?ttl.?env, ?self.?cache.?redis.?ttl.?env, ?self.?workerThreads.?env].all(e, [?self.?connectionPool.?maxConnections.?env, ?self.?connectionPool.?minConnections.?env, ?self.?connectionPool.?maxLifetime.?env, ?self.?connectionPool.?idleTimeout.?env, ?self.?cache.?memory.?maxItems.?env, ?self.?cache.?memory.?ttl.?env, ?self.?cache.?redis.?ttl.?env, ?self.?workerThreads.?env].exists_one(f, f == e))",message="each knob needs its own environment variable: two knobs name the same env"
// +kubebuilder:validation:XValidation:rule="!has(self.cache) || !has(self.cache.redis) || !has(self.cache.redis.replicas) || self.cache.redis.replicas.targetRef.kind != 'Deployment' || self.cache.redis.replicas.targetRef.name != self.targetRef.name",message="cache.redis.replicas.targetRef must not name the target Deployment: navius-tuner would scale the service's own replicas, which its HPA or the Deployment owns"
type PerformanceProfileSpec struct {
	// targetRef names the Deployment to tune, in the profile's namespace.
	// It cannot be changed: to tune another workload, create another profile.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="targetRef is immutable: delete the profile and create a new one to tune another workload"
	TargetRef TargetRef `json:"targetRef"`

	// mode is Auto (apply changes), Recommend (publish what Auto would do in
	// status.recommendation, change nothing) or Off (report SLIs only).
	// Defaults to Auto.
	// +optional
	// +kubebuilder:default=Auto
	Mode Mode `json:"mode,omitempty"`

	// interval is the control period: how often the SLIs are read and a decision
	// is made. Between 5s and 1h; defaults to 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s') && duration(self) <= duration('1h')",message="interval must be between 5s and 1h"
	Interval metav1.Duration `json:"interval,omitzero"`

	// slo declares the service level objectives that navius-tuner keeps.
	// +required
	SLO SLO `json:"slo"`

	// metrics says where and how the SLIs and saturation signals are read.
	// +required
	Metrics MetricsSource `json:"metrics"`

	// connectionPool declares the database connection-pool knobs and the database's budget.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.minConnections) || !has(self.maxConnections) || self.minConnections.min <= self.maxConnections.max",message="minConnections.min must be less than or equal to maxConnections.max"
	// +kubebuilder:validation:XValidation:rule="!has(self.maxConnections) || self.maxConnections.min >= 1",message="maxConnections.min must be at least 1: a pool needs a connection"
	ConnectionPool *ConnectionPool `json:"connectionPool,omitempty"`

	// cache declares the two cache tiers: in-memory (L1) and Redis (L2).
	// +optional
	Cache *Cache `json:"cache,omitempty"`

	// autoscaling declares the HorizontalPodAutoscaler settings navius-tuner may tune.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// workerThreads is the env knob for the runtime's worker threads (the guide's
	// starting point is one per CPU core of the container's limit).
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.min >= 1",message="workerThreads.min must be at least 1"
	WorkerThreads *IntEnvKnob `json:"workerThreads,omitempty"`

	// guardrails limit how fast and how often navius-tuner changes things.
	// +optional
	// +kubebuilder:default={}
	Guardrails Guardrails `json:"guardrails,omitzero"`
}

// TargetRef names the workload to tune.
type TargetRef struct {
	// kind of the workload; only Deployment is supported. Defaults to Deployment.
	// +optional
	// +kubebuilder:default=Deployment
	// +kubebuilder:validation:Enum=Deployment
	Kind string `json:"kind,omitempty"`

	// name of the Deployment in the profile's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a valid object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// container is the name of the container whose env is tuned; defaults to the
	// first container of the pod template.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="container must be a valid container name: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Container string `json:"container,omitempty"`
}

// Percentile names a latency percentile.
// The names sort as strings in the order of the percentiles (p50 < p90 < p95 <
// p99 < p999); the rule that a lower percentile's threshold is not above a
// higher one's relies on it, so keep that property when adding names.
// +kubebuilder:validation:Enum=p50;p90;p95;p99;p999
type Percentile string

const (
	// P50 is the median latency.
	P50 Percentile = "p50"
	// P90 is the 90th percentile latency.
	P90 Percentile = "p90"
	// P95 is the 95th percentile latency.
	P95 Percentile = "p95"
	// P99 is the 99th percentile latency.
	P99 Percentile = "p99"
	// P999 is the 99.9th percentile latency.
	P999 Percentile = "p999"
)

// LatencyObjective is one latency percentile and its threshold.
type LatencyObjective struct {
	// percentile is the latency percentile the threshold applies to: p50, p90, p95, p99 or p999.
	// +required
	Percentile Percentile `json:"percentile"`

	// threshold is the latency the percentile must stay at or below, such as 100ms; more than 0s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="threshold must be more than 0s"
	Threshold metav1.Duration `json:"threshold"`
}

// SLO declares the objectives. At least one of latency, maxErrorRate and minThroughput is required.
// +kubebuilder:validation:XValidation:rule="has(self.latency) || has(self.maxErrorRate) || has(self.minThroughput)",message="slo needs at least one objective: latency, maxErrorRate or minThroughput"
type SLO struct {
	// latency lists latency objectives, at most one per percentile. A lower
	// percentile's threshold must not exceed a higher percentile's (p95 <= p99).
	// +optional
	// +listType=map
	// +listMapKey=percentile
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.all(b, a.percentile >= b.percentile || duration(a.threshold) <= duration(b.threshold)))",message="a lower percentile's threshold must be less than or equal to a higher percentile's threshold (for example p95 <= p99)"
	Latency []LatencyObjective `json:"latency,omitempty"`

	// maxErrorRate is the largest tolerated share of 5xx responses, as a
	// percentage such as "0.5%"; more than 0% and at most 100%.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.matches('^0*([.]0*)?%$')",message="maxErrorRate must be more than 0%"
	MaxErrorRate *Percent `json:"maxErrorRate,omitempty"`

	// minThroughput is the request rate, in requests per second, the workload
	// must sustain; at least 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinThroughput *int32 `json:"minThroughput,omitempty"`

	// window is the evaluation window of rate() and histogram_quantile().
	// At least 1m (four scrapes at a 15s scrape interval) and at most 24h;
	// defaults to 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="window must be between 1m and 24h: rate() needs at least four scrapes, and a 15s scrape interval is common"
	Window metav1.Duration `json:"window,omitzero"`
}

// Percent is a percentage written as a decimal number followed by %, such as "0.5%" or "82%".
// +kubebuilder:validation:MaxLength=12
// +kubebuilder:validation:XValidation:rule="self.matches('^(100([.]0+)?|[0-9]{1,2}([.][0-9]+)?)%$')",message="must be a percentage between 0% and 100%, such as 0.5%"
type Percent string

// Utilization is a use-over-request percentage that may exceed 100% when a
// workload bursts above its request, such as "65%" or "135%".
// +kubebuilder:validation:MaxLength=12
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,4}([.][0-9]+)?%$')",message="must be a percentage such as 65% or 135%"
type Utilization string

// MetricsSource says where the signals come from.
type MetricsSource struct {
	// prometheus is a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics).
	// +required
	Prometheus PrometheusEndpoint `json:"prometheus"`

	// labels scope every default query, such as {namespace: shop, service: orders-api}.
	// Keys are Prometheus label names other than the reserved le, navius_part
	// and __*; values are matched literally (escaped, never interpreted as
	// PromQL). At most 10 labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=10
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 128 && k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))",message="labels keys must be Prometheus label names: letters, digits and '_', not starting with a digit, at most 128 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 256)",message="labels values must be at most 256 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k != 'le' && k != 'navius_part' && !k.startsWith('__'))",message="labels must not use the reserved label names le and navius_part, nor names starting with __"
	Labels map[string]string `json:"labels,omitempty"`

	// preset names the metric conventions of the service's stack, which the
	// default queries read: navius (the default: the contract of
	// docs/metrics.md), opentelemetry (semantic conventions as the
	// OpenTelemetry Collector's Prometheus exporter and Prometheus' OTLP
	// receiver name them), micrometer (Spring Boot: http.server.requests,
	// HikariCP, Caffeine), go (client_golang HTTP metrics and
	// github.com/IBM/pgxpoolprometheus) or istio (Envoy request metrics,
	// in milliseconds). A preset replaces what its stack defines and keeps
	// the navius contract for the signals the stack has no convention for;
	// docs/metrics.md lists every query of every preset.
	// +optional
	// +kubebuilder:default=navius
	Preset MetricsPreset `json:"preset,omitempty"`

	// latencyHistogram names the request latency histogram and its unit,
	// replacing the preset's: the percentiles and the mean latency are read
	// from it with the same rules as from the default (a percentile above
	// the top bucket is +Inf; TooFewSamples; BucketsTooCoarse).
	// +optional
	LatencyHistogram *LatencyHistogram `json:"latencyHistogram,omitempty"`

	// queries override the default PromQL of individual signals.
	// +optional
	Queries *QueryOverrides `json:"queries,omitempty"`

	// saturationWindow is the rate() window of the saturation signals: CPU,
	// pool connections in use and pool wait, database time, Redis CPU and
	// throughput. It is shorter than slo.window so that they follow a load
	// step within a minute or two; the SLO verdicts keep slo.window. Between
	// 30s and 1h. The default is max(4 × scrape interval, 1m), with the
	// manager's --prometheus-scrape-interval (default 1m, Prometheus'
	// default): 4m; 1m at a 15s scrape interval.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s') && duration(self) <= duration('1h')",message="saturationWindow must be between 30s and 1h: rate() needs at least four scrapes in the window, and a longer window no longer follows a load step"
	SaturationWindow metav1.Duration `json:"saturationWindow,omitzero"`
}

// MetricsPreset names a stack's metric conventions.
// +kubebuilder:validation:Enum=navius;opentelemetry;micrometer;go;istio
type MetricsPreset string

// The metric presets (docs/metrics.md).
const (
	PresetNavius        MetricsPreset = "navius"
	PresetOpenTelemetry MetricsPreset = "opentelemetry"
	PresetMicrometer    MetricsPreset = "micrometer"
	PresetGo            MetricsPreset = "go"
	PresetIstio         MetricsPreset = "istio"
)

// MaxMetricNameLength bounds latencyHistogram.name (TestLimitsMatchTheCRDSchema).
const MaxMetricNameLength = 200

// MaxQueryLength bounds each override of spec.metrics.queries (TestLimitsMatchTheCRDSchema).
const MaxQueryLength = 4096

// LatencyHistogram is a request latency histogram and the unit of its
// observations and bucket bounds.
type LatencyHistogram struct {
	// name is the histogram's metric name without its _bucket, _sum and
	// _count suffixes, such as istio_request_duration_milliseconds.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z_:][a-zA-Z0-9_:]*$')",message="name must be a Prometheus metric name: letters, digits, '_' and ':', not starting with a digit"
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('_bucket') && !self.endsWith('_sum') && !self.endsWith('_count')",message="name is the histogram's name without its _bucket, _sum or _count suffix"
	Name string `json:"name"`

	// unit of the observations and bucket bounds: seconds (the default) or milliseconds.
	// +optional
	// +kubebuilder:default=seconds
	Unit HistogramUnit `json:"unit,omitempty"`
}

// HistogramUnit is the unit of a latency histogram.
// +kubebuilder:validation:Enum=seconds;milliseconds
type HistogramUnit string

// The histogram units.
const (
	UnitSeconds      HistogramUnit = "seconds"
	UnitMilliseconds HistogramUnit = "milliseconds"
)

// PrometheusEndpoint is a Prometheus-compatible query API.
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || !isURL(self.url) || url(self.url).getScheme() == 'https'",message="tls applies only to an https:// url"
// +kubebuilder:validation:XValidation:rule="[has(self.authSecretRef), has(self.oauth2), has(self.sigv4)].filter(x, x).size() <= 1",message="set at most one of authSecretRef, oauth2 and sigv4: each one sets the Authorization header of the queries"
type PrometheusEndpoint struct {
	// url of the API, such as http://prometheus.monitoring:9090; http or https.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an http:// or https:// URL with a host, such as http://prometheus.monitoring:9090"
	URL string `json:"url"`

	// authSecretRef names a Secret in the profile's namespace holding either a
	// bearer token (key "token") or basic-auth credentials (keys "username" and "password").
	// The Secret must carry the label tuning.navius.io/prometheus-credentials: "true".
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.?name.orValue('') != ''",message="authSecretRef.name must name a Secret"
	AuthSecretRef *corev1.LocalObjectReference `json:"authSecretRef,omitempty"`

	// oauth2 gets a token with the OAuth2 client-credentials grant and sends
	// it as a bearer token: Microsoft Entra ID for Azure Monitor managed
	// Prometheus, Keycloak, Okta, Grafana Cloud and other identity providers.
	// +optional
	OAuth2 *OAuth2Config `json:"oauth2,omitempty"`

	// sigv4 signs each query with AWS Signature Version 4, for Amazon
	// Managed Service for Prometheus.
	// +optional
	SigV4 *SigV4Config `json:"sigv4,omitempty"`

	// headers are set on every query, such as X-Scope-OrgID: tenant-a for a
	// tenant of Mimir, Cortex or a multi-tenant Thanos. They are not secret
	// (they are part of the profile). The headers navius-tuner or an auth
	// sets itself (Authorization, Host, Content-Type, User-Agent, the
	// X-Amz-* of SigV4, ...) cannot be set. At most 16.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 128 && k.matches('^[A-Za-z0-9][A-Za-z0-9_-]*$'))",message="headers names must be HTTP header names: letters, digits, '-' and '_', at most 128 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k.lowerAscii() in ['authorization', 'host', 'content-encoding', 'content-length', 'content-type', 'user-agent', 'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'www-authenticate', 'accept-encoding', 'x-prometheus-remote-write-version', 'x-prometheus-remote-read-version', 'x-prometheus-scrape-timeout-seconds', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']))",message="headers must not set Authorization (use authSecretRef, oauth2 or sigv4), Host, Content-*, User-Agent, Connection, Keep-Alive, Proxy-*, WWW-Authenticate, Accept-Encoding, X-Prometheus-* or X-Amz-*: navius-tuner or the auth sets them"
	Headers map[string]HeaderValue `json:"headers,omitempty"`

	// proxyURL sends the queries (and the OAuth2 token requests) through
	// this proxy: http://, https:// or socks5://. When unset, the manager's
	// HTTPS_PROXY, HTTP_PROXY and NO_PROXY environment apply.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https', 'socks5'] && url(self).getHostname() != ''",message="proxyURL must be an http://, https:// or socks5:// URL with a host, such as http://proxy.internal:3128"
	ProxyURL string `json:"proxyURL,omitempty"`

	// tls configures TLS for an https URL.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// timeout bounds each query. Between 1s and 5m; when unset, the manager's
	// --prometheus-timeout (10s unless set; the chart's prometheusTimeout).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="timeout must be between 1s and 5m"
	Timeout metav1.Duration `json:"timeout,omitzero"`
}

// TLSConfig configures the TLS client.
// +kubebuilder:validation:XValidation:rule="!(has(self.caSecretRef) && self.?insecureSkipVerify.orValue(false))",message="set caSecretRef or insecureSkipVerify, not both"
type TLSConfig struct {
	// caSecretRef names a Secret key, in the profile's namespace, holding the PEM
	// CA bundle that signs the server's certificate. Without it the system roots are used.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.?name.orValue('') != ''",message="caSecretRef.name must name a Secret"
	CASecretRef *corev1.SecretKeySelector `json:"caSecretRef,omitempty"`

	// serverName overrides the name checked against the server's certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerName string `json:"serverName,omitempty"`

	// insecureSkipVerify disables certificate verification. Do not use in production.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`

	// clientCertSecretRef names a Secret in the profile's namespace holding
	// the client certificate and its private key for mutual TLS, under the
	// keys tls.crt and tls.key (a kubernetes.io/tls Secret, as cert-manager
	// writes them). Like every credential it is sent only when the Secret
	// carries the label tuning.navius.io/prometheus-credentials: "true".
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.?name.orValue('') != ''",message="clientCertSecretRef.name must name a Secret"
	ClientCertSecretRef *corev1.LocalObjectReference `json:"clientCertSecretRef,omitempty"`
}

// HeaderValue is the value of an HTTP header: printable ASCII.
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="self.matches('^[ -~]*$')",message="headers values must be printable ASCII (no line breaks), at most 1024 characters"
type HeaderValue string

// OAuth2Config gets an access token with the OAuth2 client-credentials grant.
type OAuth2Config struct {
	// tokenURL is the token endpoint of the identity provider, such as
	// https://login.microsoftonline.com/<tenant-id>/oauth2/v2.0/token.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="tokenURL must be an http:// or https:// URL with a host, such as https://login.microsoftonline.com/<tenant-id>/oauth2/v2.0/token"
	TokenURL string `json:"tokenURL"`

	// clientID identifies the client (the application ID of an Entra ID app registration).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ClientID string `json:"clientID"`

	// clientSecretRef names the Secret key, in the profile's namespace,
	// holding the client secret. The Secret must carry the label
	// tuning.navius.io/prometheus-credentials: "true".
	// +required
	// +kubebuilder:validation:XValidation:rule="self.?name.orValue('') != '' && self.?key.orValue('') != ''",message="clientSecretRef must name a Secret and a key"
	ClientSecretRef corev1.SecretKeySelector `json:"clientSecretRef"`

	// scopes requested, such as https://prometheus.monitor.azure.com/.default
	// for Azure Monitor. At most 16.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	Scopes []string `json:"scopes,omitempty"`

	// endpointParams are added to the token request's form, such as
	// audience for providers that ask for one. At most 16.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 128 && size(self[k]) <= 1024)",message="endpointParams names must be at most 128 characters and values at most 1024"
	EndpointParams map[string]string `json:"endpointParams,omitempty"`
}

// SigV4Config signs queries with AWS Signature Version 4.
type SigV4Config struct {
	// region of the workspace, such as us-east-1.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]{2,4}(-[a-z]+)+-[0-9]+$')",message="region must be an AWS region such as us-east-1"
	Region string `json:"region"`

	// credentialsSecretRef names a Secret in the profile's namespace holding
	// an access key, under the keys accessKeyID and secretAccessKey. The
	// Secret must carry the label tuning.navius.io/prometheus-credentials:
	// "true". The manager's own AWS identity (its environment, files, IRSA or
	// instance role) is never used: a profile must not be able to sign
	// requests to a URL of its choosing as the manager.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.?name.orValue('') != ''",message="credentialsSecretRef.name must name a Secret"
	CredentialsSecretRef corev1.LocalObjectReference `json:"credentialsSecretRef"`

	// roleARN is a role assumed with those keys, such as
	// arn:aws:iam::123456789012:role/prometheus-query.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('arn:')",message="roleARN must be an IAM role ARN such as arn:aws:iam::123456789012:role/prometheus-query"
	RoleARN string `json:"roleARN,omitempty"`

	// service is the signing name of the service; aps (Amazon Managed
	// Service for Prometheus) unless set.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9-]+$')",message="service must be an AWS signing name such as aps"
	Service string `json:"service,omitempty"`
}

// QueryOverrides replace the default PromQL of a signal, one field per
// signal, named as the signal. Each query must return one series for the
// profile (a scalar-like instant vector) and costs one query per period for
// this profile alone. Each is at most 4096 characters.
type QueryOverrides struct {
	// latencyP50 returns the p50 latency, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LatencyP50 string `json:"latencyP50,omitempty"`
	// latencyP90 returns the p90 latency, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LatencyP90 string `json:"latencyP90,omitempty"`
	// latencyP95 returns the p95 latency, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LatencyP95 string `json:"latencyP95,omitempty"`
	// latencyP99 returns the p99 latency, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LatencyP99 string `json:"latencyP99,omitempty"`
	// latencyP999 returns the p999 latency, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LatencyP999 string `json:"latencyP999,omitempty"`
	// latencyMean returns the mean request latency, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	LatencyMean string `json:"latencyMean,omitempty"`
	// errorRate returns the share of 5xx responses as a ratio between 0 and 1.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ErrorRate string `json:"errorRate,omitempty"`
	// throughput returns the request rate in requests per second.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Throughput string `json:"throughput,omitempty"`
	// throughputWindow returns the request rate over slo.window, in requests
	// per second: the load the SLIs are compared at.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ThroughputWindow string `json:"throughputWindow,omitempty"`
	// throughputNow returns the request rate over the newest scrape
	// interval, in requests per second: the load a raise of the HPA's
	// floor is sized for. Name an upstream counter here (an ingress or a
	// load balancer in front of the pods) when there is one: it counts
	// every request however many pods serve them.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ThroughputNow string `json:"throughputNow,omitempty"`
	// throughputPeak returns the largest request rate within slo.window
	// (sampled as throughputNoise samples it), in requests per second.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ThroughputPeak string `json:"throughputPeak,omitempty"`
	// throughputNoise returns how far the request rate came back within
	// slo.window (its total movement minus its range, over at least three
	// samples of it), in requests per second: 0 for a step or a steady trend.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ThroughputNoise string `json:"throughputNoise,omitempty"`
	// pods returns the number of pods that serve the requests.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Pods string `json:"pods,omitempty"`
	// poolInUse returns the number of pool connections in use, per pod on average.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	PoolInUse string `json:"poolInUse,omitempty"`
	// poolMax returns the pool maximum the pods report, per pod on average.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	PoolMax string `json:"poolMax,omitempty"`
	// poolWait returns the average time a request waited for a pool connection, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	PoolWait string `json:"poolWait,omitempty"`
	// poolWaitTail returns the pool wait at the latency objective's
	// percentile, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	PoolWaitTail string `json:"poolWaitTail,omitempty"`
	// dbTime returns the average time a connection is held per database
	// call, in seconds.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	DBTime string `json:"dbTime,omitempty"`
	// dbCallRate returns database calls per second over all pods.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	DBCallRate string `json:"dbCallRate,omitempty"`
	// memoryHitRatio returns the L1 hit ratio between 0 and 1.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	MemoryHitRatio string `json:"memoryHitRatio,omitempty"`
	// redisHitRatio returns the L2 hit ratio between 0 and 1.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	RedisHitRatio string `json:"redisHitRatio,omitempty"`
	// memoryLookupRate returns L1 cache lookups (hits and misses) per second over all pods.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	MemoryLookupRate string `json:"memoryLookupRate,omitempty"`
	// cpuUtilization returns CPU use over the CPU request, between 0 and 1 (or above when bursting).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	CPUUtilization string `json:"cpuUtilization,omitempty"`
	// redisCPU returns the Redis servers' CPU use, in cores per replica.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	RedisCPU string `json:"redisCPU,omitempty"`
	// redisOpsRate returns Redis commands per second per replica.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	RedisOpsRate string `json:"redisOpsRate,omitempty"`
}

// IntEnvKnob is an integer setting passed to the container as an environment variable.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must be less than or equal to max"
type IntEnvKnob struct {
	// env is the name of the container's environment variable: letters, digits
	// and '_', not starting with a digit. Each knob needs its own variable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_][A-Za-z0-9_]*$')",message="env must be a valid environment variable name: letters, digits and '_', not starting with a digit"
	Env string `json:"env"`

	// min is the smallest value navius-tuner may set; at least 0.
	// +required
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min"`

	// max is the largest value navius-tuner may set; at least min.
	// +required
	// +kubebuilder:validation:Minimum=0
	Max int32 `json:"max"`
}

// DurationEnvKnob is a duration passed to the container as an environment
// variable holding whole seconds.
// +kubebuilder:validation:XValidation:rule="duration(self.min) <= duration(self.max)",message="min must be less than or equal to max"
// +kubebuilder:validation:XValidation:rule="duration(self.min) >= duration('1s')",message="min must be at least 1s: the variable holds whole seconds"
type DurationEnvKnob struct {
	// env is the name of the container's environment variable (its value is whole
	// seconds): letters, digits and '_', not starting with a digit. Each knob
	// needs its own variable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_][A-Za-z0-9_]*$')",message="env must be a valid environment variable name: letters, digits and '_', not starting with a digit"
	Env string `json:"env"`

	// min is the shortest duration navius-tuner may set, such as 10s; at least 1s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	Min metav1.Duration `json:"min"`

	// max is the longest duration navius-tuner may set, such as 10m; at least min.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	Max metav1.Duration `json:"max"`
}

// Int32Range bounds an integer setting that is not an env knob.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must be less than or equal to max"
type Int32Range struct {
	// min is the smallest value navius-tuner may set; at least 0.
	// +required
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min"`

	// max is the largest value navius-tuner may set; at least min.
	// +required
	// +kubebuilder:validation:Minimum=0
	Max int32 `json:"max"`
}

// ConnectionPool declares the pool knobs. The database budget is checked
// against the knobs and the autoscaling bounds: a combination that can never fit
// is refused, and the operator keeps the live combination within the budget.
type ConnectionPool struct {
	// maxConnections is the env knob for the pool's maximum size per pod; min at least 1.
	// +optional
	MaxConnections *IntEnvKnob `json:"maxConnections,omitempty"`

	// minConnections is the env knob for the pool's minimum (idle) size per pod;
	// its min must not exceed maxConnections.max.
	// +optional
	MinConnections *IntEnvKnob `json:"minConnections,omitempty"`

	// maxLifetime is the env knob for a connection's maximum lifetime (the guide suggests 30m).
	// +optional
	MaxLifetime *DurationEnvKnob `json:"maxLifetime,omitempty"`

	// idleTimeout is the env knob for closing idle connections (the guide suggests 10m).
	// +optional
	IdleTimeout *DurationEnvKnob `json:"idleTimeout,omitempty"`

	// database is the shared database's connection budget, which all pods of the
	// workload share: (HPA max replicas + rollout surge) × pool max stays within
	// maxConnections - reserved.
	// +optional
	Database *DatabaseBudget `json:"database,omitempty"`
}

// DatabaseBudget is the shared database's connection limit.
// +kubebuilder:validation:XValidation:rule="self.reserved < self.maxConnections",message="reserved must be less than maxConnections"
type DatabaseBudget struct {
	// name names the database when several profiles of this namespace
	// share it: profiles that name the same database share its budget (the
	// connections each can hold at its worst moment are summed against the
	// smallest maxConnections − reserved any of them declares). A profile
	// cannot name another namespace's database.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name,omitempty"`

	// maxConnections is the database's connection limit (max_connections); at least 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxConnections int32 `json:"maxConnections"`

	// reserved connections are kept free for others (admins, migrations, other
	// services); less than maxConnections. Defaults to 0.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	Reserved int32 `json:"reserved,omitempty"`
}

// Cache declares the two cache tiers.
type Cache struct {
	// memory is the in-process L1 cache.
	// +optional
	Memory *MemoryCache `json:"memory,omitempty"`

	// redis is the shared L2 cache.
	// +optional
	Redis *RedisCache `json:"redis,omitempty"`
}

// MemoryCache is the in-process L1 cache.
type MemoryCache struct {
	// maxItems is the env knob for the L1 capacity in items.
	// +optional
	MaxItems *IntEnvKnob `json:"maxItems,omitempty"`

	// ttl is the env knob for the L1 time to live; its max is the staleness you tolerate.
	// +optional
	TTL *DurationEnvKnob `json:"ttl,omitempty"`

	// ttlCountsFrom says when the L1 TTL starts: Write (the default: an entry
	// expires ttl after it was stored, whatever its hits, as in Caffeine's
	// expireAfterWrite or ristretto) or Access (each hit restarts the TTL, as
	// in expireAfterAccess). The cache model predicts the hit ratio with the
	// TTL form λT/(1+λT) for Write and the LRU form 1−e^(−λT) for Access.
	// +optional
	TTLCountsFrom TTLStart `json:"ttlCountsFrom,omitempty"`
}

// TTLStart is when a cache entry's time to live starts.
// +kubebuilder:validation:Enum=Write;Access
type TTLStart string

const (
	// TTLFromWrite: an entry expires its TTL after it was stored.
	TTLFromWrite TTLStart = "Write"
	// TTLFromAccess: each hit restarts the entry's TTL.
	TTLFromAccess TTLStart = "Access"
)

// RedisCache is the shared L2 cache.
type RedisCache struct {
	// ttl is the env knob for the L2 time to live; its max is the staleness you tolerate.
	// +optional
	TTL *DurationEnvKnob `json:"ttl,omitempty"`

	// replicas scales the Redis read replicas (not shards) of one StatefulSet or Deployment.
	// +optional
	Replicas *RedisReplicas `json:"replicas,omitempty"`
}

// RedisReplicas scales the Redis read replicas.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must be less than or equal to max"
type RedisReplicas struct {
	// targetRef names the one Redis StatefulSet or Deployment, in the profile's
	// namespace, whose spec.replicas navius-tuner scales.
	// +required
	TargetRef WorkloadRef `json:"targetRef"`

	// min is the fewest replicas navius-tuner may set; at least 1. At 0
	// replicas there is no Redis CPU to measure, so nothing would ever say
	// when to scale Redis up again.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="redis replicas min must be at least 1: at 0 replicas there is no Redis CPU to measure, so navius-tuner could never tell when to scale Redis up again"
	Min int32 `json:"min"`

	// max is the most replicas navius-tuner may set; at least min, at most 100.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Max int32 `json:"max"`
}

// WorkloadRef names a StatefulSet or Deployment.
type WorkloadRef struct {
	// kind is StatefulSet or Deployment.
	// +required
	// +kubebuilder:validation:Enum=StatefulSet;Deployment
	Kind string `json:"kind"`

	// name of the workload in the profile's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a valid object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// Autoscaling declares the HPA that navius-tuner tunes: either an existing one
// (hpaRef) or one that navius-tuner creates and owns (managed).
// +kubebuilder:validation:XValidation:rule="has(self.hpaRef) != has(self.managed)",message="set exactly one of hpaRef (tune an existing HPA) and managed (navius-tuner creates and owns the HPA)"
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas.min <= self.maxReplicas.max",message="minReplicas.min must be less than or equal to maxReplicas.max"
type Autoscaling struct {
	// hpaRef names an existing HorizontalPodAutoscaler for the target, in the
	// profile's namespace. navius-tuner then tunes that HPA and never writes the
	// Deployment's replicas. Exactly one of hpaRef and managed.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.?name.orValue('') != ''",message="hpaRef.name must name an HPA"
	HPARef *corev1.LocalObjectReference `json:"hpaRef,omitempty"`

	// managed asks navius-tuner to create and own an HPA for the target. Prefer
	// this when the workload is managed by GitOps: the HPA is not in Git, so Git
	// and navius-tuner never fight over it. Exactly one of hpaRef and managed.
	// +optional
	Managed *ManagedHPA `json:"managed,omitempty"`

	// minReplicas bounds the HPA's minReplicas; min at least 1.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.min >= 1",message="minReplicas.min must be at least 1"
	MinReplicas *Int32Range `json:"minReplicas,omitempty"`

	// maxReplicas bounds the HPA's maxReplicas; min at least 1.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.min >= 1",message="maxReplicas.min must be at least 1"
	MaxReplicas *Int32Range `json:"maxReplicas,omitempty"`

	// targetCPUUtilization bounds the HPA's average CPU utilization target, in
	// percent of the CPU request; between 1 and 1000. A target above 100 runs
	// the pods above their request, as the HPA allows when the CPU limit is
	// higher: navius-tuner never sets a target above the limit's share of
	// the request (200 for a limit twice the request), whatever the bound.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.min >= 1 && self.max <= 1000",message="targetCPUUtilization must be between 1 and 1000 (percent of the CPU request; above 100 only where the CPU limit is above the request)"
	TargetCPUUtilization *Int32Range `json:"targetCPUUtilization,omitempty"`

	// behavior lets navius-tuner tune the HPA's scale-down stabilization window.
	// +optional
	Behavior *BehaviorTuning `json:"behavior,omitempty"`
}

// ManagedHPA asks navius-tuner to create and own an HPA for the target.
type ManagedHPA struct {
	// name of the HPA to create; defaults to the target's name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a valid object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name,omitempty"`
}

// BehaviorTuning bounds the HPA behaviour settings navius-tuner may set.
// +kubebuilder:validation:XValidation:rule="duration(self.scaleDownStabilizationWindow.max) <= duration('1h')",message="scaleDownStabilizationWindow.max must be at most 1h (the HPA's limit)"
type BehaviorTuning struct {
	// scaleDownStabilizationWindow bounds the HPA's scale-down stabilization
	// window (spec.behavior.scaleDown.stabilizationWindowSeconds); at most 1h.
	// +required
	ScaleDownStabilizationWindow DurationRange `json:"scaleDownStabilizationWindow"`
}

// DurationRange bounds a duration setting that is not an env knob.
// +kubebuilder:validation:XValidation:rule="duration(self.min) <= duration(self.max)",message="min must be less than or equal to max"
type DurationRange struct {
	// min is the shortest duration navius-tuner may set, such as 0s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	Min metav1.Duration `json:"min"`
	// max is the longest duration navius-tuner may set, such as 10m; at least min.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	Max metav1.Duration `json:"max"`
}

// Guardrails limit how fast and how often navius-tuner changes things.
type Guardrails struct {
	// maxStepPercent is the largest relative change of any knob in one step, in
	// percent of its current value. Between 1 and 400; defaults to 50.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=400
	MaxStepPercent int32 `json:"maxStepPercent,omitempty"`

	// settleTime is how long a change must settle (rollout done, a full window
	// observed) before it is judged and before the next change. At least interval
	// and at most 24h; defaults to 3m. A change settles for at least slo.window,
	// so that its verdict never uses data from before it.
	// +optional
	// +kubebuilder:default="3m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="settleTime must be at most 24h"
	SettleTime metav1.Duration `json:"settleTime,omitzero"`

	// maxRolloutsPerHour limits env changes, each of which restarts the pods.
	// Between 1 and 60; defaults to 2.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	MaxRolloutsPerHour int32 `json:"maxRolloutsPerHour,omitempty"`

	// rollbackOnRegression restores the previous value when a change made the
	// SLIs worse. Defaults to true.
	// +optional
	// +kubebuilder:default=true
	RollbackOnRegression *bool `json:"rollbackOnRegression,omitempty"`
}

// PerformanceProfileStatus is what navius-tuner observed and did.
type PerformanceProfileStatus struct {
	// observedGeneration is the generation of the spec the status was computed from.
	// The API server reads it as 0 until navius-tuner first writes the status,
	// so that kstatus (Flux's health checks, kpt) sees a profile nobody has
	// reconciled yet as InProgress, not Current.
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// paused is true while the tuning.navius.io/paused annotation stops every
	// write to the workload (the PAUSED column).
	// +optional
	Paused bool `json:"paused,omitempty"`

	// peakConnections is how many database connections the target's pods
	// can hold at the worst moment of a rollout with the values they run
	// (the most pods any scaler allows, surge and terminating pods
	// included); profiles that name the same database sum it.
	// +optional
	PeakConnections *int64 `json:"peakConnections,omitempty"`

	// conditions are Ready (the summary), SLOMet, MetricsAvailable, Progressing,
	// Stalled and Reconciling (for kstatus), each with a reason and the
	// generation it was computed from.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// slis are the service level indicators as last observed.
	// +optional
	SLIs *SLIs `json:"slis,omitempty"`

	// readiness says, for each knob family the profile declares, whether it
	// can be tuned on the latest observation: the signals it needs that were
	// found, and those missing with the reason (the MetricsAvailable
	// condition's message has the details). `kubectl navius check` prints
	// the same before a profile is applied.
	// +optional
	// +listType=map
	// +listMapKey=family
	// +kubebuilder:validation:MaxItems=8
	Readiness []FamilyReadiness `json:"readiness,omitempty"`

	// current holds the knob values as last read from the cluster.
	// +optional
	Current *KnobValues `json:"current,omitempty"`

	// recommendation is what Auto mode would apply now, and why.
	// +optional
	Recommendation *Recommendation `json:"recommendation,omitempty"`

	// lastAdjustment is the latest change navius-tuner applied.
	// +optional
	LastAdjustment *Decision `json:"lastAdjustment,omitempty"`

	// history holds the last decisions that changed something, newest last; at most 10.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	History []Decision `json:"history,omitempty"`

	// memory is what the decision rules remember beyond the last 10
	// decisions: the restarts of the last hour, the last saving that
	// restarted the pods, and per knob the last change and the back-off of
	// moves that were undone. Each rule looks back at most as far as this
	// keeps (docs/how-it-decides.md lists the horizons).
	// +optional
	Memory *Memory `json:"memory,omitempty"`
}

// LearnedCPU is the CPU time one request costs, as navius-tuner measured it.
type LearnedCPU struct {
	// perRequest is the CPU time per request (every status counts, errors
	// and timeouts included): a running average of CPU use ÷ throughput,
	// taken while CPU is below the HPA's target (a saturated pod hides its
	// demand in a queue).
	// +required
	PerRequest metav1.Duration `json:"perRequest"`

	// samples is how many observations the average holds; past 20 it is
	// an exponential average over the last 20 or so.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Samples int32 `json:"samples,omitempty"`
}

// Memory is what the decision rules remember for as long as they look back.
// Its size is bounded: at most 64 restart times and one entry per knob.
type Memory struct {
	// rollouts are the times navius-tuner restarted the pods (every env
	// change, rollbacks included) within the last hour, oldest first; at most 64.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Rollouts []metav1.Time `json:"rollouts,omitempty"`

	// lastEnvSaving is when navius-tuner last made a saving that restarted the pods.
	// +optional
	LastEnvSaving *metav1.Time `json:"lastEnvSaving,omitempty"`

	// knobs hold what is remembered per knob.
	// +optional
	// +listType=map
	// +listMapKey=knob
	// +kubebuilder:validation:MaxItems=16
	Knobs []KnobMemory `json:"knobs,omitempty"`

	// models hold the running error of each model whose predictions were
	// checked against what was observed at the verdict: one entry per model.
	// A model with a large error takes smaller steps (docs/how-it-decides.md).
	// +optional
	// +listType=map
	// +listMapKey=model
	// +kubebuilder:validation:MaxItems=8
	Models []ModelError `json:"models,omitempty"`

	// cpu is the CPU time per request learned from the observations: the
	// feed-forward floor sizes the HPA's minReplicas from it when the load
	// steps up (offered load × CPU per request ÷ (target × request)).
	// +optional
	CPU *LearnedCPU `json:"cpu,omitempty"`

	// scaling follows the HPA after navius-tuner's newest autoscaling
	// write: its scale reversals (a scale up after a scale down, or the
	// reverse) as each reconcile reads the HPA's status. More than 2 within
	// an hour roll the write back.
	// +optional
	Scaling *ScalingWatch `json:"scaling,omitempty"`
}

// ScaleDirection is the way the HPA last scaled.
// +kubebuilder:validation:Enum=Up;Down
type ScaleDirection string

const (
	ScaleUp   ScaleDirection = "Up"
	ScaleDown ScaleDirection = "Down"
)

// ScalingWatch is the HPA's scaling since one autoscaling write.
type ScalingWatch struct {
	// write is the time of the autoscaling decision watched.
	// +required
	Write metav1.Time `json:"write"`

	// replicas is the HPA's status.desiredReplicas as last read.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas int32 `json:"replicas,omitempty"`

	// direction is the way the HPA last scaled since the write; empty
	// before it first scaled.
	// +optional
	Direction ScaleDirection `json:"direction,omitempty"`

	// reversals are the times the HPA scaled against its previous
	// direction since the write, within the last hour, oldest first.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Reversals []metav1.Time `json:"reversals,omitempty"`
}

// Model names a model behind a model-driven change.
// +kubebuilder:validation:Enum=Erlang;Replicas;Che;RedisCPU
type Model string

const (
	// ModelErlang sizes the pool (Little's law and Erlang C); it predicts the pool wait.
	ModelErlang Model = "Erlang"
	// ModelReplicas sizes the pods (load ÷ what a pod serves at the CPU target); it predicts the CPU utilisation.
	ModelReplicas Model = "Replicas"
	// ModelChe sizes the L1 cache (Che's approximation, TTL form); it predicts the L1 hit ratio.
	ModelChe Model = "Che"
	// ModelRedisCPU sizes the Redis replicas (CPU shared by the replicas); it predicts the CPU per replica.
	ModelRedisCPU Model = "RedisCPU"
)

// Decimal is a number written in decimal, such as "0.0125" or "-3".
// +kubebuilder:validation:MaxLength=24
// +kubebuilder:validation:Pattern=`^-?[0-9]+([.][0-9]+)?$`
type Decimal string

// ModelError is the running error of one model.
type ModelError struct {
	// model is the model's name.
	// +required
	Model Model `json:"model"`

	// error is the model's running relative error: |observed − predicted| ÷
	// predicted at each verdict, averaged with weight 1/2 on the newest.
	// +required
	Error Decimal `json:"error"`

	// samples counts the predictions checked.
	// +required
	// +kubebuilder:validation:Minimum=0
	Samples int32 `json:"samples"`

	// lastPrediction is when the newest checked prediction was made.
	// +optional
	LastPrediction *metav1.Time `json:"lastPrediction,omitempty"`
}

// Prediction is the value a model expects a signal to reach after a
// change, and, once judged, what the signal reached.
type Prediction struct {
	// model made the prediction.
	// +required
	Model Model `json:"model"`

	// signal is the predicted signal, in the unit of docs/metrics.md:
	// poolWait (seconds), cpuUtilization, memoryHitRatio or missFraction
	// (ratios; missFraction is the share of requests that miss every cache
	// tier), redisCPU (cores per replica).
	// +required
	// +kubebuilder:validation:MaxLength=64
	Signal string `json:"signal"`

	// value is the predicted value of the signal once the change settled.
	// +required
	Value Decimal `json:"value"`

	// observed is the signal's value at the verdict; unset when the
	// prediction could not be checked (the load moved, or the signal was missing).
	// +optional
	Observed Decimal `json:"observed,omitempty"`

	// error is the relative error of the prediction, |observed − value| ÷ value
	// (for a hit ratio, of the miss ratios); set with observed.
	// +optional
	Error Decimal `json:"error,omitempty"`
}

// KnobMemory is what is remembered about one knob.
type KnobMemory struct {
	// knob is the knob's name, as in a Change.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Knob string `json:"knob"`

	// lastApplied is the value navius-tuner last applied to the knob.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	LastApplied string `json:"lastApplied,omitempty"`

	// lastChange is when navius-tuner last changed the knob.
	// +optional
	LastChange *metav1.Time `json:"lastChange,omitempty"`

	// returnTo is the value the knob goes back to once what moved it has
	// passed: hpa.minReplicas before a raise for a breached SLO (when the
	// load drops), the HPA's scale-down window before a back-down (when the
	// load has settled). Set while that move is the knob's newest change and
	// was not undone.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ReturnTo string `json:"returnTo,omitempty"`

	// up is the back-off of raises of the knob that were undone.
	// +optional
	Up *BackOff `json:"up,omitempty"`

	// down is the back-off of reductions of the knob that were undone.
	// +optional
	Down *BackOff `json:"down,omitempty"`
}

// BackOff remembers the moves of a knob in one direction that were undone.
type BackOff struct {
	// level counts the moves in this direction that were undone in a row;
	// the wait before the next doubles with each. A move that is kept resets it.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=64
	Level int32 `json:"level"`

	// since is when the last undone move in this direction was made; the
	// back-off counts from it.
	// +required
	Since metav1.Time `json:"since"`

	// bound is the value at which the last undone move in this direction
	// regressed. navius-tuner does not move the knob to it or past it again
	// without new evidence: a load change of more than 30 % since the move,
	// or a change of the spec.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Bound string `json:"bound,omitempty"`

	// load is the throughput, in requests per second, when the undone move was made.
	// +optional
	Load *int64 `json:"load,omitempty"`

	// generation is the spec's generation when the move was undone.
	// +optional
	Generation int64 `json:"generation,omitempty"`
}

// SLIs are service level indicators as observed. Durations are latencies;
// ratios are percentages. A missing field means the signal could not be read.
type SLIs struct {
	// observedAt is when the signals were read.
	// +optional
	ObservedAt *metav1.Time `json:"observedAt,omitempty"`
	// p50 latency.
	// +optional
	P50 *metav1.Duration `json:"p50,omitempty"`
	// p90 latency.
	// +optional
	P90 *metav1.Duration `json:"p90,omitempty"`
	// p95 latency.
	// +optional
	P95 *metav1.Duration `json:"p95,omitempty"`
	// p99 latency.
	// +optional
	P99 *metav1.Duration `json:"p99,omitempty"`
	// p999 latency.
	// +optional
	P999 *metav1.Duration `json:"p999,omitempty"`
	// errorRate is the share of 5xx responses.
	// +optional
	ErrorRate Percent `json:"errorRate,omitempty"`
	// throughput in requests per second over the SLO window, rounded.
	// +optional
	Throughput *int64 `json:"throughput,omitempty"`
	// poolUtilization is connections in use over the pool maximum.
	// +optional
	PoolUtilization Percent `json:"poolUtilization,omitempty"`
	// poolWait is the average wait for a pool connection.
	// +optional
	PoolWait *metav1.Duration `json:"poolWait,omitempty"`
	// memoryHitRatio is the L1 hit ratio.
	// +optional
	MemoryHitRatio Percent `json:"memoryHitRatio,omitempty"`
	// redisHitRatio is the L2 hit ratio.
	// +optional
	RedisHitRatio Percent `json:"redisHitRatio,omitempty"`
	// cpuUtilization is CPU use over the CPU request; above 100% when the pods burst past their request.
	// +optional
	CPUUtilization Utilization `json:"cpuUtilization,omitempty"`
	// missing lists the signals that could not be read, each with the reason.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	Missing []string `json:"missing,omitempty"`
	// worstObjective is the SLO objective nearest to, or furthest past, its
	// limit, such as "p99<=100ms" (status.slis only; the OBJECTIVE column).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	WorstObjective string `json:"worstObjective,omitempty"`
	// worstSLI is that objective's SLI rounded to three significant digits,
	// such as "93.1ms" (status.slis only; the SLI column).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	WorstSLI string `json:"worstSLI,omitempty"`
}

// FamilyReadiness is whether one knob family can be tuned on the signals read.
type FamilyReadiness struct {
	// family is pool, autoscaling, redis, cache or workers.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Family string `json:"family"`
	// tunable is true when every signal the family needs was read: the SLO's
	// signals and the saturation signals its diagnosis reads. A family that
	// is not tunable holds its knobs; the others are tuned.
	// +required
	Tunable bool `json:"tunable"`
	// knobs are the family's declared knobs (env names, hpa.* fields, redisReplicas).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=128
	Knobs []string `json:"knobs,omitempty"`
	// found lists the needed signals that were read.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	Found []string `json:"found,omitempty"`
	// missing lists the needed signals that could not be used, each as
	// "signal: Reason" (the reasons of docs/metrics.md).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=128
	Missing []string `json:"missing,omitempty"`
}

// KnobValues are the values of the knobs as they are in the cluster.
type KnobValues struct {
	// env maps each tuned environment variable to its value.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Env map[string]string `json:"env,omitempty"`
	// redisReplicas is the Redis workload's spec.replicas.
	// +optional
	RedisReplicas *int32 `json:"redisReplicas,omitempty"`
	// hpa holds the tuned HPA settings.
	// +optional
	HPA *HPAValues `json:"hpa,omitempty"`
	// replicas is the target Deployment's current number of replicas (read only).
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
}

// HPAValues are the HPA settings navius-tuner tunes.
type HPAValues struct {
	// minReplicas is the HPA's spec.minReplicas.
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// maxReplicas is the HPA's spec.maxReplicas.
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`
	// targetCPUUtilization in percent.
	// +optional
	TargetCPUUtilization *int32 `json:"targetCPUUtilization,omitempty"`
	// scaleDownStabilizationSeconds of the HPA's behavior.
	// +optional
	ScaleDownStabilizationSeconds *int32 `json:"scaleDownStabilizationSeconds,omitempty"`
}

// Recommendation is what Auto mode would apply now.
type Recommendation struct {
	// time the recommendation was made.
	// +required
	Time metav1.Time `json:"time"`
	// changes that would be applied; empty when nothing should change.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Changes []Change `json:"changes,omitempty"`
	// reason in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`
}

// Outcome is what became of a change.
// +kubebuilder:validation:Enum=Pending;Kept;RolledBack;Reverted
type Outcome string

const (
	// OutcomePending: the change is settling and has not been judged yet.
	OutcomePending Outcome = "Pending"
	// OutcomeKept: the change helped, or did no harm and cost nothing more.
	OutcomeKept Outcome = "Kept"
	// OutcomeRolledBack: the change made the SLIs worse and was undone.
	OutcomeRolledBack Outcome = "RolledBack"
	// OutcomeReverted: the change did not help and cost more, so it was undone.
	OutcomeReverted Outcome = "Reverted"
)

// Change is one knob moving from one value to another.
type Change struct {
	// knob is the knob's name: an env variable, redisReplicas, hpa.minReplicas,
	// hpa.maxReplicas, hpa.targetCPUUtilization or hpa.scaleDownStabilizationSeconds.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Knob string `json:"knob"`
	// from is the value before the change.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	From string `json:"from"`
	// to is the value after the change.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	To string `json:"to"`
}

// Decision is one change navius-tuner made, with its reason and effect.
type Decision struct {
	// time the change was applied.
	// +required
	Time metav1.Time `json:"time"`
	// family of knobs changed: pool, cache, redis, autoscaling or workers.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	Family string `json:"family"`
	// changes applied.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Changes []Change `json:"changes,omitempty"`
	// diagnosis is the bottleneck the change addresses, such as PoolSaturated.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Diagnosis string `json:"diagnosis,omitempty"`
	// reason in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`
	// predicted effect, such as "p99 93ms -> 60ms".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Predicted string `json:"predicted,omitempty"`
	// prediction is the model's numeric prediction for a model-driven
	// change, checked against what was observed at the verdict.
	// +optional
	Prediction *Prediction `json:"prediction,omitempty"`
	// observed effect once judged.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Observed string `json:"observed,omitempty"`
	// baseline SLIs observed just before the change, against which it is judged.
	// +optional
	Baseline *SLIs `json:"baseline,omitempty"`
	// outcome of the change.
	// +required
	Outcome Outcome `json:"outcome"`
	// rollout is true when the change restarted the pods (an env change).
	// +optional
	Rollout bool `json:"rollout,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=perfprofile;npp,categories=navius
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Objective",type=string,JSONPath=`.status.slis.worstObjective`,description="The SLO objective nearest to, or furthest past, its limit"
// +kubebuilder:printcolumn:name="SLI",type=string,JSONPath=`.status.slis.worstSLI`,description="That objective's SLI, rounded"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.status.paused`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1

// PerformanceProfile keeps a workload inside its latency SLOs by tuning its
// connection pool, caches and autoscaling within declared bounds.
type PerformanceProfile struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the SLOs and the knobs.
	// +required
	Spec PerformanceProfileSpec `json:"spec"`

	// status is what navius-tuner observed and did.
	// +optional
	// +kubebuilder:default={}
	Status PerformanceProfileStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PerformanceProfileList is a list of PerformanceProfiles.
type PerformanceProfileList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the PerformanceProfiles.
	Items []PerformanceProfile `json:"items"`
}
