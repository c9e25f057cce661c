package main

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestManagerCachesTrimmedObjects: every kind the manager caches in bulk
// goes through a transform (what each keeps: controllers/cache_test.go).
func TestManagerCachesTrimmedObjects(t *testing.T) {
	byObject := managerOptions(defaultOptions(), nil).Cache.ByObject
	for _, want := range []any{&tuningv1alpha1.PerformanceProfile{}, &appsv1.Deployment{}, &appsv1.StatefulSet{}, &autoscalingv2.HorizontalPodAutoscaler{}} {
		found := false
		for k, by := range byObject {
			if reflect.TypeOf(k) == reflect.TypeOf(want) && by.Transform != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("%T is cached without a transform", want)
		}
	}
}

// A shard caches its profiles by its selector, and only the workloads
// labelled for it.
func TestShardCachesOnlyItsObjects(t *testing.T) {
	o := defaultOptions()
	o.watchSelector = "tuning.navius.io/shard=a"
	for k, by := range managerOptions(o, nil).Cache.ByObject {
		want := "tuning.navius.io/shard=a,tuning.navius.io/tuned"
		if _, ok := k.(*tuningv1alpha1.PerformanceProfile); ok {
			want = "tuning.navius.io/shard=a"
		}
		if by.Label == nil || by.Label.String() != want {
			t.Errorf("%T is cached with selector %v, want %s", k, by.Label, want)
		}
	}
}
