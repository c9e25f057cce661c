package actuate

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// This file is the one table of where a knob lives in the cluster: its
// field path (managedFields), its name as a person reads it, how it is read
// from the live object and how it maps to status.current. Everything that
// locates, reads, writes, trims or reports a knob derives from it, so adding
// an HPA knob touches the API type, the engine's catalogue
// (tuning.HPAKnobs) and this table only.

// hpaKnob is where one HPA knob lives.
type hpaKnob struct {
	knob tuning.Knob
	path fieldpath.Path
	// name is the field as a person reads it.
	name string
	// slot is the knob's field in HPASettings.
	slot func(*HPASettings) **int32
	// read is the live value of the HPA's field, nil when unset.
	read func(*autoscalingv2.HorizontalPodAutoscaler) *int32
	// report and known map the knob to and from status.current.hpa.
	report func(*tuningv1alpha1.HPAValues, *int32)
	known  func(*tuningv1alpha1.HPAValues) *int32
}

var hpaKnobs = []hpaKnob{
	{knob: tuning.KnobHPAMinReplicas, path: HPAMinReplicasPath, name: "spec.minReplicas",
		slot:   func(s *HPASettings) **int32 { return &s.MinReplicas },
		read:   func(h *autoscalingv2.HorizontalPodAutoscaler) *int32 { return h.Spec.MinReplicas },
		report: func(v *tuningv1alpha1.HPAValues, n *int32) { v.MinReplicas = n },
		known:  func(v *tuningv1alpha1.HPAValues) *int32 { return v.MinReplicas }},
	{knob: tuning.KnobHPAMaxReplicas, path: HPAMaxReplicasPath, name: "spec.maxReplicas",
		slot: func(s *HPASettings) **int32 { return &s.MaxReplicas },
		read: func(h *autoscalingv2.HorizontalPodAutoscaler) *int32 { n := h.Spec.MaxReplicas; return &n },
		report: func(v *tuningv1alpha1.HPAValues, n *int32) {
			if n != nil {
				v.MaxReplicas = *n
			}
		},
		known: func(v *tuningv1alpha1.HPAValues) *int32 {
			if v.MaxReplicas <= 0 {
				return nil
			}
			n := v.MaxReplicas
			return &n
		}},
	{knob: tuning.KnobHPATargetCPU, path: HPAMetricsPath, name: "spec.metrics",
		slot: func(s *HPASettings) **int32 { return &s.TargetCPUUtilization },
		read: func(h *autoscalingv2.HorizontalPodAutoscaler) *int32 {
			if m := cpuMetric(h.Spec.Metrics); m != nil {
				return m.Resource.Target.AverageUtilization
			}
			return nil
		},
		report: func(v *tuningv1alpha1.HPAValues, n *int32) { v.TargetCPUUtilization = n },
		known:  func(v *tuningv1alpha1.HPAValues) *int32 { return v.TargetCPUUtilization }},
	{knob: tuning.KnobHPAScaleDownWindowS, path: HPAScaleDownWindowPath,
		name: "spec.behavior.scaleDown.stabilizationWindowSeconds",
		slot: func(s *HPASettings) **int32 { return &s.ScaleDownWindowSeconds },
		read: func(h *autoscalingv2.HorizontalPodAutoscaler) *int32 {
			if b := h.Spec.Behavior; b != nil && b.ScaleDown != nil {
				return b.ScaleDown.StabilizationWindowSeconds
			}
			return nil
		},
		report: func(v *tuningv1alpha1.HPAValues, n *int32) { v.ScaleDownStabilizationSeconds = n },
		known:  func(v *tuningv1alpha1.HPAValues) *int32 { return v.ScaleDownStabilizationSeconds }},
}

func hpaKnobOf(k tuning.Knob) (hpaKnob, bool) {
	for _, h := range hpaKnobs {
		if h.knob == k {
			return h, true
		}
	}
	return hpaKnob{}, false
}

// Get is the value of HPA knob k in s, nil when unset or not an HPA knob.
func (s HPASettings) Get(k tuning.Knob) *int32 {
	if h, ok := hpaKnobOf(k); ok {
		return *h.slot(&s)
	}
	return nil
}

// Set sets HPA knob k in s; other knobs are ignored.
func (s *HPASettings) Set(k tuning.Knob, v *int32) {
	if h, ok := hpaKnobOf(k); ok {
		*h.slot(s) = v
	}
}

// Overlay returns s with every field set in top replaced.
func (s HPASettings) Overlay(top HPASettings) HPASettings {
	for _, h := range hpaKnobs {
		if v := *h.slot(&top); v != nil {
			*h.slot(&s) = v
		}
	}
	return s
}

// Equal reports whether s and o set the same fields to the same values.
func (s HPASettings) Equal(o HPASettings) bool {
	for _, h := range hpaKnobs {
		x, y := *h.slot(&s), *h.slot(&o)
		if (x == nil) != (y == nil) || (x != nil && *x != *y) {
			return false
		}
	}
	return true
}

// SettingsOf reads the tuned fields of an HPA; unset fields stay nil.
func SettingsOf(hpa *autoscalingv2.HorizontalPodAutoscaler) HPASettings {
	var s HPASettings
	for _, h := range hpaKnobs {
		*h.slot(&s) = h.read(hpa)
	}
	return s
}

