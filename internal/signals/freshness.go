package signals

import (
	"fmt"
	"time"
)

// Defaults of Freshness.
const (
	// DefaultScrapeInterval is Prometheus' default scrape interval.
	DefaultScrapeInterval = time.Minute
	// DefaultObservePeriod is the manager's default --observe-period.
	DefaultObservePeriod = 30 * time.Second
)

// Freshness is the one rule for when a sample is too old to count: its age,
// measured against the evaluation time of the query that returned it
// (Observation.Time), may be at most two scrape intervals (one scrape may
// be missed or still in flight) plus the observe period (how long one batch
// of queries answers every profile). The reader applies it (Observation.Expire);
// the engine and the reconciler read the result, Observation.Missing, and
// never judge an age again.
type Freshness struct {
	// ScrapeInterval is Prometheus' scrape interval [DefaultScrapeInterval].
	ScrapeInterval time.Duration
	// ObservePeriod is how long one batch answers the profiles [DefaultObservePeriod].
	ObservePeriod time.Duration
}

// WithDefaults replaces zero values by the defaults.
func (f Freshness) WithDefaults() Freshness {
	if f.ScrapeInterval <= 0 {
		f.ScrapeInterval = DefaultScrapeInterval
	}
	if f.ObservePeriod <= 0 {
		f.ObservePeriod = DefaultObservePeriod
	}
	return f
}

// MaxAge is the oldest a sample may be, relative to the query's evaluation time.
func (f Freshness) MaxAge() time.Duration {
	f = f.WithDefaults()
	return 2*f.ScrapeInterval + f.ObservePeriod
}

// Expire moves every value sampled more than f.MaxAge() before the
// observation's evaluation time (or without a sample time) to Missing, as Stale.
func (o *Observation) Expire(f Freshness) {
	f = f.WithDefaults()
	o.expireOlderThan(f.MaxAge(), o.Time, func(age time.Duration) string {
		return fmt.Sprintf("newest sample is %s older than the query (max %s: 2 × scrape interval %s + observe period %s)",
			age.Round(time.Second), f.MaxAge(), f.ScrapeInterval, f.ObservePeriod)
	})
}

// ServedMaxAge is the oldest a value may be when it is served later than
// a batch answers for it (the previous batch while the next is read, or a
// refresh that took longer than period, the time one batch answers for):
// as old as a value of a batch served at the end of its own period, the
// rule's limit at the evaluation plus the period, and no older.
func (f Freshness) ServedMaxAge(period time.Duration) time.Duration {
	return f.WithDefaults().MaxAge() + period
}

// ExpireServed moves every value more than f.ServedMaxAge(period) old at
// now, the time the observation is served, to Missing, as Stale. It keeps
// the observation's evaluation time.
func (o *Observation) ExpireServed(f Freshness, now time.Time, period time.Duration) {
	f = f.WithDefaults()
	limit := f.ServedMaxAge(period)
	o.expireOlderThan(limit, now, func(age time.Duration) string {
		return fmt.Sprintf("newest sample is %s old when served, %s after its batch's evaluation (max %s: the rule's %s + the batch period %s)",
			age.Round(time.Second), now.Sub(o.Time).Round(time.Second), limit, f.MaxAge(), period)
	})
}

func (o *Observation) expireOlderThan(limit time.Duration, now time.Time, why func(age time.Duration) string) {
	for s, v := range o.Values {
		switch age := now.Sub(v.At); {
		case v.At.IsZero():
			o.SetMissing(s, ReasonStale, "no sample time")
		case age > limit:
			o.SetMissing(s, ReasonStale, why(age))
		}
	}
}
