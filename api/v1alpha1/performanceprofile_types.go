package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
// +kubebuilder:validation:XValidation:rule="!has(self.connectionPool) || !has(self.connectionPool.minConnections) || !has(self.connectionPool.database) || !has(self.autoscaling) || !has(self.autoscaling.minReplicas) || self.connectionPool.minConnections.min * self.autoscaling.minReplicas.min <= self.connectionPool.database.maxConnections - self.connectionPool.database.reserved",message="connection budget can never fit: connectionPool.minConnections.min × autoscaling.minReplicas.min exceeds database.maxConnections - database.reserved"
type PerformanceProfileSpec struct {
	// targetRef names the Deployment to tune, in the profile's namespace.
	// +required
	TargetRef TargetRef `json:"targetRef"`

	// mode is Auto (apply changes), Recommend (publish what Auto would do in
	// status.recommendation, change nothing) or Off (report SLIs only).
	// +optional
	// +kubebuilder:default=Auto
	Mode Mode `json:"mode,omitempty"`

	// interval is the control period: how often the SLIs are read and a decision is made.
	// +optional
	// +kubebuilder:default="30s"
	Interval metav1.Duration `json:"interval,omitempty"`

	// slo declares the service level objectives that navius-tuner keeps.
	// +required
	SLO SLO `json:"slo"`

	// metrics says where and how the SLIs and saturation signals are read.
	// +required
	Metrics MetricsSource `json:"metrics"`

	// connectionPool declares the database connection-pool knobs and the database's budget.
	// +optional
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
	WorkerThreads *IntEnvKnob `json:"workerThreads,omitempty"`

	// guardrails limit how fast and how often navius-tuner changes things.
	// +optional
	// +kubebuilder:default={}
	Guardrails Guardrails `json:"guardrails,omitempty"`
}

// TargetRef names the workload to tune.
type TargetRef struct {
	// kind of the workload; only Deployment is supported.
	// +optional
	// +kubebuilder:default=Deployment
	// +kubebuilder:validation:Enum=Deployment
	Kind string `json:"kind,omitempty"`

	// name of the Deployment in the profile's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// container is the name of the container whose env is tuned; defaults to the first container.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container,omitempty"`
}

// Percentile names a latency percentile.
// +kubebuilder:validation:Enum=p50;p90;p95;p99;p999
type Percentile string

const (
	P50  Percentile = "p50"
	P90  Percentile = "p90"
	P95  Percentile = "p95"
	P99  Percentile = "p99"
	P999 Percentile = "p999"
)

// LatencyObjective is one latency percentile and its threshold.
type LatencyObjective struct {
	// percentile is the latency percentile the threshold applies to.
	// +required
	Percentile Percentile `json:"percentile"`

	// threshold is the latency the percentile must stay at or below, such as 100ms.
	// +required
	Threshold metav1.Duration `json:"threshold"`
}

// SLO declares the objectives. At least one of latency, maxErrorRate and minThroughput is required.
// +kubebuilder:validation:XValidation:rule="has(self.latency) || has(self.maxErrorRate) || has(self.minThroughput)",message="slo needs at least one objective: latency, maxErrorRate or minThroughput"
type SLO struct {
	// latency lists latency objectives, at most one per percentile.
	// +optional
	// +listType=map
	// +listMapKey=percentile
	// +kubebuilder:validation:MaxItems=5
	Latency []LatencyObjective `json:"latency,omitempty"`

	// maxErrorRate is the largest tolerated share of 5xx responses, as a percentage such as "0.5%".
	// +optional
	MaxErrorRate *Percent `json:"maxErrorRate,omitempty"`

	// minThroughput is the request rate, in requests per second, the workload must sustain.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinThroughput *int32 `json:"minThroughput,omitempty"`

	// window is the evaluation window of rate() and histogram_quantile().
	// +optional
	// +kubebuilder:default="5m"
	Window metav1.Duration `json:"window,omitempty"`
}

