package prom

import (
	"errors"
	"slices"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Query is one query a profile costs per period.
type Query struct {
	// Family is the batch family (latency, traffic, pool, cache, workload),
	// or override for a query of spec.metrics.queries.
	Family string
	// Signals are the signals the query yields for the profile.
	Signals []signals.Signal
	// PromQL is the query as the reader sends it for this profile alone
	// (in a batch, the label matchers list the values of every profile of
	// the group).
	PromQL string
}

// QueriesOf lists the queries that observe t on its own, in the order the
// reader sends them: the batch families it needs, then one per override.
// It queries nothing; an invalid target returns why. opts sets the scrape
// interval (Freshness) that the default saturation window derives from.
func QueriesOf(t Target, opts Options) ([]Query, error) {
	r := &Reader{opts: opts.withDefaults()}
	groups, invalid := r.plan(slices.Values([]Target{t}))
	if len(invalid) > 0 {
		return nil, errors.New(invalid[0].reason)
	}
	var out []Query
	for _, g := range groups {
		for _, j := range g.jobs {
			sigs := slices.Clone(familySignalsOf(t, j.family))
			if j.family == famWorkload {
				sigs = slices.DeleteFunc(sigs, func(s signals.Signal) bool {
					return s == signals.CPUUtilization && !wantsCPU(t) ||
						(s == signals.RedisCPU || s == signals.RedisOpsRate) && !wantsRedis(t)
				})
			}
			ov := overrideQueries(t.Overrides)
			sigs = slices.DeleteFunc(sigs, func(s signals.Signal) bool { _, ok := ov[s]; return ok })
			out = append(out, Query{Family: j.family, Signals: sigs, PromQL: j.query})
		}
		for _, o := range g.overrides {
			out = append(out, Query{Family: famOverride, Signals: []signals.Signal{o.signal}, PromQL: o.query})
		}
	}
	return out, nil
}
