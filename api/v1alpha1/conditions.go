package v1alpha1

// Annotations read on a PerformanceProfile.
const (
	// PausedAnnotation, set to "true", stops every write to the workload; status is still reported.
	PausedAnnotation = "tuning.navius.io/paused"
	// ReconcileRequestedAnnotation, set to any new value, asks for a reconcile now.
	ReconcileRequestedAnnotation = "tuning.navius.io/reconcile-requested-at"
)

// FieldManager is the server-side-apply field manager of every write navius-tuner makes.
const FieldManager = "navius-tuner"

// Condition types. They follow kstatus: Ready is the summary, Stalled means
// navius-tuner cannot make progress without a change by a person.
const (
	// ConditionReady summarises the others: True when navius-tuner does its job for the profile.
	ConditionReady = "Ready"
	// ConditionSLOMet says whether every SLO held in the latest observation.
	ConditionSLOMet = "SLOMet"
	// ConditionMetricsAvailable is True when every SLO signal was read.
	ConditionMetricsAvailable = "MetricsAvailable"
	// ConditionProgressing is True while the target rolls out or a change settles.
	ConditionProgressing = "Progressing"
	// ConditionStalled is True when only a person can unblock the profile.
	ConditionStalled = "Stalled"
	// ConditionConnectionBudget is False when the pods can hold more database
	// connections at the worst moment of a rollout than the budget allows.
	ConditionConnectionBudget = "ConnectionBudget"
	// ConditionRolloutBudget is False while maxRolloutsPerHour is spent and env changes wait.
	ConditionRolloutBudget = "RolloutBudget"
	// ConditionReconciling is True while navius-tuner works toward Ready and
	// expects to get there without help (a missing target or metrics); kstatus
	// (Flux, kpt, cli-utils) reads it as InProgress.
	ConditionReconciling = "Reconciling"
)

