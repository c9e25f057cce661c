package reliability

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// maxSpecBytes bounds a fuzzed spec; the API server refuses far larger
// requests itself (3 MiB), and the CRD bounds every list and string.
const maxSpecBytes = 64 << 10

var fuzzNS = sync.OnceValue(func() string {
	ns := "fuzz-specs"
	_ = env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	return ns
})

// FuzzProfileSpec sends arbitrary specs to the API server (a dry-run
// create): a refused spec must come back as Invalid or BadRequest with a
// message; an accepted one goes into the decision engine with several
// observations, which must neither panic nor propose a value outside the
// knob's bounds.
func FuzzProfileSpec(f *testing.F) {
	root, err := testenv.RepoRoot()
	if err != nil {
		f.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join(root, "config", "samples", "tuning_*.yaml"))
	for _, path := range samples {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			f.Fatal(err)
		}
		spec, _ := json.Marshal(obj["spec"])
		f.Add(spec)
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"targetRef":{"name":"a"}}`,
		`{"targetRef":{"name":"a"},"slo":{"latency":[{"percentile":"p99","threshold":"-1s"}]},"metrics":{"prometheus":{"url":"http://p:9090"}}}`,
		`{"targetRef":{"name":"a"},"slo":{"maxErrorRate":"0%"},"metrics":{"prometheus":{"url":"ftp://p"}}}`,
		`{"targetRef":{"name":"a"},"slo":{"minThroughput":1},"metrics":{"prometheus":{"url":"http://p"},"labels":{"service":"a\"} or vector(1) or x{a=\""}},"connectionPool":{"maxConnections":{"env":"A","min":9223372036854775807,"max":1}}}`,
		`{"targetRef":{"name":"a"},"slo":{"minThroughput":1},"metrics":{"prometheus":{"url":"http://p"}},"interval":"1000000h","autoscaling":{"managed":{},"minReplicas":{"min":0,"max":2147483647}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxSpecBytes {
			return
		}
		var spec any
		if err := json.Unmarshal(data, &spec); err != nil {
			return // not JSON: no API client would send it
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": tuningv1alpha1.GroupVersion.String(), "kind": "PerformanceProfile",
			"metadata": map[string]any{"name": "fuzz", "namespace": fuzzNS()},
			"spec":     spec,
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := env.Client.Create(ctx, u, client.DryRunAll)
		if err != nil {
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("refused without a validation error: %v", err)
			}
			if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.Contains(msg, "internal error") {
				t.Fatalf("unclear refusal: %q", msg)
			}
			return
		}
		p := &tuningv1alpha1.PerformanceProfile{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
			t.Fatalf("the API server accepted a spec the Go type cannot hold: %v", err)
		}
		decideAll(t, p.Spec)
	})
}

// decideAll runs the engine on an accepted spec with a healthy, a starved,
// an over-provisioned and an empty observation.
func decideAll(t *testing.T, spec tuningv1alpha1.PerformanceProfileSpec) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, l := range []load{steady, starved, {P99: 0.01, Throughput: 800, PoolInUse: 1, PoolMax: 50}, {}} {
		obs := signals.NewObservation(now)
		if l.Throughput > 0 {
			for s, v := range map[signals.Signal]float64{
				signals.LatencyP50: l.P99 / 3, signals.LatencyP90: l.P99 * 0.7, signals.LatencyP95: l.P99 * 0.8, signals.LatencyP99: l.P99,
				signals.LatencyMean: l.P99 / 2, signals.ErrorRate: 0.001, signals.Throughput: l.Throughput, signals.Pods: 4,
				signals.PoolInUse: l.PoolInUse, signals.PoolMax: l.PoolMax, signals.PoolWait: l.PoolWait, signals.DBTime: 0.01,
				signals.DBCallRate: 400, signals.MemoryHitRatio: 0.5, signals.RedisHitRatio: 0.5, signals.CPUUtilization: 0.9,
				signals.RedisCPU: 0.9, signals.RedisOpsRate: 1000,
			} {
				obs.Set(s, v, now)
			}
		}
		in := tuning.Input{Spec: spec, Observation: obs, Now: now,
			State: tuning.State{Values: tuning.Values{}, Replicas: 4, HasHPA: spec.Autoscaling != nil, RedisReady: true,
				CPULimitMillis: 2000, Blocked: map[tuning.Knob]string{}}}
		plan := tuning.Decide(in)
		for _, c := range plan.Changes {
			if lo, hi, ok := bounds(spec, c.Knob); ok && (c.To < lo || c.To > hi) {
				t.Fatalf("%s → %d outside [%d, %d] (%s)", c.Knob, c.To, lo, hi, plan.Reason)
			}
		}
	}
}

// bounds are a knob's limits in the spec; ok is false for knobs not checked here.
func bounds(spec tuningv1alpha1.PerformanceProfileSpec, k tuning.Knob) (lo, hi int64, ok bool) {
	intKnob := func(e *tuningv1alpha1.IntEnvKnob) (int64, int64, bool) {
		if e == nil || tuning.Knob(e.Env) != k {
			return 0, 0, false
		}
		return int64(e.Min), int64(e.Max), true
	}
	var cands []*tuningv1alpha1.IntEnvKnob
	if cp := spec.ConnectionPool; cp != nil {
		cands = append(cands, cp.MaxConnections, cp.MinConnections)
	}
	cands = append(cands, spec.WorkerThreads)
	if c := spec.Cache; c != nil && c.Memory != nil {
		cands = append(cands, c.Memory.MaxItems)
	}
	for _, e := range cands {
		if lo, hi, ok := intKnob(e); ok {
			return lo, hi, true
		}
	}
	if a := spec.Autoscaling; a != nil {
		r := map[tuning.Knob]*tuningv1alpha1.Int32Range{tuning.KnobHPAMinReplicas: a.MinReplicas,
			tuning.KnobHPAMaxReplicas: a.MaxReplicas, tuning.KnobHPATargetCPU: a.TargetCPUUtilization}[k]
		if r != nil {
			return int64(r.Min), int64(r.Max), true
		}
	}
	return 0, 0, false
}
