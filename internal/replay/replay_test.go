package replay_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/replay"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

const poolEnv = "DB_POOL_MAX_CONNECTIONS"

// recordedStart is when the recorded history starts.
var recordedStart = time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)

func poolProfile(url string) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: "orders-api", Container: "app"},
			Mode:      tuningv1alpha1.ModeRecommend,
			Interval:  metav1.Duration{Duration: 30 * time.Second},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}}}},
			Metrics: tuningv1alpha1.MetricsSource{
				Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: url},
				Labels:     map[string]string{"namespace": "shop", "service": "orders-api"},
			},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: poolEnv, Min: 5, Max: 100},
				Database:       &tuningv1alpha1.DatabaseBudget{MaxConnections: 200},
			},
		},
	}
}

// starved is a history in which the pool of 10 is saturated from the start:
// p99 180ms against an objective of 100ms, every connection in use, 40ms
// waits for one.
func starved(at time.Time) testenv.Load {
	return testenv.Load{P99: 0.18, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.050}
}

func TestReplayOfAStarvedPoolProposesTheRaise(t *testing.T) {
	to := recordedStart.Add(40 * time.Minute)
	srv := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{}, Recorded: testenv.RecordedService{
		Namespace: "shop", Name: "orders-api", From: recordedStart, To: to, Scrape: 15 * time.Second, Load: starved,
	}.OpenMetrics()})
	p := poolProfile(srv.URL)
	src := &controllers.PrometheusSource{Batcher: prom.NewBatcher(prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(),
		Freshness: signals.Freshness{ScrapeInterval: 15 * time.Second}}), prom.BatcherOptions{})}
	from := recordedStart.Add(10 * time.Minute)
	rep, err := replay.Run(context.Background(), replay.Config{
		Profile: p, From: from, To: from.Add(5 * time.Minute),
		State: tuning.State{Values: tuning.Values{poolEnv: 10}, Replicas: 4, PodsCeiling: 4, SpecReplicas: 4,
			GraceSeconds: 30, CPULimitMillis: 2000},
		Observe: func(ctx context.Context, at time.Time) (signals.Observation, error) { return src.ObserveAt(ctx, p, at) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Periods) != 11 {
		t.Fatalf("5 minutes at 30s are 11 periods, got %d", len(rep.Periods))
	}
	first := rep.Periods[0]
	if len(first.Missing) > 0 {
		t.Fatalf("the recorded metrics are read at the period's time; missing: %v", first.Missing)
	}
	d := first.Decision
	if d == nil || len(d.Changes) != 1 || d.Changes[0].Knob != poolEnv {
		t.Fatalf("the first period raises the starved pool; got decision %+v, reason %q, holds %v", d, first.Reason, first.Holds)
	}
	to10, err := strconv.Atoi(d.Changes[0].To)
	if err != nil || d.Changes[0].From != "10" || to10 <= 10 {
		t.Fatalf("the pool goes up from 10: %+v", d.Changes[0])
	}
	if first.Preview || !rep.Periods[1].Preview {
		t.Errorf("the periods after the first change are a preview: %v, %v", first.Preview, rep.Periods[1].Preview)
	}
	if rep.Changes < 1 || rep.Rollouts < 1 || rep.FirstChange == nil || !rep.FirstChange.Equal(from) {
		t.Errorf("summary: %d changes, %d rollouts, first %v", rep.Changes, rep.Rollouts, rep.FirstChange)
	}
	if rep.PeakConnections == nil || *rep.PeakConnections < int64(4*to10) || rep.Unsafe() {
		t.Errorf("the peak counts 4 pods at the raised pool within the budget of 200: %v, unsafe %v", rep.PeakConnections, rep.Unsafe())
	}
	t.Logf("%s -> %s: %s", d.Changes[0].From, d.Changes[0].To, d.Reason)
}
