package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/replay"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// starvedThenCalm is a recorded history: the pool of 10 is saturated
// (p99 180ms against 100ms) until calmAt, then the service is calm.
func starvedThenCalm(calmAt time.Time) func(time.Time) testenv.Load {
	return func(t time.Time) testenv.Load {
		if t.Before(calmAt) {
			return testenv.Load{P99: 0.18, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.050}
		}
		return testenv.Load{P99: 0.06, Throughput: 800, PoolInUse: 6, PoolMax: 14, PoolWait: 0.0002, DBTime: 0.030}
	}
}

// TestReplayDecidesWhatTheReconcilerDecided runs the reconciler on recorded
// metrics in a real Prometheus (its reader's clock in the recorded past),
// then replays the same range from the values status.history says the
// workload had at its start: the replay makes the reconciler's decisions,
// at the same periods, with the same verdicts.
func TestReplayDecidesWhatTheReconcilerDecided(t *testing.T) {
	h := newHarness(t)
	g := h.g
	const periods = 30
	srv := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{}, Recorded: testenv.RecordedService{
		Namespace: h.ns, Name: targetName, From: t0.Add(-10 * time.Minute), To: t0.Add((periods + 1) * 30 * time.Second),
		Scrape: 15 * time.Second, Load: starvedThenCalm(t0.Add(8 * time.Minute)),
	}.OpenMetrics()})
	reader := func(opts prom.Options) *prom.Reader {
		opts.Registerer, opts.Freshness = prometheus.NewRegistry(), signals.Freshness{ScrapeInterval: 15 * time.Second}
		return prom.NewReader(opts)
	}
	// The live run reads through the manager's batch, at the fake clock's time.
	h.r.opts.Source = &PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(reader(prom.Options{Clock: h.clock}), prom.BatcherOptions{})}

	h.deployment(targetName, poolVar("10"))
	time.Sleep(1100 * time.Millisecond) // managedFields times have a one-second resolution (raisedPool)
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Metrics.Prometheus.URL = srv.URL
	p.Spec.Metrics.Labels = map[string]string{"namespace": h.ns, "service": targetName}
	h.create(p)
	var times []time.Time
	for range periods {
		before := &appsv1.Deployment{}
		g.Expect(env.Client.Get(h.ctx, h.key(targetName), before)).To(Succeed())
		h.period(p.Name)
		times = append(times, h.clock.Now())
		after := &appsv1.Deployment{}
		g.Expect(env.Client.Get(h.ctx, h.key(targetName), after)).To(Succeed())
		if after.Generation != before.Generation {
			h.rolledOut(targetName) // before the next period, as the replay assumes
		}
	}
	live := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(h.ctx, h.key(p.Name), live)).To(Succeed())
	g.Expect(live.Status.History).NotTo(BeEmpty(), "the starved pool is raised in the live run")
	g.Expect(len(live.Status.History)).To(BeNumerically("<", period.MaxHistory), "the whole run's decisions are in the history")

	// The replay: the workload as it is now, with the history's changes undone.
	state, err := ReadState(h.ctx, env.Client, live, h.clock.Now())
	g.Expect(err).NotTo(HaveOccurred())
	state.Values = replay.ValuesAt(state.Values, live.Status.History, times[0])
	g.Expect(state.Values[poolEnv]).To(BeEquivalentTo(10), "the values at the start are the ones the run started from")
	src := &PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(reader(prom.Options{}), prom.BatcherOptions{})}
	rep, err := replay.Run(context.Background(), replay.Config{Profile: live, From: times[0], To: times[len(times)-1], State: state,
		Observe: func(ctx context.Context, at time.Time) (signals.Observation, error) {
			return src.ObserveAt(ctx, live, at)
		}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rep.Periods).To(HaveLen(periods))

	// Period by period: the decision made then (none, or its changes) and
	// the verdict of every decision.
	liveAt := map[time.Time]tuningv1alpha1.Decision{}
	for _, d := range live.Status.History {
		liveAt[d.Time.UTC()] = d
	}
	outcomes := map[time.Time]tuningv1alpha1.Outcome{}
	for i, pr := range rep.Periods {
		g.Expect(pr.Time.Equal(times[i])).To(BeTrue(), "period %d is at the reconcile's time", i)
		want, made := liveAt[pr.Time.UTC()]
		got := "hold"
		if pr.Decision != nil {
			got = period.ChangesString(pr.Decision.Changes)
			outcomes[pr.Time.UTC()] = pr.Decision.Outcome
		}
		if j := pr.Judged; j != nil {
			outcomes[j.Time.UTC()] = j.Outcome
		}
		wantText := "hold"
		if made {
			wantText = period.ChangesString(want.Changes)
		}
		g.Expect(got).To(Equal(wantText), "period %d (%s): the reconciler decided %s, the replay %s (%s)",
			i, pr.Time.Format(time.TimeOnly), wantText, got, pr.Reason)
	}
	var liveOutcomes, replayOutcomes []string
	for _, d := range live.Status.History {
		liveOutcomes = append(liveOutcomes, fmt.Sprintf("%s %s", d.Time.UTC().Format(time.TimeOnly), d.Outcome))
		replayOutcomes = append(replayOutcomes, fmt.Sprintf("%s %s", d.Time.UTC().Format(time.TimeOnly), outcomes[d.Time.UTC()]))
	}
	g.Expect(replayOutcomes).To(Equal(liveOutcomes), "each decision's verdict")
	t.Logf("%d periods, decisions: %v", periods, liveOutcomes)
}
