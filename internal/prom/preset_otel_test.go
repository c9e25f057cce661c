package prom

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/semconv/v1.41.0/dbconv"
	"go.opentelemetry.io/otel/semconv/v1.41.0/httpconv"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// otelService records a known batch of measurements through the
// OpenTelemetry Go SDK's semantic-convention instruments (semconv
// v1.41.0's httpconv and dbconv) and exports them with the SDK's
// Prometheus exporter, as a service instrumented with OpenTelemetry does.
type otelService struct {
	mu       sync.Mutex
	reg      *prometheus.Registry
	duration httpconv.ServerRequestDuration
	wait     dbconv.ClientConnectionWaitTime
	use      dbconv.ClientConnectionUseTime
}

// otelWaitBounds are explicit bucket bounds of the wait-time histogram, in
// seconds: the SDK's default bounds (0, 5, 10, … 10000) are meant for
// milliseconds, and would put every wait in the first bucket.
var otelWaitBounds = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// The batch: latencyBatch's 100 requests (the first 3 answered 500), 100
// connection acquisitions, each recording its wait (90 × 0.8 ms, 10 × 20
// ms) and its use of 10 ms, in a pool of 10 with 7 used.
const otelPool = "orders-db"

func newOTelService(t *testing.T) *otelService {
	ctx := context.Background()
	s := &otelService{reg: prometheus.NewRegistry()}
	exp, err := otelprom.New(otelprom.WithRegisterer(s.reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	meter := mp.Meter("github.com/navius-dev/navius-tuner/internal/prom/test")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.duration, err = httpconv.NewServerRequestDuration(meter)
	must(err)
	s.wait, err = dbconv.NewClientConnectionWaitTime(meter, metric.WithExplicitBucketBoundaries(otelWaitBounds...))
	must(err)
	s.use, err = dbconv.NewClientConnectionUseTime(meter)
	must(err)
	count, err := dbconv.NewClientConnectionCount(meter)
	must(err)
	maxConns, err := dbconv.NewClientConnectionMax(meter)
	must(err)
	count.Add(ctx, 7, otelPool, dbconv.ClientConnectionStateUsed)
	count.Add(ctx, 3, otelPool, dbconv.ClientConnectionStateIdle)
	maxConns.Add(ctx, 10, otelPool)
	for range 2000 { // a long history, so that rate() never extrapolates towards zero
		s.batch()
	}
	return s
}

func (s *otelService) batch() {
	ctx := context.Background()
	s.mu.Lock()
	defer s.mu.Unlock()
	errors := 3
	for _, b := range latencyBatch {
		for range b.n {
			code := 200
			if errors > 0 {
				code, errors = 500, errors-1
			}
			s.duration.Record(ctx, b.v, httpconv.RequestMethodGet, "http", s.duration.AttrResponseStatusCode(code))
		}
	}
	for range 90 {
		s.wait.Record(ctx, 0.0008, otelPool)
	}
	for range 10 {
		s.wait.Record(ctx, 0.02, otelPool)
	}
	for range 100 {
		s.use.Record(ctx, 0.01, otelPool)
	}
}

func (s *otelService) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reg.Gather()
}

// TestOpenTelemetryExpositionNames: the names and labels the opentelemetry
// preset reads are those the SDK's Prometheus exporter produces for the
// semantic conventions' instruments.
func TestOpenTelemetryExpositionNames(t *testing.T) {
	g := NewWithT(t)
	mfs, err := newOTelService(t).Gather()
	g.Expect(err).NotTo(HaveOccurred())
	types := map[string]dto.MetricType{}
	labels := map[string][]string{}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
		for _, l := range mf.Metric[0].Label {
			labels[mf.GetName()] = append(labels[mf.GetName()], l.GetName())
		}
	}
	for name, typ := range map[string]dto.MetricType{
		"http_server_request_duration_seconds":   dto.MetricType_HISTOGRAM,
		"db_client_connection_count":             dto.MetricType_GAUGE,
		"db_client_connection_max":               dto.MetricType_GAUGE,
		"db_client_connection_wait_time_seconds": dto.MetricType_HISTOGRAM,
		"db_client_connection_use_time_seconds":  dto.MetricType_HISTOGRAM,
	} {
		g.Expect(types).To(HaveKeyWithValue(name, typ), name)
	}
	g.Expect(labels["http_server_request_duration_seconds"]).To(ContainElement("http_response_status_code"))
	g.Expect(labels["db_client_connection_count"]).To(ContainElement("db_client_connection_state"))
	// The preset's own names, so that a renamed convention fails here.
	c := conventions[tuningv1alpha1.PresetOpenTelemetry]
	g.Expect(types).To(HaveKey(c.latency.name))
	g.Expect(types).To(HaveKey(c.inUse))
	g.Expect(types).To(HaveKey(c.poolMax))
	g.Expect(types).To(HaveKey(c.waitHistogram.name))
	g.Expect(labels[c.latency.name]).To(ContainElement(c.statusLabel))
}

// TestPresetOpenTelemetry: the SDK's exposition, scraped by a real
// Prometheus, read with the opentelemetry preset.
func TestPresetOpenTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	g := NewWithT(t)
	svc := newOTelService(t)
	testenv.Every(t, 50*time.Millisecond, svc.batch)
	prom := scrapeApp(t, svc)
	target := presetTarget(tuningv1alpha1.PresetOpenTelemetry)
	got := observeWhen(t, prom, `count_over_time(db_client_connection_max[10s]) >= 5`, []Target{target},
		signals.LatencyP99, signals.ErrorRate, signals.PoolWaitTail, signals.DBTime)
	o := got[target.Key]

	// The semantic conventions' advised bounds of http.server.request.duration.
	bounds, cum := cumulativeOf([]float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}, latencyBatch)
	var sum float64
	for _, b := range latencyBatch {
		sum += b.v * float64(b.n)
	}
	for _, p := range target.Percentiles {
		q, _ := signals.Quantile(p)
		expectNear(t, o, p, BucketQuantile(q, bounds, cum), 1e-6)
	}
	expectNear(t, o, signals.LatencyMean, sum/100, 1e-6)
	expectNear(t, o, signals.ErrorRate, 0.03, 1e-6)
	expectNear(t, o, signals.Pods, 1, 0)
	expectNear(t, o, signals.PoolInUse, 7, 1e-9)
	expectNear(t, o, signals.PoolMax, 10, 1e-9)
	expectNear(t, o, signals.PoolWait, (90*0.0008+10*0.02)/100, 1e-6)
	waitBounds, waitCum := cumulativeOf(otelWaitBounds, []struct {
		v float64
		n int
	}{{0.0008, 90}, {0.02, 10}})
	expectNear(t, o, signals.PoolWaitTail, BucketQuantile(0.99, waitBounds, waitCum), 1e-6)
	expectNear(t, o, signals.DBTime, 0.01, 1e-6)
	batches := val(o, signals.Throughput) / 100
	g.Expect(batches).To(BeNumerically("~", 20, 8), "about 20 batches/s")
	// The acquisitions, counted by the wait-time histogram.
	expectNear(t, o, signals.DBCallRate, 100*batches, 1e-6)
	// No cache convention: the navius contract's series, which this service lacks.
	g.Expect(o.Missing[signals.MemoryHitRatio].Reason).To(Equal(signals.ReasonEmpty))
	g.Expect(math.IsNaN(val(o, signals.MemoryHitRatio))).To(BeTrue())
}
