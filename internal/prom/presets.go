package prom

import (
	"fmt"
	"regexp"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// histogram is a histogram's metric name (without _bucket, _sum, _count)
// and the seconds one unit of its observations and bucket bounds is worth.
type histogram struct {
	name  string
	scale float64
}

// mean is a mean read as rate(sum) / rate(count), in seconds after scale.
type mean struct {
	sum, count string
	scale      float64
}

// convention is the series one stack exports for each family of default
// queries: what a preset replaces. A signal a stack has no convention for
// keeps the navius contract's series.
type convention struct {
	preset tuningv1alpha1.MetricsPreset

	// latency is the request duration histogram; appMatch are matchers
	// added to its series and the request counter's (Istio's reporter).
	latency  histogram
	appMatch []matcher
	// requests counts requests; statusLabel holds their HTTP status code.
	requests    string
	statusLabel string

	// inUse is the gauge of connections in use (with inUseMatch), poolMax
	// the gauge of the pool's maximum.
	inUse      string
	inUseMatch []matcher
	poolMax    string
	// wait is the mean wait for a connection; waitHistogram, when set, is
	// the wait-time histogram PoolWaitTail is read from.
	wait          mean
	waitHistogram *histogram
	// dbTime is the mean hold time per database call; when littles is set
	// it is instead the connections held over the calls per second (Little's
	// law: held = rate × hold time), for a pool that exports no hold time.
	dbTime  mean
	littles bool
	// calls is the counter whose rate is dbCallRate.
	calls string

	// memoryCache, when set, is a counter with a result label (hit, miss)
	// read as the L1 (memory) tier; the Redis tier keeps the navius contract.
	memoryCache string
}

// Metric names of the navius contract (docs/metrics.md), the default of
// every signal a preset has no convention for.
var navius = convention{
	preset:        tuningv1alpha1.PresetNavius,
	latency:       histogram{"http_request_duration_seconds", 1},
	requests:      "http_requests_total",
	statusLabel:   "status",
	inUse:         "db_pool_connections",
	inUseMatch:    []matcher{{"state", "=", "in_use"}},
	poolMax:       "db_pool_max_connections",
	wait:          mean{"db_pool_wait_seconds_sum", "db_pool_wait_seconds_count", 1},
	waitHistogram: &histogram{"db_pool_wait_seconds", 1},
	dbTime:        mean{"db_query_duration_seconds_sum", "db_query_duration_seconds_count", 1},
	calls:         "db_query_duration_seconds_count",
}

// conventions are the presets of spec.metrics.preset.
var conventions = map[tuningv1alpha1.MetricsPreset]convention{
	tuningv1alpha1.PresetNavius: navius,

	// OpenTelemetry semantic conventions v1.26.0 (http.server.request.duration,
	// db.client.connection.*), named as the Collector's Prometheus exporter,
	// Prometheus' OTLP receiver and the Go SDK's Prometheus exporter name
	// them by default: dots become underscores, the unit "s" becomes the
	// suffix _seconds, a unit in braces ({connection}) is dropped.
	tuningv1alpha1.PresetOpenTelemetry: func() convention {
		c := navius
		c.preset = tuningv1alpha1.PresetOpenTelemetry
		c.latency = histogram{"http_server_request_duration_seconds", 1}
		c.requests, c.statusLabel = "http_server_request_duration_seconds_count", "http_response_status_code"
		c.inUse, c.inUseMatch = "db_client_connection_count", []matcher{{"db_client_connection_state", "=", "used"}}
		c.poolMax = "db_client_connection_max"
		c.wait = mean{"db_client_connection_wait_time_seconds_sum", "db_client_connection_wait_time_seconds_count", 1}
		c.waitHistogram = &histogram{"db_client_connection_wait_time_seconds", 1}
		c.dbTime = mean{"db_client_connection_use_time_seconds_sum", "db_client_connection_use_time_seconds_count", 1}
		// Every acquisition records its wait, so the wait histogram's count
		// is the call rate, also for a service that exports no use_time.
		c.calls = "db_client_connection_wait_time_seconds_count"
		return c
	}(),

	// Spring Boot's Micrometer Prometheus registry: http.server.requests
	// (buckets with management.metrics.distribution.percentiles-histogram),
	// HikariCP's MicrometerMetricsTracker and Caffeine's CaffeineCacheMetrics.
	tuningv1alpha1.PresetMicrometer: func() convention {
		c := navius
		c.preset = tuningv1alpha1.PresetMicrometer
		c.latency = histogram{"http_server_requests_seconds", 1}
		c.requests, c.statusLabel = "http_server_requests_seconds_count", "status"
		c.inUse, c.inUseMatch = "hikaricp_connections_active", nil
		c.poolMax = "hikaricp_connections_max"
		c.wait = mean{"hikaricp_connections_acquire_seconds_sum", "hikaricp_connections_acquire_seconds_count", 1}
		c.waitHistogram = &histogram{"hikaricp_connections_acquire_seconds", 1}
		c.dbTime = mean{"hikaricp_connections_usage_seconds_sum", "hikaricp_connections_usage_seconds_count", 1}
		c.calls = "hikaricp_connections_usage_seconds_count"
		c.memoryCache = "cache_gets_total"
		return c
	}(),

	// Go: client_golang's promhttp middleware (a request counter and a
	// duration histogram with the status in the label code) and pgxpool's
	// statistics as github.com/IBM/pgxpoolprometheus exports them. pgxpool
	// has no wait histogram and no hold time: the mean wait is the acquire
	// duration per acquire, the hold time Little's law on its gauges.
	tuningv1alpha1.PresetGo: func() convention {
		c := navius
		c.preset = tuningv1alpha1.PresetGo
		c.statusLabel = "code"
		c.inUse, c.inUseMatch = "pgxpool_acquired_conns", nil
		c.poolMax = "pgxpool_max_conns"
		c.wait = mean{"pgxpool_acquire_duration_ns", "pgxpool_acquire_count", 1e-9}
		c.waitHistogram = nil
		c.dbTime, c.littles = mean{"", "pgxpool_acquire_count", 1}, true
		c.calls = "pgxpool_acquire_count"
		return c
	}(),

	// Istio's standard metrics, as the server's sidecar reports them
	// (reporter="destination"): the request duration in milliseconds and
	// the request counter with the status in response_code.
	tuningv1alpha1.PresetIstio: func() convention {
		c := navius
		c.preset = tuningv1alpha1.PresetIstio
		c.latency = histogram{"istio_request_duration_milliseconds", 0.001}
		c.appMatch = []matcher{{"reporter", "=", "destination"}}
		c.requests, c.statusLabel = "istio_requests_total", "response_code"
		return c
	}(),
}

// metricNameRE is the classic Prometheus metric name syntax.
var metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// conventionOf resolves a target's preset and latency histogram, or says
// why they cannot be read.
func conventionOf(t Target) (convention, error) {
	p := t.Preset
	if p == "" {
		p = tuningv1alpha1.PresetNavius
	}
	c, ok := conventions[p]
	if !ok {
		return convention{}, fmt.Errorf("unknown metrics preset %q", p)
	}
	if h := t.LatencyHistogram; h != nil {
		if !metricNameRE.MatchString(h.Name) {
			return convention{}, fmt.Errorf("latency histogram %q is not a Prometheus metric name", h.Name)
		}
		switch h.Unit {
		case "", tuningv1alpha1.UnitSeconds:
			c.latency = histogram{h.Name, 1}
		case tuningv1alpha1.UnitMilliseconds:
			c.latency = histogram{h.Name, 0.001}
		default:
			return convention{}, fmt.Errorf("latency histogram unit %q is neither seconds nor milliseconds", h.Unit)
		}
	}
	return c, nil
}

// key identifies the series a convention reads: targets whose keys differ
// cannot share a batch query.
func (c convention) key() string {
	return fmt.Sprintf("%s|%s|%g", c.preset, c.latency.name, c.latency.scale)
}

// Presets lists the presets spec.metrics.preset accepts, navius first.
func Presets() []tuningv1alpha1.MetricsPreset {
	return []tuningv1alpha1.MetricsPreset{tuningv1alpha1.PresetNavius, tuningv1alpha1.PresetOpenTelemetry,
		tuningv1alpha1.PresetMicrometer, tuningv1alpha1.PresetGo, tuningv1alpha1.PresetIstio}
}