// Percent is a percentage written as a decimal number followed by %, such as "0.5%" or "82%".
// +kubebuilder:validation:Pattern=`^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)%$`
// +kubebuilder:validation:MaxLength=12
type Percent string

// MetricsSource says where the signals come from.
type MetricsSource struct {
	// prometheus is a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics).
	// +required
	Prometheus PrometheusEndpoint `json:"prometheus"`

	// labels scope every default query, such as {namespace: shop, service: orders-api}.
	// Values are escaped: they are matched literally, never interpreted as PromQL.
	// +optional
	// +kubebuilder:validation:MaxProperties=10
	Labels map[string]string `json:"labels,omitempty"`

	// queries override the default PromQL of individual signals.
	// +optional
	Queries *QueryOverrides `json:"queries,omitempty"`
}

// PrometheusEndpoint is a Prometheus-compatible query API.
type PrometheusEndpoint struct {
	// url of the API, such as http://prometheus.monitoring:9090.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// authSecretRef names a Secret in the profile's namespace holding either a
	// bearer token (key "token") or basic-auth credentials (keys "username" and "password").
	// +optional
	AuthSecretRef *corev1.LocalObjectReference `json:"authSecretRef,omitempty"`

	// tls configures TLS for an https URL.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`

	// timeout bounds each query.
	// +optional
	// +kubebuilder:default="10s"
	Timeout metav1.Duration `json:"timeout,omitempty"`
}

