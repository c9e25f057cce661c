package scale

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// changeCounter counts what the API server changed after it started
// watching: every object added or modified among the kinds the manager
// writes (profiles and their status, Deployments, StatefulSets, HPAs, Events).
// The harness writes nothing while the manager runs, so each change is one
// of the manager's writes that changed something; a write that changes
// nothing (an apply or patch of the values already there) produces no watch
// event. The manager's writes minus these changes are its no-op writes.
type changeCounter struct {
	changes atomic.Int64
	// lost is set when a watch ended early: the count is then too low.
	lost atomic.Bool
	// reconciled are the profiles whose status is for their generation, as
	// the profiles' watch last saw them: the harness follows the start
	// from the watch it holds anyway instead of listing every profile each
	// second (a LIST of 10,000 profiles a second loaded the API server the
	// manager writes to).
	mu         sync.Mutex
	reconciled map[string]bool
	done       atomic.Int64
}

// reconciledCount is how many profiles have a status for their generation.
func (cc *changeCounter) reconciledCount() int { return int(cc.done.Load()) }

func (cc *changeCounter) sawProfile(p *tuningv1alpha1.PerformanceProfile) {
	ok := p.Status.ObservedGeneration == p.Generation && len(p.Status.Conditions) > 0
	key := p.Namespace + "/" + p.Name
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.reconciled[key] != ok {
		cc.reconciled[key] = ok
		if ok {
			cc.done.Add(1)
		} else {
			cc.done.Add(-1)
		}
	}
}

func watchChanges(ctx context.Context, t *testing.T, env *testenv.Env) *changeCounter {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	cc := &changeCounter{reconciled: map[string]bool{}}
	for _, list := range []client.ObjectList{&tuningv1alpha1.PerformanceProfileList{}, &appsv1.DeploymentList{},
		&appsv1.StatefulSetList{}, &autoscalingv2.HorizontalPodAutoscalerList{}, &eventsv1.EventList{}} {
		// Watch from the current resourceVersion: no synthetic events for what exists.
		if err := wc.List(ctx, list, client.Limit(1)); err != nil {
			t.Fatal(err)
		}
		w, err := wc.Watch(ctx, list, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.GetResourceVersion()}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for ev := range w.ResultChan() {
				switch ev.Type {
				case watch.Added, watch.Modified:
					cc.changes.Add(1)
					if p, ok := ev.Object.(*tuningv1alpha1.PerformanceProfile); ok {
						cc.sawProfile(p)
					}
				case watch.Error:
					cc.lost.Store(true)
				}
			}
			if ctx.Err() == nil {
				cc.lost.Store(true)
			}
		}()
	}
	return cc
}
