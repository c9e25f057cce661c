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
