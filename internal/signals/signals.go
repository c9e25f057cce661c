// Package signals holds the Observation: the SLIs and saturation signals of one
// workload at one moment, each with its freshness, and for every signal that
// could not be read, why. It is plain data, shared by the Prometheus reader that
// fills it and the decision engine that reads it, and imports no client.
package signals

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Signal names one measured quantity of the metric contract.
type Signal string

const (
	// LatencyP50, LatencyP95, LatencyP99 and LatencyP999 are request latency percentiles, in seconds.
	LatencyP50  Signal = "latencyP50"
	LatencyP90  Signal = "latencyP90"
	LatencyP95  Signal = "latencyP95"
	LatencyP99  Signal = "latencyP99"
	LatencyP999 Signal = "latencyP999"
	// LatencyMean is the mean request latency, in seconds.
	LatencyMean Signal = "latencyMean"
	// ErrorRate is the share of 5xx responses, between 0 and 1.
	ErrorRate Signal = "errorRate"
	// Throughput is requests per second over all pods.
	Throughput Signal = "throughput"
	// PoolInUse is the average number of pool connections in use per pod.
	PoolInUse Signal = "poolInUse"
	// PoolMax is the average pool maximum per pod, as the pods report it.
	PoolMax Signal = "poolMax"
	// PoolWait is the average time a request waited for a pool connection, in seconds.
	PoolWait Signal = "poolWait"
	// DBTime is the average time a request held a connection (the database call), in seconds.
	DBTime Signal = "dbTime"
	// DBCallRate is database calls per second over all pods.
	DBCallRate Signal = "dbCallRate"
	// MemoryHitRatio and RedisHitRatio are cache hit ratios per tier, between 0 and 1.
	MemoryHitRatio Signal = "memoryHitRatio"
	RedisHitRatio  Signal = "redisHitRatio"
	// CPUUtilization is CPU use over the CPU request, averaged over pods (1 = 100 %).
	CPUUtilization Signal = "cpuUtilization"
	// RedisCPU is the Redis servers' CPU use in cores per replica.
	RedisCPU Signal = "redisCPU"
	// RedisOpsRate is Redis commands per second per replica.
	RedisOpsRate Signal = "redisOpsRate"
	// Pods is the number of pods that reported metrics.
	Pods Signal = "pods"
)

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
	ReasonNotConfigured  Reason = "NotConfigured"  // the profile gives no scope for the signal (no workload, no Redis)
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

// New returns an empty observation made at t.
func New(t time.Time) Observation {
	return Observation{Time: t, Values: map[Signal]Value{}, Missing: map[Signal]Missing{}}
}

// Set records a value. NaN and ±Inf are recorded as missing, never as numbers.
func (o *Observation) Set(s Signal, v float64, at time.Time) {
	if o.Values == nil {
		o.Values = map[Signal]Value{}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
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

// LatencySignal maps a percentile name such as "p99" to its signal.
func LatencySignal(percentile string) (Signal, bool) {
	switch percentile {
	case "p50":
		return LatencyP50, true
	case "p90":
		return LatencyP90, true
	case "p95":
		return LatencyP95, true
	case "p99":
		return LatencyP99, true
	case "p999":
		return LatencyP999, true
	}
	return "", false
}

// Quantile returns the quantile (0.5, 0.99, …) of a latency signal.
func Quantile(s Signal) (float64, bool) {
	switch s {
	case LatencyP50:
		return 0.5, true
	case LatencyP90:
		return 0.9, true
	case LatencyP95:
		return 0.95, true
	case LatencyP99:
		return 0.99, true
	case LatencyP999:
		return 0.999, true
	}
	return 0, false
}
