package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Shard is the part of the cluster one manager of a sharded install reads:
// the profiles its --watch-label-selector selects, and the Deployments,
// StatefulSets and HPAs those profiles read, which navius-tuner labels with
// TunedLabel and the profile's ShardLabel. The same selector, plus the
// TunedLabel, selects the workloads: the manager's cache then holds neither
// another shard's profiles nor any workload no profile names, so its memory
// falls with the number of shards.
type Shard struct {
	profiles  labels.Selector
	workloads labels.Selector
}

// ParseShard parses a --watch-label-selector; "" is no shard (nil): every
// profile and every workload of the watched namespaces.
func ParseShard(selector string) (*Shard, error) {
	if selector == "" {
		return nil, nil
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("--watch-label-selector %q: %w", selector, err)
	}
	reqs, _ := sel.Requirements()
	if len(reqs) == 0 {
		return nil, fmt.Errorf("--watch-label-selector %q selects every profile: leave it unset for one manager of all of them", selector)
	}
	for _, req := range reqs {
		if req.Key() != tuningv1alpha1.ShardLabel {
			return nil, fmt.Errorf("--watch-label-selector %q selects on %s: a shard may select on %s only, the label navius-tuner copies from a profile onto its workloads so that the shard caches them too (for example %s=a, or !%s for the unlabelled profiles)",
				selector, req.Key(), tuningv1alpha1.ShardLabel, tuningv1alpha1.ShardLabel, tuningv1alpha1.ShardLabel)
		}
	}
	tuned, err := labels.NewRequirement(tuningv1alpha1.TunedLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	return &Shard{profiles: sel, workloads: sel.Add(*tuned)}, nil
}

// Default says whether s is the default shard: the profiles without a
// shard label.
func (s *Shard) Default() bool {
	reqs, _ := s.profiles.Requirements()
	return len(reqs) == 1 && reqs[0].Operator() == selection.DoesNotExist
}

// String is the profiles' selector.
func (s *Shard) String() string {
	if s == nil {
		return ""
	}
	return s.profiles.String()
}

// CacheByObject is the manager's cache configuration: every object trimmed
// to what the reconciler reads (CacheTransforms) and, in a shard, only the
// shard's profiles and the workloads labelled for them.
func CacheByObject(s *Shard) map[client.Object]cache.ByObject {
	byObject := CacheTransforms()
	if s == nil {
		return byObject
	}
	for obj, by := range byObject {
		by.Label = s.workloads
		if _, ok := obj.(*tuningv1alpha1.PerformanceProfile); ok {
			by.Label = s.profiles
		}
		byObject[obj] = by
	}
	return byObject
}

// workloadLabels are the labels of the objects profile p reads: TunedLabel
// and p's ShardLabel, none when p is in the default shard.
func workloadLabels(p *tuningv1alpha1.PerformanceProfile) map[string]string {
	out := map[string]string{tuningv1alpha1.TunedLabel: "true"}
	if v, ok := p.Labels[tuningv1alpha1.ShardLabel]; ok {
		out[tuningv1alpha1.ShardLabel] = v
	}
	return out
}

// labelledFor says whether obj carries the shard labels of p (and no shard
// label when p has none).
func labelledFor(obj client.Object, p *tuningv1alpha1.PerformanceProfile) bool {
	want, have := workloadLabels(p), obj.GetLabels()
	if _, ok := want[tuningv1alpha1.ShardLabel]; !ok {
		if _, stale := have[tuningv1alpha1.ShardLabel]; stale {
			return false
		}
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// labelForShard applies the shard labels of p to obj, as the field manager
// ShardFieldManager: metadata only (no rollout), under obj's
// resourceVersion, so that an object changed or deleted since it was read is
// neither relabelled from a stale read nor created.
func labelForShard(ctx context.Context, c client.Client, obj client.Object, p *tuningv1alpha1.PerformanceProfile) error {
	want := workloadLabels(p)
	var ac runtime.ApplyConfiguration
	switch o := obj.(type) {
	case *appsv1.Deployment:
		ac = appsv1ac.Deployment(o.Name, o.Namespace).WithResourceVersion(o.ResourceVersion).WithLabels(want)
	case *appsv1.StatefulSet:
		ac = appsv1ac.StatefulSet(o.Name, o.Namespace).WithResourceVersion(o.ResourceVersion).WithLabels(want)
	case *autoscalingv2.HorizontalPodAutoscaler:
		ac = autoscalingv2ac.HorizontalPodAutoscaler(o.Name, o.Namespace).WithResourceVersion(o.ResourceVersion).WithLabels(want)
	default:
		return fmt.Errorf("cannot label a %T for a shard", obj)
	}
	err := c.Apply(ctx, ac, client.FieldOwner(tuningv1alpha1.ShardFieldManager), client.ForceOwnership)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return stale("%T %s changed before it was labelled for the shard", obj, obj.GetName())
	}
	if err != nil {
		return fmt.Errorf("labelling %T %s for the shard: %w", obj, obj.GetName(), err)
	}
	return nil
}

// shardReader is how a shard's reconciler reads the objects of profile p.
// Its cache holds only the objects already labelled for the shard: one it
// lacks (a new profile's target, or a profile just moved to this shard) is
// read from the API server by name and labelled, so that the next read and
// the watches find it in the cache. Through the API server (cached false)
// every object is read there, and the HPAs that scale p's target are
// labelled too: another scaler of the target is counted at its maximum, so
// the shard must cache it although the profile does not name it.
type shardReader struct {
	r      *PerformanceProfileReconciler
	p      *tuningv1alpha1.PerformanceProfile
	cached bool
}

// reader is what the reconcile of p reads its objects through: the cache
// (cached) or the API server, labelling them for the shard in a sharded
// manager. A profile that may not write to its workload (mode Recommend or
// Off, or paused) does not label them either: a shard reads its objects
// from the API server, by name, each period.
func (r *PerformanceProfileReconciler) reader(p *tuningv1alpha1.PerformanceProfile, cached bool) client.Reader {
	switch {
	case r.opts.Shard != nil && !mayWrite(p):
		return r.live()
	case r.opts.Shard != nil:
		return shardReader{r: r, p: p, cached: cached}
	case cached:
		return managerCache{Reader: r.client, fieldIndexed: r.indexed}
	}
	return r.live()
}

// managerCache is the manager's cache, read by a reconcile; fieldIndexed
// when SetupWithManager added the field indexes to it.
type managerCache struct {
	client.Reader
	fieldIndexed bool
}

func (c managerCache) indexed() bool { return c.fieldIndexed }

func (s shardReader) indexed() bool { return s.cached && s.r.indexed }

// mayWrite says whether navius-tuner may write to p's workload: mode Auto
// and not paused.
func mayWrite(p *tuningv1alpha1.PerformanceProfile) bool {
	return tuning.SettingsOf(p.Spec).Mode == tuningv1alpha1.ModeAuto && p.Annotations[tuningv1alpha1.PausedAnnotation] != "true"
}

func (s shardReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	var err error
	if s.cached {
		err = s.r.client.Get(ctx, key, obj, opts...)
	}
	if !s.cached || apierrors.IsNotFound(err) {
		err = s.r.live().Get(ctx, key, obj, opts...)
	}
	if err != nil || labelledFor(obj, s.p) {
		return err
	}
	return labelForShard(ctx, s.r.client, obj, s.p)
}

func (s shardReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if s.cached {
		return s.r.client.List(ctx, list, opts...)
	}
	if err := s.r.live().List(ctx, list, opts...); err != nil {
		return err
	}
	hpas, ok := list.(*autoscalingv2.HorizontalPodAutoscalerList)
	if !ok {
		return nil
	}
	for i := range hpas.Items {
		h := &hpas.Items[i]
		if ref := h.Spec.ScaleTargetRef; ref.Kind == "Deployment" && ref.Name == s.p.Spec.TargetRef.Name && !labelledFor(h, s.p) {
			if err := labelForShard(ctx, s.r.client, h, s.p); err != nil {
				return err
			}
		}
	}
	return nil
}

// primaryReader reads the Flagger primary of a target, which most targets
// do not have: a shard reads it from its cache only, where it is once a
// read through the API server (before any write) found and labelled it, so
// that a target without one costs no request to the API server each period.
// It only adds a note to the status.
func primaryReader(rd client.Reader) client.Reader {
	if s, ok := rd.(shardReader); ok && s.cached {
		return s.r.client
	}
	return rd
}
