// Package signals holds the Observation: the SLIs and saturation signals of one
// workload at one moment, each with its freshness, and for every signal that
// could not be read, why. It is plain data, shared by the Prometheus reader that
// fills it and the decision engine that reads it, and imports no client.
package signals

import (
	"fmt"
	"maps"
	"math"
	"sort"
	"time"
)

// Signal names one measured quantity of the metric contract.
type Signal string

const (
	// LatencyP50 … LatencyP999 are request latency percentiles, in seconds (see Percentiles).
	LatencyP50  Signal = "latencyP50"
	LatencyP90  Signal = "latencyP90"
	LatencyP95  Signal = "latencyP95"
	LatencyP99  Signal = "latencyP99"
	LatencyP999 Signal = "latencyP999"
	// LatencyMean is the mean request latency, in seconds.
	LatencyMean Signal = "latencyMean"
	// ErrorRate is the share of 5xx responses, between 0 and 1.
	ErrorRate Signal = "errorRate"
	// Throughput is requests per second over all pods, over the saturation
	// window (a minute): it follows a load step quickly.
	Throughput Signal = "throughput"
	// ThroughputWindow is requests per second over all pods over the SLO
	// window, the window of the latencies and the error rate: the load that
	// SLIs measured over that window are compared at.
	ThroughputWindow Signal = "throughputWindow"
	// ThroughputNow is requests per second over all pods over the newest
	// scrape interval: each pod's last two samples (irate). A pod the
	// HPA just added serves from its second sample on at its full rate,
	// where a rate over the saturation window divides its first requests by
	// a window it did not exist for (and leaves out a series with one
	// sample): Throughput under-reads exactly while pods are being added.
	ThroughputNow Signal = "throughputNow"
	// ThroughputPeak is the largest request rate within the SLO window: how
	// far above the window's mean the load went. It is sampled from the same
	// rates as ThroughputNoise when that is measured (the rate over the noise
	// step, once per step), else from the rate over the saturation window,
	// once per saturation window.
	ThroughputPeak Signal = "throughputPeak"
	// ThroughputNoise is how far the request rate moved back and forth
	// within the SLO window, in requests per second: rates over the noise
	// step sampled once per step (the saturation window, or the SLO window's
	// third when it holds fewer than three; never under two scrape
	// intervals), their total movement from one sample to the next less their
	// range (largest − smallest). A steady load, a step and a trend in one
	// direction have none; a load that goes up and down has as much as it
	// came back. It needs three samples in the window, one at every step of
	// it (a missed scrape would read a swing as calm).
	ThroughputNoise Signal = "throughputNoise"
	// PoolInUse is the average number of pool connections in use per pod.
	PoolInUse Signal = "poolInUse"
	// PoolMax is the average pool maximum per pod, as the pods report it.
	PoolMax Signal = "poolMax"
	// PoolWait is the average time a request waited for a pool connection, in seconds.
	PoolWait Signal = "poolWait"
	// PoolWaitTail is the pool wait at the objective's percentile, in
	// seconds, from a connection wait-time histogram when the stack exports
	// one (OTel db.client.connection.wait_time, HikariCP acquire, the navius
	// contract's db_pool_wait_seconds). It is optional: its absence holds no
	// family, it only leaves the tail diagnosis to the queueing model.
	PoolWaitTail Signal = "poolWaitTail"
	// DBTime is the average time a request held a connection (the database call), in seconds.
	DBTime Signal = "dbTime"
	// DBCallRate is database calls per second over all pods.
	DBCallRate Signal = "dbCallRate"
	// MemoryHitRatio and RedisHitRatio are cache hit ratios per tier, between 0 and 1.
	MemoryHitRatio Signal = "memoryHitRatio"
	RedisHitRatio  Signal = "redisHitRatio"
	// MemoryLookupRate is L1 cache lookups (hits and misses) per second over
	// all pods: the request rate the L1 model counts its TTL in. It comes
	// from the cache's own counters, which differ from HTTP requests when a
	// request looks up several keys or none.
	MemoryLookupRate Signal = "memoryLookupRate"
	// CPUUtilization is CPU use over the CPU request, averaged over pods (1 = 100 %).
	CPUUtilization Signal = "cpuUtilization"
	// RedisCPU is the Redis servers' CPU use in cores per replica.
	RedisCPU Signal = "redisCPU"
	// RedisOpsRate is Redis commands per second per replica.
	RedisOpsRate Signal = "redisOpsRate"
	// Pods is the number of pods that reported metrics.
	Pods Signal = "pods"
)

