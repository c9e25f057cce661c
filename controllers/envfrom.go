package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// envFromRead is what a container's envFrom gives the tuned env names.
type envFromRead struct {
	// values are the tuned env names the ConfigMaps set, with their values
	// (a later source wins, as the kubelet has it).
	values map[string]string
	// unreadable says why a tuned env name may be set where navius-tuner
	// cannot read it (a Secret), "" when it cannot.
	unreadable string
	// versions are the ConfigMaps read, "name@resourceVersion" ("name@absent"
	// for an optional one that is not there): what the values are as of.
	versions []string
}

// envFromMemory keeps, per profile, the last read of its target's envFrom
// ConfigMaps: only the values of the tuned env names, with the ConfigMaps'
// resourceVersions, for the pod template it was read for. The manager
// caches no ConfigMap (a cache, even of their metadata only, would hold
// and watch every ConfigMap of the watched namespaces, most of which no
// profile reads, and could not give their data anyway); reading them from
// the API server every period cost one GET per ConfigMap per profile per
// period. So a period plans on the remembered values, and they are read
// again from the API server only:
//   - when nothing is remembered for the pod template as it is now (the
//     first reconcile, a new envFrom list, a tuned name added, or any other
//     change of the template's annotations, env or envFrom: a restart or a
//     tool such as Reloader rolling the pods after a ConfigMap edit, and
//     navius-tuner's own writes). Pods take their envFrom values when they
//     start, so a ConfigMap edited since is not what the template's pods
//     were started with either: status.current shows the values as of the
//     template's last change, or of the last candidate write;
//   - for a candidate write or recommendation (verifyEnvFrom, then recheck
//     right before the write, which reads everything from the API server):
//     a plan made on values the ConfigMaps no longer hold is dropped and
//     made again on the values read, never written or published.
//
// A value a literal env entry overrides (every knob navius-tuner has
// written) does not depend on the ConfigMaps at all.
type envFromMemory struct {
	mu        sync.Mutex
	byProfile map[types.NamespacedName]rememberedEnvFrom
}

type rememberedEnvFrom struct {
	template uint64 // envFromKey of the template and tuned names read for
	read     envFromRead
}

func (m *envFromMemory) get(p types.NamespacedName, key uint64) (envFromRead, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byProfile[p]
	if !ok || e.template != key {
		return envFromRead{}, false
	}
	return e.read, true
}

func (m *envFromMemory) put(p types.NamespacedName, key uint64, read envFromRead) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byProfile == nil {
		m.byProfile = map[types.NamespacedName]rememberedEnvFrom{}
	}
	m.byProfile[p] = rememberedEnvFrom{template: key, read: read}
}

func (m *envFromMemory) forget(p types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byProfile, p)
}

// readEnvFrom gives what the container's envFrom sets for the tuned env
// names of p that the container gives no literal value or valueFrom (only
// those can come from envFrom: an env entry overrides envFrom, so a knob
// navius-tuner has written reads no ConfigMap): remembered (envFromMemory)
// when live is false and a read for the same template is remembered, else
// read from the API server and remembered. A Secret's contents are never
// read: a name it may set is not known (unreadable). remembered reports a
// read from memory.
func (r *PerformanceProfileReconciler) readEnvFrom(ctx context.Context, p *tuningv1alpha1.PerformanceProfile,
	d *appsv1.Deployment, c *corev1.Container, live bool) (read envFromRead, remembered bool, err error) {
	names := envFromNames(p.Spec, c)
	profile := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	if len(names) == 0 {
		r.envFrom.forget(profile)
		return envFromRead{}, false, nil
	}
	if !slices.ContainsFunc(c.EnvFrom, func(s corev1.EnvFromSource) bool { return s.ConfigMapRef != nil }) {
		r.envFrom.forget(profile)
		read, err = r.readConfigMaps(ctx, p.Namespace, c, names) // Secrets only: nothing to read
		return read, false, err
	}
	key := envFromKey(d, c, names)
	if !live {
		if read, ok := r.envFrom.get(profile, key); ok {
			return read, true, nil
		}
	}
	if read, err = r.readConfigMaps(ctx, p.Namespace, c, names); err != nil {
		return envFromRead{}, false, err
	}
	r.envFrom.put(profile, key, read)
	return read, false, nil
}

