package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The memory of the envFrom ConfigMaps belongs to one generation of the
// Deployment's spec: an image bump (which the cache's trimmed template does
// not show) or a scale starts pods that take the ConfigMap as it is then.
func TestEnvFromKeyChangesWithTheDeploymentsGeneration(t *testing.T) {
	g := NewWithT(t)
	names := map[string]bool{poolEnv: true}
	src := corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}
	v1 := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1", Generation: 1}}
	v1.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", EnvFrom: []corev1.EnvFromSource{src}}}
	v2 := v1.DeepCopy()
	v2.Generation = 2
	c := &v1.Spec.Template.Spec.Containers[0]
	g.Expect(envFromKey(v2, c, names)).NotTo(Equal(envFromKey(v1, c, names)), "a new generation starts pods on the ConfigMap as it is now")
	again := v1.DeepCopy()
	again.UID = "u2"
	g.Expect(envFromKey(again, c, names)).NotTo(Equal(envFromKey(v1, c, names)), "a Deployment made again is another Deployment")
	g.Expect(envFromKey(v1.DeepCopy(), c, names)).To(Equal(envFromKey(v1, c, names)), "the same generation is remembered")
}

// End to end: pool 50 from a ConfigMap, read; the ConfigMap is edited to
// 40 and the image is bumped (every pod restarts with 40): the next period
// shows 40.
func TestImageRolloutAfterAConfigMapEditShowsTheNewValue(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.configMapFedPool("50")
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.period("orders")
	h.setConfigMapPool("40")
	d := h.getDeployment(targetName)
	d.Spec.Template.Spec.Containers[0].Image = "orders:2"
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("ci"))).To(Succeed())
	h.rolledOut(targetName)
	_, p := h.period("orders")
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "40"), "every pod now runs with the ConfigMap's 40")
}

// status.peakConnections is what other profiles naming the same database
// count as this profile's share. A ConfigMap raising the pool 10 → 50
// without a template change makes every pod started from then on (an HPA
// scale-up, a rollout by anyone: the worst moment counts them) hold 50, so
// the published peak follows the ConfigMap as it is, not as remembered.
func TestPeakConnectionsFollowAConfigMapEditedBetweenPeriods(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.configMapFedPool("10")
	p0 := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p0.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{Name: "orders-db", MaxConnections: 10000}
	h.create(p0)
	h.period("orders")
	_, p := h.period("orders")
	g.Expect(p.Status.PeakConnections).NotTo(BeNil())
	at10 := ptr.Deref(p.Status.PeakConnections, 0)
	h.setConfigMapPool("50")
	for range 3 {
		_, p = h.period("orders")
	}
	g.Expect(ptr.Deref(p.Status.PeakConnections, 0)).To(Equal(5*at10),
		"the worst moment's pods start with the ConfigMap's 50, not the remembered 10")
}