// All lists every signal: the percentiles of the table, then the others.
func All() []Signal {
	out := make([]Signal, 0, len(Percentiles)+20)
	for _, p := range Percentiles {
		out = append(out, p.Signal)
	}
	return append(out, LatencyMean, ErrorRate, Throughput, ThroughputWindow, ThroughputNow, ThroughputPeak, ThroughputNoise, PoolInUse, PoolMax, PoolWait, PoolWaitTail, DBTime, DBCallRate,
		MemoryHitRatio, RedisHitRatio, MemoryLookupRate, CPUUtilization, RedisCPU, RedisOpsRate, Pods)
}

// Unread is an observation made at t in which no signal could be read, each
// for the same reason (the endpoint's credentials could not be read, say).
func Unread(t time.Time, r Reason, msg string) Observation {
	o := NewObservation(t)
	for _, s := range All() {
		o.SetMissing(s, r, msg)
	}
	return o
}

// Reason says why a signal is missing.
type Reason string

const (
	ReasonEndpointDown   Reason = "EndpointDown"   // the endpoint could not be reached
	ReasonHTTPError      Reason = "HTTPError"      // a 4xx or 5xx answer
	ReasonTimeout        Reason = "Timeout"        // no answer within the timeout
	ReasonEmpty          Reason = "Empty"          // the query returned no series
	ReasonNaN            Reason = "NaN"            // the value was NaN or ±Inf
	ReasonMultipleSeries Reason = "MultipleSeries" // several series where one was expected
	ReasonStale          Reason = "Stale"          // the sample is older than allowed
	ReasonMalformed      Reason = "Malformed"      // the answer could not be decoded
	ReasonBadQuery       Reason = "BadQuery"       // the query was refused as invalid
	ReasonUnauthorized   Reason = "Unauthorized"   // 401/403 or the credentials could not be read
	ReasonNotConfigured  Reason = "NotConfigured"  // the profile gives no scope for the signal (no workload, no Redis), or its preset's stack has no series for it
	ReasonTooManySeries  Reason = "TooManySeries"  // the answer held more series than the batch may (Options.MaxSeriesPerProfile)
	// ReasonBucketsTooCoarse: the histogram cannot tell whether the percentile is within its objective.
	ReasonBucketsTooCoarse Reason = "BucketsTooCoarse"
	// ReasonTooFewSamples: fewer requests in the window than the percentile needs.
	ReasonTooFewSamples Reason = "TooFewSamples"
	// ReasonCredentialsNotAllowed: the credentials' Secret does not allow being sent to Prometheus.
	ReasonCredentialsNotAllowed Reason = "CredentialsNotAllowed"
)

// Value is a signal's value and when it was sampled.
type Value struct {
	Value float64
	At    time.Time
}

// Missing says why a signal could not be read.
type Missing struct {
	Reason  Reason
	Message string
}

func (m Missing) String() string {
	if m.Message == "" {
		return string(m.Reason)
	}
	return fmt.Sprintf("%s: %s", m.Reason, m.Message)
}

// Observation is the set of signals of one workload at one moment. A signal is
// either in Values or in Missing, never guessed: a missing signal stays missing.
type Observation struct {
	// Time is when the observation was made.
	Time    time.Time
	Values  map[Signal]Value
	Missing map[Signal]Missing
}

// NewObservation returns an empty observation made at t.
func NewObservation(t time.Time) Observation {
	return Observation{Time: t, Values: map[Signal]Value{}, Missing: map[Signal]Missing{}}
}

// Reset empties o, keeping its maps for the next observation, made at t.
func (o *Observation) Reset(t time.Time) {
	o.Time = t
	if o.Values == nil {
		o.Values = map[Signal]Value{}
	}
	if o.Missing == nil {
		o.Missing = map[Signal]Missing{}
	}
	clear(o.Values)
	clear(o.Missing)
}

// Clone is a copy of o that shares no map with it.
func (o Observation) Clone() Observation {
	return Observation{Time: o.Time, Values: maps.Clone(o.Values), Missing: maps.Clone(o.Missing)}
}

// Number reports whether v is a value of s rather than a missing one: NaN
// and ±Inf are never numbers, with one exception: a latency percentile may
// be +Inf, which means above the highest bucket bound (a breach of any
// objective), not unknown.
func Number(s Signal, v float64) bool {
	_, percentile := Quantile(s)
	return !math.IsNaN(v) && !math.IsInf(v, -1) && (!math.IsInf(v, +1) || percentile)
}