// Field is one knob as it is in the cluster.
type Field struct {
	// Own is who owns the fields of the knob's object.
	Own Ownership
	// Path is the knob's field in managedFields.
	Path fieldpath.Path
	// Name is the field as a person reads it, with its object.
	Name string
	// Live is the value in the cluster, "" when unset.
	Live string
}

// Ours reports whether navius-tuner owns the knob's field.
func (f Field) Ours() bool { return f.Own.Owns(tuningv1alpha1.FieldManager, f.Path) }

// Objects are a profile's objects as read from the cluster.
type Objects struct {
	// Target is the Deployment tuned; Container the name of its tuned container.
	Target    *appsv1.Deployment
	Container string
	// Env holds the literal env values of the container.
	Env       map[string]string
	TargetOwn Ownership
	// HPA is nil when there is none (yet).
	HPA    *autoscalingv2.HorizontalPodAutoscaler
	HPAOwn Ownership
	// Redis is the Redis workload (*appsv1.StatefulSet or
	// *appsv1.Deployment) of kind RedisKind; nil when not tuned.
	Redis     client.Object
	RedisKind string
	RedisOwn  Ownership
}

// Field locates knob k; ok is false when its object was not read.
func (o *Objects) Field(k tuning.Knob) (Field, bool) {
	switch tuning.PlaceOf(k) {
	case tuning.PlaceRedisReplicas:
		if o.Redis == nil {
			return Field{}, false
		}
		n, _ := RedisReplicas(o.Redis)
		return Field{Own: o.RedisOwn, Path: ReplicasPath, Live: i32(&n),
			Name: o.RedisKind + " " + o.Redis.GetName() + " spec.replicas"}, true
	case tuning.PlaceHPA:
		h, ok := hpaKnobOf(k)
		if !ok || o.HPA == nil {
			return Field{}, false
		}
		return Field{Own: o.HPAOwn, Path: h.path, Live: i32(h.read(o.HPA)),
			Name: "HorizontalPodAutoscaler " + o.HPA.Name + " " + h.name}, true
	}
	if o.Target == nil {
		return Field{}, false
	}
	return Field{Own: o.TargetOwn, Path: EnvValuePath(o.Container, string(k)), Live: o.Env[string(k)],
		Name: "Deployment " + o.Target.Name + " " + EnvFieldName(o.Container, string(k))}, true
}

// Current is status.current: the values of the knobs read (values, the
// engine's view) as the cluster holds them.
func (o *Objects) Current(values tuning.Values) *tuningv1alpha1.KnobValues {
	kv := &tuningv1alpha1.KnobValues{}
	if o.Target != nil {
		r := o.Target.Status.Replicas
		kv.Replicas = &r
	}
	for k, v := range values {
		switch tuning.PlaceOf(k) {
		case tuning.PlaceRedisReplicas:
			n := int32(v)
			kv.RedisReplicas = &n
		case tuning.PlaceHPA: // from the HPA itself, below
		default:
			if kv.Env == nil {
				kv.Env = map[string]string{}
			}
			kv.Env[string(k)] = o.Env[string(k)]
		}
	}
	if o.HPA != nil {
		kv.HPA = &tuningv1alpha1.HPAValues{}
		for _, h := range hpaKnobs {
			h.report(kv.HPA, h.read(o.HPA))
		}
	}
	return kv
}

// KnownValues are the knob values a status.current holds, as strings.
func KnownValues(cur *tuningv1alpha1.KnobValues) map[string]string {
	out := map[string]string{}
	EachKnown(cur, func(knob, value string) { out[knob] = value },
		func(k tuning.Knob, n int32) { out[string(k)] = strconv.FormatInt(int64(n), 10) })
	return out
}

// EachKnown calls env with each env knob's value as status.current holds it
// (the container's text), and number with each other knob's value, without
// building a map: the metrics read every profile's values at each scrape.
func EachKnown(cur *tuningv1alpha1.KnobValues, env func(knob, value string), number func(k tuning.Knob, n int32)) {
	if cur == nil {
		return
	}
	for k, v := range cur.Env {
		env(k, v)
	}
	if cur.RedisReplicas != nil {
		number(tuning.KnobRedisReplicas, *cur.RedisReplicas)
	}
	if cur.HPA != nil {
		for _, h := range hpaKnobs {
			if v := h.known(cur.HPA); v != nil {
				number(h.knob, *v)
			}
		}
	}
}

// RedisReplicas reads a StatefulSet's or Deployment's spec.replicas and
// whether all of them are ready at the current generation.
func RedisReplicas(obj client.Object) (replicas int32, ready bool) {
	var want *int32
	var readyN int32
	var observed int64
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		want, readyN, observed = o.Spec.Replicas, o.Status.ReadyReplicas, o.Status.ObservedGeneration
	case *appsv1.Deployment:
		want, readyN, observed = o.Spec.Replicas, o.Status.ReadyReplicas, o.Status.ObservedGeneration
	}
	replicas = 1
	if want != nil {
		replicas = *want
	}
	return replicas, observed >= obj.GetGeneration() && readyN >= replicas
}

func i32(v *int32) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(int64(*v), 10)
}
