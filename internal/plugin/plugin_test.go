package plugin

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env) { env = e })
}

// now is the plugin's clock in these tests; the statuses are written relative to it.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(d)) }

// kubeconfig writes a kubeconfig for the test API server, so that the
// plugin connects through its --kubeconfig flag as a user's would.
func kubeconfig(t *testing.T) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "shop"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs `kubectl navius args…` against the test API server and returns
// what it printed and the exit code.
func run(t *testing.T, args ...string) (out, errOut string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	opts := &Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &o, ErrOut: &e},
		Flags: genericclioptions.NewConfigFlags(true), Now: func() time.Time { return now }}
	cmd := opts.command()
	cmd.SetArgs(append(args, "--kubeconfig", kubeconfig(t)))
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		e.WriteString("Error: " + err.Error() + "\n")
	}
	return o.String(), e.String(), ExitCode(err)
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
}

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

// newProfile creates a profile that tunes the pool and the L1 cache of
// Deployment name, then writes status as navius-tuner would have.
func newProfile(t *testing.T, ns, name string, mode tuningv1alpha1.Mode, status *tuningv1alpha1.PerformanceProfileStatus) *tuningv1alpha1.PerformanceProfile {
	t.Helper()
	ensureNamespace(t, ns)
	p := &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: name, Container: "app"},
			Mode:      mode,
			SLO:       tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99, Threshold: dur(100 * time.Millisecond)}}},
			Metrics:   tuningv1alpha1.MetricsSource{Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: "http://prometheus.monitoring:9090"}},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX_CONNECTIONS", Min: 5, Max: 100},
			},
			Cache: &tuningv1alpha1.Cache{Memory: &tuningv1alpha1.MemoryCache{
				MaxItems: &tuningv1alpha1.IntEnvKnob{Env: "CACHE_MEMORY_MAX_ITEMS", Min: 1000, Max: 200000}}},
			Guardrails: tuningv1alpha1.Guardrails{MaxRolloutsPerHour: 2, SettleTime: dur(3 * time.Minute)},
		},
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
	if status != nil {
		p.Status = *status
		p.Status.ObservedGeneration = p.Generation
		for i := range p.Status.Conditions {
			p.Status.Conditions[i].ObservedGeneration = p.Generation
		}
		if err := env.Client.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: at(-time.Hour)}
}

