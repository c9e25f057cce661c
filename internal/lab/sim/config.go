// Package sim is the workload model behind the local cluster and the
// benchmarks: a deterministic, discrete-time simulation of a service whose
// pods each carry the tuned knobs (DB pool, L1 in-memory cache, L2 Redis TTL,
// worker threads) and CPU request/limit, sharing one Redis with N read
// replicas and one database with a connection limit.
//
// Each step (one simulated second by default) the requests of the load trace
// are spread over the ready pods and each request walks CPU, L1, L2 and the
// pooled database. Queueing is computed with fluid and M/M/c approximations;
// the latency of every request is then sampled from the resulting
// distribution, so percentiles are those of real per-request latencies. The
// model serves the metric contract as Prometheus text and keeps the
// per-request ground truth for scoring. See docs/simulator.md.
package sim

import (
	"strconv"
	"time"
)

// Env variable names of the knobs, as the pods carry them.
const (
	EnvPoolMax       = "DB_POOL_MAX_CONNECTIONS"
	EnvPoolMin       = "DB_POOL_MIN_CONNECTIONS"
	EnvL1Items       = "CACHE_MEMORY_MAX_ITEMS"
	EnvL1TTL         = "CACHE_MEMORY_TTL_SECONDS"
	EnvL2TTL         = "CACHE_REDIS_TTL_SECONDS"
	EnvWorkerThreads = "WORKER_THREADS"
)

// Knobs are the tuned settings of one pod. TTLs are in seconds; 0 items or a
// 0 TTL disables that cache tier. Workers 0 means one per CPU core of the limit.
type Knobs struct {
	PoolMax int
	PoolMin int
	L1Items int
	L1TTL   float64
	L2TTL   float64
	Workers int
}

// GuideDefaults is the guide's starting configuration (benchmarks.md,
// static-default): pool 10 (min 5), L1 10,000 items for 60 s, L2 300 s.
var GuideDefaults = Knobs{PoolMax: 10, PoolMin: 5, L1Items: 10000, L1TTL: 60, L2TTL: 300}

// CaseStudyBefore is the guide's case study "before": a starved pool and no cache.
var CaseStudyBefore = Knobs{PoolMax: 4, PoolMin: 2}

// Env renders the knobs as the pod env (whole seconds for TTLs). Workers is
// omitted when 0.
func (k Knobs) Env() map[string]string {
	env := map[string]string{
		EnvPoolMax: strconv.Itoa(k.PoolMax),
		EnvPoolMin: strconv.Itoa(k.PoolMin),
		EnvL1Items: strconv.Itoa(k.L1Items),
		EnvL1TTL:   strconv.Itoa(int(k.L1TTL)),
		EnvL2TTL:   strconv.Itoa(int(k.L2TTL)),
	}
	if k.Workers > 0 {
		env[EnvWorkerThreads] = strconv.Itoa(k.Workers)
	}
	return env
}

// KnobsFromEnv reads the knobs from a pod env; an absent or unparsable
// variable keeps the value of def (the application's built-in default).
func KnobsFromEnv(env map[string]string, def Knobs) Knobs {
	k := def
	readInt := func(name string, dst *int) {
		if v, err := strconv.Atoi(env[name]); err == nil && v >= 0 {
			*dst = v
		}
	}
	readSeconds := func(name string, dst *float64) {
		if v, err := strconv.ParseFloat(env[name], 64); err == nil && v >= 0 {
			*dst = v
		}
	}
	readInt(EnvPoolMax, &k.PoolMax)
	readInt(EnvPoolMin, &k.PoolMin)
	readInt(EnvL1Items, &k.L1Items)
	readSeconds(EnvL1TTL, &k.L1TTL)
	readSeconds(EnvL2TTL, &k.L2TTL)
	readInt(EnvWorkerThreads, &k.Workers)
	return k
}

