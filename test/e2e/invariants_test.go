package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/lab/sim/kube"
)

// watcher checks, from watches of the API server and nothing the operator
// reports, two invariants over a scenario's whole run: the pods that exist
// at any moment (running, starting or terminating) times the pool each was
// started with never exceed the database budget the profile declares; and
// every change of the pool in the Deployment's pod template is in the
// profile's decision record (a change, or the undo of a rolled-back one).
type watcher struct {
	mu sync.Mutex
	// pool of every pod that exists, by name.
	pods map[string]int64
	// peak connections, the pods then, and when.
	peak     int64
	peakPods int
	peakAt   time.Time
	// template is the Deployment's pool now; changes every transition of it.
	template int64
	changes  []poolChange
}

type poolChange struct {
	from, to int64
	at       time.Time
}

// watchInvariants starts a watcher on the workload's namespace; it runs
// until ctx ends.
func watchInvariants(ctx context.Context, e *harness.Env, w *harness.Workload) (*watcher, error) {
	inv := &watcher{pods: map[string]int64{}, template: -1}
	f := informers.NewSharedInformerFactoryWithOptions(e.Clientset(), 0, informers.WithNamespace(w.Namespace))
	cms := f.Core().V1().ConfigMaps().Lister()
	configMaps := func(name string) (map[string]string, bool) {
		cm, err := cms.ConfigMaps(w.Namespace).Get(name)
		if err != nil {
			return nil, false
		}
		return cm.Data, true
	}
	pool := func(spec corev1.PodSpec) int64 {
		for i := range spec.Containers {
			if spec.Containers[i].Name == harness.Container {
				v, err := strconv.ParseInt(kube.ContainerEnv(&spec.Containers[i], configMaps)[sim.EnvPoolMax], 10, 64)
				if err == nil {
					return v
				}
			}
		}
		return 0
	}
	onPod := func(obj any, gone bool) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			if tomb, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				p, ok = tomb.Obj.(*corev1.Pod)
			}
		}
		if !ok || p.Labels["app"] != w.Name {
			return
		}
		inv.mu.Lock()
		defer inv.mu.Unlock()
		if gone {
			delete(inv.pods, p.Name)
			return
		}
		inv.pods[p.Name] = pool(p.Spec)
		conns := int64(0)
		for _, v := range inv.pods {
			conns += v
		}
		if conns > inv.peak {
			inv.peak, inv.peakPods, inv.peakAt = conns, len(inv.pods), time.Now()
		}
	}
	onDeployment := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || d.Name != w.Name {
			return
		}
		v := pool(d.Spec.Template.Spec)
		inv.mu.Lock()
		defer inv.mu.Unlock()
		if inv.template >= 0 && v != inv.template {
			inv.changes = append(inv.changes, poolChange{from: inv.template, to: v, at: time.Now()})
		}
		inv.template = v
	}
	// The ConfigMaps sync first, so that a pod's pool is resolved from them.
	cmInformer := f.Core().V1().ConfigMaps().Informer()
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), cmInformer.HasSynced) {
		return nil, fmt.Errorf("the ConfigMaps of %s did not sync", w.Namespace)
	}
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { onPod(o, false) },
		UpdateFunc: func(_, o any) { onPod(o, false) },
		DeleteFunc: func(o any) { onPod(o, true) },
	}); err != nil {
		return nil, err
	}
	if _, err := f.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onDeployment,
		UpdateFunc: func(_, o any) { onDeployment(o) },
	}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("informer for %v in %s did not sync", typ, w.Namespace)
		}
	}
	return inv, nil
}

// check returns what broke an invariant, judged against profile p.
func (inv *watcher) check(p *tuningv1alpha1.PerformanceProfile) []string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var broken []string
	if cp := p.Spec.ConnectionPool; cp != nil && cp.Database != nil {
		budget := int64(cp.Database.MaxConnections) - int64(cp.Database.Reserved)
		if inv.peak > budget {
			broken = append(broken, fmt.Sprintf("%d pods held %d connections at %s, over the budget of %d",
				inv.peakPods, inv.peak, inv.peakAt.Format(time.TimeOnly), budget))
		}
	}
	for _, c := range inv.changes {
		if !recorded(p.Status.History, c) {
			broken = append(broken, fmt.Sprintf("the pool went %d → %d at %s with no decision recording it",
				c.from, c.to, c.at.Format(time.TimeOnly)))
		}
	}
	return broken
}

// recorded reports whether history holds c: a change from → to, or a
// rolled-back change to → from (its undo). The record keeps the last
// decisions only; a change older than its oldest one cannot be judged.
func recorded(history []tuningv1alpha1.Decision, c poolChange) bool {
	if len(history) == 0 {
		return false
	}
	oldest := history[0].Time.Time
	for _, d := range history {
		if d.Time.Time.Before(oldest) {
			oldest = d.Time.Time
		}
	}
	if c.at.Before(oldest.Add(-time.Second)) && len(history) >= 10 {
		return true
	}
	from, to := strconv.FormatInt(c.from, 10), strconv.FormatInt(c.to, 10)
	for _, d := range history {
		for _, ch := range d.Changes {
			if ch.Knob != sim.EnvPoolMax {
				continue
			}
			if ch.From == from && ch.To == to {
				return true
			}
			if d.Outcome == tuningv1alpha1.OutcomeRolledBack && ch.From == to && ch.To == from {
				return true
			}
		}
	}
	return false
}

// describe is one line of what the watcher saw.
func (inv *watcher) describe() string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return fmt.Sprintf("peak %d connections with %d pods; %d pool changes in the template", inv.peak, inv.peakPods, len(inv.changes))
}
