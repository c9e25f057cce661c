package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
)

func poolVar(v string) corev1.EnvVar { return corev1.EnvVar{Name: poolEnv, Value: v} }

func TestSaturatedPoolAppliesEnvOwnedByNaviusTuner(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"), corev1.EnvVar{Name: "LOG_LEVEL", Value: "info"})
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)

	res, p := h.period("orders")
	g.Expect(res.RequeueAfter).To(Equal(30 * time.Second))

	got := h.envValue(targetName, poolEnv)
	g.Expect(got).NotTo(Equal("10"), "the pool max must be raised")
	g.Expect(h.envValue(targetName, "LOG_LEVEL")).To(Equal("info"), "other env entries are merged, not replaced")
	g.Expect(h.workloadWrites.Load()).To(Equal(int64(1)))

	d := h.getDeployment(targetName)
	own, err := actuate.OwnershipOf(d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(own.Owns(tuningv1alpha1.FieldManager, actuate.EnvValuePath("app", poolEnv))).To(BeTrue())
	g.Expect(own.Owns(tuningv1alpha1.FieldManager, actuate.EnvValuePath("app", "LOG_LEVEL"))).To(BeFalse())
	g.Expect(own.Owns(tuningv1alpha1.FieldManager, actuate.ReplicasPath)).To(BeFalse(), "never Deployment.spec.replicas")

	g.Expect(p.Status.History).To(HaveLen(1))
	g.Expect(p.Status.History[0].Outcome).To(Equal(tuningv1alpha1.OutcomePending))
	g.Expect(p.Status.History[0].Changes).To(ContainElement(tuningv1alpha1.Change{Knob: poolEnv, From: "10", To: got}))
	g.Expect(p.Status.LastAdjustment).NotTo(BeNil())
	g.Expect(p.Status.Recommendation).To(BeNil())
	g.Expect(condition(p, tuningv1alpha1.ConditionSLOMet).Reason).To(Equal(tuningv1alpha1.ReasonSLOBreached))
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).ObservedGeneration).To(Equal(p.Generation))
	g.Expect(hasEvent(h.drainEvents(), "Normal", EventAdjusted, poolEnv)).To(BeTrue())

	// The next period sees the rollout and the pending change: it holds.
	_, p = h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionProgressing).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(h.workloadWrites.Load()).To(Equal(int64(1)))
	g.Expect(hasEvent(h.drainEvents(), EventAdjusted)).To(BeFalse(), "events on actions and transitions only")
}

func TestRecommendWritesOnlyStatus(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeRecommend))
	h.observer.set(starvedPool(), false)

	_, p := h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(BeZero())
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))
	g.Expect(p.Status.Recommendation).NotTo(BeNil())
	g.Expect(p.Status.Recommendation.Changes).To(ContainElement(HaveField("Knob", poolEnv)))
	g.Expect(p.Status.History).To(BeEmpty())
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonRecommending))

	// The recommendation's time only moves when its content does.
	first := p.Status.Recommendation.Time
	_, p = h.period("orders")
	g.Expect(p.Status.Recommendation.Time).To(Equal(first))
}

func TestOffAndPausedWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   tuningv1alpha1.Mode
		paused bool
		reason string
	}{
		{"off", tuningv1alpha1.ModeOff, false, tuningv1alpha1.ReasonModeOff},
		{"paused", tuningv1alpha1.ModeAuto, true, tuningv1alpha1.ReasonPaused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			g := h.g
			h.deployment(targetName, poolVar("10"))
			p := poolProfile(h.ns, tc.mode)
			if tc.paused {
				p.Annotations = map[string]string{tuningv1alpha1.PausedAnnotation: "true"}
			}
			h.create(p)
			h.observer.set(starvedPool(), false)
			for range 3 {
				_, p = h.period("orders")
			}
			g.Expect(h.workloadWrites.Load()).To(BeZero())
			g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))
			g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tc.reason))
			g.Expect(p.Status.SLIs).NotTo(BeNil())
			g.Expect(p.Status.SLIs.P99).NotTo(BeNil())
			g.Expect(p.Status.History).To(BeEmpty())
		})
	}
}

