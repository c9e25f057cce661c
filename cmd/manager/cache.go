package main

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastApplied is kubectl's copy of the whole object, often the largest annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// cacheByObject trims the watched workloads to what the reconciler reads
// before they enter the cache: the manager caches every Deployment,
// StatefulSet and HPA it may watch, and most of a Deployment (its pod
// template beyond the containers' names, env and resources) is never read.
// managedFields are kept: the reconciler reads them to know which fields it
// owns. Writes are server-side applies built from scratch, so a trimmed
// field is never written back.
func cacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&appsv1.Deployment{}:                     {Transform: trimDeployment},
		&appsv1.StatefulSet{}:                    {Transform: trimStatefulSet},
		&autoscalingv2.HorizontalPodAutoscaler{}: {Transform: trimHPA},
	}
}

func trimDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	delete(d.Annotations, lastApplied)
	d.Spec.Template = corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: trimContainers(d.Spec.Template.Spec.Containers)}}
	d.Status.Conditions = nil
	return d, nil
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Env: c.Env, Resources: c.Resources}
	}
	return out
}

func trimStatefulSet(obj any) (any, error) {
	s, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return obj, nil
	}
	delete(s.Annotations, lastApplied)
	s.Spec.Template = corev1.PodTemplateSpec{}
	s.Spec.VolumeClaimTemplates = nil
	s.Status.Conditions = nil
	return s, nil
}

func trimHPA(obj any) (any, error) {
	h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return obj, nil
	}
	delete(h.Annotations, lastApplied)
	h.Status.Conditions, h.Status.CurrentMetrics = nil, nil
	return h, nil
}
