package sim

import (
	"cmp"
	"slices"
	"sync"
)

// SLO is what a fixed configuration must meet in every evaluation window.
type SLO struct {
	// Percentile (0..1) and its latency Threshold in seconds, e.g. 0.99 and 0.1.
	Percentile, Threshold float64
	// MaxErrorRate is the largest tolerated share of errors (0..1).
	MaxErrorRate float64
	// Window is the evaluation window in seconds (default 60, at most Config.TruthRetention).
	Window float64
	// MaxViolatingWindows tolerated (default 0).
	MaxViolatingWindows int
}

// FixedConfig is one static configuration: a fixed replica count, the same
// knobs on every pod and a Redis replica count.
type FixedConfig struct {
	Replicas      int
	Knobs         Knobs
	RedisReplicas int
}

// Grid spans the fixed configurations to search (every combination).
// PoolMin and Workers are applied to all (PoolMin is capped at the pool max).
type Grid struct {
	Replicas      []int
	PoolMax       []int
	L1Items       []int
	L1TTL         []float64
	L2TTL         []float64
	RedisReplicas []int
	PoolMin       int
	Workers       int
}

// Configs lists the grid's combinations.
func (g Grid) Configs() []FixedConfig {
	var out []FixedConfig
	for _, r := range orOne(g.Replicas, 1) {
		for _, pm := range orOne(g.PoolMax, 10) {
			for _, items := range orOne(g.L1Items, 0) {
				for _, ttl1 := range orOne(g.L1TTL, 0) {
					for _, ttl2 := range orOne(g.L2TTL, 0) {
						for _, rr := range orOne(g.RedisReplicas, 1) {
							k := Knobs{PoolMax: pm, PoolMin: min(g.PoolMin, pm), L1Items: items,
								L1TTL: ttl1, L2TTL: ttl2, Workers: g.Workers}
							out = append(out, FixedConfig{Replicas: r, Knobs: k, RedisReplicas: rr})
						}
					}
				}
			}
		}
	}
	return out
}

func orOne[T any](v []T, def T) []T {
	if len(v) == 0 {
		return []T{def}
	}
	return v
}

// CostWeights price what a configuration provisions, per second:
// a pod, a pool connection (pool max, per pod), an L1 item (per pod) and a
// Redis replica. Zero weights take DefaultCostWeights.
type CostWeights struct {
	PodSecond, ConnSecond, L1ItemSecond, RedisReplicaSecond float64
}

// DefaultCostWeights: a pod is 1; a DB connection 1/50 of a pod; 100,000 L1
// items 1/10 of a pod; a Redis replica 1/2 of a pod.
var DefaultCostWeights = CostWeights{PodSecond: 1, ConnSecond: 0.02, L1ItemSecond: 1e-6, RedisReplicaSecond: 0.5}

// Cost is what fc provisions over seconds.
func (w CostWeights) Cost(fc FixedConfig, seconds float64) float64 {
	if w == (CostWeights{}) {
		w = DefaultCostWeights
	}
	perPod := w.PodSecond + w.ConnSecond*float64(fc.Knobs.PoolMax) + w.L1ItemSecond*float64(fc.Knobs.L1Items)
	return seconds * (float64(fc.Replicas)*perPod + w.RedisReplicaSecond*float64(fc.RedisReplicas))
}

// GridOptions say how a fixed configuration is evaluated.
type GridOptions struct {
	// Config of the model (seed, constants).
	Config Config
	// Trace and Duration (seconds) of the evaluation; the first Warmup seconds are not scored.
	Trace            Trace
	Duration, Warmup float64
	// Step is the model's step in seconds (default 1).
	Step float64
	// CPU request and limit of every pod, in millicores (defaults 500 and 1000).
	CPURequestMillis, CPULimitMillis int64
	SLO                              SLO
	Cost                             CostWeights
	// Parallel evaluations (default 1).
	Parallel int
	// MaxCPUUtilization (0..): a configuration whose pods use more CPU than
	// this share of their request, on average over the scored time, does not
	// meet the SLO's bounds (a profile's cap on the HPA's CPU target: a user
	// who allows pods at most that busy allows no fixed configuration busier).
	// 0: no cap.
	MaxCPUUtilization float64
	// Allow, when set, keeps only the configurations it accepts (the bounds a
	// profile allows: knob ranges, replica range, connection budget).
	Allow func(FixedConfig) bool
}

