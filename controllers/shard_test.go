package controllers

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// shardInterval is the profiles' period in the shard test: the shortest the API allows.
const shardInterval = 5 * time.Second

// shardSource answers every profile with steady signals at the real time,
// and records which profiles its manager observed and when.
type shardSource struct {
	mu   sync.Mutex
	seen map[string][]time.Time
}

func (s *shardSource) Observe(_ context.Context, p *tuningv1alpha1.PerformanceProfile) (signals.Observation, error) {
	now := time.Now()
	s.mu.Lock()
	s.seen[p.Name] = append(s.seen[p.Name], now)
	s.mu.Unlock()
	obs := signals.NewObservation(now)
	for sig, v := range steady() {
		obs.Set(sig, v, now)
	}
	return obs, nil
}

// observed is when the manager observed profile name after since.
func (s *shardSource) observed(name string, since time.Time) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return after(s.seen[name], since)
}

// after are the times of ts after since.
func after(ts []time.Time, since time.Time) []time.Time {
	var out []time.Time
	for _, at := range ts {
		if at.After(since) {
			out = append(out, at)
		}
	}
	return out
}

// toggleOncePerPeriod is a decision engine that moves the pool between 10
// and 11 whenever the profile's last decision is a period old: every period
// brings one write to every target, so a second manager acting on a profile
// shows as a second write within the period.
func toggleOncePerPeriod(in tuning.Input) tuning.Plan {
	steadyPlan := tuning.Plan{SLOMet: true, SLOKnown: true}
	if n := len(in.History); n > 0 && in.Now.Sub(in.History[n-1].Time.Time) < shardInterval {
		return steadyPlan
	}
	cur := in.State.Values[tuning.Knob(poolEnv)]
	to := int64(11)
	if cur == 11 {
		to = 10
	}
	steadyPlan.Family, steadyPlan.Diagnosis, steadyPlan.Reason, steadyPlan.Rollout = tuning.FamilyPool, tuning.DiagnosisPoolSaturated, "the shard test moves the pool every period", true
	steadyPlan.Changes = []tuning.Change{{Knob: tuning.Knob(poolEnv), From: cur, HasFrom: true, To: to}}
	return steadyPlan
}

// shardManager is one manager of a sharded install, run in this process
// with its own cache, leader election, reconciler and signal source.
type shardManager struct {
	name   string
	mgr    ctrl.Manager
	source *shardSource
}

func startShard(ctx context.Context, t *testing.T, g Gomega, ns, name, selector string) *shardManager {
	t.Helper()
	shard, err := ParseShard(selector)
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  env.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{ByObject: CacheByObject(shard), DefaultNamespaces: map[string]cache.Config{ns: {}}},
		// Each shard elects its own leader, on its own Lease.
		LeaderElection: true, LeaderElectionID: "navius-tuner-" + name, LeaderElectionNamespace: ns,
		LeaderElectionReleaseOnCancel: true,
		// Three reconcilers of one name in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	src := &shardSource{seen: map[string][]time.Time{}}
	r, err := NewPerformanceProfileReconciler(mgr.GetClient(), Options{
		Source: src, Decide: toggleOncePerPeriod, Metrics: NewMetrics(prometheus.NewRegistry()),
		MaxConcurrentReconciles: 4, Shard: shard,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.SetupWithManager(mgr)).To(Succeed())
	go func() { _ = mgr.Start(ctx) }()
	g.Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	return &shardManager{name: name, mgr: mgr, source: src}
}

// cachedNames lists the names of the objects of list's kind in m's cache.
func (m *shardManager) cachedNames(ctx context.Context, g Gomega, list client.ObjectList) []string {
	g.Expect(m.mgr.GetCache().List(ctx, list)).To(Succeed())
	var out []string
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *autoscalingv2.HorizontalPodAutoscalerList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *tuningv1alpha1.PerformanceProfileList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	}
	return out
}

// poolWrites watches the namespace's Deployments on the API server and
// records, per Deployment, when its pool value changed: only navius-tuner
// changes it. It also completes each rollout at once (envtest runs no
// Deployment controller).
type poolWrites struct {
	mu     sync.Mutex
	at     map[string][]time.Time
	values map[string]string
}

