package actuate

import (
	"bytes"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// tunedPaths are the fixed paths of the knobs (the Redis workload's replicas
// and the HPA table's fields); the env values (EnvValuePath) are matched by
// isTuned, as their container and variable names vary.
var tunedPaths = func() []fieldpath.Path {
	out := []fieldpath.Path{ReplicasPath}
	for _, h := range hpaKnobs {
		out = append(out, h.path)
	}
	return out
}()

// envValueShape is EnvValuePath with its two names left out: isTuned
// matches any name there. Built once, not for each path of each entry it
// reads (the cache trims every Deployment event's managedFields: at 10,000
// profiles that was 0.25 GB of a manager's first three minutes).
var envValueShape = EnvValuePath("", "")

// isTuned reports whether p is a field navius-tuner may write: one of
// tunedPaths, or the value of an env variable of a Deployment's container.
func isTuned(p fieldpath.Path) bool {
	for _, t := range tunedPaths {
		if p.Equals(t) {
			return true
		}
	}
	if len(p) != len(envValueShape) {
		return false
	}
	for i, e := range envValueShape {
		if e.Key != nil { // the container's or variable's name: any
			if p[i].Key == nil {
				return false
			}
			continue
		}
		if !p[i].Equals(e) {
			return false
		}
	}
	return true
}

// TrimManagedFields keeps of an object's managedFields what the Ownership
// read from them can tell: whether navius-tuner or another manager owns a
// tuned field, and when each last wrote. Subresource entries are dropped
// (OwnershipOf skips them); every other entry keeps only its tuned fields,
// and an entry left with none is dropped, except navius-tuner's own (the
// time of its last apply is read after a restart). Manager, operation and
// time are kept: a conflict names the other manager and is acknowledged
// against the time of its last write. On a Deployment whose spec a GitOps
// tool or kubectl applied whole, this leaves a few hundred bytes of several
// kilobytes.
func TrimManagedFields(entries []metav1.ManagedFieldsEntry) ([]metav1.ManagedFieldsEntry, error) {
	var out []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		all := &fieldpath.Set{}
		if err := all.FromJSON(bytes.NewReader(e.FieldsV1.GetRawBytes())); err != nil {
			return nil, fmt.Errorf("parsing managedFields of %s: %w", e.Manager, err)
		}
		kept := &fieldpath.Set{}
		all.Iterate(func(p fieldpath.Path) {
			if isTuned(p) {
				kept.Insert(p.Copy())
			}
		})
		if kept.Empty() && e.Manager != tuningv1alpha1.FieldManager {
			continue
		}
		raw, err := kept.ToJSON()
		if err != nil {
			return nil, fmt.Errorf("writing managedFields of %s: %w", e.Manager, err)
		}
		out = append(out, metav1.ManagedFieldsEntry{Manager: e.Manager, Operation: e.Operation, Time: e.Time,
			APIVersion: e.APIVersion, FieldsType: e.FieldsType, FieldsV1: metav1.NewFieldsV1(string(raw))})
	}
	return out, nil
}
