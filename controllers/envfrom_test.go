package controllers

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// configMapGets counts the ConfigMap GETs of the reconciler's API reader
// (the manager caches no ConfigMap: every read of one reaches the API
// server). afterGet, when set, runs after each of them.
type configMapGets struct {
	client.Reader
	n        atomic.Int64
	afterGet func()
}

func (c *configMapGets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Reader.Get(ctx, key, obj, opts...)
	if _, ok := obj.(*corev1.ConfigMap); ok {
		c.n.Add(1)
		if c.afterGet != nil {
			c.afterGet()
		}
	}
	return err
}

// countConfigMapGets makes the harness's reconciler count its ConfigMap GETs.
func (h *harness) countConfigMapGets() *configMapGets {
	gets := &configMapGets{Reader: h.r.live()}
	h.r.opts.APIReader = gets
	return gets
}

// configMapFedPool is the target with its pool (given) from ConfigMap
// "settings" through envFrom.
func (h *harness) configMapFedPool(pool string) {
	h.t.Helper()
	h.deployment(targetName)
	h.g.Expect(env.Client.Create(h.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "settings"},
		Data: map[string]string{poolEnv: pool, "UNRELATED": "x"}})).To(Succeed())
	h.withEnvFrom(targetName, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}})
}

// setConfigMapPool is someone editing the ConfigMap.
func (h *harness) setConfigMapPool(pool string) {
	h.t.Helper()
	cm := &corev1.ConfigMap{}
	h.g.Expect(env.Client.Get(h.ctx, h.key("settings"), cm)).To(Succeed())
	cm.Data[poolEnv] = pool
	h.g.Expect(env.Client.Update(h.ctx, cm)).To(Succeed())
}

// retry is the reconcile a stale read asks for, 0.5 s later.
func (h *harness) retry(name string) (ctrl.Result, *tuningv1alpha1.PerformanceProfile) {
	h.t.Helper()
	h.clock.Step(staleRetry)
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key(name)})
	h.g.Expect(err).NotTo(HaveOccurred())
	p := &tuningv1alpha1.PerformanceProfile{}
	h.g.Expect(env.Client.Get(h.ctx, h.key(name), p)).To(Succeed())
	return res, p
}

// The ConfigMaps a pool is read from cost no request in a period that
// writes nothing: they are read at the first reconcile and again only when
// the pod template changes (a restart: its pods take the ConfigMap as it is
// then, and the status shows that).
func TestEnvFromConfigMapsAreNotReadEachPeriod(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.configMapFedPool("50")
	gets := h.countConfigMapGets()
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	writes := h.workloadWrites.Load()

	_, p := h.period("orders")
	g.Expect(gets.n.Load()).To(BeNumerically(">=", 1), "the first reconcile reads the ConfigMap")
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "50"))
	first := gets.n.Load()
	for range 5 {
		_, p = h.period("orders")
	}
	g.Expect(gets.n.Load()).To(Equal(first), "ConfigMap GETs in 5 periods without a candidate write")
	g.Expect(h.workloadWrites.Load()).To(Equal(writes))
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "50"))

	// kubectl rollout restart after an edit of the ConfigMap: the new pods
	// run with 40, which the next period reads, once.
	h.setConfigMapPool("40")
	d := h.getDeployment(targetName)
	d.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339)}
	g.Expect(env.Client.Update(h.ctx, d, client.FieldOwner("kubectl-rollout"))).To(Succeed())
	h.rolledOut(targetName)
	_, p = h.period("orders")
	g.Expect(gets.n.Load()).To(Equal(first+1), "the restarted template's ConfigMap is read once")
	g.Expect(p.Status.Current.Env).To(HaveKeyWithValue(poolEnv, "40"))
	h.period("orders")
	g.Expect(gets.n.Load()).To(Equal(first + 1))
}

// editedAfterItWasRead: a pool of 50 from a ConfigMap, read and remembered
// over two periods of profile "orders" in mode, then edited to 8 while the
// pool starves.
func editedAfterItWasRead(t *testing.T, mode tuningv1alpha1.Mode) *harness {
	h := newHarness(t)
	h.configMapFedPool("50")
	h.create(poolProfile(h.ns, mode))
	for range 2 {
		h.period("orders")
	}
	h.setConfigMapPool("8")
	h.observer.set(starvedPool(), false)
	return h
}

// refusedThenMadeFrom8 checks a reconcile that planned on a pool of 50 the
// ConfigMap no longer holds (res, p, the workload writes before it): it
// wrote and recorded nothing and asked to run again at once; the next one
// records a change from 8.
func (h *harness) refusedThenMadeFrom8(res ctrl.Result, p *tuningv1alpha1.PerformanceProfile, writes int64) {
	h.t.Helper()
	g := h.g
	g.Expect(h.workloadWrites.Load()).To(Equal(writes), "nothing written from 50")
	g.Expect(p.Status.History).To(BeEmpty())
	g.Expect(res.RequeueAfter).To(Equal(staleRetry))
	_, p = h.retry("orders")
	g.Expect(p.Status.History).To(HaveLen(1))
	g.Expect(p.Status.History[0].Changes).To(ConsistOf(HaveField("From", "8")))
}

// The ConfigMap is edited (pool 50 → 8) after it was last read: the plan
// made on the remembered 50 is checked against the ConfigMap before
// anything is written, dropped (nothing written, nothing recorded, the
// reconcile runs again at once) and made again on 8.
func TestPlanOnAnEditedConfigMapIsMadeAgainOnItsValue(t *testing.T) {
	h := editedAfterItWasRead(t, tuningv1alpha1.ModeAuto)
	gets := h.countConfigMapGets()
	writes := h.workloadWrites.Load()
	res, p := h.period("orders")
	h.g.Expect(gets.n.Load()).To(BeNumerically(">=", 1), "the ConfigMap is read before a write")
	h.refusedThenMadeFrom8(res, p, writes)
	raised, err := strconv.Atoi(h.envValue(targetName, poolEnv))
	h.g.Expect(err).NotTo(HaveOccurred())
	h.g.Expect(raised).To(And(BeNumerically(">", 8), BeNumerically("<", 50)), "raised from 8")
}

// The same in mode Recommend: a recommendation is never published on a
// remembered value the ConfigMap no longer holds.
func TestRecommendationOnAnEditedConfigMapStartsFromItsValue(t *testing.T) {
	h := editedAfterItWasRead(t, tuningv1alpha1.ModeRecommend)
	res, p := h.period("orders")
	if res.RequeueAfter == staleRetry {
		_, p = h.retry("orders")
	}
	h.g.Expect(p.Status.Recommendation).NotTo(BeNil())
	h.g.Expect(p.Status.Recommendation.Changes).To(ConsistOf(HaveField("From", "8")))
}

// The ConfigMap is edited between the check of the plan and the write:
// the read of everything from the API server right before the write
// (recheck) sees it, and nothing is written from the old value.
func TestConfigMapEditedRightBeforeTheWriteIsNotOverwritten(t *testing.T) {
	h := newHarness(t)
	h.configMapFedPool("50")
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.period("orders")
	gets := h.countConfigMapGets()
	edited := false
	gets.afterGet = func() {
		if !edited {
			edited = true
			h.setConfigMapPool("8") // after the plan's read, before the write's
		}
	}
	h.observer.set(starvedPool(), false)
	writes := h.workloadWrites.Load()
	res, p := h.period("orders")
	h.g.Expect(edited).To(BeTrue())
	h.refusedThenMadeFrom8(res, p, writes)
}
