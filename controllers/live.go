package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// readState reads the profile's objects from the cache, repairs the ledger
// against them (period.Repair), and blocks the knobs another manager took
// over. When the cache disagrees with the status (a change navius-tuner
// applied that the status does not know, a recorded change that is not
// live, or a field another manager took over), the objects are read again
// from the API server and the repair runs on that read: a cache that has
// not yet seen navius-tuner's own last write shows exactly that, and it must
// be neither recorded as an Unknown decision, nor dropped as unapplied, nor
// reported as a conflict.
func (r *PerformanceProfileReconciler) readState(ctx context.Context, s *scope) error {
	p := s.profile
	claimed, err := r.checkClaim(ctx, p)
	if err != nil {
		return err
	}
	s.claimed = claimed
	cs, err := r.readCluster(ctx, r.reader(p, true), p, s.claimed, s.now, false)
	if err != nil {
		return err
	}
	repaired := period.Repair(p, cs.world(), s.now, false)
	if repaired.NeedLive {
		if cs, err = r.readLive(ctx, s); err != nil {
			return err
		}
		repaired = period.Repair(p, cs.world(), s.now, true)
	}
	log := ctrl.LoggerFrom(ctx)
	if d := repaired.Dropped; d != nil {
		log.Info("Dropped a recorded change that was never applied", "family", d.Family, "changes", period.ChangesString(d.Changes))
	}
	for _, d := range repaired.Recorded {
		log.Info("Recorded a change applied before a restart", "family", d.Family, "changes", period.ChangesString(d.Changes))
	}
	cs.block(repaired.Conflicts)
	if f := cs.rolloutFailure; f != nil {
		// Whose rollout failed is read from every manager's managedFields:
		// the cache keeps only those of tuned fields, so a `kubectl set
		// image` or `rollout restart` after navius-tuner's change would not
		// be seen in it.
		live := cs
		if !repaired.NeedLive {
			if live, err = r.readLive(ctx, s); err != nil {
				return err
			}
		}
		cs.state.RolloutFailed = period.RolloutFailure(p.Status, live.world(), f.reason, f.message)
	}
	s.cluster = cs
	return nil
}

// readLive reads the profile and its objects from the API server, bypassing
// the cache. The profile must still be the copy this reconcile started from
// (same resourceVersion); otherwise the reconcile is stale and runs again.
func (r *PerformanceProfileReconciler) readLive(ctx context.Context, s *scope) (*clusterState, error) {
	live := &tuningv1alpha1.PerformanceProfile{}
	if err := r.live().Get(ctx, client.ObjectKeyFromObject(s.profile), live); err != nil {
		return nil, fmt.Errorf("reading PerformanceProfile %s from the API server: %w", s.profile.Name, err)
	}
	if live.ResourceVersion != s.original.ResourceVersion {
		return nil, stale("PerformanceProfile %s is at resourceVersion %s on the API server, the reconcile read %s",
			s.profile.Name, live.ResourceVersion, s.original.ResourceVersion)
	}
	return r.readCluster(ctx, r.reader(s.profile, false), s.profile, s.claimed, s.now, true)
}

// changedSince says how the live cluster differs from the cached one in what
// the decision was made from: the knob values, the rollout, the blocked
// knobs. "" when it does not.
func changedSince(cached, live *clusterState) string {
	switch {
	case !maps.Equal(cached.state.Values, live.state.Values):
		return fmt.Sprintf("the knob values changed since they were read (%v, now %v)", cached.state.Values, live.state.Values)
	case cached.state.RolloutInProgress != live.state.RolloutInProgress:
		return fmt.Sprintf("the target's rollout changed since it was read (rolling out: %t, now %t)",
			cached.state.RolloutInProgress, live.state.RolloutInProgress)
	case !slices.Equal(blockedKnobs(cached.state), blockedKnobs(live.state)):
		return fmt.Sprintf("the blocked knobs changed since they were read (%v, now %v)", blockedKnobs(cached.state), blockedKnobs(live.state))
	}
	return ""
}

func blockedKnobs(st tuning.State) []tuning.Knob {
	return slices.Sorted(maps.Keys(st.Blocked))
}

