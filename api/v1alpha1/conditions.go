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
	ConditionReady            = "Ready"
	ConditionSLOMet           = "SLOMet"
	ConditionMetricsAvailable = "MetricsAvailable"
	ConditionProgressing      = "Progressing"
	ConditionStalled          = "Stalled"
)

// Condition reasons.
const (
	ReasonSucceeded          = "Succeeded"
	ReasonSLOMet             = "SLOMet"
	ReasonSLOBreached        = "SLOBreached"
	ReasonMetricsRead        = "MetricsRead"
	ReasonMetricsUnavailable = "MetricsUnavailable"
	ReasonSettling           = "Settling"
	ReasonRollingOut         = "RollingOut"
	ReasonIdle               = "Idle"
	ReasonTargetNotFound     = "TargetNotFound"
	ReasonHPANotFound        = "HPANotFound"
	ReasonRedisNotFound      = "RedisNotFound"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonFieldConflict      = "FieldConflict"
	ReasonPaused             = "Paused"
	ReasonModeOff            = "ModeOff"
	ReasonRecommending       = "Recommending"
	ReasonNoDiagnosis        = "NoDiagnosis"
	ReasonReconciling        = "Reconciling"
)
