package controllers

// Cluster shapes an adversarial read of the guard found that its first tests never built, on the real API
// server. Each failure is a defect.

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// envFrom: [ConfigMap settings (pool 50), Secret app-env (pool 200)]. The
// kubelet lets the later source win: the pods run with 200. readTarget
// reads 50 as known (cs.unreadable is only used when no value was found),
// so on a starved pool navius-tuner writes a literal 75: a cut from 200 to
// 75 during a breach, of a knob whose value it could not know.
func TestASecretAfterAConfigMapMakesTheKnobUnknown(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName)
	g.Expect(env.Client.Create(h.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "settings"},
		Data: map[string]string{poolEnv: "50"}})).To(Succeed())
	g.Expect(env.Client.Create(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "app-env"},
		StringData: map[string]string{poolEnv: "200"}})).To(Succeed())
	h.withEnvFrom(targetName,
		corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
		corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-env"}}})
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	_, p := h.period("orders")
	g.Expect(h.envValue(targetName, poolEnv)).To(BeEmpty(),
		"wrote a literal pool over a value a later Secret sets (history %+v)", p.Status.History)
}

// Profile "orders" tunes Deployment orders-api; profile "payments" (another
// app) names the same Deployment as its Redis workload. checkClaim only
// compares target with target, HPA with HPA, Redis with Redis, so neither
// sees the other: payments scales orders-api's replicas (outside orders'
// connection budget) and, applying as the same field manager, strips the
// env values orders applied.
func TestARedisThatIsAnotherProfilesTargetIsLeftAlone(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.deployment("checkout", poolVar("10"))
	orders := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	h.create(orders)
	h.observer.set(starvedPool(), false)
	h.period("orders")
	raised := h.envValue(targetName, poolEnv)
	g.Expect(raised).NotTo(Equal("10"))
	h.rolledOut(targetName)

	payments := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	payments.Name, payments.Spec.TargetRef.Name = "payments", "checkout"
	payments.Spec.Cache = &tuningv1alpha1.Cache{Redis: &tuningv1alpha1.RedisCache{Replicas: &tuningv1alpha1.RedisReplicas{
		TargetRef: tuningv1alpha1.WorkloadRef{Kind: "Deployment", Name: targetName}, Min: 1, Max: 8}}}
	h.create(payments)
	hot := steady()
	hot[signals.LatencyP99], hot[signals.LatencyP95], hot[signals.RedisCPU] = 0.180, 0.120, 0.95
	h.observer.set(hot, false)
	var pp *tuningv1alpha1.PerformanceProfile
	for range 3 {
		_, pp = h.period("payments")
	}
	t.Logf("payments history %+v", pp.Status.History)
	d := h.getDeployment(targetName)
	t.Logf("orders-api replicas %d, pool env %q (orders applied %q)", ptr.Deref(d.Spec.Replicas, 0), h.envValue(targetName, poolEnv), raised)
	g.Expect(ptr.Deref(d.Spec.Replicas, 0)).To(Equal(int32(4)), "payments scaled the Deployment orders tunes")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal(raised), "payments' apply stripped orders' env values")
}

// An HPA (max 30) is created for the target while the reconcile runs: the
// cache has not listed it yet, the API server has. The guard ran on the
// cached state (4 pods); recheck reads the live state but changedSince
// compares only values, rollout and blocked knobs, never the scalers'
// ceiling, and the guard is not run again: the raise is written although
// at 30 pods it is far over the budget (TestUndeclaredHPACountsInTheBudget
// shows the same raise refused once the HPA is seen).
func TestTheLiveRecheckRunsTheGuardAgain(t *testing.T) {
	h := newHarness(t)
	g := h.g
	cached := h.r.client.(client.WithWatch)
	lagging := interceptor.NewClient(cached, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			if l, ok := list.(*autoscalingv2.HorizontalPodAutoscalerList); ok {
				var keep []autoscalingv2.HorizontalPodAutoscaler
				for _, x := range l.Items {
					if x.Name != "arriving" {
						keep = append(keep, x)
					}
				}
				l.Items = keep
			}
			return nil
		},
	})
	r, err := NewPerformanceProfileReconciler(lagging, h.r.opts)
	g.Expect(err).NotTo(HaveOccurred())
	h.r = r
	h.deployment(targetName, poolVar("10"))
	g.Expect(env.Client.Create(h.ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "arriving"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 30,
		}}, client.FieldOwner("platform"))).To(Succeed())
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{MaxConnections: 400, Reserved: 20}
	h.create(p)
	h.observer.set(starvedPool(), false)
	h.period("orders")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"), "raised past the budget at the 30 pods the live HPA allows")
}

// Invariant 2: a Deployment sized by hand at 20 pods, a profile that asks
// for a managed HPA with maxReplicas bounded at 10, the SLO breached. The
// engine creates the HPA (minReplicas at the ready pods, clamped to the
// bound) and the guard never checks an HPA field "without a value": the
// HPA controller then scales 20 pods down to 10 in the middle of a breach.
func TestNoManagedHPABelowTheRunningPodsInABreach(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	d := h.getDeployment(targetName)
	d.Spec.Replicas = ptr.To[int32](20)
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("gitops"))).To(Succeed())
	h.rolledOut(targetName)
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{Managed: &tuningv1alpha1.ManagedHPA{},
		MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 10}, MaxReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 10}}
	h.create(p)
	hot := starvedPool()
	hot[signals.Pods] = 20
	h.observer.set(hot, false)
	h.clock.Step(30 * time.Second)
	_, rerr := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("orders")})
	t.Logf("events: %v", h.drainEvents())
	if rerr != nil {
		t.Errorf("the reconcile fails (every period): %v", rerr)
	}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := env.Client.Get(h.ctx, h.key(targetName), hpa); err == nil {
		t.Errorf("during a breach, an HPA min %d max %d was created over a Deployment running 20 pods (history %+v)",
			ptr.Deref(hpa.Spec.MinReplicas, 0), hpa.Spec.MaxReplicas, p.Status.History)
	}
}

// Same, with the CPU target declared (so the guard does not refuse part of the creation).
// Invariant 2: a Deployment sized by hand at 20 pods, a profile that asks
// for a managed HPA with maxReplicas bounded at 10, the SLO breached. The
// engine creates the HPA (minReplicas at the ready pods, clamped to the
// bound) and the guard never checks an HPA field "without a value": the
// HPA controller then scales 20 pods down to 10 in the middle of a breach.
func TestNoManagedHPABelowTheRunningPodsInABreachWithACPUTarget(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	d := h.getDeployment(targetName)
	d.Spec.Replicas = ptr.To[int32](20)
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("gitops"))).To(Succeed())
	h.rolledOut(targetName)
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{Managed: &tuningv1alpha1.ManagedHPA{},
		MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 10}, MaxReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 10},
		TargetCPUUtilization: &tuningv1alpha1.Int32Range{Min: 50, Max: 80}}
	h.create(p)
	hot := starvedPool()
	hot[signals.Pods] = 20
	h.observer.set(hot, false)
	h.clock.Step(30 * time.Second)
	_, rerr := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("orders")})
	t.Logf("events: %v", h.drainEvents())
	if rerr != nil {
		t.Errorf("the reconcile fails (every period): %v", rerr)
	}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := env.Client.Get(h.ctx, h.key(targetName), hpa); err == nil {
		t.Errorf("during a breach, an HPA min %d max %d was created over a Deployment running 20 pods (history %+v)",
			ptr.Deref(hpa.Spec.MinReplicas, 0), hpa.Spec.MaxReplicas, p.Status.History)
	}
}
