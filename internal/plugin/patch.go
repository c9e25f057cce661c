package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Patch is one object's strategic-merge patch of a recommendation.
type Patch struct {
	// Object names the patched object, such as "Deployment shop/orders".
	Object string
	// Body is the patch (apiVersion, kind and metadata name and namespace
	// included, as kustomize's patches want them).
	Body runtime.ApplyConfiguration
}

// recommendationPatches turns the recommendation's changes into one
// strategic-merge patch per object, built by the manager's own apply
// configurations (actuate): the target's env entries (merged by name with
// the others: env is a list keyed by name), the HPA's fields (its metrics,
// an atomic list, copied from the live HPA with the CPU target set), the
// Redis workload's replicas.
func (o *Options) recommendationPatches(ctx context.Context, p *tuningv1alpha1.PerformanceProfile) ([]Patch, error) {
	rec := p.Status.Recommendation
	if rec == nil || len(rec.Changes) == 0 {
		return nil, nil
	}
	env := map[string]string{}
	var hpa actuate.HPASettings
	hpaSet := false
	var redis *int32
	for _, c := range rec.Changes {
		k := tuning.Knob(c.Knob)
		v, err := strconv.ParseInt(c.To, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("status.recommendation: %s to %q is not a number", c.Knob, c.To)
		}
		n := int32(v)
		switch tuning.PlaceOf(k) {
		case tuning.PlaceEnv:
			env[c.Knob] = c.To
		case tuning.PlaceHPA:
			hpa.Set(k, &n)
			hpaSet = true
		case tuning.PlaceRedisReplicas:
			redis = &n
		}
	}
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	ns := p.Namespace
	var out []Patch
	if len(env) > 0 {
		target := p.Spec.TargetRef
		container := target.Container
		if container == "" {
			d := &appsv1.Deployment{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: target.Name}, d); err != nil {
				return nil, fmt.Errorf("reading the target Deployment for its container: %w", err)
			}
			if n := len(d.Spec.Template.Spec.Containers); n != 1 {
				return nil, fmt.Errorf("deployment %s has %d containers and spec.targetRef.container names none", target.Name, n)
			}
			container = d.Spec.Template.Spec.Containers[0].Name
		}
		out = append(out, Patch{Object: "Deployment " + ns + "/" + target.Name, Body: actuate.DeploymentEnv(ns, target.Name, container, env)})
	}
	if hpaSet {
		name, _ := controllers.HPAName(p.Spec)
		live := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, live); err != nil {
			return nil, fmt.Errorf("reading HorizontalPodAutoscaler %s/%s, whose metrics list the patch carries whole: %w", ns, name, err)
		}
		ac, err := actuate.HPAFields(live, hpa)
		if err != nil {
			return nil, err
		}
		out = append(out, Patch{Object: "HorizontalPodAutoscaler " + ns + "/" + name, Body: ac})
	}
	if redis != nil {
		if cc := p.Spec.Cache; cc != nil && cc.Redis != nil && cc.Redis.Replicas != nil {
			ref := cc.Redis.Replicas.TargetRef
			ac, err := actuate.Replicas(ref.Kind, ns, ref.Name, *redis)
			if err != nil {
				return nil, err
			}
			out = append(out, Patch{Object: ref.Kind + " " + ns + "/" + ref.Name, Body: ac})
		}
	}
	return out, nil
}

// writePatches prints the patches as YAML documents, each under a comment
// that names its object.
func writePatches(w io.Writer, p *tuningv1alpha1.PerformanceProfile, patches []Patch) error {
	for i, pt := range patches {
		raw, err := json.Marshal(pt.Body)
		if err != nil {
			return err
		}
		doc, err := yaml.JSONToYAML(raw)
		if err != nil {
			return err
		}
		if i > 0 {
			fprintf(w, "---\n")
		}
		fprintf(w, "# Strategic-merge patch of %s: navius-tuner's recommendation for PerformanceProfile %s/%s\n%s",
			pt.Object, p.Namespace, p.Name, doc)
	}
	return nil
}
