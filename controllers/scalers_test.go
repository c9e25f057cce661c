package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestOtherScalersAreListedByTheirTargetFromTheCache: a namespace with one
// HPA per Deployment (as at scale, one profile per service). Reading the
// other scalers of a profile's target through the manager's cache lists
// only the HPAs of that target (a field index), not every HPA of the
// namespace each period, and still counts a foreign HPA's maximum as the
// pods ceiling; an HPA of another Deployment is not counted.
func TestOtherScalersAreListedByTheirTargetFromTheCache(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("scalers-%d", nsCounter.Add(1))
	g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	hpa := func(name, target string, maxReplicas int32) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: maxReplicas,
			}}
	}
	for _, h := range []*autoscalingv2.HorizontalPodAutoscaler{
		hpa("platform-orders", "orders", 30), hpa("payments", "payments", 60), hpa("shipping", "shipping", 50),
	} {
		g.Expect(env.Client.Create(ctx, h)).To(Succeed())
	}

	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}, ByObject: CacheTransforms()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(addIndexes(ctx, c)).To(Succeed())
	go func() { _ = c.Start(ctx) }()
	_, err = c.GetInformer(ctx, &autoscalingv2.HorizontalPodAutoscaler{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
	cached, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme, Cache: &client.CacheOptions{Reader: c}})
	g.Expect(err).NotTo(HaveOccurred())
	listed := 0
	counting := interceptor.NewClient(cached, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			err := c.List(ctx, list, opts...)
			if l, ok := list.(*autoscalingv2.HorizontalPodAutoscalerList); ok {
				listed += len(l.Items)
			}
			return err
		},
	})
	r, err := NewPerformanceProfileReconciler(counting, Options{Source: &stubSource{}})
	g.Expect(err).NotTo(HaveOccurred())
	r.indexed = true // as SetupWithManager leaves it, with the indexes added to the cache

	p := &tuningv1alpha1.PerformanceProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{TargetRef: tuningv1alpha1.TargetRef{Name: "orders"}}}
	cs := &clusterState{}
	g.Expect(r.readScalers(ctx, r.reader(p, true), p, cs)).To(Succeed())
	g.Expect(listed).To(Equal(1), "only the target's HPA is listed")
	g.Expect(cs.state.HasHPA).To(BeTrue())
	g.Expect(cs.state.PodsCeiling).To(Equal(int32(30)), "the foreign HPA of the target, not the others' 60")
}