// readConfigMaps reads the container's envFrom sources, in order, each
// ConfigMap from the API server, keeping the values of names only.
func (r *PerformanceProfileReconciler) readConfigMaps(ctx context.Context, ns string, c *corev1.Container, names map[string]bool) (envFromRead, error) {
	read := envFromRead{values: map[string]string{}}
	for _, src := range c.EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			cm := &corev1.ConfigMap{}
			if err := r.live().Get(ctx, types.NamespacedName{Namespace: ns, Name: src.ConfigMapRef.Name}, cm); err != nil {
				if apierrors.IsNotFound(err) {
					// An optional ConfigMap that is not there sets nothing.
					read.versions = append(read.versions, src.ConfigMapRef.Name+"@absent")
					continue
				}
				return envFromRead{}, fmt.Errorf("reading ConfigMap %s (envFrom of container %s): %w", src.ConfigMapRef.Name, c.Name, err)
			}
			read.versions = append(read.versions, cm.Name+"@"+cm.ResourceVersion)
			for k, v := range cm.Data {
				if names[src.Prefix+k] {
					read.values[src.Prefix+k] = v
				}
			}
		case src.SecretRef != nil:
			// A later source wins: any key may now come from the Secret,
			// whose contents are never read, until a later ConfigMap sets it.
			clear(read.values)
			read.unreadable = fmt.Sprintf("container %s takes env from Secret %s, whose contents navius-tuner does not read", c.Name, src.SecretRef.Name)
		}
	}
	return read, nil
}

// verifyEnvFrom reads the envFrom ConfigMaps of a plan made on remembered
// values from the API server: when they no longer give those values, the
// plan is stale (nothing is written or published; the reconcile runs again
// on the values read, now remembered).
func (r *PerformanceProfileReconciler) verifyEnvFrom(ctx context.Context, s *scope) error {
	cs := s.cluster
	if !cs.envFromRemembered {
		return nil
	}
	read, _, err := r.readEnvFrom(ctx, s.profile, cs.objects.Target, cs.container, true)
	if err != nil {
		return err
	}
	cs.envFromRemembered = false
	if !maps.Equal(read.values, cs.envFrom.values) || read.unreadable != cs.envFrom.unreadable {
		return stale("the envFrom ConfigMaps changed since they were read (%v as of %s, now %v as of %s)",
			cs.envFrom.values, strings.Join(cs.envFrom.versions, ", "), read.values, strings.Join(read.versions, ", "))
	}
	return nil
}

// envFromNames are the env names of the profile's env knobs that the
// container has no env entry for: envFrom may set them.
func envFromNames(spec tuningv1alpha1.PerformanceProfileSpec, c *corev1.Container) map[string]bool {
	literal, fromRef := actuate.EnvValues(c)
	names := map[string]bool{}
	for _, info := range tuning.Knobs(spec) {
		name := string(info.Knob)
		if _, set := literal[name]; info.Place == tuning.PlaceEnv && !set && !fromRef[name] {
			names[name] = true
		}
	}
	return names
}

// envFromKey identifies a read of the envFrom ConfigMaps: the Deployment
// (its UID) and the generation of its spec, which every change that starts
// pods moves (a new template, an image bump, a scale by an HPA or a
// person: new pods take the ConfigMaps' values of the moment they start),
// the container's env and envFrom, and the tuned names read. The cache
// trims parts of the template (the image), so the generation, not the
// template, tells that the pods changed.
func envFromKey(d *appsv1.Deployment, c *corev1.Container, names map[string]bool) uint64 {
	b, _ := json.Marshal(struct {
		UID        string
		Generation int64
		Env        []corev1.EnvVar
		EnvFrom    []corev1.EnvFromSource
		Names      []string
	}{string(d.UID), d.Generation, c.Env, c.EnvFrom, slices.Sorted(maps.Keys(names))})
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}