func watchPoolWrites(ctx context.Context, g Gomega, ns string) *poolWrites {
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace(ns))
	g.Expect(err).NotTo(HaveOccurred())
	pw := &poolWrites{at: map[string][]time.Time{}, values: map[string]string{}}
	go func() {
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			v := ""
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if e.Name == poolEnv {
					v = e.Value
				}
			}
			pw.mu.Lock()
			if old, seen := pw.values[d.Name]; seen && old != v {
				pw.at[d.Name] = append(pw.at[d.Name], time.Now())
			}
			pw.values[d.Name] = v
			pw.mu.Unlock()
			if d.Status.ObservedGeneration < d.Generation {
				n := *d.Spec.Replicas
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
				_ = wc.Status().Update(ctx, d) // a conflict: a newer version's event completes it
			}
		}
	}()
	return pw
}

// writes is when target's pool was written after since.
func (pw *poolWrites) writes(target string, since time.Time) []time.Time {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return after(pw.at[target], since)
}

// doubleWrites lists the writes to one target closer than minGap to the one before.
func (pw *poolWrites) doubleWrites(minGap time.Duration) []string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	var out []string
	for name, at := range pw.at {
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap < minGap {
				out = append(out, fmt.Sprintf("%s written twice %s apart at %s", name, gap.Round(time.Millisecond), at[i].Format("15:04:05.000")))
			}
		}
	}
	return out
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Three managers, each leader-elected on its own Lease and selecting its
// shard of profiles (a, b, and the unlabelled ones), against one API
// server: each profile is reconciled by exactly one manager, each manager
// caches only its profiles and their targets (not the namespace's other
// Deployments and HPAs), and a profile whose shard label moves is handed
// over without two writes to its target within one period, as the API
// server's watch of the targets shows.
func TestShardsReconcileEachProfileOnce(t *testing.T) {
	h := newHarness(t)
	g := h.g
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()

	// Workloads no profile names: no shard may cache them.
	const foreign = 40
	for i := range foreign {
		h.deployment(fmt.Sprintf("other-%d", i), poolVar("10"))
	}
	g.Expect(env.Client.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "other-0"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "other-0"}},
	})).To(Succeed())

	shardOf := map[string]string{}
	for _, shard := range []string{"a", "b", ""} {
		for i := range 3 {
			name := fmt.Sprintf("p%s%d", shard, i)
			if shard == "" {
				name = fmt.Sprintf("pdefault%d", i)
			}
			shardOf[name] = shard
			h.deployment("t-"+name, poolVar("10"))
			p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
			p.Name, p.Spec.TargetRef.Name, p.Spec.Interval = name, "t-"+name, metav1.Duration{Duration: shardInterval}
			if shard != "" {
				p.Labels = map[string]string{tuningv1alpha1.ShardLabel: shard}
			}
			h.create(p)
		}
	}
	// A profile that may not write to its workload does not label it either:
	// its shard reads it from the API server.
	h.deployment("t-recommend", poolVar("10"))
	rec := poolProfile(h.ns, tuningv1alpha1.ModeRecommend)
	rec.Name, rec.Spec.TargetRef.Name, rec.Spec.Interval = "recommend", "t-recommend", metav1.Duration{Duration: shardInterval}
	rec.Labels = map[string]string{tuningv1alpha1.ShardLabel: "a"}
	h.create(rec)
	pw := watchPoolWrites(ctx, g, h.ns)

	base := heapInUse()
	managers := map[string]*shardManager{}
	heap := map[string]uint64{}
	for _, s := range []struct{ name, selector string }{
		{"a", tuningv1alpha1.ShardLabel + "=a"},
		{"b", tuningv1alpha1.ShardLabel + "=b"},
		{"", "!" + tuningv1alpha1.ShardLabel},
	} {
		lease := "shard-" + s.name
		if s.name == "" {
			lease = "shard-default"
		}
		m := startShard(ctx, t, g, h.ns, lease, s.selector)
		managers[s.name] = m
		// Started one after the other, each manager's cache grows the heap by its own size.
		for name, shard := range shardOf {
			if shard == s.name {
				g.Eventually(func() int { return len(pw.writes("t-"+name, time.Time{})) }, 30*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1), name)
			}
		}
		now := heapInUse()
		heap[s.name] = now - min(now, base)
		base = now
	}
	for name := range managers {
		t.Logf("shard %q: heap %.1f MiB after its cache filled and its profiles were reconciled", name, float64(heap[name])/(1<<20))
	}

	// Each profile is reconciled by its own shard's manager only.
	start := time.Now()
	for name := range shardOf {
		g.Eventually(func() int { return len(pw.writes("t-"+name, start)) }, 30*time.Second, 200*time.Millisecond).Should(BeNumerically(">=", 2), name)
	}
	for name, shard := range shardOf {
		for s, m := range managers {
			seen := m.source.observed(name, time.Time{})
			if s == shard {
				g.Expect(seen).NotTo(BeEmpty(), "%s is reconciled by shard %q", name, shard)
			} else {
				g.Expect(seen).To(BeEmpty(), "%s (shard %q) is reconciled by shard %q too", name, shard, s)
			}
		}
	}

	g.Expect(managers["a"].source.observed("recommend", time.Time{})).NotTo(BeEmpty(), "the profile in mode Recommend is reconciled")
	for s, m := range managers {
		if s != "a" {
			g.Expect(m.source.observed("recommend", time.Time{})).To(BeEmpty(), "the profile in mode Recommend (shard a) is reconciled by shard %q too", s)
		}
	}
	d := &appsv1.Deployment{}
	g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: h.ns, Name: "t-recommend"}, d)).To(Succeed())
	g.Expect(d.Labels).NotTo(HaveKey(tuningv1alpha1.TunedLabel), "the target of a profile in mode Recommend is labelled")
	for _, mf := range d.ManagedFields {
		g.Expect(mf.Manager).NotTo(HavePrefix(tuningv1alpha1.FieldManager), "navius-tuner wrote to the target of a profile in mode Recommend")
	}

	// Each manager caches its profiles and the Deployments they name, no
	// other Deployment and no HPA that none of its profiles reads.
	for s, m := range managers {
		var want, wantTargets []string
		for name, shard := range shardOf {
			if shard == s {
				want, wantTargets = append(want, name), append(wantTargets, "t-"+name)
			}
		}
		if s == "a" {
			want = append(want, "recommend")
		}
		g.Expect(m.cachedNames(ctx, g, &tuningv1alpha1.PerformanceProfileList{})).To(ConsistOf(want), "the profiles shard %q caches", s)
		g.Expect(m.cachedNames(ctx, g, &appsv1.DeploymentList{})).To(ConsistOf(wantTargets), "the Deployments shard %q caches", s)
		g.Expect(m.cachedNames(ctx, g, &autoscalingv2.HorizontalPodAutoscalerList{})).To(BeEmpty(), "the HPAs shard %q caches", s)
	}

	// Moving profiles between shards hands them over: a → b, default → a, b → default.
	moves := map[string]string{"pa0": "b", "pdefault0": "a", "pb0": ""}
	moved := time.Now()
	for name, to := range moves {
		p := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: h.ns, Name: name}, p)).To(Succeed())
		// A merge patch: the managers write the status meanwhile, and an
		// Update would lose that race with a conflict.
		before := p.DeepCopy()
		if to == "" {
			delete(p.Labels, tuningv1alpha1.ShardLabel)
		} else {
			p.Labels = map[string]string{tuningv1alpha1.ShardLabel: to}
		}
		g.Expect(env.Client.Patch(ctx, p, client.MergeFrom(before))).To(Succeed())
	}
	for name, to := range moves {
		g.Eventually(func() int { return len(managers[to].source.observed(name, moved)) }, 30*time.Second, 200*time.Millisecond).
			Should(BeNumerically(">=", 2), "%s is reconciled by its new shard %q", name, to)
		g.Eventually(func() int { return len(pw.writes("t-"+name, moved)) }, 30*time.Second, 200*time.Millisecond).
			Should(BeNumerically(">=", 2), "%s's target is written by its new shard", name)
	}
	// A reconcile in flight at the move may still observe; none starts after.
	settled := moved.Add(2 * time.Second)
	for name, to := range moves {
		from := shardOf[name]
		g.Expect(managers[from].source.observed(name, settled)).To(BeEmpty(), "%s is still reconciled by its old shard %q after moving to %q", name, from, to)
		d := &appsv1.Deployment{}
		g.Expect(managers[to].mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: h.ns, Name: "t-" + name}, d)).To(Succeed(), "shard %q caches %s's target", to, name)
		g.Expect(managers[from].mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: h.ns, Name: "t-" + name}, &appsv1.Deployment{})).
			NotTo(Succeed(), "shard %q still caches %s's target", from, name)
	}
	// The writes the API server saw: never two to one target within a
	// period, less the second to which the decision times in the status are
	// rounded and the time a write takes (two managers acting on one profile
	// write within milliseconds of each other).
	g.Expect(pw.doubleWrites(shardInterval - 1500*time.Millisecond)).To(BeEmpty())
}
