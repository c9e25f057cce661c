package controllers

// Clusters as they really are, built on the real API server: scalers the
// profile does not name, values from ConfigMaps and Secrets, a sidecar
// listed first, two profiles on one Redis. Each checks an invariant of the
// guard from what the API server holds.

import (
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// withEnvFrom makes the target's container take its env from these sources.
func (h *harness) withEnvFrom(name string, from ...corev1.EnvFromSource) {
	h.t.Helper()
	d := h.getDeployment(name)
	d.Spec.Template.Spec.Containers[0].EnvFrom = from
	h.g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("gitops"))).To(Succeed())
	h.rolledOut(name)
}

// A pool set to 50 through a ConfigMap is read as 50: with the SLO met it is
// not overwritten with the guide's starting point, and the status shows it.
func TestConfigMapFedValueIsReadNotOverwritten(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName)
	g.Expect(env.Client.Create(h.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "settings"},
		Data: map[string]string{poolEnv: "50"}})).To(Succeed())
	h.withEnvFrom(targetName, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}})
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	writes := h.workloadWrites.Load()
	var p *tuningv1alpha1.PerformanceProfile
	for range 4 {
		_, p = h.period("orders")
	}
	g.Expect(h.workloadWrites.Load()).To(Equal(writes), "a value the ConfigMap sets is not overwritten while the SLO holds")
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "50"))
	g.Expect(p.Status.History).To(BeEmpty())

	// A starved pool is raised from 50, recorded as such (so it can be
	// restored), with a literal env entry that overrides the ConfigMap.
	h.observer.set(starvedPool(), false)
	_, p = h.period("orders")
	g.Expect(p.Status.History).To(HaveLen(1))
	g.Expect(p.Status.History[0].Changes).To(ConsistOf(HaveField("From", "50")))
	raised, _ := strconv.Atoi(h.envValue(targetName, poolEnv))
	g.Expect(raised).To(BeNumerically(">", 50))
}

// A knob that may come from a Secret (whose contents navius-tuner never
// reads) is not written: its current value is not known.
func TestSecretFedKnobIsHeld(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName)
	h.withEnvFrom(targetName, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-env"}}})
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Cache = &tuningv1alpha1.Cache{Memory: &tuningv1alpha1.MemoryCache{
		MaxItems: &tuningv1alpha1.IntEnvKnob{Env: "CACHE_MEMORY_MAX_ITEMS", Min: 1000, Max: 100000}}}
	h.create(p)
	misses := steady() // a breach the cache would relieve: few L1 hits
	misses[signals.LatencyP99], misses[signals.LatencyP95], misses[signals.MemoryHitRatio] = 0.180, 0.120, 0.2
	h.observer.set(misses, false)
	writes := h.workloadWrites.Load()
	for range 3 {
		h.period("orders")
	}
	g.Expect(h.workloadWrites.Load()).To(Equal(writes), "nothing written")
	g.Expect(h.envValue(targetName, "CACHE_MEMORY_MAX_ITEMS")).To(BeEmpty())
}

// With a sidecar listed first and no container named, the profile stalls
// and says why; nothing is written to either container.
func TestSidecarFirstNeedsTheContainerNamed(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	d := h.getDeployment(targetName)
	d.Spec.Template.Spec.Containers = append([]corev1.Container{{Name: "istio-proxy", Image: "proxy:1"}}, d.Spec.Template.Spec.Containers...)
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("gitops"))).To(Succeed())
	h.rolledOut(targetName)
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.TargetRef.Container = ""
	h.create(p)
	h.observer.set(starvedPool(), false)
	writes := h.workloadWrites.Load()
	_, p = h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(Equal(writes))
	stalled := condition(p, tuningv1alpha1.ConditionStalled)
	g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(stalled.Message).To(ContainSubstring("istio-proxy, app"))
}

// An HPA the profile does not name lets the Deployment run 30 pods: the pool
// is counted at 30 pods, so a raise that fits at the 4 ready pods is not made.
func TestUndeclaredHPACountsInTheBudget(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	g.Expect(env.Client.Create(h.ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "someone-elses"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 30,
		}}, client.FieldOwner("platform"))).To(Succeed())
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{MaxConnections: 400, Reserved: 20}
	h.create(p)
	h.observer.set(starvedPool(), false)
	_, p = h.period("orders")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"), "raised past the budget at the pods the HPA allows")
	g.Expect(condition(p, tuningv1alpha1.ConditionConnectionBudget).Reason).To(Equal(tuningv1alpha1.ReasonBudgetExceeded))
}

// Two profiles name one Redis StatefulSet: the younger neither records the
// older's writes as its own nor writes it.
func TestSecondProfileOnARedisLeavesIt(t *testing.T) {
	h := newHarness(t)
	g := h.g
	labels := map[string]string{"app": "redis"}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "redis"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}}}}}}
	g.Expect(env.Client.Create(h.ctx, sts, client.FieldOwner("gitops"))).To(Succeed())
	redisSpec := func(p *tuningv1alpha1.PerformanceProfile) {
		p.Spec.Cache = &tuningv1alpha1.Cache{Redis: &tuningv1alpha1.RedisCache{Replicas: &tuningv1alpha1.RedisReplicas{
			TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: "redis"}, Min: 1, Max: 6}}}
	}
	h.deployment(targetName, poolVar("10"))
	h.deployment("checkout", poolVar("10"))
	older := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	redisSpec(older)
	h.create(older)
	younger := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	// Created in the same second as the older one: the name decides (claimsBefore).
	younger.Name, younger.Spec.TargetRef.Name = "payments", "checkout"
	redisSpec(younger)
	h.create(younger)
	h.period("orders")
	h.period("payments")
	// The older profile's navius-tuner write of the Redis replicas.
	ac, err := actuate.Replicas("StatefulSet", h.ns, "redis", 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(actuate.Apply(h.ctx, env.Client, ac)).To(Succeed())
	writes := h.workloadWrites.Load()
	var p *tuningv1alpha1.PerformanceProfile
	for range 3 {
		_, p = h.period("payments")
	}
	g.Expect(h.workloadWrites.Load()).To(Equal(writes), "the younger profile wrote the Redis the older one tunes")
	for _, d := range p.Status.History {
		for _, c := range d.Changes {
			g.Expect(c.Knob).NotTo(Equal(string(tuning.KnobRedisReplicas)), "the older profile's write recorded as the younger's")
		}
	}
	g.Expect(p.Status.Current.RedisReplicas).To(BeNil())
}

// Two profiles name one database: the connections both can hold at their
// worst moments share the smallest budget either declares, so the second
// one's raise that fits its own budget alone is refused, naming the first.
func TestProfilesOnOneDatabaseShareItsBudget(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.deployment("checkout", poolVar("10"))
	shared := func(p *tuningv1alpha1.PerformanceProfile) {
		p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{Name: "orders-db", MaxConnections: 200}
	}
	first := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	shared(first)
	h.create(first)
	_, first = h.period("orders")
	// 4 pods + 1 surge running, all 4 old ones terminating, pool 10.
	g.Expect(first.Status.PeakConnections).To(Equal(ptr.To[int64](90)))

	second := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	second.Name, second.Spec.TargetRef.Name = "payments", "checkout"
	shared(second)
	h.create(second)
	h.observer.set(starvedPool(), false)
	h.drainEvents()
	h.period("payments")
	g.Expect(h.envValue("checkout", poolEnv)).To(Equal("10"), "raised past the budget the two profiles share")
	g.Expect(hasEvent(h.drainEvents(), "Warning", EventRefused, "shared with orders")).To(BeTrue())
}