// settling is a profile in Auto whose pool was raised a minute ago, after
// a first raise that was kept and judged against its model, with both
// restarts of the hour spent and the cache family held for want of dbTime.
func settlingStatus() *tuningv1alpha1.PerformanceProfileStatus {
	raise1 := tuningv1alpha1.Decision{Time: at(-40 * time.Minute), Family: "pool", Diagnosis: "PoolSaturated",
		Changes:    []tuningv1alpha1.Change{{Knob: "DB_POOL_MAX_CONNECTIONS", From: "10", To: "14"}},
		Reason:     "p99 180ms > 100ms; pool wait 40ms, 10 of 10 in use",
		Predicted:  "pool wait 40ms → 2ms (Erlang C)",
		Prediction: &tuningv1alpha1.Prediction{Model: "Erlang", Signal: "poolWait", Value: "0.002", Observed: "0.0031", Error: "0.55"},
		Observed:   "p99 180ms → 120ms: better, kept",
		Baseline:   &tuningv1alpha1.SLIs{WorstObjective: "p99<=100ms", WorstSLI: "180ms"},
		Outcome:    tuningv1alpha1.OutcomeKept, Rollout: true}
	raise2 := tuningv1alpha1.Decision{Time: at(-time.Minute), Family: "pool", Diagnosis: "PoolSaturated",
		Changes:   []tuningv1alpha1.Change{{Knob: "DB_POOL_MAX_CONNECTIONS", From: "14", To: "20"}},
		Reason:    "p99 120ms > 100ms; pool wait 9ms, 13.6 of 14 in use",
		Predicted: "pool wait 9ms → 1ms (Erlang C)",
		Outcome:   tuningv1alpha1.OutcomePending, Rollout: true}
	return &tuningv1alpha1.PerformanceProfileStatus{
		Conditions: []metav1.Condition{
			cond(tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded, "tuning"),
			cond(tuningv1alpha1.ConditionProgressing, metav1.ConditionTrue, tuningv1alpha1.ReasonSettling, "DB_POOL_MAX_CONNECTIONS 14→20 settles"),
			cond(tuningv1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, tuningv1alpha1.ReasonFamiliesHeld,
				"cache (holds CACHE_MEMORY_MAX_ITEMS): dbTime: Empty: no series for the profile's labels"),
			cond(tuningv1alpha1.ConditionRolloutBudget, metav1.ConditionFalse, tuningv1alpha1.ReasonRolloutBudgetSpent, "2 of 2 restarts in the last hour"),
		},
		SLIs: &tuningv1alpha1.SLIs{ObservedAt: ptr.To(at(-10 * time.Second)), WorstObjective: "p99<=100ms", WorstSLI: "120ms"},
		Readiness: []tuningv1alpha1.FamilyReadiness{
			{Family: "pool", Tunable: true, Knobs: []string{"DB_POOL_MAX_CONNECTIONS"}, Found: []string{"latencyP99", "poolInUse", "poolWait"}},
			{Family: "cache", Tunable: false, Knobs: []string{"CACHE_MEMORY_MAX_ITEMS"}, Found: []string{"latencyP99", "memoryHitRatio"},
				Missing: []string{"dbTime: Empty"}},
		},
		Current:        &tuningv1alpha1.KnobValues{Env: map[string]string{"DB_POOL_MAX_CONNECTIONS": "20", "CACHE_MEMORY_MAX_ITEMS": "10000"}},
		LastAdjustment: &raise2,
		History:        []tuningv1alpha1.Decision{raise1, raise2},
		Memory: &tuningv1alpha1.Memory{
			Rollouts: []metav1.Time{at(-40 * time.Minute), at(-time.Minute)},
			Knobs: []tuningv1alpha1.KnobMemory{{Knob: "DB_POOL_MAX_CONNECTIONS", LastApplied: "20", LastChange: ptr.To(at(-time.Minute)),
				Down: &tuningv1alpha1.BackOff{Level: 1, Since: at(-3 * time.Hour), Bound: "8", Load: ptr.To[int64](800)}}},
			Models: []tuningv1alpha1.ModelError{{Model: "Erlang", Error: "0.55", Samples: 1, LastPrediction: ptr.To(at(-40 * time.Minute))}},
		},
	}
}

// recommendingStatus is a profile in Recommend that proposes a larger L1.
func recommendingStatus() *tuningv1alpha1.PerformanceProfileStatus {
	return &tuningv1alpha1.PerformanceProfileStatus{
		Conditions: []metav1.Condition{
			cond(tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonRecommending, "mode Recommend"),
		},
		SLIs:    &tuningv1alpha1.SLIs{WorstObjective: "p99<=100ms", WorstSLI: "131ms"},
		Current: &tuningv1alpha1.KnobValues{Env: map[string]string{"DB_POOL_MAX_CONNECTIONS": "10", "CACHE_MEMORY_MAX_ITEMS": "10000"}},
		Recommendation: &tuningv1alpha1.Recommendation{Time: at(-2 * time.Minute),
			Changes: []tuningv1alpha1.Change{{Knob: "CACHE_MEMORY_MAX_ITEMS", From: "10000", To: "15000"}},
			Reason:  "p99 131ms > 100ms; L1 hit ratio 41% with misses costing 8ms: a larger L1 (Che) → 55%"},
	}
}

