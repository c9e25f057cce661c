// Package tuning is the decision engine: a pure function from what is known
// about a workload (its profile, the latest observation, the knob values and
// rollout state, the decision history, the time) to a plan. It imports no
// Kubernetes or HTTP client, so every rule is table-tested without a cluster.
package tuning

import (
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Knob names one tunable setting. Env knobs are named by their env variable
// (from the profile); the others have fixed names.
type Knob string

const (
	KnobRedisReplicas       Knob = "redisReplicas"
	KnobHPAMinReplicas      Knob = "hpa.minReplicas"
	KnobHPAMaxReplicas      Knob = "hpa.maxReplicas"
	KnobHPATargetCPU        Knob = "hpa.targetCPUUtilization"
	KnobHPAScaleDownWindowS Knob = "hpa.scaleDownStabilizationSeconds"
)

// Family groups knobs that change together in one step.
type Family string

const (
	FamilyPool        Family = "pool"        // pool max/min, lifetime, idle timeout (env: one rollout)
	FamilyCache       Family = "cache"       // L1 items and TTL, L2 TTL (env: one rollout)
	FamilyRedis       Family = "redis"       // Redis replicas
	FamilyAutoscaling Family = "autoscaling" // HPA min, max, CPU target, behaviour
	FamilyWorkers     Family = "workers"     // worker threads (env: one rollout)
)

// Diagnosis names the bottleneck a breached SLO is attributed to.
type Diagnosis string

const (
	DiagnosisNone            Diagnosis = ""
	DiagnosisPoolSaturated   Diagnosis = "PoolSaturated"
	DiagnosisCPUSaturated    Diagnosis = "CPUSaturated"
	DiagnosisHPAAtMax        Diagnosis = "HPAAtMax"
	DiagnosisCacheMisses     Diagnosis = "CacheMisses"
	DiagnosisRedisSaturated  Diagnosis = "RedisSaturated"
	DiagnosisUnknown         Diagnosis = "Unknown"
	DiagnosisOverProvisioned Diagnosis = "OverProvisioned"
	DiagnosisRegression      Diagnosis = "Regression"
	DiagnosisNoImprovement   Diagnosis = "NoImprovement"
	DiagnosisStartingPoint   Diagnosis = "StartingPoint"
	DiagnosisLoadSettled     Diagnosis = "LoadSettled"
	// DiagnosisExperiment: an SLO is breached and nothing was diagnosed; one
	// bounded step of capacity on the most likely family, kept only if the
	// verdict finds it helped.
	DiagnosisExperiment Diagnosis = "Experiment"
	// DiagnosisThinMargin: the SLOs hold, but a latency objective sat above
	// thinMarginRatio of its limit for a window; one raise on the env
	// family its tail is attributed to, kept only if the percentile fell
	// (margin.go).
	DiagnosisThinMargin Diagnosis = "ThinMargin"
	// DiagnosisFlapping: an autoscaling write made the HPA reverse its
	// scaling too often; its rollback carries this diagnosis.
	DiagnosisFlapping Diagnosis = "Flapping"
)

// Values are knob values as integers: counts as they are, durations in whole
// seconds, percentages in percent. A knob absent from the map has no value yet.
type Values map[Knob]int64

// State is what the cluster says about the workload right now.
type State struct {
	// Values are the knob values read from the Deployment env, the HPA and the Redis workload.
	Values Values
	// RolloutInProgress is true while the target Deployment rolls out a new
	// pod template (not while it only scales: new pods of a scale-up are on
	// the current template).
	RolloutInProgress bool
	// PodsWarmSince is when the newest pod became ready (the last time the
	// Deployment became fully available); Now or later while a pod is still
	// starting; zero when unknown. Pods younger than the SLO window start with
	// cold caches, so low hit ratios then say nothing about the cache's size.
	PodsWarmSince time.Time
	// Replicas is the target's current number of ready replicas.
	Replicas int32
	// PodsCeiling is the most pods the Deployment can run whoever scales it,
	// apart from the HPA the profile tunes: the largest of its
	// spec.replicas, its status.replicas and the maximum of every other
	// scaler (an HPA or a KEDA ScaledObject) whose target it is, declared in
	// the profile or not. 0 when unknown.
	PodsCeiling int32
	// Terminating is how many of the Deployment's pods are terminating now
	// (status.terminatingReplicas): they hold their connections until they
	// are gone.
	Terminating int32
	// GraceSeconds is the pods' terminationGracePeriodSeconds (Kubernetes'
	// default is 30): a terminating pod may hold its connections that long.
	GraceSeconds int64
	// StepSeconds is the least time one step of a rollout takes (a new pod
	// cannot be available sooner: the Deployment's minReadySeconds plus the
	// container's readiness initialDelaySeconds); 0 when nothing bounds it,
	// and then every old pod may still be terminating at once.
	StepSeconds int64
	// HPAAtMax is true when the HPA's desired replicas equal its maxReplicas.
	HPAAtMax bool
	// HPAHeldByWindow is true when the HPA's scale-down stabilization window
	// is what holds the pods: it recommends fewer than it runs (its
	// AbleToScale condition's reason is ScaleDownStabilized, or its
	// status.desiredReplicas is below status.currentReplicas).
	HPAHeldByWindow bool
	// HPADesiredReplicas is the HPA's status.desiredReplicas, 0 when there
	// is no HPA or it was not read: the replicas whose reversals after an
	// autoscaling write are counted (WatchScaling).
	HPADesiredReplicas int32
	// SpecReplicas is the target Deployment's spec.replicas (what it is
	// asked to run, ready or not), 0 when unknown.
	SpecReplicas int32
	// HasHPA is true when an HPA drives the target (never write Deployment replicas then).
	HasHPA bool
	// RedisReady is true when every Redis replica is ready.
	RedisReady bool
	// CPULimitMillis is the target container's CPU limit (or request when no limit), 0 when unknown.
	CPULimitMillis int64
	// CPURequestMillis is the target container's CPU request (what the HPA's
	// utilisation is a share of), 0 when unknown.
	CPURequestMillis int64
	// Strategy is the Deployment's update strategy as its spec gives it; the
	// engine resolves it at the replica count it checks the budget for.
	Strategy RolloutStrategy
	// Blocked lists knobs that must not be touched (for example a field conflict with another manager).
	Blocked map[Knob]string
	// RolloutFailed is set when the target's rollout of its current pod
	// template failed (its progress deadline passed); nil otherwise.
	RolloutFailed *RolloutFailure
}

// RolloutFailure is the Deployment controller's verdict that the rollout of
// the target's current pod template failed.
type RolloutFailure struct {
	// Reason and Message are the Deployment's Progressing condition's.
	Reason, Message string
	// Ours is true when navius-tuner's pending env change alone started the
	// rollout: its values are live, navius-tuner owns their fields, and
	// nobody wrote the Deployment after it.
	Ours bool
}

func (f RolloutFailure) String() string {
	if f.Message == "" {
		return f.Reason
	}
	return f.Reason + ": " + f.Message
}

// RolloutStrategy is a Deployment's update strategy, as given.
type RolloutStrategy struct {
	// Recreate: every old pod is gone before a new one starts.
	Recreate bool
	// MaxSurge and MaxUnavailable are the rolling update's values (a count
	// or a percentage); nil is the Kubernetes default, 25 %.
	MaxSurge, MaxUnavailable *intstr.IntOrString
}

// Input is everything Decide needs.
type Input struct {
	Spec        tuningv1alpha1.PerformanceProfileSpec
	Observation signals.Observation
	State       State
	// History is status.history: past decisions, newest last.
	History []tuningv1alpha1.Decision
	// Memory is status.memory: what the rules remember beyond the history.
	// Nil (a status written before it existed) is rebuilt from History.
	Memory *tuningv1alpha1.Memory
	// Generation is the profile's metadata.generation: a spec change is new
	// evidence that lifts the learned bounds of undone moves.
	Generation int64
	// Now is injected: the engine never reads a clock.
	Now time.Time
	// SLOMetSince is when the SLOs last started to hold without a break (the
	// lastTransitionTime of the SLOMet condition while it is True); zero when
	// they do not hold or it is unknown. Savings wait for a sustained hold.
	SLOMetSince time.Time
}

// Change moves one knob.
type Change struct {
	Knob    Knob
	From    int64 // the current value; HasFrom is false when the knob had no value yet
	HasFrom bool
	To      int64
}

// Plan is the engine's answer.
type Plan struct {
	// Family of the changes; empty when there are none.
	Family Family
	// Changes to apply; at most one family. Empty when nothing should change.
	Changes []Change
	// Diagnosis of the bottleneck, DiagnosisNone when the SLOs hold.
	Diagnosis Diagnosis
	// Reason in words a person reads in kubectl describe.
	Reason string
	// Predicted effect in words, such as "p99 180ms -> 90ms".
	Predicted string
	// Prediction is the numeric prediction of a model-driven change (the
	// value the model expects a signal to reach), nil for other changes;
	// Plan.Decision records it and the verdict checks it.
	Prediction *tuningv1alpha1.Prediction
	// Holds explain why nothing (or less) was done, such as "settling until 12:03:00".
	Holds []string
	// Rollout is true when the changes restart the pods (env knobs).
	Rollout bool
	// Judgement, when set, updates the outcome of the last pending decision.
	Judgement *Judgement
	// SLOMet reports whether every SLO held in the observation (false when unknown).
	SLOMet bool
	// SLOKnown is false when the signals needed to judge the SLOs were missing.
	SLOKnown bool
	// Missing is what the decision could not see: the SLO signals (every knob
	// holds) and the knob families held for their own signals.
	Missing Missing
	// BudgetExceeded, when set, says how far the connections the pods can
	// hold at the worst moment exceed the database budget, with values that
	// navius-tuner did not set: it raises neither the pool nor maxReplicas
	// then, and repairs nothing on its own.
	BudgetExceeded string
	// RolloutBudgetSpent, when set, says that maxRolloutsPerHour is spent
	// (counting this plan's rollout) and until when env changes wait.
	RolloutBudgetSpent string
	// CPU, when set, is the CPU time per request learned with this
	// observation: the caller keeps it in status.memory.cpu (status.Learn),
	// in every mode, whether or not anything changes.
	CPU *tuningv1alpha1.LearnedCPU
	// RolloutFailed, when set, says that the target's rollout failed and
	// what navius-tuner does about it (State.RolloutFailed): the message of
	// the RolloutFailed condition.
	RolloutFailed string
	// Baseline are the SLIs the changes start from; record them in the
	// Decision (Plan.Decision does) so the change can be judged after it settled.
	Baseline *tuningv1alpha1.SLIs
}

// Judgement is the verdict on the last pending decision after it settled.
type Judgement struct {
	Outcome  tuningv1alpha1.Outcome
	Observed string
	// Prediction is the decision's prediction with what was observed and its
	// error, nil when it had none or it could not be checked (the load moved,
	// or the signal is missing). RememberVerdict folds it into the model's
	// running error.
	Prediction *tuningv1alpha1.Prediction
}
