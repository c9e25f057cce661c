package prom

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// BatcherOptions configure a Batcher. Zero values take the defaults in brackets.
type BatcherOptions struct {
	// Period is how long one batch answers the profiles of an endpoint; set it
	// to the shortest profile interval [30s].
	Period time.Duration
	// Expiry drops a profile that was not asked for in this long [3 × Period].
	Expiry time.Duration
	// Clock tells the age of a batch [the Reader's clock].
	Clock clock.Clock
	// ServePrevious lets a profile content with the period be answered from
	// the previous batch at once while the next one is read, instead of
	// waiting for Prometheus: when that batch is less than two periods
	// old, made for the profile's spec, and every value it holds for the
	// profile is no older, counted to the time it is served, than a value
	// of a batch served at the end of its own period
	// (signals.Freshness.ServedMaxAge of Period). The refresh it starts serves the
	// next period. A profile that asks for a younger batch (ObserveWithin),
	// a new profile, a changed spec and a batch with a value older than
	// that wait for the refresh: served, that value would be missing
	// (Stale) for a period although Prometheus may hold a newer one.
	ServePrevious bool
}

// Batcher lets per-profile reconciles share one batch per endpoint and period.
// Each reconcile asks for its own profile; the first to find the endpoint's
// batch missing, stale or without its profile refreshes it for every profile
// registered on the endpoint, while the others wait for that refresh. So the
// queries per period stay flat in the number of profiles.
//
// A profile is registered by Observe or, ahead of its first reconcile, by
// Register (for example from the informer's event handler or a list of the
// cache at start-up, so that the first batch already covers every profile).
type Batcher struct {
	obs  *Reader
	opts BatcherOptions

	mu        sync.Mutex
	endpoints map[string]*endpointState
}

type endpointState struct {
	ep      Endpoint
	targets map[string]*registered
	// the latest batch: the observations (held packed: one per profile of
	// the endpoint, kept between reconciles), the fingerprints of the
	// targets it was made for, and when it started.
	result map[string]signals.Packed
	prints map[string]fingerprint
	at     time.Time
	// inflight is closed when the refresh in progress ends; nil when none runs.
	inflight chan struct{}
}

type registered struct {
	target    Target
	print     fingerprint
	lastAsked time.Time
}

// maxRounds bounds how many refreshes one Observe call waits for.
const maxRounds = 4

// NewBatcher returns a Batcher over obs.
func NewBatcher(obs *Reader, opts BatcherOptions) *Batcher {
	if opts.Period <= 0 {
		opts.Period = 30 * time.Second
	}
	if opts.Expiry <= 0 {
		opts.Expiry = 3 * opts.Period
	}
	if opts.Clock == nil {
		opts.Clock = obs.opts.Clock
	}
	return &Batcher{obs: obs, opts: opts, endpoints: map[string]*endpointState{}}
}

// Reader is the Reader the batches are read with.
func (b *Batcher) Reader() *Reader { return b.obs }

// Register adds or updates a profile on an endpoint without querying.
func (b *Batcher) Register(ep Endpoint, t Target) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.register(ep, t)
}

func (b *Batcher) register(ep Endpoint, t Target) (*endpointState, fingerprint) {
	k := ep.key()
	st, ok := b.endpoints[k]
	if !ok {
		st = &endpointState{ep: ep, targets: map[string]*registered{}}
		b.endpoints[k] = st
	}
	// A profile moved to another endpoint (a new URL, a rotated token)
	// leaves the old one, which is freed once no profile uses it.
	for otherKey, other := range b.endpoints {
		if otherKey != k {
			b.leave(otherKey, other, t.Key)
		}
	}
	p := fingerprintOf(t)
	st.targets[t.Key] = &registered{target: t, print: p, lastAsked: b.opts.Clock.Now()}
	return st, p
}

// Forget removes a profile (deleted, or its metrics source changed), and
// frees an endpoint no profile uses any more.
func (b *Batcher) Forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, st := range b.endpoints {
		b.leave(k, st, key)
	}
}

// leave takes profile key off the endpoint st (at map key k): its target and
// its observation of the latest batch. An endpoint left without profiles is
// freed with the Reader's client for it, at once or, while a refresh runs,
// when the refresh ends. The caller holds b.mu.
func (b *Batcher) leave(k string, st *endpointState, key string) {
	delete(st.targets, key)
	delete(st.result, key)
	delete(st.prints, key)
	b.freeIfUnused(k, st)
}

// freeIfUnused frees the endpoint st when no profile uses it and no
// refresh runs. The caller holds b.mu.
func (b *Batcher) freeIfUnused(k string, st *endpointState) {
	if len(st.targets) > 0 || st.inflight != nil || b.endpoints[k] != st {
		return
	}
	delete(b.endpoints, k)
	b.obs.forget(st.ep)
}

// Observe returns the profile's observation from the endpoint's batch,
// refreshing the batch for all the endpoint's profiles when it is older than
// the period or was made without this profile (or with an older spec of it).
func (b *Batcher) Observe(ctx context.Context, ep Endpoint, t Target) signals.Observation {
	return b.ObserveWithin(ctx, ep, t, b.opts.Period)
}