func TestStatus(t *testing.T) {
	g := NewWithT(t)
	newProfile(t, "shop", "orders", tuningv1alpha1.ModeAuto, settlingStatus())
	newProfile(t, "shop", "catalog", tuningv1alpha1.ModeRecommend, recommendingStatus())
	newProfile(t, "billing", "invoices", tuningv1alpha1.ModeAuto, nil)

	out, errOut, code := run(t, "status")
	g.Expect(code).To(Equal(0), errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines).To(HaveLen(3), out) // the header and shop's two profiles, by name
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAMESPACE", "NAME", "MODE", "OBJECTIVE", "SLI", "DOING", "LAST", "CHANGE", "NEXT", "ROLLOUT"}))
	g.Expect(lines[1]).To(MatchRegexp(`^shop\s+catalog\s+Recommend\s+p99<=100ms\s+131ms\s+recommends CACHE_MEMORY_MAX_ITEMS 10000→15000\s+never\s+never \(mode Recommend\)$`))
	// Settling a minute into a 3-minute settle time, and both restarts of
	// the hour spent until the first is an hour old (20 minutes from now).
	g.Expect(lines[2]).To(MatchRegexp(`^shop\s+orders\s+Auto\s+p99<=100ms\s+120ms\s+settling: settling DB_POOL_MAX_CONNECTIONS 14→20\s+60s ago DB_POOL_MAX_CONNECTIONS 14→20 \(Pending\)\s+in 20m \(rollout budget\)$`))

	out, errOut, code = run(t, "status", "-A")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(MatchRegexp(`(?m)^billing\s+invoices\s+Auto\s+-\s+-\s+not reconciled yet\s+never\s+now$`))
	g.Expect(strings.Count(out, "\n")).To(Equal(4), out)

	_, errOut, code = run(t, "status", "-n", "empty")
	g.Expect(code).To(Equal(0))
	g.Expect(errOut).To(Equal("No PerformanceProfiles found.\n"))
}

func TestWhy(t *testing.T) {
	g := NewWithT(t)
	newProfile(t, "shop", "orders", tuningv1alpha1.ModeAuto, settlingStatus())
	out, errOut, code := run(t, "why", "orders")
	g.Expect(code).To(Equal(0), errOut)
	// Newest first, each with its evidence and its prediction against the outcome.
	g.Expect(out).To(ContainSubstring(`Last decisions (newest first):
  60s ago  pool  DB_POOL_MAX_CONNECTIONS 14→20  [Pending]  (restarted the pods)
    diagnosis: PoolSaturated
    evidence:  p99 120ms > 100ms; pool wait 9ms, 13.6 of 14 in use
    predicted: pool wait 9ms → 1ms (Erlang C)
    outcome:   settling, judged after the settle time
  40m ago  pool  DB_POOL_MAX_CONNECTIONS 10→14  [Kept]  (restarted the pods)
    diagnosis: PoolSaturated
    evidence:  p99 180ms > 100ms; pool wait 40ms, 10 of 10 in use
    before:    p99<=100ms at 180ms
    predicted: pool wait 40ms → 2ms (Erlang C)
    model:     Erlang predicted poolWait = 0.002, observed 0.0031 (error 0.55)
    outcome:   p99 180ms → 120ms: better, kept
`))
	// What holds which family now: the cache's missing signal, the spent
	// rollout budget, and the pool's learned bound.
	g.Expect(out).To(ContainSubstring("What holds now:\n" +
		"  cache (CACHE_MEMORY_MAX_ITEMS): signals missing: dbTime: Empty\n" +
		"  MetricsAvailable=False (FamiliesHeld): cache (holds CACHE_MEMORY_MAX_ITEMS): dbTime: Empty: no series for the profile's labels\n" +
		"  RolloutBudget=False (RolloutBudgetSpent): 2 of 2 restarts in the last hour\n" +
		"  DB_POOL_MAX_CONNECTIONS: not moved down to 8 again without new evidence (undone 1 time(s))\n"))
	g.Expect(out).To(ContainSubstring("Next rollout: in 20m (rollout budget)"))

	_, errOut, code = run(t, "why", "missing")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring(`reading PerformanceProfile shop/missing: performanceprofiles.tuning.navius.io "missing" not found`))
}

func TestHistory(t *testing.T) {
	g := NewWithT(t)
	newProfile(t, "shop", "orders", tuningv1alpha1.ModeAuto, settlingStatus())
	out, errOut, code := run(t, "history", "orders")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(HavePrefix("Decisions of shop/orders (oldest first, the last 10 are kept):\n  40m ago  pool  DB_POOL_MAX_CONNECTIONS 10→14  [Kept]"))
	g.Expect(out).To(ContainSubstring(`Remembered beyond the history:
  restarts in the last hour: 2 of 2 allowed (rollbacks count)
  DB_POOL_MAX_CONNECTIONS: last set to 20 60s ago
    moving it down was undone 1 time(s) in a row, since 3h ago; 8 is not tried again without new evidence (load then 800 req/s)
  model Erlang: running error 0.55 over 1 checked prediction(s), last 40m ago
`))

	newProfile(t, "shop", "fresh", tuningv1alpha1.ModeAuto, nil)
	out, _, code = run(t, "history", "fresh")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring("  none yet\n"))
	g.Expect(out).To(ContainSubstring("  nothing remembered yet\n"))
}