// Condition reasons. docs/api.md lists which condition uses which.
const (
	// ReasonSucceeded: navius-tuner tunes within the declared bounds; nothing stops it.
	ReasonSucceeded = "Succeeded"
	// ReasonSLOMet: every SLO held.
	ReasonSLOMet = "SLOMet"
	// ReasonSLOBreached: at least one SLO was breached.
	ReasonSLOBreached = "SLOBreached"
	// ReasonMetricsRead: the needed signals were read.
	ReasonMetricsRead = "MetricsRead"
	// ReasonFamiliesHeld: the SLO signals were read, but a knob family's own
	// signals are missing; the message names each such family and the knobs
	// it holds, while the other families are tuned.
	ReasonFamiliesHeld = "FamiliesHeld"
	// ReasonMetricsUnavailable: SLO signals are missing, empty, NaN or stale; every knob is held.
	ReasonMetricsUnavailable = "MetricsUnavailable"
	// ReasonSettling: a change is settling before it is judged.
	ReasonSettling = "Settling"
	// ReasonRollingOut: the target Deployment is rolling out.
	ReasonRollingOut = "RollingOut"
	// ReasonIdle: no change is settling.
	ReasonIdle = "Idle"
	// ReasonTargetNotFound: the target Deployment does not exist (yet).
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonHPANotFound: the HPA named by spec.autoscaling.hpaRef does not exist (yet).
	ReasonHPANotFound = "HPANotFound"
	// ReasonRedisNotFound: the Redis workload of spec.cache.redis.replicas does not exist (yet).
	ReasonRedisNotFound = "RedisNotFound"
	// ReasonInvalidSpec: the spec does not match the cluster; a person must change it.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonFieldConflict: another field manager took over a field navius-tuner applied.
	ReasonFieldConflict = "FieldConflict"
	// ReasonPaused: the paused annotation is set; only status is written.
	ReasonPaused = "Paused"
	// ReasonModeOff: mode Off; SLIs are reported, nothing is changed.
	ReasonModeOff = "ModeOff"
	// ReasonRecommending: mode Recommend; status.recommendation holds what Auto would apply.
	ReasonRecommending = "Recommending"
	// ReasonNoDiagnosis: an SLO was breached but no bottleneck was identified, so nothing is changed.
	ReasonNoDiagnosis = "NoDiagnosis"
	// ReasonReconciling: the first observation has not been made yet.
	ReasonReconciling = "Reconciling"
	// ReasonTargetClaimed: an older profile tunes the same Deployment; this one stays away from it.
	ReasonTargetClaimed = "TargetClaimed"
	// ReasonHPAOwnedByKEDA: spec.autoscaling.hpaRef names an HPA that a KEDA ScaledObject owns and would reset.
	ReasonHPAOwnedByKEDA = "HPAOwnedByKEDA"
	// ReasonRolloutFailed: the target's rollout exceeded its progress deadline.
	ReasonRolloutFailed = "RolloutFailed"
	// ReasonWithinBudget: the connections the pods can hold at the worst moment fit the database budget.
	ReasonWithinBudget = "WithinBudget"
	// ReasonBudgetExceeded: the pool and HPA maxReplicas (set by someone
	// else) exceed the database budget; navius-tuner raises neither.
	ReasonBudgetExceeded = "BudgetExceeded"
	// ReasonRolloutsAvailable: an env change may restart the pods now.
	ReasonRolloutsAvailable = "RolloutsAvailable"
	// ReasonRolloutBudgetSpent: maxRolloutsPerHour restarts (rollbacks
	// included) happened in the last hour; env changes wait.
	ReasonRolloutBudgetSpent = "RolloutBudgetSpent"
	// ReasonTooManySeries: a Prometheus answer held far more series than the
	// profiles can use (the scope labels or an override select too much); it
	// was not read, and every knob is held.
	ReasonTooManySeries = "TooManySeries"
	// ReasonBucketsTooCoarse: the latency histogram's buckets cannot tell
	// whether a latency objective holds (no bucket bound above the threshold,
	// or none close enough below it); every knob is held.
	ReasonBucketsTooCoarse = "BucketsTooCoarse"
	// ReasonTooFewSamples: fewer requests in the window than a percentile
	// needs to count (10/(1−q): 1,000 for p99); every knob is held.
	ReasonTooFewSamples = "TooFewSamples"
	// ReasonCredentialsNotAllowed: a credentials Secret (authSecretRef,
	// oauth2.clientSecretRef, sigv4.credentialsSecretRef,
	// tls.clientCertSecretRef) lacks the PrometheusCredentialsLabel, so
	// nothing is sent; every knob is held.
	ReasonCredentialsNotAllowed = "CredentialsNotAllowed"
)

// PrometheusCredentialsLabel, set to "true" on a Secret, allows navius-tuner
// to use the Secret's token, password, OAuth2 client secret, AWS access key
// or client certificate key for the URL of the profiles that name it in
// spec.metrics.prometheus. Without it, anyone who
// may create a profile could have any Secret of the namespace sent to a host
// of their choosing.
const PrometheusCredentialsLabel = "tuning.navius.io/prometheus-credentials"

// Labels of sharding: a manager started with --watch-label-selector reconciles
// only the profiles its selector selects, on ShardLabel (as Flux's
// sharding.fluxcd.io/key). It labels the Deployments, StatefulSets and HPAs
// those profiles read with TunedLabel and the profile's ShardLabel, so that
// its cache holds only them.
const (
	// ShardLabel on a PerformanceProfile names its shard; unlabelled
	// profiles belong to the default shard (selector !tuning.navius.io/shard).
	ShardLabel = "tuning.navius.io/shard"
	// TunedLabel marks an object a profile reads; its value is "true".
	TunedLabel = "tuning.navius.io/tuned"
	// ShardFieldManager is the server-side-apply field manager of the shard
	// labels. It is not FieldManager: an apply of the labels alone as
	// navius-tuner would remove every env value navius-tuner owns (server-side
	// apply drops the owned fields an apply leaves out) and would move the
	// time of navius-tuner's last apply that the rollout checks read.
	ShardFieldManager = "navius-tuner-shard"
)
