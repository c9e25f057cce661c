package main

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/controllers"
)

// cacheByObject trims every cached object to what the reconciler reads
// (controllers.CacheTransforms): the manager caches every profile and every
// Deployment, StatefulSet and HPA of the watched namespaces, or in a shard
// (--watch-label-selector) only its profiles and the workloads labelled for
// them (controllers.CacheByObject).
func cacheByObject(s *controllers.Shard) map[client.Object]cache.ByObject {
	return controllers.CacheByObject(s)
}