// Set records a value, or records it as missing when it is not a Number.
func (o *Observation) Set(s Signal, v float64, at time.Time) {
	if o.Values == nil {
		o.Values = map[Signal]Value{}
	}
	if !Number(s, v) {
		o.SetMissing(s, ReasonNaN, fmt.Sprintf("value %v", v))
		return
	}
	delete(o.Missing, s)
	o.Values[s] = Value{Value: v, At: at}
}

// SetMissing records why a signal could not be read.
func (o *Observation) SetMissing(s Signal, r Reason, msg string) {
	if o.Missing == nil {
		o.Missing = map[Signal]Missing{}
	}
	delete(o.Values, s)
	o.Missing[s] = Missing{Reason: r, Message: msg}
}

// Get returns a signal's value and whether it is present.
func (o Observation) Get(s Signal) (float64, bool) {
	v, ok := o.Values[s]
	return v.Value, ok
}

// Has reports whether every given signal is present.
func (o Observation) Has(ss ...Signal) bool {
	for _, s := range ss {
		if _, ok := o.Values[s]; !ok {
			return false
		}
	}
	return true
}

// MissingSignals lists the missing signals in a stable order, each as "signal: reason".
func (o Observation) MissingSignals() []string {
	out := make([]string, 0, len(o.Missing))
	for s, m := range o.Missing {
		out = append(out, fmt.Sprintf("%s: %s", s, m))
	}
	sort.Strings(out)
	return out
}

// Percentile is one latency percentile the API accepts.
type Percentile struct {
	// Name is the percentile in the API: spec.slo.latency[].percentile, the
	// field of status.slis and of spec.metrics.queries ("latency" + upper case).
	Name string
	// Signal is the latency signal that carries it.
	Signal Signal
	// Quantile is the percentile as a quantile, between 0 and 1.
	Quantile float64
	// Always: observed and reported for every profile; the others only for a
	// profile with an objective on them.
	Always bool
}

// Percentiles is the one table of latency percentiles, lowest first. The
// reader's quantiles, status.slis, the query overrides, the operator's
// navius_tuner_sli series, the baselines and the verdicts all derive from it:
// a new percentile is a row here, its Signal constant, and its fields in the
// API (the Percentile enum, SLIs and QueryOverrides).
var Percentiles = []Percentile{
	{Name: "p50", Signal: LatencyP50, Quantile: 0.5, Always: true},
	{Name: "p90", Signal: LatencyP90, Quantile: 0.9},
	{Name: "p95", Signal: LatencyP95, Quantile: 0.95, Always: true},
	{Name: "p99", Signal: LatencyP99, Quantile: 0.99, Always: true},
	{Name: "p999", Signal: LatencyP999, Quantile: 0.999},
}

// PercentileNamed returns the row of a percentile name such as "p99".
func PercentileNamed(name string) (Percentile, bool) {
	for _, p := range Percentiles {
		if p.Name == name {
			return p, true
		}
	}
	return Percentile{}, false
}

// PercentileOf returns the row of a latency signal.
func PercentileOf(s Signal) (Percentile, bool) {
	for _, p := range Percentiles {
		if p.Signal == s {
			return p, true
		}
	}
	return Percentile{}, false
}

// PercentileAtMost is the highest percentile of the table at or below the
// quantile q (the lowest when q is below every row): 0.99 is p99, 0.995 p99.
func PercentileAtMost(q float64) Percentile {
	out := Percentiles[0]
	for _, p := range Percentiles {
		if q >= p.Quantile {
			out = p
		}
	}
	return out
}

// LatencySignal maps a percentile name such as "p99" to its signal.
func LatencySignal(percentile string) (Signal, bool) {
	p, ok := PercentileNamed(percentile)
	return p.Signal, ok
}

// Quantile returns the quantile (0.5, 0.99, …) of a latency signal.
func Quantile(s Signal) (float64, bool) {
	p, ok := PercentileOf(s)
	return p.Quantile, ok
}

// AlwaysObserved lists the latency signals observed for every profile, in the table's order.
func AlwaysObserved() []Signal {
	var out []Signal
	for _, p := range Percentiles {
		if p.Always {
			out = append(out, p.Signal)
		}
	}
	return out
}