// checkClaim stalls a profile whose target an older profile tunes: both
// would write as the one field manager navius-tuner, so neither would see
// the other's changes as a conflict. The oldest profile (creationTimestamp,
// then name) keeps the target. It returns the knobs on the other objects
// an older profile tunes too (the HPA, the Redis workload): this profile
// neither reads them as its own nor writes them.
func (r *PerformanceProfileReconciler) checkClaim(ctx context.Context, p *tuningv1alpha1.PerformanceProfile) (map[tuning.Knob]string, error) {
	hpa, _ := HPAName(p.Spec)
	redis := redisRefOf(p.Spec)
	target := p.Spec.TargetRef.Name
	keys := []indexKey{{indexTarget, target}, {indexRedis, redisKey("Deployment", target)}}
	if hpa != "" {
		keys = append(keys, indexKey{indexHPA, hpa})
	}
	if redis != nil {
		keys = append(keys, indexKey{indexRedis, redisKey(redis.Kind, redis.Name)})
		if redis.Kind == "Deployment" {
			keys = append(keys, indexKey{indexTarget, redis.Name})
		}
	}
	others, err := r.profilesSharing(ctx, p.Namespace, keys)
	if err != nil {
		return nil, err
	}
	claimed := map[tuning.Knob]string{}
	for _, o := range others {
		if o.UID == p.UID || !o.DeletionTimestamp.IsZero() || !claimsBefore(o, p) {
			continue
		}
		otherRedis := redisRefOf(o.Spec)
		if o.Spec.TargetRef.Name == target || (otherRedis != nil && otherRedis.Kind == "Deployment" && otherRedis.Name == target) {
			return nil, stall(tuningv1alpha1.ReasonTargetClaimed, fmt.Sprintf(
				"Deployment %s is already tuned by PerformanceProfile %s (created %s): two profiles on one Deployment would undo each other's changes unseen. Delete one of them; this profile resumes when %s is gone",
				target, o.Name, o.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z"), o.Name))
		}
		by := "PerformanceProfile " + o.Name
		if redis != nil && redis.Kind == "Deployment" && o.Spec.TargetRef.Name == redis.Name {
			claimed[tuning.KnobRedisReplicas] = by // its target is this profile's Redis
		}
		if other, _ := HPAName(o.Spec); hpa != "" && other == hpa {
			for _, k := range tuning.HPAKnobs() {
				claimed[k] = by
			}
		}
		if other := redisRefOf(o.Spec); redis != nil && other != nil && *other == *redis {
			claimed[tuning.KnobRedisReplicas] = by
		}
	}
	return claimed, nil
}

// indexKey is an index field of the profiles and a value of it.
type indexKey struct{ field, value string }

// profilesSharing lists the profiles of namespace ns whose index fields
// have the given values (the manager's cache indexes them), each once. They
// are the cache's own objects, not copies (every reconcile lists the
// profiles that share its target, and deep copies of them were 4 % of the
// bytes the manager allocated at 10,000 profiles): the caller only reads them.
func (r *PerformanceProfileReconciler) profilesSharing(ctx context.Context, ns string, keys []indexKey) ([]*tuningv1alpha1.PerformanceProfile, error) {
	seen := map[types.UID]bool{}
	var out []*tuningv1alpha1.PerformanceProfile
	for _, key := range keys {
		field, value := key.field, key.value
		list := &tuningv1alpha1.PerformanceProfileList{}
		err := listIndexed(ctx, r.client, list, ns, field, value, client.UnsafeDisableDeepCopy)
		if apierrors.IsBadRequest(err) {
			// A client without the manager's cache: the API server has no
			// such field selector, so the namespace's profiles are listed
			// and the caller compares their fields.
			err = r.client.List(ctx, list, client.InNamespace(ns))
		}
		if err != nil {
			return nil, fmt.Errorf("listing the profiles of namespace %s: %w", ns, err)
		}
		for i := range list.Items {
			if o := &list.Items[i]; !seen[o.UID] {
				seen[o.UID] = true
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// redisRefOf is the Redis workload a profile tunes, nil when none.
func redisRefOf(spec tuningv1alpha1.PerformanceProfileSpec) *tuningv1alpha1.WorkloadRef {
	if c := spec.Cache; c != nil && c.Redis != nil && c.Redis.Replicas != nil {
		ref := c.Redis.Replicas.TargetRef
		return &ref
	}
	return nil
}

// claimsBefore: a was created before b (by name when at the same second).
func claimsBefore(a, b *tuningv1alpha1.PerformanceProfile) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
