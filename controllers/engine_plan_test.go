package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// The managed HPA is created from the engine's plan: its
// floor is the pods ready now, and the creation is in the history.
func TestManagedHPAComesFromTheEnginePlan(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{MaxConnections: 120, Reserved: 20}
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{
		Managed:              &tuningv1alpha1.ManagedHPA{},
		MinReplicas:          &tuningv1alpha1.Int32Range{Min: 2, Max: 10},
		MaxReplicas:          &tuningv1alpha1.Int32Range{Min: 2, Max: 20},
		TargetCPUUtilization: &tuningv1alpha1.Int32Range{Min: 50, Max: 85},
	}
	h.create(p)
	h.observer.set(steady(), false)

	_, p = h.period("orders")
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	g.Expect(env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: targetName}, hpa)).To(Succeed())
	g.Expect(hpa.Spec.MinReplicas).To(HaveValue(Equal(int32(4))), "the floor is the 4 pods ready now, not minReplicas.min")
	g.Expect(hpa.Spec.MaxReplicas).To(Equal(int32(4)))
	g.Expect(p.Status.History).To(HaveLen(1))
	d := p.Status.History[0]
	g.Expect(d.Family).To(Equal(string(tuning.FamilyAutoscaling)))
	g.Expect(d.Outcome).To(Equal(tuningv1alpha1.OutcomePending))
	g.Expect(period.ChangesString(d.Changes)).To(ContainSubstring("hpa.minReplicas <unset>→4"))
	g.Expect(hasEvent(h.drainEvents(), "Normal", EventHPACreated)).To(BeTrue())
}

// An HPA maxReplicas that someone else raised past the connection budget is
// reported with a condition and a Warning Event, and neither repaired nor
// grown.
func TestBudgetExceededIsReportedNotRepaired(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: targetName},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 30,
		},
	}
	g.Expect(env.Client.Create(h.ctx, hpa, client.FieldOwner("gitops"))).To(Succeed())
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{MaxConnections: 400, Reserved: 20}
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{
		HPARef:      &corev1.LocalObjectReference{Name: targetName},
		MaxReplicas: &tuningv1alpha1.Int32Range{Min: 4, Max: 40},
	}
	h.create(p)
	h.observer.set(starvedPool(), false)

	_, p = h.period("orders")
	c := condition(p, tuningv1alpha1.ConditionConnectionBudget)
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(tuningv1alpha1.ReasonBudgetExceeded))
	// 30 + 8 surge running; nothing bounds a rollout step (no readiness
	// delay, no minReadySeconds) within the 30 s grace period, so all 30 old
	// pods may still be terminating: 68 pods × 10 = 680 of 380.
	g.Expect(c.Message).To(ContainSubstring("300 connections over"))
	g.Expect(hasEvent(h.drainEvents(), "Warning", tuningv1alpha1.ReasonBudgetExceeded)).To(BeTrue())
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"), "the pool was raised past the budget")
	g.Expect(env.Client.Get(h.ctx, h.key(targetName), hpa)).To(Succeed())
	g.Expect(hpa.Spec.MaxReplicas).To(Equal(int32(30)), "maxReplicas was repaired or raised")
}

// The state carries the rollout strategy as the Deployment gives it, for the
// engine to resolve at maxReplicas.
func TestStrategyIsCarriedAsGiven(t *testing.T) {
	quarter, two := intstr.FromString("25%"), intstr.FromInt32(2)
	for _, tc := range []struct {
		name string
		s    appsv1.DeploymentStrategy
		want tuning.RolloutStrategy
	}{
		{"defaults", appsv1.DeploymentStrategy{}, tuning.RolloutStrategy{}},
		{"recreate", appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, tuning.RolloutStrategy{Recreate: true}},
		{"rolling update as given", appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &quarter, MaxUnavailable: &two}},
			tuning.RolloutStrategy{MaxSurge: &quarter, MaxUnavailable: &two}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(strategy(&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: tc.s}})).To(Equal(tc.want))
		})
	}
}
