package controllers

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestIndexedListsFindWhatTheyNameWithinOneNamespace: two namespaces each
// hold a profile of a Deployment "api" and an HPA of it. Through the
// manager's cache, watching every namespace or a list of them, a list of
// one namespace by an index field finds that namespace's object and not
// the other's; and the index holds each value once, under its namespace,
// not a second time cluster-wide.
func TestIndexedListsFindWhatTheyNameWithinOneNamespace(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var nss []string
	for range 2 {
		ns := fmt.Sprintf("index-%d", nsCounter.Add(1))
		nss = append(nss, ns)
		g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		p := poolProfile(ns, tuningv1alpha1.ModeAuto)
		p.Spec.TargetRef.Name = "api"
		g.Expect(env.Client.Create(ctx, p)).To(Succeed())
		g.Expect(env.Client.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-hpa"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
				MaxReplicas:    4,
			},
		})).To(Succeed())
	}
	for _, tc := range []struct {
		name       string
		namespaces map[string]cache.Config
	}{
		{"every namespace", nil},
		{"a list of namespaces", map[string]cache.Config{nss[0]: {}, nss[1]: {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx, stop := context.WithCancel(ctx)
			defer stop()
			c := startedCache(g, ctx, tc.namespaces)
			for _, ns := range nss {
				profiles := &tuningv1alpha1.PerformanceProfileList{}
				g.Expect(c.List(ctx, profiles, client.InNamespace(ns), client.MatchingFields{indexTarget: "api"})).To(Succeed())
				g.Expect(profiles.Items).To(HaveLen(1), "the profiles of Deployment api in %s", ns)
				g.Expect(profiles.Items[0].Namespace).To(Equal(ns))
				hpas := &autoscalingv2.HorizontalPodAutoscalerList{}
				g.Expect(c.List(ctx, hpas, client.InNamespace(ns), client.MatchingFields{indexScaledDeployment: "api"})).To(Succeed())
				g.Expect(hpas.Items).To(HaveLen(1), "the HPAs of Deployment api in %s", ns)
				g.Expect(hpas.Items[0].Namespace).To(Equal(ns))
				none := &tuningv1alpha1.PerformanceProfileList{}
				g.Expect(c.List(ctx, none, client.InNamespace(ns), client.MatchingFields{indexTarget: "web"})).To(Succeed())
				g.Expect(none.Items).To(BeEmpty())
			}
			if tc.namespaces != nil {
				return // one informer per namespace: no single indexer to read
			}
			for obj, field := range map[client.Object]string{&tuningv1alpha1.PerformanceProfile{}: indexTarget, &autoscalingv2.HorizontalPodAutoscaler{}: indexScaledDeployment} {
				inf, err := c.GetInformer(ctx, obj)
				g.Expect(err).NotTo(HaveOccurred())
				keys := inf.(toolscache.SharedIndexInformer).GetIndexer().ListIndexFuncValues("field:" + field)
				var ours []string
				for _, k := range keys {
					if k == nss[0]+"/api" || k == nss[1]+"/api" || strings.HasPrefix(k, "__all_namespaces/") {
						ours = append(ours, k)
					}
				}
				g.Expect(ours).To(ConsistOf(nss[0]+"/api", nss[1]+"/api"), "the %s index keys of Deployment api", field)
			}
		})
	}
}

// createdNamespace creates a namespace of its own for a test, named prefix
// and a number.
func createdNamespace(g Gomega, ctx context.Context, prefix string) string {
	ns := fmt.Sprintf("%s%d", prefix, nsCounter.Add(1))
	g.Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	return ns
}