// TLSConfig configures the TLS client.
type TLSConfig struct {
	// caSecretRef names a Secret key holding the PEM CA bundle that signs the server's certificate.
	// +optional
	CASecretRef *corev1.SecretKeySelector `json:"caSecretRef,omitempty"`

	// serverName overrides the name checked against the server's certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerName string `json:"serverName,omitempty"`

	// insecureSkipVerify disables certificate verification. Do not use in production.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// QueryOverrides replace the default PromQL of a signal. Each query must return
// one series for the profile (a scalar-like instant vector).
type QueryOverrides struct {
	// p50 latency, in seconds.
	// +optional
	LatencyP50 string `json:"latencyP50,omitempty"`
	// p95 latency, in seconds.
	// +optional
	LatencyP95 string `json:"latencyP95,omitempty"`
	// p99 latency, in seconds.
	// +optional
	LatencyP99 string `json:"latencyP99,omitempty"`
	// errorRate as a ratio between 0 and 1.
	// +optional
	ErrorRate string `json:"errorRate,omitempty"`
	// throughput in requests per second.
	// +optional
	Throughput string `json:"throughput,omitempty"`
	// poolInUse is the number of pool connections in use, per pod on average.
	// +optional
	PoolInUse string `json:"poolInUse,omitempty"`
	// poolWait is the average time a request waited for a pool connection, in seconds.
	// +optional
	PoolWait string `json:"poolWait,omitempty"`
	// memoryHitRatio is the L1 hit ratio between 0 and 1.
	// +optional
	MemoryHitRatio string `json:"memoryHitRatio,omitempty"`
	// redisHitRatio is the L2 hit ratio between 0 and 1.
	// +optional
	RedisHitRatio string `json:"redisHitRatio,omitempty"`
	// cpuUtilization is CPU use over the CPU request, between 0 and 1 (or above when bursting).
	// +optional
	CPUUtilization string `json:"cpuUtilization,omitempty"`
	// redisCPU is the Redis servers' CPU use, in cores per replica.
	// +optional
	RedisCPU string `json:"redisCPU,omitempty"`
}

// IntEnvKnob is an integer setting passed to the container as an environment variable.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must be less than or equal to max"
type IntEnvKnob struct {
	// env is the name of the container's environment variable.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Env string `json:"env"`

	// min is the smallest value navius-tuner may set.
	// +required
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min"`

	// max is the largest value navius-tuner may set.
	// +required
	// +kubebuilder:validation:Minimum=0
	Max int32 `json:"max"`
}

// DurationEnvKnob is a duration passed to the container as an environment
// variable holding whole seconds.
// +kubebuilder:validation:XValidation:rule="duration(self.min) <= duration(self.max)",message="min must be less than or equal to max"
type DurationEnvKnob struct {
	// env is the name of the container's environment variable (its value is whole seconds).
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Env string `json:"env"`

	// min is the shortest duration navius-tuner may set, such as 10s.
	// +required
	Min metav1.Duration `json:"min"`

	// max is the longest duration navius-tuner may set, such as 10m.
	// +required
	Max metav1.Duration `json:"max"`
}

// Int32Range bounds an integer setting that is not an env knob.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must be less than or equal to max"
type Int32Range struct {
	// min is the smallest value navius-tuner may set.
	// +required
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min"`

	// max is the largest value navius-tuner may set.
	// +required
	// +kubebuilder:validation:Minimum=0
	Max int32 `json:"max"`
}

// ConnectionPool declares the pool knobs.
type ConnectionPool struct {
	// maxConnections is the env knob for the pool's maximum size per pod.
	// +optional
	MaxConnections *IntEnvKnob `json:"maxConnections,omitempty"`

	// minConnections is the env knob for the pool's minimum (idle) size per pod.
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
	// maxConnections is the database's connection limit (max_connections).
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxConnections int32 `json:"maxConnections"`

	// reserved connections are kept free for others (admins, migrations, other services).
	// +optional
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
}

// RedisCache is the shared L2 cache.
type RedisCache struct {
	// ttl is the env knob for the L2 time to live; its max is the staleness you tolerate.
	// +optional
	TTL *DurationEnvKnob `json:"ttl,omitempty"`

	// replicas scales the Redis read replicas (not shards) of a StatefulSet or Deployment.
	// +optional
	Replicas *RedisReplicas `json:"replicas,omitempty"`
}

// RedisReplicas scales the Redis read replicas.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must be less than or equal to max"
type RedisReplicas struct {
	// targetRef names the Redis StatefulSet or Deployment in the profile's namespace.
	// +required
	TargetRef WorkloadRef `json:"targetRef"`

	// min is the fewest replicas navius-tuner may set.
	// +required
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min"`

	// max is the most replicas navius-tuner may set.
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
	Name string `json:"name"`
}

// Autoscaling declares the HPA that navius-tuner tunes: either an existing one
// (hpaRef) or one that navius-tuner creates and owns (managed).
// +kubebuilder:validation:XValidation:rule="has(self.hpaRef) != has(self.managed)",message="set exactly one of hpaRef (tune an existing HPA) and managed (navius-tuner creates and owns the HPA)"
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas.min <= self.maxReplicas.max",message="minReplicas.min must be less than or equal to maxReplicas.max"
type Autoscaling struct {
	// hpaRef names an existing HorizontalPodAutoscaler for the target, in the profile's namespace.
	// +optional
	HPARef *corev1.LocalObjectReference `json:"hpaRef,omitempty"`

	// managed asks navius-tuner to create and own an HPA for the target. Prefer
	// this when the workload is managed by GitOps: the HPA is not in Git, so Git
	// and navius-tuner never fight over it.
	// +optional
	Managed *ManagedHPA `json:"managed,omitempty"`

	// minReplicas bounds the HPA's minReplicas.
	// +optional
	MinReplicas *Int32Range `json:"minReplicas,omitempty"`

	// maxReplicas bounds the HPA's maxReplicas.
	// +optional
	MaxReplicas *Int32Range `json:"maxReplicas,omitempty"`

	// targetCPUUtilization bounds the HPA's average CPU utilization target, in percent of the CPU request.
	// +optional
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
	Name string `json:"name,omitempty"`
}

// BehaviorTuning bounds the HPA behaviour settings navius-tuner may set.
// +kubebuilder:validation:XValidation:rule="duration(self.scaleDownStabilizationWindow.min) <= duration(self.scaleDownStabilizationWindow.max)",message="scaleDownStabilizationWindow.min must be less than or equal to its max"
type BehaviorTuning struct {
	// scaleDownStabilizationWindow bounds the HPA's scale-down stabilization window.
	// +required
	ScaleDownStabilizationWindow DurationRange `json:"scaleDownStabilizationWindow"`
}

// DurationRange bounds a duration setting that is not an env knob.
type DurationRange struct {
	// min is the shortest duration navius-tuner may set.
	// +required
	Min metav1.Duration `json:"min"`
	// max is the longest duration navius-tuner may set.
	// +required
	Max metav1.Duration `json:"max"`
}

// Guardrails limit how fast and how often navius-tuner changes things.
type Guardrails struct {
	// maxStepPercent is the largest relative change of any knob in one step.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=400
	MaxStepPercent int32 `json:"maxStepPercent,omitempty"`

	// settleTime is how long a change must settle (rollout done, a full window
	// observed) before it is judged and before the next change.
	// +optional
	// +kubebuilder:default="3m"
	SettleTime metav1.Duration `json:"settleTime,omitempty"`

	// maxRolloutsPerHour limits env changes, each of which restarts the pods.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=60
	MaxRolloutsPerHour int32 `json:"maxRolloutsPerHour,omitempty"`

	// rollbackOnRegression restores the previous value when a change made the SLIs worse.
	// +optional
	// +kubebuilder:default=true
	RollbackOnRegression *bool `json:"rollbackOnRegression,omitempty"`
}

// PerformanceProfileStatus is what navius-tuner observed and did.
type PerformanceProfileStatus struct {
	// observedGeneration is the generation of the spec the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, SLOMet, MetricsAvailable, Progressing, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// slis are the service level indicators as last observed.
	// +optional
	SLIs *SLIs `json:"slis,omitempty"`

	// current holds the knob values as last read from the cluster.
	// +optional
	Current *KnobValues `json:"current,omitempty"`

	// recommendation is what Auto mode would apply now, and why.
	// +optional
	Recommendation *Recommendation `json:"recommendation,omitempty"`

	// lastAdjustment is the latest change navius-tuner applied.
	// +optional
	LastAdjustment *Decision `json:"lastAdjustment,omitempty"`

	// history holds the last decisions that changed something, newest last.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	History []Decision `json:"history,omitempty"`
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
	// p95 latency.
	// +optional
	P95 *metav1.Duration `json:"p95,omitempty"`
	// p99 latency.
	// +optional
	P99 *metav1.Duration `json:"p99,omitempty"`
	// errorRate is the share of 5xx responses.
	// +optional
	ErrorRate Percent `json:"errorRate,omitempty"`
	// throughput in requests per second, rounded.
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
	// cpuUtilization is CPU use over the CPU request.
	// +optional
	CPUUtilization Percent `json:"cpuUtilization,omitempty"`
	// missing lists the signals that could not be read, each with the reason.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Missing []string `json:"missing,omitempty"`
}

// KnobValues are the values of the knobs as they are in the cluster.
type KnobValues struct {
	// env maps each tuned environment variable to its value.
	// +optional
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
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
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
	// +kubebuilder:validation:MaxLength=32
	From string `json:"from"`
	// to is the value after the change.
	// +required
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
// +kubebuilder:printcolumn:name="SLO",type=string,JSONPath=`.spec.slo.latency[?(@.percentile=="p99")].threshold`
// +kubebuilder:printcolumn:name="P99",type=string,JSONPath=`.status.slis.p99`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// PerformanceProfile keeps a workload inside its latency SLOs by tuning its
// connection pool, caches and autoscaling within declared bounds.
type PerformanceProfile struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the SLOs and the knobs.
	// +required
	Spec PerformanceProfileSpec `json:"spec"`

	// status is what navius-tuner observed and did.
	// +optional
	Status PerformanceProfileStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PerformanceProfileList is a list of PerformanceProfiles.
type PerformanceProfileList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PerformanceProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PerformanceProfile{}, &PerformanceProfileList{})
}
