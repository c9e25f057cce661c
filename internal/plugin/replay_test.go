package plugin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/replay"
)

// replayWorkload creates Deployment orders (4 pods, the pool at pool) in
// ns with its rollout complete.
func replayWorkload(t *testing.T, ns, pool string) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": "orders"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "orders:1",
					Env: []corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: pool}}}}}}},
	}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4}
	if err := env.Client.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
}

func replayProfile(ns, url string, budget int32) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: tuningv1alpha1.GroupVersion.String(), Kind: "PerformanceProfile"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: "orders", Container: "app"},
			Mode:      tuningv1alpha1.ModeRecommend,
			SLO:       tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99, Threshold: dur(100 * time.Millisecond)}}},
			Metrics: tuningv1alpha1.MetricsSource{Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: url},
				Labels: map[string]string{"namespace": ns, "service": "orders"}},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX_CONNECTIONS", Min: 5, Max: 100},
				Database:       &tuningv1alpha1.DatabaseBudget{MaxConnections: budget},
			},
		},
	}
}

// TestReplay replays a recorded history of a starved pool from a profile in
// the cluster, whose workload navius-tuner has since changed (status.history
// says from what), and from a file whose database budget the workload
// already exceeds.
func TestReplay(t *testing.T) {
	g := NewWithT(t)
	const ns = "replay"
	ensureNamespace(t, ns)
	srv := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{}, Recorded: testenv.RecordedService{
		Namespace: ns, Name: "orders", From: now.Add(-50 * time.Minute), To: now, Scrape: 15 * time.Second,
		Load: func(time.Time) testenv.Load {
			return testenv.Load{P99: 0.18, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.050}
		},
	}.OpenMetrics()})
	// The workload runs 14 since a change 5 minutes ago from 10.
	replayWorkload(t, ns, "14")
	p := replayProfile(ns, srv.URL, 200)
	g.Expect(env.Client.Create(context.Background(), p)).To(Succeed())
	p.Status.History = []tuningv1alpha1.Decision{{Time: at(-5 * time.Minute), Family: "pool",
		Changes: []tuningv1alpha1.Change{{Knob: "DB_POOL_MAX_CONNECTIONS", From: "10", To: "14"}}, Outcome: tuningv1alpha1.OutcomeKept}}
	g.Expect(env.Client.Status().Update(context.Background(), p)).To(Succeed())

	args := []string{"replay", "orders", "-n", ns, "--from", now.Add(-30 * time.Minute).Format(time.RFC3339),
		"--to", now.Add(-25 * time.Minute).Format(time.RFC3339), "--prometheus-scrape-interval", "15s"}
	out, errOut, code := run(t, args...)
	g.Expect(code).To(Equal(0), errOut+out)
	t.Logf("kubectl navius %s\n%s", strings.Join(args, " "), out)
	g.Expect(out).To(ContainSubstring("Starting values: DB_POOL_MAX_CONNECTIONS=10"), "the values before the recorded change")
	g.Expect(out).To(MatchRegexp(`(?m)^11:30:00\s+p99<=100ms\s+\S+\s+DB_POOL_MAX_CONNECTIONS 10→\d+ \(restarts the pods\)$`))
	g.Expect(out).To(ContainSubstring("evidence:"))
	g.Expect(out).To(ContainSubstring("a preview of what the recorded metrics would have triggered, not a\n--- counterfactual"))
	g.Expect(out).To(MatchRegexp(`Summary: \d+ changes?, \d+ rollouts?, 0 refused by the guard; connection peak \d+ of a budget of 200\.`))

	out, errOut, code = run(t, append(args, "-o", "json")...)
	g.Expect(code).To(Equal(0), errOut)
	var rep replay.Report
	g.Expect(json.Unmarshal([]byte(out), &rep)).To(Succeed())
	g.Expect(rep.Start).To(HaveKeyWithValue(BeEquivalentTo("DB_POOL_MAX_CONNECTIONS"), BeEquivalentTo(10)))
	g.Expect(rep.Periods).To(HaveLen(11))
	g.Expect(rep.Periods[0].Decision).NotTo(BeNil())
	g.Expect(rep.Periods[0].Decision.Changes[0].From).To(Equal("10"))
	g.Expect(rep.Periods[1].Preview).To(BeTrue())

	// A budget of 30 connections: 4 pods of 10 already exceed it.
	tight := replayProfile(ns, srv.URL, 30)
	b, err := yaml.Marshal(tight)
	g.Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(t.TempDir(), "profile.yaml")
	g.Expect(os.WriteFile(file, b, 0o644)).To(Succeed())
	out, errOut, code = run(t, "replay", "-f", file, "--since", "2m", "--to", now.Add(-25*time.Minute).Format(time.RFC3339),
		"--set", "DB_POOL_MAX_CONNECTIONS=10", "--prometheus-scrape-interval", "15s")
	g.Expect(code).To(Equal(ExitReplayUnsafe), errOut+out)
	g.Expect(out).To(ContainSubstring("(OVER BUDGET)"))
	g.Expect(errOut).To(ContainSubstring("would have exceeded the budget 30"))
	g.Expect(strings.Count(out, "→")).To(BeZero(), "nothing is raised past an exceeded budget: %s", out)
}
