// Package kube lets the workload model follow real Kubernetes objects: the
// Running and Ready pods of the target Deployment (their env carries the
// tuned knobs) and the ready replicas of the Redis StatefulSet.
package kube

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// Target names what the model follows.
type Target struct {
	// Namespace of the workload and of Redis.
	Namespace string
	// Selector picks the target Deployment's pods (its spec.selector).
	Selector labels.Selector
	// Container whose env and CPU resources are read; empty: the first container.
	Container string
	// RedisStatefulSet is the Redis workload's name; empty: Redis is not followed.
	RedisStatefulSet string
}

// ConfigMaps looks up a ConfigMap's data by name, in the pods' namespace.
type ConfigMaps func(name string) (map[string]string, bool)

// ContainerEnv is the environment the container runs with, as the kubelet
// builds it: the envFrom ConfigMaps in order (with their prefix), then the
// literal env entries, which override them. valueFrom entries and Secrets
// are not resolved; a missing ConfigMap contributes nothing.
func ContainerEnv(c *corev1.Container, configMaps ConfigMaps) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil || configMaps == nil {
			continue
		}
		data, ok := configMaps(from.ConfigMapRef.Name)
		if !ok {
			continue
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// PodSpecs converts pods into the model's view: only Running, Ready pods
// that are not being deleted, with the container's env (ContainerEnv) and
// its CPU request and limit. The result is sorted by name.
func PodSpecs(pods []*corev1.Pod, container string, configMaps ConfigMaps) []sim.PodSpec {
	var out []sim.PodSpec
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !ready(p) {
			continue
		}
		c := pick(p.Spec.Containers, container)
		if c == nil {
			continue
		}
		out = append(out, sim.PodSpec{
			Name:             p.Name,
			Env:              ContainerEnv(c, configMaps),
			CPURequestMillis: c.Resources.Requests.Cpu().MilliValue(),
			CPULimitMillis:   c.Resources.Limits.Cpu().MilliValue(),
			StartTime:        p.CreationTimestamp.Time,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func pick(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if name == "" || cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// Follow keeps m's pods and Redis replicas in step with the cluster until
// ctx ends: informers on the namespace's pods, ConfigMaps and StatefulSets
// call m.SyncPods and m.SetRedisReplicas on every change (and every resync
// period). It returns once the caches have synced, or an error.
func Follow(ctx context.Context, cs kubernetes.Interface, m *sim.Model, t Target, resync time.Duration) error {
	if t.Selector == nil {
		t.Selector = labels.Everything()
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, resync, informers.WithNamespace(t.Namespace))
	podLister := f.Core().V1().Pods().Lister()
	stsLister := f.Apps().V1().StatefulSets().Lister()
	cmLister := f.Core().V1().ConfigMaps().Lister()
	configMaps := func(name string) (map[string]string, bool) {
		cm, err := cmLister.ConfigMaps(t.Namespace).Get(name)
		if err != nil {
			return nil, false
		}
		return cm.Data, true
	}
	syncPods := func() {
		pods, err := podLister.Pods(t.Namespace).List(t.Selector)
		if err == nil {
			m.SyncPods(PodSpecs(pods, t.Container, configMaps))
		}
	}
	syncRedis := func() {
		if t.RedisStatefulSet == "" {
			return
		}
		if s, err := stsLister.StatefulSets(t.Namespace).Get(t.RedisStatefulSet); err == nil {
			m.SetRedisReplicas(int(s.Status.ReadyReplicas))
		}
	}
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(onAnyChange(syncPods)); err != nil {
		return err
	}
	if _, err := f.Core().V1().ConfigMaps().Informer().AddEventHandler(onAnyChange(syncPods)); err != nil {
		return err
	}
	if t.RedisStatefulSet != "" {
		if _, err := f.Apps().V1().StatefulSets().Informer().AddEventHandler(onAnyChange(syncRedis)); err != nil {
			return err
		}
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	syncPods()
	syncRedis()
	return nil
}

func onAnyChange(fn func()) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { fn() },
		UpdateFunc: func(any, any) { fn() },
		DeleteFunc: func(any) { fn() },
	}
}
