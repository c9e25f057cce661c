package controllers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Field indexes from a referenced object back to the profiles that name it.
const (
	// indexTarget: the target Deployment's name.
	indexTarget = ".spec.targetRef.name"
	// indexHPA: the tuned HPA's name (hpaRef or managed).
	indexHPA = ".spec.autoscaling.hpa"
	// indexRedis: the Redis workload as "Kind/name".
	indexRedis = ".spec.cache.redis.replicas.targetRef"
	// indexDatabase: the database the profile names, to share its budget.
	indexDatabase = ".spec.connectionPool.database.name"
	// indexScaledDeployment, on HorizontalPodAutoscalers: the name of the
	// Deployment an HPA scales, so that the other scalers of a target are
	// found without copying every HPA of its namespace each period.
	indexScaledDeployment = ".spec.scaleTargetRef.deployment"
)

func redisKey(kind, name string) string { return kind + "/" + name }

func addIndexes(ctx context.Context, fi client.FieldIndexer) error {
	indexes := map[string]func(*tuningv1alpha1.PerformanceProfile) []string{
		indexTarget: func(p *tuningv1alpha1.PerformanceProfile) []string { return []string{p.Spec.TargetRef.Name} },
		indexHPA: func(p *tuningv1alpha1.PerformanceProfile) []string {
			if name, _ := HPAName(p.Spec); name != "" {
				return []string{name}
			}
			return nil
		},
		indexDatabase: func(p *tuningv1alpha1.PerformanceProfile) []string {
			if name := tuning.SharedDatabase(p.Spec); name != "" {
				return []string{name}
			}
			return nil
		},
		indexRedis: func(p *tuningv1alpha1.PerformanceProfile) []string {
			if c := p.Spec.Cache; c != nil && c.Redis != nil && c.Redis.Replicas != nil {
				ref := c.Redis.Replicas.TargetRef
				return []string{redisKey(ref.Kind, ref.Name)}
			}
			return nil
		},
	}
	for field, fn := range indexes {
		if err := indexWithinNamespaces(ctx, fi, &tuningv1alpha1.PerformanceProfile{}, field, func(o client.Object) []string {
			return fn(o.(*tuningv1alpha1.PerformanceProfile))
		}); err != nil {
			return err
		}
	}
	return indexWithinNamespaces(ctx, fi, &autoscalingv2.HorizontalPodAutoscaler{}, indexScaledDeployment, func(o client.Object) []string {
		if ref := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef; ref.Kind == "Deployment" {
			return []string{ref.Name}
		}
		return nil
	})
}

// indexWithinNamespaces indexes field of obj's kind for lists within one
// namespace (client.InNamespace with client.MatchingFields), which is every
// indexed list of the reconciler. controller-runtime's IndexField keys each
// value twice, within its namespace and cluster-wide ("__all_namespaces/"),
// for lists across namespaces: a second set in the informer's index for
// every profile and HPA, about 5 MiB of the manager's heap at 10,000
// profiles. On the manager's cache the index is registered on the informer
// with the namespaced key alone, under the name and in the form
// controller-runtime's cache reader looks up (FieldIndexName and
// KeyToNamespacedKey of its cache/internal package); a list across
// namespaces by such a field finds nothing. Other indexers (a fake
// client's) get IndexField.
func indexWithinNamespaces(ctx context.Context, fi client.FieldIndexer, obj client.Object, field string, values client.IndexerFunc) error {
	informers, ok := fi.(cache.Informers)
	if !ok {
		return fi.IndexField(ctx, obj, field, values)
	}
	inf, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{"field:" + field: func(o any) ([]string, error) {
		co, ok := o.(client.Object)
		if !ok {
			return nil, fmt.Errorf("indexing %s: %T is not an object", field, o)
		}
		vals := values(co)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = co.GetNamespace() + "/" + v
		}
		return keys, nil
	}})
}

// listIndexed lists the objects of namespace ns whose index field has the
// value, and is how the reconciler lists by an index field. The index is
// kept within namespaces (indexWithinNamespaces): a list of every
// namespace would find nothing, without an error, and a claim or a shared
// budget would miss the profiles it guards against; so it is refused.
func listIndexed(ctx context.Context, r client.Reader, list client.ObjectList, ns, field, value string, opts ...client.ListOption) error {
	if ns == "" {
		return fmt.Errorf("listing by %s needs a namespace: the index is kept within namespaces", field)
	}
	return r.List(ctx, list, append([]client.ListOption{client.InNamespace(ns), client.MatchingFields{field: value}}, opts...)...)
}

// profilesFor maps an object to the profiles whose index field names it.
func (r *PerformanceProfileReconciler) profilesFor(keys func(client.Object) map[string]string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		seen := map[types.NamespacedName]bool{}
		var out []reconcile.Request
		for field, value := range keys(o) {
			list := &tuningv1alpha1.PerformanceProfileList{}
			// Only the names are read: the cache's own objects, not copies.
			if err := listIndexed(ctx, r.client, list, o.GetNamespace(), field, value, client.UnsafeDisableDeepCopy); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "Could not list the profiles of a watched object", "field", field)
				continue
			}
			for _, p := range list.Items {
				key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
				if !seen[key] {
					seen[key] = true
					out = append(out, reconcile.Request{NamespacedName: key})
				}
			}
		}
		return out
	})
}

// watches: the profile on spec and annotation changes (pause,
// reconcile-requested-at), the other profiles of its target on creation and
// deletion; the referenced Deployment, HPA and Redis workload
// on creation, deletion and spec changes (status churn during a rollout is
// picked up by the periodic requeue).
//
// In a shard, a workload enters the cache when navius-tuner labels it for a
// profile it is reconciling already: that creation event would only
// reconcile the profile again, so the workloads' creations are not watched.
func (r *PerformanceProfileReconciler) watches(b *builder.Builder) *builder.Builder {
	specChanged := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	if r.opts.Shard != nil {
		specChanged = builder.WithPredicates(predicate.GenerationChangedPredicate{},
			predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})
	}
	return b.
		For(&tuningv1alpha1.PerformanceProfile{}, builder.WithPredicates(
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A profile created or deleted on a target may release or claim it
		// for the others (TargetClaimed); targetRef is immutable.
		Watches(&tuningv1alpha1.PerformanceProfile{}, r.profilesFor(func(o client.Object) map[string]string {
			return map[string]string{indexTarget: o.(*tuningv1alpha1.PerformanceProfile).Spec.TargetRef.Name}
		}), builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Watches(&appsv1.Deployment{}, r.profilesFor(func(o client.Object) map[string]string {
			return map[string]string{indexTarget: o.GetName(), indexRedis: redisKey("Deployment", o.GetName())}
		}), specChanged).
		Watches(&appsv1.StatefulSet{}, r.profilesFor(func(o client.Object) map[string]string {
			return map[string]string{indexRedis: redisKey("StatefulSet", o.GetName())}
		}), specChanged).
		Watches(&autoscalingv2.HorizontalPodAutoscaler{}, r.profilesFor(func(o client.Object) map[string]string {
			return map[string]string{indexHPA: o.GetName()}
		}), specChanged)
}

// maxRetryBackoff caps the per-profile backoff after failed reconciles
// (controller-runtime's default cap is 1000 s): once the API server accepts
// writes again, a profile resumes within a minute, not a quarter of an hour.
const maxRetryBackoff = time.Minute

func controllerOptions(maxConcurrent int) controller.Options {
	return controller.Options{
		MaxConcurrentReconciles: max(maxConcurrent, 1),
		RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryBackoff),
			&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
		),
	}
}
