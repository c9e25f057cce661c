package envtest_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// The engine's checked predictions and the running error per model are
// accepted by the API server's schema and read back as written.
func TestCheckedPredictionsAreStoredInStatus(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureNamespace(g, validationNamespace)
	p := profileFrom(g, validProfile)
	p.SetName("predictions")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, p) })

	var prof tuningv1alpha1.PerformanceProfile
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(p), &prof)).To(Succeed())

	// A starved pool: the engine raises it and predicts the pool wait.
	at := time.Now().UTC().Truncate(time.Second)
	obs := signals.NewObservation(at)
	for s, v := range map[signals.Signal]float64{
		signals.LatencyP50: 0.020, signals.LatencyP95: 0.120, signals.LatencyP99: 0.180, signals.ErrorRate: 0.001,
		signals.Throughput: 800, signals.PoolInUse: 10, signals.PoolMax: 10, signals.PoolWait: 0.040,
		signals.DBTime: 0.025, signals.DBCallRate: 1600, signals.MemoryHitRatio: 0.92, signals.RedisHitRatio: 0.7,
		signals.MemoryLookupRate: 800, signals.CPUUtilization: 0.5, signals.RedisCPU: 0.3, signals.Pods: 4,
	} {
		obs.Set(s, v, at)
	}
	plan := tuning.Decide(tuning.Input{Spec: prof.Spec, Observation: obs, Now: at,
		State: tuning.State{Values: tuning.Values{"DB_POOL_MAX_CONNECTIONS": 10, "DB_POOL_MIN_CONNECTIONS": 2, "hpa.minReplicas": 2, "hpa.maxReplicas": 4},
			Replicas: 4, HasHPA: true, RedisReady: true, CPULimitMillis: 2000}})
	d := plan.Decision(at)
	g.Expect(d).NotTo(BeNil(), plan.Reason)
	g.Expect(d.Prediction).NotTo(BeNil(), plan.Predicted)
	period.Record(&prof.Status, *d)
	checked := d.Prediction.DeepCopy()
	checked.Observed, checked.Error = "0.003", "2"
	period.Settle(&prof.Status, tuning.Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "pool wait 40ms -> 3ms", Prediction: checked})
	g.Expect(env.Client.Status().Update(ctx, &prof)).To(Succeed())

	var got tuningv1alpha1.PerformanceProfile
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(p), &got)).To(Succeed())
	g.Expect(got.Status.History).To(HaveLen(1))
	g.Expect(got.Status.History[0].Prediction).To(Equal(checked))
	g.Expect(got.Status.Memory.Models).To(HaveLen(1))
	m := got.Status.Memory.Models[0]
	g.Expect(m.Model).To(Equal(tuningv1alpha1.ModelErlang))
	g.Expect(m.Error).To(Equal(tuningv1alpha1.Decimal("2")))
	g.Expect(m.Samples).To(Equal(int32(1)))
	g.Expect(m.LastPrediction.Time).To(BeTemporally("==", at))

	// A value that is not a decimal number is refused.
	got.Status.Memory.Models[0].Error = "1e-30"
	g.Expect(env.Client.Status().Update(ctx, &got)).NotTo(Succeed())
}
