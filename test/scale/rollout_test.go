package scale

import (
	"context"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// rollouts plays the Deployment controller, which envtest does not run:
// when the manager changes a Deployment's pod template, the rollout
// completes at once (status at the new generation, every pod updated and
// ready), so the engine goes on judging and acting on the starved services
// instead of waiting for a rollout that never ends. Its status writes are
// counted: they are changes the manager did not make.
type rollouts struct{ writes, attempts atomic.Int64 }

func completeRollouts(ctx context.Context, t *testing.T, env *testenv.Env) *rollouts {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	list := &appsv1.DeploymentList{}
	if err := wc.List(ctx, list, client.Limit(1)); err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, list, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.GetResourceVersion()}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rollouts{}
	go func() {
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if ev.Type != watch.Modified || !ok || d.Status.ObservedGeneration >= d.Generation {
				continue
			}
			n := *d.Spec.Replicas
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
			// A conflict means a newer version is on its way: its event completes it.
			r.attempts.Add(1)
			if err := wc.Status().Update(ctx, d); err == nil {
				r.writes.Add(1)
			}
		}
	}()
	return r
}
