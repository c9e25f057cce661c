package main

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/controllers"
)

// cacheByObject trims every cached object to what the reconciler reads
// (controllers.CacheTransforms): the manager caches every profile and every
// Deployment, StatefulSet and HPA of the watched namespaces.
func cacheByObject() map[client.Object]cache.ByObject {
	return controllers.CacheTransforms()
}