func TestDiff(t *testing.T) {
	g := NewWithT(t)
	newProfile(t, "shop", "catalog", tuningv1alpha1.ModeRecommend, recommendingStatus())
	out, errOut, code := run(t, "diff", "catalog")
	g.Expect(code).To(Equal(0), errOut)
	lines := strings.Split(out, "\n")
	g.Expect(lines[0]).To(MatchRegexp(`^KNOB\s+RUNS\s+PROPOSED$`))
	g.Expect(lines[1]).To(MatchRegexp(`^CACHE_MEMORY_MAX_ITEMS\s+10000\s+15000$`))
	g.Expect(lines[2]).To(MatchRegexp(`^DB_POOL_MAX_CONNECTIONS\s+10\s+=$`))
	g.Expect(out).To(ContainSubstring("Proposed 2m ago.\nWhy: p99 131ms > 100ms; L1 hit ratio 41%"))

	newProfile(t, "shop", "orders", tuningv1alpha1.ModeAuto, settlingStatus())
	out, _, code = run(t, "diff", "orders")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(ContainSubstring("is in mode Auto: navius-tuner applies what it decides"))
}

func TestPauseResume(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	p := newProfile(t, "shop", "orders", tuningv1alpha1.ModeAuto, settlingStatus())
	key := client.ObjectKeyFromObject(p)
	read := func() *tuningv1alpha1.PerformanceProfile {
		cur := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(ctx, key, cur)).To(Succeed())
		return cur
	}

	out, errOut, code := run(t, "pause", "orders")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("shop/orders paused: navius-tuner writes nothing to Deployment orders"))
	cur := read()
	g.Expect(cur.Annotations).To(HaveKeyWithValue(tuningv1alpha1.PausedAnnotation, "true"))
	g.Expect(cur.Spec.Mode).To(Equal(tuningv1alpha1.ModeAuto), "the mode is left alone")
	g.Expect(managers(cur)).To(ContainElement(FieldManager))

	out, _, _ = run(t, "status")
	g.Expect(out).To(MatchRegexp(`(?m)^shop\s+orders\s+Auto\s+p99<=100ms\s+120ms\s+paused: recommends only\s+.*never \(paused\)$`))

	out, _, code = run(t, "pause", "orders")
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(Equal("shop/orders was already paused.\n"))

	out, errOut, code = run(t, "resume", "orders")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(Equal("shop/orders resumed: navius-tuner tunes Deployment orders again in mode Auto.\n"))
	g.Expect(read().Annotations).NotTo(HaveKey(tuningv1alpha1.PausedAnnotation))

	// An annotation another tool set (kubectl annotate) is removed too, and
	// the plugin names that tool, which may set it again.
	cur = read()
	cur.Annotations = map[string]string{tuningv1alpha1.PausedAnnotation: "true"}
	g.Expect(env.Client.Update(ctx, cur, client.FieldOwner("kubectl-annotate"))).To(Succeed())
	out, errOut, code = run(t, "resume", "orders")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(ContainSubstring("resumed"), errOut)
	g.Expect(errOut).To(Equal("Warning: kubectl-annotate set tuning.navius.io/paused on this profile too and may set it again (a GitOps sync).\n"))
	g.Expect(read().Annotations).NotTo(HaveKey(tuningv1alpha1.PausedAnnotation))
}

func managers(p *tuningv1alpha1.PerformanceProfile) []string {
	var out []string
	for _, mf := range p.ManagedFields {
		out = append(out, mf.Manager)
	}
	return out
}

// The plugin honours kubectl's flags: a context that names another
// namespace, and -n over it.
func TestKubeconfigFlags(t *testing.T) {
	g := NewWithT(t)
	newProfile(t, "billing", "invoices", tuningv1alpha1.ModeOff, nil)
	out, errOut, code := run(t, "status", "--namespace", "billing")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(out).To(MatchRegexp(`(?m)^billing\s+invoices\s+Off\s+.*never \(mode Off\)$`))

	_, errOut, code = run(t, "status", "--context", "nowhere")
	g.Expect(code).To(Equal(1))
	g.Expect(errOut).To(ContainSubstring(`context "nowhere" does not exist`))
}