func TestMissingTargetWaitsAndRecovers(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)

	res, p := h.period("orders")
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(h.workloadWrites.Load()).To(BeZero())
	ready := condition(p, tuningv1alpha1.ConditionReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ready.Reason).To(Equal(tuningv1alpha1.ReasonTargetNotFound))
	g.Expect(condition(p, tuningv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
	g.Expect(hasEvent(h.drainEvents(), "Warning", tuningv1alpha1.ReasonTargetNotFound)).To(BeTrue())

	h.deployment(targetName, poolVar("10"))
	_, p = h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonSucceeded))
	g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"))
}

func TestMissingHPAWaitsAndRecovers(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{
		HPARef:      &corev1.LocalObjectReference{Name: targetName},
		MaxReplicas: &tuningv1alpha1.Int32Range{Min: 4, Max: 20},
	}
	h.create(p)
	h.observer.set(starvedPool(), false)

	_, p = h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(BeZero())
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonHPANotFound))

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: targetName},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 8,
		},
	}
	g.Expect(env.Client.Create(h.ctx, hpa, client.FieldOwner("gitops"))).To(Succeed())
	_, p = h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(p.Status.Current.HPA).NotTo(BeNil())
	g.Expect(p.Status.Current.HPA.MaxReplicas).To(Equal(int32(8)))
}

func TestPrometheusDownHoldsAndRecovers(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), true)

	_, p := h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(BeZero())
	ma := condition(p, tuningv1alpha1.ConditionMetricsAvailable)
	g.Expect(ma.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(ma.Reason).To(Equal(tuningv1alpha1.ReasonMetricsUnavailable))
	g.Expect(ma.Message).To(ContainSubstring("EndpointDown"))
	g.Expect(condition(p, tuningv1alpha1.ConditionSLOMet).Status).To(Equal(metav1.ConditionUnknown))
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonMetricsUnavailable))

	h.observer.set(starvedPool(), false)
	_, p = h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionMetricsAvailable).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"))
}

func TestSteadyStateMakesNoWrites(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(steady(), false)

	var p *tuningv1alpha1.PerformanceProfile
	for range 3 { // the first status, the SLOs starting to hold
		_, p = h.period("orders")
	}
	statusWrites := h.statusWrites.Load()
	for range 40 { // 20 minutes of periods
		_, p = h.period("orders")
	}
	g.Expect(h.workloadWrites.Load()).To(BeZero())
	g.Expect(h.statusWrites.Load()-statusWrites).To(BeZero(), "status patches while nothing moved")
	g.Expect(condition(p, tuningv1alpha1.ConditionSLOMet).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(p, tuningv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "10"))
}

func TestCompetingManagerTriggersFieldConflict(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.raisedPool()
	h.drainEvents()

	// Argo CD self-heal without the ignore rule puts the Git value back.
	d := h.getDeployment(targetName)
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{poolVar("10")}
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("argocd-controller"))).To(Succeed())
	h.rolledOut(targetName)
	writes := h.workloadWrites.Load()

	for range 3 {
		_, p := h.period("orders")
		stalled := condition(p, tuningv1alpha1.ConditionStalled)
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(tuningv1alpha1.ReasonFieldConflict))
		g.Expect(stalled.Message).To(ContainSubstring("argocd-controller"))
		g.Expect(stalled.Message).To(ContainSubstring("env[" + poolEnv + "]"))
		g.Expect(condition(p, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonFieldConflict))
	}
	g.Expect(h.workloadWrites.Load()).To(Equal(writes), "a conflicting knob is not touched")
	evs := h.drainEvents()
	g.Expect(hasEvent(evs, "Warning", tuningv1alpha1.ReasonFieldConflict, "argocd-controller")).To(BeTrue())

	// The person fixes the Argo CD application and says so: tuning resumes.
	p := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
	p.Annotations = map[string]string{tuningv1alpha1.ReconcileRequestedAnnotation: time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}
	g.Expect(env.Client.Update(h.ctx, p)).To(Succeed())
	_, p = h.period("orders")
	g.Expect(condition(p, tuningv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
}

func (h *harness) getDeployment(name string) *appsv1.Deployment {
	h.t.Helper()
	d := &appsv1.Deployment{}
	h.g.Expect(env.Client.Get(h.ctx, h.key(name), d)).To(Succeed())
	return d
}