// startedCache is a started and synced manager cache over namespaces (nil:
// every namespace) with the manager's transforms, stopped with ctx.
func startedCache(g Gomega, ctx context.Context, namespaces map[string]cache.Config) cache.Cache {
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: namespaces, ByObject: CacheTransforms()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(addIndexes(ctx, c)).To(Succeed())
	go func() { _ = c.Start(ctx) }()
	_, err = c.GetInformer(ctx, &tuningv1alpha1.PerformanceProfile{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
	return c
}

// TestAScrapeReadsTheProfilesTheCacheHolds: with the manager's cache of
// every namespace, a scrape reads each profile as the cache's informer
// holds it, not a copy (a copy of each profile's struct per scrape was
// 7 MiB at 10,000 profiles); with a cache of a list of namespaces (one
// informer each) it lists them. Either way every profile is there.
func TestAScrapeReadsTheProfilesTheCacheHolds(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := createdNamespace(g, ctx, "scrape-store-")
	g.Expect(env.Client.Create(ctx, poolProfile(ns, tuningv1alpha1.ModeAuto))).To(Succeed())

	for _, tc := range []struct {
		name       string
		namespaces map[string]cache.Config
		shared     bool
	}{
		{"every namespace", nil, true},
		{"a list of namespaces", map[string]cache.Config{ns: {}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx, stop := context.WithCancel(ctx)
			defer stop()
			c := startedCache(g, ctx, tc.namespaces)

			m := newMetrics(prometheus.NewRegistry())
			m.readProfiles(c, nil)
			ours := func() *tuningv1alpha1.PerformanceProfile {
				profiles, ok := m.profiles.list()
				g.Expect(ok).To(BeTrue())
				for _, p := range profiles {
					if p.Namespace == ns && p.Name == "orders" {
						return p
					}
				}
				return nil
			}
			first, second := ours(), ours()
			g.Expect(first).NotTo(BeNil(), "the profile is in the scrape")
			g.Expect(second).NotTo(BeNil())
			// A cache of several informers is asked for one once, not at every
			// scrape (each ask starts a goroutine until they sync).
			g.Expect(m.profiles.source.Load().listed.Load()).To(Equal(!tc.shared))
			if !tc.shared {
				return
			}
			inf, err := c.GetInformer(ctx, &tuningv1alpha1.PerformanceProfile{})
			g.Expect(err).NotTo(HaveOccurred())
			held, exists, err := inf.(toolscache.SharedIndexInformer).GetStore().GetByKey(ns + "/orders")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(exists).To(BeTrue())
			g.Expect(first).To(BeIdenticalTo(held), "the scrape reads the cache's profile, not a copy")
			g.Expect(second).To(BeIdenticalTo(held))
		})
	}
}

// TestProfilesSharingATargetAreTheCachesOwn: the profiles every reconcile
// lists to check its claim and its shared database budget are read from the
// manager's cache without a deep copy of each (they are only read), and
// they are the profiles that name the target.
func TestProfilesSharingATargetAreTheCachesOwn(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := createdNamespace(g, ctx, "sharing-")
	p := poolProfile(ns, tuningv1alpha1.ModeAuto)
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	other := poolProfile(ns, tuningv1alpha1.ModeAuto)
	other.Name, other.Spec.TargetRef.Name = "other", "web"
	g.Expect(env.Client.Create(ctx, other)).To(Succeed())

	c := startedCache(g, ctx, nil)
	cl, err := client.New(env.Config, client.Options{Scheme: env.Scheme, Cache: &client.CacheOptions{Reader: c}})
	g.Expect(err).NotTo(HaveOccurred())
	r := &PerformanceProfileReconciler{client: cl}
	sharing, err := r.profilesSharing(ctx, ns, []indexKey{{indexTarget, p.Spec.TargetRef.Name}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sharing).To(HaveLen(1), "only the profile of the target")
	g.Expect(sharing[0].Name).To(Equal(p.Name))

	inf, err := c.GetInformer(ctx, &tuningv1alpha1.PerformanceProfile{})
	g.Expect(err).NotTo(HaveOccurred())
	held, exists, err := inf.(toolscache.SharedIndexInformer).GetStore().GetByKey(ns + "/" + p.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exists).To(BeTrue())
	g.Expect(sharing[0].Spec.ConnectionPool).To(BeIdenticalTo(held.(*tuningv1alpha1.PerformanceProfile).Spec.ConnectionPool),
		"the listed profile holds the cache's own spec, not a deep copy")
}

// TestListsByAnIndexFieldNameANamespace: the index is kept within
// namespaces, where a list of every namespace by an index field finds
// nothing and no error. listIndexed refuses such a list, and nothing else
// in the manager's code lists by a field.
func TestListsByAnIndexFieldNameANamespace(t *testing.T) {
	g := NewWithT(t)
	err := listIndexed(context.Background(), env.Client, &tuningv1alpha1.PerformanceProfileList{}, "", indexTarget, "api")
	g.Expect(err).To(MatchError(ContainSubstring("needs a namespace")))

	files, err := filepath.Glob("*.go")
	g.Expect(err).NotTo(HaveOccurred())
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		g.Expect(err).NotTo(HaveOccurred())
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name == "listIndexed" {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "MatchingFields" || sel.Sel.Name == "MatchingFieldsSelector") {
					t.Errorf("%s: %s lists by a field: list through listIndexed, which names the namespace", fset.Position(sel.Pos()), fn.Name.Name)
				}
				return true
			})
		}
	}
}
