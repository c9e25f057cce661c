package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Env variable names. The knob names are the ones the lab's profiles tune
// (the same as the simulated service's); the rest configure the scenario.
const (
	EnvPoolMax      = "DB_POOL_MAX_CONNECTIONS"
	EnvPoolMin      = "DB_POOL_MIN_CONNECTIONS"
	EnvL1Items      = "CACHE_MEMORY_MAX_ITEMS"
	EnvL1TTL        = "CACHE_MEMORY_TTL_SECONDS"
	EnvL2TTL        = "CACHE_REDIS_TTL_SECONDS"
	EnvDatabaseURL  = "DATABASE_URL"
	EnvRedisURL     = "REDIS_URL"
	EnvQueryCost    = "QUERY_COST_SECONDS"
	EnvKeyCount     = "KEY_COUNT"
	EnvKeyDist      = "KEY_DISTRIBUTION"
	EnvZipfExponent = "KEY_ZIPF_EXPONENT"
	EnvUseTime      = "METRICS_CONNECTION_USE_TIME"
	EnvPodIP        = "POD_IP"
	EnvPort         = "PORT"
)

// Key distributions of the requests that name no key.
const (
	KeysUniform = "uniform"
	KeysZipf    = "zipf"
)

// config is the service's configuration, read from the environment.
type config struct {
	Listen      string
	DatabaseURL string
	RedisURL    string
	PoolMax     int32
	PoolMin     int32
	// L1Items and L1TTL size the in-process cache; either 0 turns it off.
	L1Items int
	L1TTL   time.Duration
	// L2TTL is the Redis entries' TTL; 0 (or no REDIS_URL) turns Redis off.
	L2TTL time.Duration
	// QueryCost is what one database call costs on the server (pg_sleep),
	// holding its connection.
	QueryCost time.Duration
	KeyCount  uint64
	KeyDist   string
	ZipfS     float64
	// UseTime exports db.client.connection.use_time, which the
	// opentelemetry preset reads as the database time; false leaves the
	// service without it, as many services are.
	UseTime bool
}

// configFromEnv reads the configuration; look is os.LookupEnv in production.
// Every bad value is an error that names the variable.
func configFromEnv(look func(string) (string, bool)) (config, error) {
	c := config{KeyDist: KeysUniform, ZipfS: 1.1, UseTime: true}
	var errs []error
	get := func(name string) string { v, _ := look(name); return v }
	intVar := func(name string, def, lo int64) int64 {
		v := get(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer ≥ %d", name, v, lo))
			return def
		}
		return n
	}
	secondsVar := func(name string, def time.Duration) time.Duration {
		v := get(name)
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 86400 {
			errs = append(errs, fmt.Errorf("%s=%q: want seconds between 0 and 86400", name, v))
			return def
		}
		return time.Duration(f * float64(time.Second))
	}
	c.DatabaseURL = get(EnvDatabaseURL)
	if c.DatabaseURL == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvDatabaseURL))
	}
	c.RedisURL = get(EnvRedisURL)
	c.PoolMax = int32(min(intVar(EnvPoolMax, 4, 1), 10000))
	c.PoolMin = int32(min(intVar(EnvPoolMin, 0, 0), int64(c.PoolMax)))
	c.L1Items = int(min(intVar(EnvL1Items, 0, 0), 100_000_000))
	c.L1TTL = secondsVar(EnvL1TTL, 0)
	c.L2TTL = secondsVar(EnvL2TTL, 0)
	c.QueryCost = secondsVar(EnvQueryCost, 0)
	c.KeyCount = uint64(intVar(EnvKeyCount, 100_000, 1))
	if d := get(EnvKeyDist); d != "" {
		if d != KeysUniform && d != KeysZipf {
			errs = append(errs, fmt.Errorf("%s=%q: want %s or %s", EnvKeyDist, d, KeysUniform, KeysZipf))
		}
		c.KeyDist = d
	}
	if v := get(EnvZipfExponent); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 1 {
			errs = append(errs, fmt.Errorf("%s=%q: want a number > 1", EnvZipfExponent, v))
		} else {
			c.ZipfS = f
		}
	}
	if v := get(EnvUseTime); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", EnvUseTime, v))
		}
		c.UseTime = b || err != nil
	}
	port := get(EnvPort)
	if port == "" {
		port = "8080"
	}
	c.Listen = get(EnvPodIP) + ":" + port
	return c, errors.Join(errs...)
}

func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }
