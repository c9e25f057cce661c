package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// Two profiles on one Deployment: the older keeps it, the newer is Stalled
// and names the older, and resumes once the older is gone.
func TestSecondProfileOnATargetIsStalled(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	older := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	older.Name = "orders-z" // the name sorts last: creation time decides
	h.create(older)
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has a one-second resolution
	newer := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	newer.Name = "orders-a"
	h.create(newer)
	h.observer.set(starvedPool(), false)

	_, pn := h.period("orders-a")
	g.Expect(h.workloadWrites.Load()).To(BeZero(), "the newer profile writes nothing")
	stalled := condition(pn, tuningv1alpha1.ConditionStalled)
	g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(stalled.Reason).To(Equal(tuningv1alpha1.ReasonTargetClaimed))
	g.Expect(stalled.Message).To(ContainSubstring("PerformanceProfile orders-z"))
	g.Expect(condition(pn, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonTargetClaimed))

	_, po := h.period("orders-z")
	g.Expect(condition(po, tuningv1alpha1.ConditionReady).Reason).To(Equal(tuningv1alpha1.ReasonSucceeded))
	g.Expect(h.envValue(targetName, poolEnv)).NotTo(Equal("10"), "the older profile keeps tuning")
	g.Expect(po.Status.History).To(HaveLen(1))

	g.Expect(env.Client.Delete(h.ctx, po)).To(Succeed())
	_, pn = h.period("orders-a")
	g.Expect(condition(pn, tuningv1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
}

// An hpaRef to an HPA that a KEDA ScaledObject owns stalls the profile, and
// the HPA is never written.
func TestHPAOwnedByKEDAIsStalled(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "keda-hpa-orders", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: "orders", UID: types.UID("3f1c2d6e-0000-4000-8000-000000000001"),
			Controller: ptr.To(true),
		}}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
		},
	}
	g.Expect(env.Client.Create(h.ctx, hpa, client.FieldOwner("keda-operator"))).To(Succeed())
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.Autoscaling = &tuningv1alpha1.Autoscaling{
		HPARef:      &corev1.LocalObjectReference{Name: hpa.Name},
		MaxReplicas: &tuningv1alpha1.Int32Range{Min: 4, Max: 20},
	}
	h.create(p)
	h.observer.set(starvedPool(), false)

	_, p = h.period("orders")
	stalled := condition(p, tuningv1alpha1.ConditionStalled)
	g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(stalled.Reason).To(Equal(tuningv1alpha1.ReasonHPAOwnedByKEDA))
	g.Expect(stalled.Message).To(ContainSubstring("KEDA ScaledObject orders"))
	g.Expect(stalled.Message).To(ContainSubstring("revert every change"))
	g.Expect(h.workloadWrites.Load()).To(BeZero())
}

// A target that Flagger promotes is tuned, and Ready says that each env
// change starts a canary analysis.
func TestCanaryControllerOnTheTargetIsReported(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	primary := h.getDeployment(targetName).DeepCopy()
	primary.ObjectMeta = metav1.ObjectMeta{Namespace: h.ns, Name: targetName + "-primary", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: targetName, UID: types.UID("3f1c2d6e-0000-4000-8000-000000000002"),
		Controller: ptr.To(true),
	}}}
	primary.Status = appsv1.DeploymentStatus{}
	g.Expect(env.Client.Create(h.ctx, primary)).To(Succeed())
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))

	_, p := h.period("orders")
	ready := condition(p, tuningv1alpha1.ConditionReady)
	g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(ready.Message).To(ContainSubstring("Flagger (Canary orders-api promotes it to orders-api-primary)"))
	g.Expect(ready.Message).To(ContainSubstring("canary analysis"))
}

func TestProgressiveDeliveryIsDetected(t *testing.T) {
	owned := func(apiVersion, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "orders"}}
	}
	for _, tc := range []struct {
		name    string
		target  appsv1.Deployment
		primary *appsv1.Deployment
		want    string
	}{
		{"plain Deployment", appsv1.Deployment{}, nil, ""},
		{"owned by an Argo Rollout", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("argoproj.io/v1alpha1", "Rollout")}}, nil,
			"Argo Rollouts (Rollout orders owns it)"},
		{"Argo Rollouts annotation", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"rollout.argoproj.io/revision": "3"}}}, nil,
			"Argo Rollouts (annotation rollout.argoproj.io/revision)"},
		{"the Flagger primary itself", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("flagger.app/v1beta1", "Canary")}}, nil,
			"Flagger (it is the primary of Canary orders, and Flagger overwrites it on each promotion)"},
		{"Flagger annotation", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"flagger.app/config-tracking": "disabled"}}}, nil,
			"Flagger (annotation flagger.app/config-tracking)"},
		{"a -primary owned by a Canary", appsv1.Deployment{}, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders-primary", OwnerReferences: owned("flagger.app/v1beta1", "Canary")}},
			"Flagger (Canary orders promotes it to orders-primary)"},
		{"a -primary of someone else", appsv1.Deployment{}, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders-primary", OwnerReferences: owned("apps/v1", "ReplicaSet")}}, ""},
		{"a Rollout of another group", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("example.com/v1", "Rollout")}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(progressiveDelivery(&tc.target, tc.primary)).To(Equal(tc.want))
		})
	}
}
