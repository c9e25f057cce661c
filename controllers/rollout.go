package controllers

import (
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// progressDeadlineExceeded is the Progressing reason of a Deployment whose
// rollout made no progress within spec.progressDeadlineSeconds: its new pods
// cannot be scheduled, crash-loop or never become ready
// (k8s.io/kubernetes/pkg/controller/deployment/util.TimedOutReason).
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// rolloutFailure is the Deployment controller's verdict that the rollout of
// the current pod template failed.
type rolloutFailure struct {
	reason, message string
}

// failedRollout is the failure of d's rollout of its current template; nil
// when it did not fail (or the controller has not looked at that template yet).
func failedRollout(d *appsv1.Deployment) *rolloutFailure {
	if d.Status.ObservedGeneration < d.Generation {
		return nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == progressDeadlineExceeded {
			return &rolloutFailure{reason: c.Reason, message: c.Message}
		}
	}
	return nil
}

// progressiveDelivery names the controller that turns a change of the
// target's pod template into a canary analysis; "" when none is seen.
// Flagger copies a target it manages to <target>-primary, owned by its
// Canary; Argo Rollouts marks what it manages with rollout.argoproj.io
// annotations or owns it. A workloadRef Rollout does neither, so it is not
// always seen (docs/gitops.md).
func progressiveDelivery(d, primary *appsv1.Deployment) string {
	for _, o := range d.OwnerReferences {
		switch {
		case o.Kind == "Rollout" && apiGroup(o.APIVersion) == "argoproj.io":
			return "Argo Rollouts (Rollout " + o.Name + " owns it)"
		case o.Kind == "Canary" && apiGroup(o.APIVersion) == "flagger.app":
			return "Flagger (it is the primary of Canary " + o.Name + ", and Flagger overwrites it on each promotion)"
		}
	}
	for _, m := range []map[string]string{d.Annotations, d.Labels, d.Spec.Template.Annotations} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch {
			case strings.HasPrefix(k, "rollout.argoproj.io/"):
				return "Argo Rollouts (annotation " + k + ")"
			case strings.HasPrefix(k, "flagger.app/"):
				return "Flagger (annotation " + k + ")"
			}
		}
	}
	if primary != nil {
		for _, o := range primary.OwnerReferences {
			if o.Kind == "Canary" && apiGroup(o.APIVersion) == "flagger.app" {
				return "Flagger (Canary " + o.Name + " promotes it to " + primary.Name + ")"
			}
		}
	}
	return ""
}

// apiGroup is the group of an apiVersion such as keda.sh/v1alpha1.
func apiGroup(apiVersion string) string {
	g, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return ""
	}
	return g
}

// kedaScaledObject is the KEDA ScaledObject that owns hpa; "" when none does.
func kedaScaledObject(hpa client.Object) string {
	for _, o := range hpa.GetOwnerReferences() {
		if o.Kind == "ScaledObject" && apiGroup(o.APIVersion) == "keda.sh" {
			return o.Name
		}
	}
	return ""
}