// ObserveWithin is Observe for a profile that needs a batch evaluated less
// than maxAge before it asks, when that is shorter than the period (a
// profile checked again every scrape interval while its breach is
// CPU-saturated): the refresh it starts serves every profile of the
// endpoint, so the queries stay flat in the number of profiles. A refresh
// it waited for is served however long it took, each value no older than
// signals.Freshness.ServedMaxAge.
func (b *Batcher) ObserveWithin(ctx context.Context, ep Endpoint, t Target, maxAge time.Duration) signals.Observation {
	maxAge = min(maxAge, b.opts.Period)
	if maxAge <= 0 {
		maxAge = b.opts.Period
	}
	b.mu.Lock()
	began := b.opts.Clock.Now()
	st, print := b.register(ep, t)
	for round := 0; ; round++ {
		obs, ok := st.result[t.Key]
		ok = ok && st.prints[t.Key] == print
		if ok && b.opts.Clock.Since(st.at) < maxAge {
			b.mu.Unlock()
			return obs.Unpack()
		}
		// A batch whose reading began less than maxAge before this call
		// (the refresh it waited for, which took longer than maxAge) is the
		// newest there is: another refresh would take as long again.
		if ok && (round > 0 && began.Sub(st.at) < maxAge || round >= maxRounds) {
			b.mu.Unlock()
			served, _ := b.previous(obs)
			return served
		}
		if st.inflight == nil {
			b.startRefresh(ctx, st)
		}
		if ok && b.servesPrevious(st, maxAge) {
			if prev, fresh := b.previous(obs); fresh {
				b.mu.Unlock()
				return prev
			}
		}
		wait := st.inflight
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			obs := signals.NewObservation(b.opts.Clock.Now())
			markAll(&obs, t, signals.ReasonTimeout, "canceled while waiting for the batch: "+context.Cause(ctx).Error())
			return obs
		}
		b.mu.Lock()
		if round >= maxRounds {
			packed, ok := st.result[t.Key]
			ok = ok && st.prints[t.Key] == print
			b.mu.Unlock()
			if !ok {
				obs := signals.NewObservation(b.opts.Clock.Now())
				markAll(&obs, t, signals.ReasonTimeout, "the batch did not include the profile's current spec")
				return obs
			}
			served, _ := b.previous(packed)
			return served
		}
	}
}

// servesPrevious says whether the endpoint's batch, older than maxAge, may
// answer while it refreshes (BatcherOptions.ServePrevious). The caller holds
// b.mu.
func (b *Batcher) servesPrevious(st *endpointState, maxAge time.Duration) bool {
	return b.opts.ServePrevious && maxAge >= b.opts.Period && b.opts.Clock.Since(st.at) < 2*b.opts.Period
}

// previous is an observation of a batch older than the period as served
// now, every value older than a batch serves at the end of its own period
// missing (Stale), and whether none was. The observation keeps its
// evaluation time.
func (b *Batcher) previous(p signals.Packed) (signals.Observation, bool) {
	obs := p.Unpack()
	held := len(obs.Values)
	obs.ExpireServed(b.obs.opts.Freshness, b.opts.Clock.Now(), b.opts.Period)
	return obs, len(obs.Values) == held
}

// startRefresh observes every registered, unexpired profile of the endpoint
// in the background (it outlives the caller's context, so that a canceled
// reconcile does not poison the batch every other profile waits for). The
// caller holds b.mu.
func (b *Batcher) startRefresh(ctx context.Context, st *endpointState) {
	now := b.opts.Clock.Now()
	// The registered entries, not copies of their targets (2.9 MiB at
	// 10,000 profiles, held through the refresh): register replaces an
	// entry and never changes one, so they are read without b.mu.
	regs := make([]*registered, 0, len(st.targets))
	prints := make(map[string]fingerprint, len(st.targets))
	for k, r := range st.targets {
		if now.Sub(r.lastAsked) > b.opts.Expiry {
			delete(st.targets, k)
			continue
		}
		regs = append(regs, r)
		prints[k] = r.print
	}
	targets := func(yield func(Target) bool) {
		for _, r := range regs {
			if !yield(r.target) {
				return
			}
		}
	}
	done := make(chan struct{})
	st.inflight = done
	ctx = context.WithoutCancel(ctx)
	go func() {
		// Each observation is packed as it is read: unpacked, every profile's
		// would be held until the last was read.
		result := make(map[string]signals.Packed, len(regs))
		b.obs.observeEach(ctx, st.ep, targets, b.obs.opts.Clock.Now(), func(key string, obs signals.Observation) {
			result[key] = obs.Pack()
		})
		b.mu.Lock()
		for key := range result { // profiles that left during the refresh
			if _, ok := st.targets[key]; !ok {
				delete(result, key)
				delete(prints, key)
			}
		}
		st.result, st.prints, st.at = result, prints, now
		st.inflight = nil
		b.freeIfUnused(st.ep.key(), st)
		b.mu.Unlock()
		close(done)
	}()
}

// fingerprint identifies a target's spec; a changed spec needs a new batch.
// It is a hash of the spec rather than the spec itself (its JSON is about
// 500 bytes, held twice per profile of the endpoint); two specs with the
// same SHA-256 are not a concern.
type fingerprint [sha256.Size]byte

func fingerprintOf(t Target) fingerprint {
	p, err := json.Marshal(t)
	if err != nil {
		p = []byte(t.Key)
	}
	return sha256.Sum256(p)
}