// GridResult is one evaluated configuration.
type GridResult struct {
	Config FixedConfig
	Cost   float64
	// Meets is true when at most SLO.MaxViolatingWindows windows violated the
	// SLO and the pods stayed within GridOptions.MaxCPUUtilization.
	Meets            bool
	ViolatingWindows int
	Windows          int
	// WorstQuantile is the highest window quantile (seconds); WorstErrorRate the highest window error rate.
	WorstQuantile, WorstErrorRate float64
	// CPUUtilization is the pods' mean CPU use over their requests during the scored time.
	CPUUtilization float64
	// OverCPUCap is true when CPUUtilization exceeds GridOptions.MaxCPUUtilization.
	OverCPUCap bool
}

func (o GridOptions) withDefaults() GridOptions {
	if o.Step <= 0 {
		o.Step = 1
	}
	if o.CPURequestMillis <= 0 {
		o.CPURequestMillis = 500
	}
	if o.CPULimitMillis <= 0 {
		o.CPULimitMillis = 1000
	}
	if o.SLO.Window <= 0 {
		o.SLO.Window = 60
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	if o.Trace == nil {
		o.Trace = Constant(0)
	}
	return o
}

// Evaluate runs the model with fc fixed for the options' trace and scores
// every SLO window after the warm-up.
func Evaluate(opts GridOptions, fc FixedConfig) GridResult {
	opts = opts.withDefaults()
	m := New(opts.Config)
	m.SetTrace(opts.Trace)
	m.SyncPods(MakePods(m.cfg.Service, fc.Replicas, fc.Knobs, opts.CPURequestMillis, opts.CPULimitMillis))
	m.SetRedisReplicas(fc.RedisReplicas)
	res := GridResult{Config: fc, Cost: opts.Cost.Cost(fc, opts.Duration-opts.Warmup)}
	m.Run(opts.Warmup, opts.Step)
	win := min(opts.SLO.Window, m.cfg.TruthRetention)
	var cores, seconds float64
	for m.Now()+win <= opts.Duration+opts.Step/2 {
		for end := m.Now() + win - opts.Step/2; m.Now() < end; {
			st := m.Step(opts.Step)
			cores += st.CPUCores * st.Duration
			seconds += st.Duration
		}
		w := m.Window(win)
		q := w.Quantile(opts.SLO.Percentile)
		res.Windows++
		res.WorstQuantile = max(res.WorstQuantile, q)
		res.WorstErrorRate = max(res.WorstErrorRate, w.ErrorRate())
		if q > opts.SLO.Threshold || w.ErrorRate() > opts.SLO.MaxErrorRate {
			res.ViolatingWindows++
		}
	}
	if seconds > 0 && fc.Replicas > 0 {
		res.CPUUtilization = cores / seconds / (float64(fc.Replicas) * float64(opts.CPURequestMillis) / 1000)
	}
	res.OverCPUCap = opts.MaxCPUUtilization > 0 && res.CPUUtilization > opts.MaxCPUUtilization
	res.Meets = res.Windows > 0 && res.ViolatingWindows <= opts.SLO.MaxViolatingWindows && !res.OverCPUCap
	return res
}

// StaticBest is the static-best oracle: the cheapest configuration of the
// grid (of those opts.Allow accepts) that meets the SLO over the trace
// within opts.MaxCPUUtilization. Configurations are evaluated in
// order of cost and the search stops at the first that meets it, so only
// the cheaper ones are simulated. ok is false when none meets the SLO;
// evaluated lists every configuration simulated, cheapest first.
func StaticBest(opts GridOptions, grid Grid) (best GridResult, ok bool, evaluated []GridResult) {
	opts = opts.withDefaults()
	var cands []FixedConfig
	for _, fc := range grid.Configs() {
		if opts.Allow == nil || opts.Allow(fc) {
			cands = append(cands, fc)
		}
	}
	cost := func(fc FixedConfig) float64 { return opts.Cost.Cost(fc, opts.Duration-opts.Warmup) }
	slices.SortStableFunc(cands, func(a, b FixedConfig) int { return cmp.Compare(cost(a), cost(b)) })
	for start := 0; start < len(cands); start += opts.Parallel {
		batch := cands[start:min(start+opts.Parallel, len(cands))]
		results := make([]GridResult, len(batch))
		var wg sync.WaitGroup
		for i, fc := range batch {
			wg.Go(func() { results[i] = Evaluate(opts, fc) })
		}
		wg.Wait()
		evaluated = append(evaluated, results...)
		for _, r := range results {
			if r.Meets {
				return r, true, evaluated
			}
		}
	}
	return GridResult{}, false, evaluated
}
