package controllers

import (
	"sort"
	"strconv"
	"time"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// knobField locates a knob in the cluster.
type knobField struct {
	own  actuate.Ownership
	path fieldpath.Path
	// name is the field as a person reads it, with its object.
	name string
	// live is the value in the cluster, "" when unset.
	live string
}

// field locates knob k; ok is false when its object was not read.
func (cs *clusterState) field(k tuning.Knob) (knobField, bool) {
	i32 := func(v *int32) string {
		if v == nil {
			return ""
		}
		return strconv.FormatInt(int64(*v), 10)
	}
	if tuning.PlaceOf(k) == tuning.PlaceRedisReplicas {
		if cs.redis == nil {
			return knobField{}, false
		}
		n, _ := redisReplicas(cs.redis)
		return knobField{own: cs.redisOwn, path: actuate.ReplicasPath, live: i32(&n),
			name: cs.redisRef.Kind + " " + cs.redis.GetName() + " spec.replicas"}, true
	}
	if h, ok := hpaFields[k]; ok {
		if cs.hpa == nil {
			return knobField{}, false
		}
		set := actuate.SettingsOf(cs.hpa)
		return knobField{own: cs.hpaOwn, path: h.path, live: i32(*h.slot(&set)),
			name: "HorizontalPodAutoscaler " + cs.hpa.Name + " " + h.name}, true
	}
	if cs.target == nil {
		return knobField{}, false
	}
	c := cs.container.Name
	return knobField{own: cs.targetOwn, path: actuate.EnvValuePath(c, string(k)), live: cs.env[string(k)],
		name: "Deployment " + cs.target.Name + " " + actuate.EnvFieldName(c, string(k))}, true
}

// detectConflicts finds the knobs another field manager took over: after
// navius-tuner applied a value (the newest in the history), another manager
// owns the field and the live value differs from it. Such a knob is left
// alone until the conflict is gone: the live value is what navius-tuner
// applied again, navius-tuner owns the field again, or a person set the
// reconcile-requested-at annotation to a time (RFC 3339) after the other
// manager's last write, to say the other manager now ignores the field.
func detectConflicts(p *tuningv1alpha1.PerformanceProfile, cs *clusterState) []status.Conflict {
	ack, _ := time.Parse(time.RFC3339, p.Annotations[tuningv1alpha1.ReconcileRequestedAnnotation])
	applied := status.LastApplied(p.Status)
	knobs := make([]string, 0, len(applied))
	for k := range applied {
		knobs = append(knobs, k)
	}
	sort.Strings(knobs)
	var out []status.Conflict
	for _, k := range knobs {
		f, ok := cs.field(tuning.Knob(k))
		if !ok || f.live == applied[k] || f.own.Owns(tuningv1alpha1.FieldManager, f.path) {
			continue
		}
		others := f.own.Others(tuningv1alpha1.FieldManager, f.path)
		if len(others) == 0 || (!ack.IsZero() && !ack.Before(others[0].Time)) {
			continue
		}
		out = append(out, status.Conflict{Knob: k, Field: f.name, Manager: others[0].Manager, Applied: applied[k], Live: f.live})
	}
	return out
}

// current is status.current: the knob values as read.
func (cs *clusterState) current() *tuningv1alpha1.KnobValues {
	kv := &tuningv1alpha1.KnobValues{}
	if cs.target != nil {
		r := cs.target.Status.Replicas
		kv.Replicas = &r
	}
	for k, v := range cs.state.Values {
		switch tuning.PlaceOf(k) {
		case tuning.PlaceRedisReplicas:
			n := int32(v)
			kv.RedisReplicas = &n
		case tuning.PlaceHPA: // from the HPA itself, below
		default:
			if kv.Env == nil {
				kv.Env = map[string]string{}
			}
			kv.Env[string(k)] = cs.env[string(k)]
		}
	}
	if cs.hpa != nil {
		set := actuate.SettingsOf(cs.hpa)
		kv.HPA = &tuningv1alpha1.HPAValues{MinReplicas: set.MinReplicas, MaxReplicas: cs.hpa.Spec.MaxReplicas,
			TargetCPUUtilization: set.TargetCPUUtilization, ScaleDownStabilizationSeconds: set.ScaleDownWindowSeconds}
	}
	return kv
}