// Config holds the model's constants. Zero fields take the defaults of
// DefaultConfig (see Config.withDefaults); times are in seconds.
type Config struct {
	// Namespace and Service label every series; RedisService labels the Redis
	// series (default: Service, so that one label scope finds them all).
	Namespace, Service, RedisService string
	// RedisName prefixes the Redis replica pod names: <RedisName>-<i>.
	RedisName string
	// Container labels the cAdvisor and kube-state-metrics series.
	Container string
	// Seed makes a run reproducible.
	Seed uint64
	// DefaultKnobs are the application's built-in values for env variables a pod lacks.
	DefaultKnobs Knobs

	// Keys is the size of the key space; ZipfS the Zipf exponent of key popularity.
	Keys  int
	ZipfS float64

	// CPUPerRequest is the CPU time of every request; CPUPerL2 and CPUPerDB are
	// added on an L1 miss and on a DB call (serialisation).
	CPUPerRequest, CPUPerL2, CPUPerDB float64
	// CPUIdleMillis is a pod's CPU use at rest.
	CPUIdleMillis float64
	// RequestTimeout bounds CPU queueing; a request waiting longer fails with 504.
	RequestTimeout float64
	// L1Time is the in-memory lookup time.
	L1Time float64

	// RedisRTT is the Redis round trip at no load; RedisOpsPerReplica the
	// commands per second one replica serves (M/M/1 per replica).
	RedisRTT, RedisOpsPerReplica float64
	// RedisClientsPerPod is the Redis client connections each pod holds.
	RedisClientsPerPod int

	// DBTime is the mean database call time at no load; DBCores the database's
	// parallel capacity (work = calls/s × DBTime); DBContention how fast the
	// call time grows with load: t = DBTime × (1 + DBContention × u/(1−u)).
	DBTime, DBCores, DBContention float64
	// DBMaxConnections is the database's connection limit over all pods.
	DBMaxConnections int
	// PoolTimeout is how long a request waits for a pool connection before failing with 503.
	PoolTimeout float64
	// ConnectTime is the cost of opening a connection; ConnOpenRate how many a
	// pool opens per second at most (warm-up); IdleTimeout when idle ones close.
	ConnectTime, ConnOpenRate, IdleTimeout float64

	// TruthRetention is how many simulated seconds of per-request latencies
	// are kept for exact window quantiles.
	TruthRetention float64
}

// DefaultConfig is calibrated so that the guide's case study holds (see
// docs/simulator.md): CaseStudyBefore on 2 pods at 100 req/s averages about
// 250 ms, and a tuned configuration sustains 500 req/s at p95 ≤ 100 ms.
func DefaultConfig() Config {
	return Config{
		Namespace:          "default",
		Service:            "orders-api",
		RedisName:          "redis",
		Container:          "app",
		Seed:               1,
		DefaultKnobs:       GuideDefaults,
		Keys:               100000,
		ZipfS:              0.9,
		CPUPerRequest:      0.002,
		CPUPerL2:           0.0003,
		CPUPerDB:           0.001,
		CPUIdleMillis:      5,
		RequestTimeout:     10,
		L1Time:             0.00005,
		RedisRTT:           0.0005,
		RedisOpsPerReplica: 4000,
		RedisClientsPerPod: 4,
		DBTime:             0.06,
		DBCores:            10,
		DBContention:       0.15,
		DBMaxConnections:   200,
		PoolTimeout:        2,
		ConnectTime:        0.05,
		ConnOpenRate:       10,
		IdleTimeout:        600,
		TruthRetention:     900,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	str := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	num := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	integer := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	str(&c.Namespace, d.Namespace)
	str(&c.Service, d.Service)
	str(&c.RedisService, c.Service)
	str(&c.RedisName, d.RedisName)
	str(&c.Container, d.Container)
	if c.DefaultKnobs == (Knobs{}) {
		c.DefaultKnobs = d.DefaultKnobs
	}
	integer(&c.Keys, d.Keys)
	num(&c.ZipfS, d.ZipfS)
	num(&c.CPUPerRequest, d.CPUPerRequest)
	num(&c.CPUPerL2, d.CPUPerL2)
	num(&c.CPUPerDB, d.CPUPerDB)
	num(&c.CPUIdleMillis, d.CPUIdleMillis)
	num(&c.RequestTimeout, d.RequestTimeout)
	num(&c.L1Time, d.L1Time)
	num(&c.RedisRTT, d.RedisRTT)
	num(&c.RedisOpsPerReplica, d.RedisOpsPerReplica)
	integer(&c.RedisClientsPerPod, d.RedisClientsPerPod)
	num(&c.DBTime, d.DBTime)
	num(&c.DBCores, d.DBCores)
	num(&c.DBContention, d.DBContention)
	integer(&c.DBMaxConnections, d.DBMaxConnections)
	num(&c.PoolTimeout, d.PoolTimeout)
	num(&c.ConnectTime, d.ConnectTime)
	num(&c.ConnOpenRate, d.ConnOpenRate)
	num(&c.IdleTimeout, d.IdleTimeout)
	num(&c.TruthRetention, d.TruthRetention)
	return c
}

// PodSpec is what the model needs to know of one Running and Ready pod.
type PodSpec struct {
	Name string
	// Env is the container env; the knobs are read from it (KnobsFromEnv).
	Env map[string]string
	// CPURequestMillis and CPULimitMillis of the container (0: unset).
	CPURequestMillis, CPULimitMillis int64
	// StartTime tells a restarted pod of the same name from the old one (zero: unknown).
	StartTime time.Time
}

// Clock maps wall time to simulated seconds for a run compressed by Speed
// (simulated seconds per wall second; 1 when 0).
type Clock struct {
	Start time.Time
	Speed float64
}

// SimSeconds is the simulated time at wall time t.
func (c Clock) SimSeconds(t time.Time) float64 {
	s := c.Speed
	if s <= 0 {
		s = 1
	}
	return t.Sub(c.Start).Seconds() * s
}
