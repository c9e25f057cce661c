package controllers

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
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
	ns := createdNamespace(g, ctx, "scalers-")
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

	c := startedCache(g, ctx, map[string]cache.Config{ns: {}})
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

// TestAClusterWithoutKEDAIsNotAskedAtEveryWrite: in a cluster that serves no
// ScaledObjects, reading them for a candidate write asks the API server's
// discovery nothing (the client's usual REST mapper reads discovery again,
// and rebuilds itself, for a group it does not know, at every write); a KEDA
// installed later is read at the very next write, its ScaledObject's
// maximum counted before KEDA has made an HPA of it.
func TestAClusterWithoutKEDAIsNotAskedAtEveryWrite(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := createdNamespace(g, ctx, "keda-")

	var discovery atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if p := req.URL.Path; p == "/api" || p == "/apis" || strings.HasPrefix(p, "/apis/keda.sh") && !strings.Contains(p, "/namespaces/") {
				discovery.Add(1)
			}
			return rt.RoundTrip(req)
		})
	}
	so, err := NewScaledObjectReader(cfg, env.Scheme)
	g.Expect(err).NotTo(HaveOccurred())
	r, err := NewPerformanceProfileReconciler(env.Client, Options{Source: &stubSource{}, ScaledObjects: so})
	g.Expect(err).NotTo(HaveOccurred())
	p := &tuningv1alpha1.PerformanceProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{TargetRef: tuningv1alpha1.TargetRef{Name: "orders"}}}

	read := func() *clusterState {
		cs := &clusterState{}
		g.Expect(r.readScaledObjects(ctx, p, cs)).To(Succeed())
		return cs
	}
	for range 5 {
		g.Expect(read().state.HasHPA).To(BeFalse(), "no KEDA: no ScaledObjects")
	}
	g.Expect(discovery.Load()).To(BeZero(), "five writes in a cluster without KEDA ask discovery nothing")

	installScaledObjectCRD(ctx, t)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"namespace": ns, "name": "orders"},
		"spec":     map[string]any{"scaleTargetRef": map[string]any{"name": "orders"}, "maxReplicaCount": int64(40)},
	}}
	g.Eventually(func() error { return env.Client.Create(ctx, obj) }).WithTimeout(30 * time.Second).Should(Succeed())
	cs := read()
	g.Expect(cs.state.HasHPA).To(BeTrue())
	g.Expect(cs.state.PodsCeiling).To(Equal(int32(40)), "KEDA installed later: its ScaledObject's maximum counts at the next write, with no HPA yet")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// installScaledObjectCRD installs a minimal ScaledObject CRD (the fields
// readScaledObjects reads) and removes it when the test ends.
func installScaledObjectCRD(ctx context.Context, t *testing.T) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "scaledobjects.keda.sh"},
		"spec": map[string]any{
			"group": "keda.sh", "scope": "Namespaced",
			"names": map[string]any{"kind": "ScaledObject", "listKind": "ScaledObjectList", "plural": "scaledobjects", "singular": "scaledobject"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	if err := env.Client.Create(ctx, crd); err != nil {
		t.Fatalf("installing the ScaledObject CRD: %v", err)
	}
	t.Cleanup(func() {
		// Gone before a next run (-count) installs it again.
		_ = env.Client.Delete(context.Background(), crd)
		NewWithT(t).Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKeyFromObject(crd), crd.DeepCopy()))
		}).WithTimeout(30 * time.Second).Should(BeTrue())
	})
}
