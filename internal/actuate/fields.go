// Package actuate builds the server-side-apply configurations navius-tuner
// writes to other objects (the target Deployment's env, the Redis workload's
// replicas, the HPA's tuned fields) and reads who owns those fields from
// metadata.managedFields. Every write goes through server-side apply as the
// field manager navius-tuner, touches only the fields it owns, and is skipped
// by the caller when nothing would change.
package actuate

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Field paths of the knobs, as server-side apply tracks them in managedFields.
var (
	// ReplicasPath is spec.replicas of a StatefulSet or Deployment.
	ReplicasPath = fieldpath.MakePathOrDie("spec", "replicas")
	// HPAMinReplicasPath is the HPA's spec.minReplicas.
	HPAMinReplicasPath = fieldpath.MakePathOrDie("spec", "minReplicas")
	// HPAMaxReplicasPath is the HPA's spec.maxReplicas.
	HPAMaxReplicasPath = fieldpath.MakePathOrDie("spec", "maxReplicas")
	// HPAMetricsPath is the HPA's spec.metrics, an atomic list: the CPU target
	// cannot be owned without owning the whole list.
	HPAMetricsPath = fieldpath.MakePathOrDie("spec", "metrics")
	// HPAScaleDownWindowPath is the HPA's spec.behavior.scaleDown.stabilizationWindowSeconds.
	HPAScaleDownWindowPath = fieldpath.MakePathOrDie("spec", "behavior", "scaleDown", "stabilizationWindowSeconds")
)

// envListPath is the env list of one container of a Deployment.
func envListPath(container string) fieldpath.Path {
	return fieldpath.MakePathOrDie("spec", "template", "spec", "containers", fieldpath.KeyByFields("name", container), "env")
}

// EnvValuePath is the value of one env variable of one container of a Deployment.
func EnvValuePath(container, name string) fieldpath.Path {
	return append(envListPath(container), fieldpath.PathElement{Key: fieldpath.KeyByFields("name", name)},
		fieldpath.PathElement{FieldName: &valueField})
}

var valueField = "value"

// EnvFieldName is how a person reads EnvValuePath in a condition or event.
func EnvFieldName(container, name string) string {
	return fmt.Sprintf("spec.template.spec.containers[%s].env[%s]", container, name)
}

// Owner is one field manager's entry in managedFields.
type Owner struct {
	// Manager is the field manager's name, such as argocd-controller.
	Manager string
	// Operation is Apply (server-side apply) or Update (any other write).
	Operation metav1.ManagedFieldsOperationType
	// Time of the manager's last write; zero when unknown.
	Time time.Time
	set  *fieldpath.Set
}

// Ownership is who owns which field of an object.
type Ownership []Owner

// OwnershipOf parses an object's managedFields. Entries of subresources
// (status, scale) are skipped: navius-tuner only writes the main resource.
func OwnershipOf(obj metav1.Object) (Ownership, error) {
	var out Ownership
	for _, e := range obj.GetManagedFields() {
		if e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		s, err := fieldSets.parse(e.FieldsV1.GetRawBytes())
		if err != nil {
			return nil, fmt.Errorf("parsing managedFields of %s: %w", e.Manager, err)
		}
		o := Owner{Manager: e.Manager, Operation: e.Operation, set: s}
		if e.Time != nil {
			o.Time = e.Time.Time
		}
		out = append(out, o)
	}
	return out, nil
}

// fieldSets shares one parsed set among the managedFields entries with the
// same fields (OwnershipOf). Every reconcile reads the ownership of its
// target, and the cache holds each object's entries trimmed to the tuned
// fields (TrimManagedFields), which repeat from object to object; parsing
// one allocates a 4 KiB read buffer however short the entry
// (structured-merge-diff reads through jsoniter.Parse): 4.4 % of the bytes
// the manager allocated at 10,000 profiles. An Ownership only reads its sets (Has, WithPrefix, Iterate),
// so they may be shared. Entries longer than maxSharedFieldsJSON (an
// untrimmed object read from the API server) and entries past
// maxSharedFieldSets are parsed each time.
var fieldSets = sharedFieldSets{m: map[string]*fieldpath.Set{}}

const (
	maxSharedFieldSets  = 1024
	maxSharedFieldsJSON = 2048
)

type sharedFieldSets struct {
	sync.Mutex
	m map[string]*fieldpath.Set
}

// parse returns the field set of one managedFields entry's JSON, shared
// with every other entry of the same JSON; it must not be changed.
func (c *sharedFieldSets) parse(raw []byte) (*fieldpath.Set, error) {
	shared := len(raw) <= maxSharedFieldsJSON
	if shared {
		c.Lock()
		s, ok := c.m[string(raw)]
		c.Unlock()
		if ok {
			return s, nil
		}
	}
	s := &fieldpath.Set{}
	if err := s.FromJSON(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	if shared {
		c.Lock()
		if len(c.m) < maxSharedFieldSets {
			c.m[string(raw)] = s
		}
		c.Unlock()
	}
	return s, nil
}

// Owns reports whether manager owns the field at p (through any operation).
func (o Ownership) Owns(manager string, p fieldpath.Path) bool {
	for _, e := range o {
		if e.Manager == manager && e.set.Has(p) {
			return true
		}
	}
	return false
}

// Others lists the managers other than manager that own the field at p, most
// recent write first.
func (o Ownership) Others(manager string, p fieldpath.Path) []Owner {
	var out []Owner
	for _, e := range o {
		if e.Manager != manager && e.set.Has(p) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out
}

// OwnedEnv lists the env variables of container whose value manager owns, sorted.
func (o Ownership) OwnedEnv(manager, container string) []string {
	names := map[string]bool{}
	for _, e := range o {
		if e.Manager != manager {
			continue
		}
		under(e.set, envListPath(container)).Iterate(func(p fieldpath.Path) {
			if len(p) == 0 || p[0].Key == nil {
				return
			}
			for _, f := range *p[0].Key {
				if f.Name == "name" && f.Value.IsString() && e.set.Has(EnvValuePath(container, f.Value.AsString())) {
					names[f.Value.AsString()] = true
				}
			}
		})
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// under is the subset of s below the path p, relative to p.
func under(s *fieldpath.Set, p fieldpath.Path) *fieldpath.Set {
	for _, pe := range p {
		s = s.WithPrefix(pe)
	}
	return s
}

// AppliedAt is the time of manager's last server-side apply to the object;
// ok is false when it never applied or the time is unknown. managedFields
// times have a one-second resolution: compare them with Since.
func (o Ownership) AppliedAt(manager string) (at time.Time, ok bool) {
	for _, e := range o {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply {
			return e.Time, !e.Time.IsZero()
		}
	}
	return time.Time{}, false
}

// WroteAfter reports whether a manager other than manager may have written
// the object after manager's own last write and after t. managedFields
// times have a one-second resolution: a write in the same second as
// manager's may have come after it, so it counts.
func (o Ownership) WroteAfter(manager string, t time.Time) bool {
	ours := t.Truncate(time.Second)
	for _, e := range o {
		if e.Manager == manager && e.Time.After(ours) {
			ours = e.Time
		}
	}
	for _, e := range o {
		if e.Manager != manager && !e.Time.IsZero() && !e.Time.Before(ours) {
			return true
		}
	}
	return false
}
