package tuning

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// byteSource lets the fuzzer drive the input generator: each Uint64 is the
// next 8 bytes of the fuzz input, then a splitmix64 sequence once it runs out
// (a constant source would never end rand's rejection sampling).
type byteSource struct {
	b []byte
	i int
	n uint64
}

func (s *byteSource) Uint64() uint64 {
	if s.i < len(s.b) {
		var buf [8]byte
		s.i += copy(buf[:], s.b[s.i:])
		return binary.LittleEndian.Uint64(buf[:])
	}
	s.n += 0x9e3779b97f4a7c15
	z := s.n
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// gen draws a random but plausible input: specs with knobs present or absent,
// values in and out of bounds, signals present, missing, NaN or stale, and a
// history of decisions with and without baselines.
type gen struct{ r *rand.Rand }

func (g gen) chance(p float64) bool { return g.r.Float64() < p }
func (g gen) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.r.Int64N(hi-lo+1)
}

func (g gen) intKnob(env string, lo, hi int32) *v1.IntEnvKnob {
	if g.chance(0.15) {
		return nil
	}
	mn := int32(g.between(int64(lo), int64(hi)))
	return &v1.IntEnvKnob{Env: env, Min: mn, Max: int32(g.between(int64(mn), int64(hi)*2))}
}

func (g gen) rng(lo, hi int32) *v1.Int32Range {
	if g.chance(0.15) {
		return nil
	}
	mn := int32(g.between(int64(lo), int64(hi)))
	return &v1.Int32Range{Min: mn, Max: int32(g.between(int64(mn), int64(hi)*2))}
}

func (g gen) spec() v1.PerformanceProfileSpec {
	s := fullSpec()
	s.SLO.Latency[0].Threshold = dur(time.Duration(g.between(20, 300)) * time.Millisecond)
	s.SLO.Latency[1].Threshold = dur(time.Duration(g.between(10, 300)) * time.Millisecond)
	if g.chance(0.3) {
		mt := int32(g.between(0, 1500))
		s.SLO.MinThroughput = &mt
	}
	if g.chance(0.2) {
		s.SLO.MaxErrorRate = nil
	}
	s.ConnectionPool.MaxConnections = g.intKnob(string(poolMaxEnv), 0, 30)
	s.ConnectionPool.MinConnections = g.intKnob(string(poolMinEnv), 0, 10)
	if g.chance(0.2) {
		s.ConnectionPool.Database = nil
	} else {
		mc := int32(g.between(50, 600))
		s.ConnectionPool.Database = &v1.DatabaseBudget{MaxConnections: mc, Reserved: int32(g.between(0, int64(mc)/2))}
	}
	s.Cache.Memory.MaxItems = g.intKnob(string(itemsEnv), 100, 20000)
	if g.chance(0.15) {
		s.Cache.Memory.TTL = nil
	}
	if g.chance(0.15) {
		s.Cache.Redis.TTL = nil
	}
	if g.chance(0.15) {
		s.Cache.Redis.Replicas = nil
	} else {
		mn := int32(g.between(0, 3))
		s.Cache.Redis.Replicas.Min, s.Cache.Redis.Replicas.Max = mn, int32(g.between(int64(mn), 8))
	}
	s.Autoscaling.MinReplicas = g.rng(1, 6)
	s.Autoscaling.MaxReplicas = g.rng(2, 20)
	s.Autoscaling.TargetCPUUtilization = g.rng(30, 70)
	if g.chance(0.5) {
		lo := time.Duration(g.between(0, 120)) * time.Second
		s.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{
			Min: dur(lo), Max: dur(lo + time.Duration(g.between(0, 900))*time.Second)}}
	}
	if g.chance(0.1) {
		s.Autoscaling = nil
	}
	if g.chance(0.1) {
		s.ConnectionPool = nil
	}
	if g.chance(0.2) {
		s.WorkerThreads = &v1.IntEnvKnob{Env: string(workersEnv), Min: 1, Max: int32(g.between(1, 16))}
	}
	s.Guardrails.MaxStepPercent = int32(g.between(0, 400))
	s.Guardrails.SettleTime = dur(time.Duration(g.between(0, 10)) * time.Minute)
	s.Guardrails.MaxRolloutsPerHour = int32(g.between(0, 4))
	if g.chance(0.2) {
		off := false
		s.Guardrails.RollbackOnRegression = &off
	}
	return s
}

func (g gen) values(spec v1.PerformanceProfileSpec) Values {
	vals := Values{}
	for _, k := range knobsOf(spec).order {
		if g.chance(0.1) {
			continue // no value yet
		}
		def, _ := knobsOf(spec).get(k)
		vals[k] = g.between(max(def.min-2, 0), def.max+2)
	}
	return vals
}

var allSignals = []signals.Signal{
	signals.LatencyP50, signals.LatencyP95, signals.LatencyP99, signals.ErrorRate, signals.Throughput,
	signals.PoolInUse, signals.PoolMax, signals.PoolWait, signals.DBTime, signals.DBCallRate,
	signals.MemoryHitRatio, signals.RedisHitRatio, signals.CPUUtilization, signals.RedisCPU, signals.Pods,
}

func (g gen) value(s signals.Signal) float64 {
	switch s {
	case signals.LatencyP50, signals.LatencyP95, signals.LatencyP99:
		return g.r.Float64() * 0.4
	case signals.ErrorRate:
		return g.r.Float64() * 0.02
	case signals.MemoryHitRatio, signals.RedisHitRatio:
		return g.r.Float64()
	case signals.Throughput:
		return g.r.Float64() * 3000
	case signals.PoolInUse, signals.PoolMax:
		return float64(g.between(0, 40))
	case signals.PoolWait, signals.DBTime:
		return g.r.Float64() * 0.06
	case signals.DBCallRate:
		return g.r.Float64() * 5000
	case signals.CPUUtilization:
		return g.r.Float64() * 1.3
	case signals.RedisCPU:
		return g.r.Float64() * 1.1
	}
	return float64(g.between(1, 20))
}

func (g gen) observation(now time.Time, missingRate float64) signals.Observation {
	o := signals.NewObservation(now)
	for _, s := range allSignals {
		switch x := g.r.Float64(); {
		case x < missingRate/3:
			o.SetMissing(s, signals.ReasonEmpty, "")
		case x < 2*missingRate/3:
			o.Values[s] = signals.Value{Value: math.NaN(), At: now}
		case x < missingRate:
			o.Values[s] = signals.Value{Value: g.value(s), At: now.Add(-time.Duration(g.between(2, 30)) * time.Minute)}
		default:
			o.Set(s, g.value(s), now)
		}
	}
	o.Expire(signals.Freshness{}) // as the reader does
	return o
}

func (g gen) history(spec v1.PerformanceProfileSpec, vals Values, now time.Time) []v1.Decision {
	knobs := knobsOf(spec)
	outcomes := []v1.Outcome{v1.OutcomeKept, v1.OutcomeRolledBack, v1.OutcomeReverted, v1.OutcomePending}
	diags := []Diagnosis{DiagnosisPoolSaturated, DiagnosisCPUSaturated, DiagnosisOverProvisioned,
		DiagnosisRegression, DiagnosisStartingPoint, DiagnosisCacheMisses}
	var h []v1.Decision
	at := now.Add(-time.Duration(g.between(0, 120)) * time.Minute)
	for range g.between(0, 4) {
		if len(knobs.order) == 0 {
			break
		}
		k := knobs.order[g.r.IntN(len(knobs.order))]
		def, _ := knobs.get(k)
		to := vals[k]
		from := strconv.FormatInt(max(to+g.between(-5, 5), 0), 10)
		if g.chance(0.1) {
			from = ""
		}
		d := decision(at, def.family, diags[g.r.IntN(len(diags))], outcomes[g.r.IntN(len(outcomes))],
			IsEnvFamily(def.family), change(k, from, strconv.FormatInt(to, 10)))
		if g.chance(0.8) {
			d.Baseline = SLIsOf(g.observation(at, 0))
		}
		h = append(h, d)
		at = at.Add(time.Duration(g.between(1, 40)) * time.Minute)
		if at.After(now) {
			break
		}
	}
	return h
}

// strategy draws a Deployment strategy: Recreate, or a rolling update whose
// surge and unavailable pods are absent (25 %), counts or percentages.
func (g gen) strategy() RolloutStrategy {
	if g.chance(0.15) {
		return RolloutStrategy{Recreate: true}
	}
	value := func() *intstr.IntOrString {
		switch g.r.IntN(3) {
		case 0:
			return nil
		case 1:
			v := intstr.FromInt32(int32(g.between(0, 4)))
			return &v
		}
		v := intstr.FromString(strconv.FormatInt(g.between(0, 100), 10) + "%")
		return &v
	}
	return RolloutStrategy{MaxSurge: value(), MaxUnavailable: value()}
}

func (g gen) input() Input {
	spec := g.spec()
	vals := g.values(spec)
	in := Input{
		Spec:        spec,
		Observation: g.observation(t0, []float64{0, 0, 0.05, 0.3}[g.r.IntN(4)]),
		State: State{
			Values: vals, RolloutInProgress: g.chance(0.1), Replicas: int32(g.between(0, 25)),
			HPAAtMax: g.chance(0.3), HasHPA: true, RedisReady: g.chance(0.85),
			CPULimitMillis: g.between(0, 8000), Strategy: g.strategy(),
		},
		History: g.history(spec, vals, t0),
		Now:     t0,
	}
	if g.chance(0.5) {
		in.State.PodsWarmSince = t0.Add(-time.Duration(g.between(-60, 900)) * time.Second)
	}
	if g.chance(0.6) {
		in.SLOMetSince = t0.Add(-time.Duration(g.between(0, 180)) * time.Minute)
	}
	if g.chance(0.05) && len(vals) > 0 {
		in.State.Blocked = map[Knob]string{knobsOf(spec).order[0]: "field conflict"}
	}
	if g.chance(0.3) { // a scaler the profile does not name, or a person's spec.replicas
		in.State.PodsCeiling = int32(g.between(0, 40))
	}
	if g.chance(0.2) {
		in.State.Terminating = int32(g.between(0, 6))
	}
	in.State.GraceSeconds = []int64{0, 10, 30, 30, 30, 60, 600}[g.r.IntN(7)]
	in.State.StepSeconds = []int64{0, 5, 20, 60}[g.r.IntN(4)]
	if g.chance(0.05) {
		in.State.RolloutInProgress = true
		in.State.RolloutFailed = &RolloutFailure{Reason: "ProgressDeadlineExceeded", Ours: g.chance(0.5)}
	}
	return in
}

// --- the invariants, each checked from the spec without the engine's helpers ---

type knobTruth struct {
	family   Family
	min, max int64
	inverse  bool
}

// truthOf reads each knob's family and bounds straight from the spec.
func truthOf(s v1.PerformanceProfileSpec) map[Knob]knobTruth {
	t := map[Knob]knobTruth{}
	addInt := func(e *v1.IntEnvKnob, f Family) {
		if e != nil {
			t[Knob(e.Env)] = knobTruth{family: f, min: int64(e.Min), max: int64(e.Max)}
		}
	}
	addDur := func(e *v1.DurationEnvKnob) {
		if e != nil {
			t[Knob(e.Env)] = knobTruth{family: FamilyCache, min: int64(e.Min.Seconds()), max: int64(e.Max.Seconds())}
		}
	}
	addRange := func(k Knob, r *v1.Int32Range, inverse bool) {
		if r != nil {
			t[k] = knobTruth{family: FamilyAutoscaling, min: int64(r.Min), max: int64(r.Max), inverse: inverse}
		}
	}
	if p := s.ConnectionPool; p != nil {
		addInt(p.MaxConnections, FamilyPool)
		addInt(p.MinConnections, FamilyPool)
	}
	addInt(s.WorkerThreads, FamilyWorkers)
	if c := s.Cache; c != nil {
		addInt(c.Memory.MaxItems, FamilyCache)
		addDur(c.Memory.TTL)
		addDur(c.Redis.TTL)
		if r := c.Redis.Replicas; r != nil {
			t[KnobRedisReplicas] = knobTruth{family: FamilyRedis, min: int64(r.Min), max: int64(r.Max)}
		}
	}
	if a := s.Autoscaling; a != nil {
		addRange(KnobHPAMinReplicas, a.MinReplicas, false)
		addRange(KnobHPAMaxReplicas, a.MaxReplicas, false)
		addRange(KnobHPATargetCPU, a.TargetCPUUtilization, true)
		if b := a.Behavior; b != nil {
			w := b.ScaleDownStabilizationWindow
			t[KnobHPAScaleDownWindowS] = knobTruth{family: FamilyAutoscaling, min: int64(w.Min.Seconds()), max: int64(w.Max.Seconds())}
		}
	}
	return t
}

// unusable reports whether a signal is missing, NaN or implausible (the
// reader has already moved stale samples to Missing: see observation).
func unusable(o signals.Observation, s signals.Signal) bool {
	v, ok := o.Values[s]
	return !ok || math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || v.Value < 0
}

// unusablePositive: the signal cannot be used, or is zero.
func unusablePositive(o signals.Observation, s signals.Signal) bool {
	return unusable(o, s) || o.Values[s].Value == 0
}

// blindTo: an SLO signal cannot be used (every knob must hold), or the
// knob's family's saturation signals cannot (that family must hold).
func blindTo(in Input, family Family) bool {
	s := in.Spec
	needed := []signals.Signal{signals.LatencyP99, signals.LatencyP95}
	if s.SLO.MaxErrorRate != nil {
		needed = append(needed, signals.ErrorRate)
	}
	if s.SLO.MinThroughput != nil {
		needed = append(needed, signals.Throughput)
	}
	switch family {
	case FamilyPool:
		if s.ConnectionPool != nil && s.ConnectionPool.MaxConnections != nil {
			needed = append(needed, signals.PoolInUse, signals.PoolWait)
		}
	case FamilyAutoscaling:
		if a := s.Autoscaling; a != nil && (a.MinReplicas != nil || a.MaxReplicas != nil || a.TargetCPUUtilization != nil) {
			needed = append(needed, signals.CPUUtilization)
		}
	case FamilyRedis:
		if s.Cache != nil && s.Cache.Redis.Replicas != nil {
			needed = append(needed, signals.RedisCPU)
		}
	case FamilyCache:
		cache := false
		if s.Cache != nil && (s.Cache.Memory.MaxItems != nil || s.Cache.Memory.TTL != nil) {
			needed, cache = append(needed, signals.MemoryHitRatio), true
		}
		if s.Cache != nil && s.Cache.Redis.TTL != nil {
			needed, cache = append(needed, signals.RedisHitRatio), true
		}
		// a miss's cost: the DB time, or else the pool's busy connections
		// over the DB calls (Little's law): the measured DB call rate, or,
		// without one, the requests that miss every measured cache tier;
		// blind only without any
		o := in.Observation
		calls := !unusablePositive(o, signals.DBCallRate)
		if unusable(o, signals.DBCallRate) {
			miss, tiers := 1.0, 0
			for _, h := range []signals.Signal{signals.MemoryHitRatio, signals.RedisHitRatio} {
				if !unusable(o, h) && o.Values[h].Value <= 1 {
					miss, tiers = miss*(1-o.Values[h].Value), tiers+1
				}
			}
			calls = tiers > 0 && miss > 0 && !unusablePositive(o, signals.Throughput)
		}
		if cache && unusablePositive(o, signals.DBTime) && (unusablePositive(o, signals.PoolInUse) || !calls) {
			return true
		}
	}
	for _, sig := range needed {
		if unusable(in.Observation, sig) {
			return true
		}
	}
	return false
}

// breached: some objective is observed outside its limit.
func breached(in Input) bool {
	get := func(s signals.Signal) (float64, bool) {
		v, ok := in.Observation.Values[s]
		return v.Value, ok && !math.IsNaN(v.Value)
	}
	for _, l := range in.Spec.SLO.Latency {
		s, _ := signals.LatencySignal(string(l.Percentile))
		if v, ok := get(s); ok && v > l.Threshold.Seconds() {
			return true
		}
	}
	if in.Spec.SLO.MaxErrorRate != nil {
		limit, _ := strconv.ParseFloat(string(*in.Spec.SLO.MaxErrorRate)[:len(*in.Spec.SLO.MaxErrorRate)-1], 64)
		if v, ok := get(signals.ErrorRate); ok && v > limit/100 {
			return true
		}
	}
	if m := in.Spec.SLO.MinThroughput; m != nil && *m > 0 {
		if v, ok := get(signals.Throughput); ok && v < float64(*m) {
			return true
		}
	}
	return false
}

// restoresPending: every change sets a knob back to the value before the pending decision.
func restoresPending(in Input, p Plan, truth map[Knob]knobTruth) bool {
	pd := Pending(in.History)
	if pd == nil {
		return false
	}
	for _, c := range p.Changes {
		found := false
		for _, pc := range pd.Changes {
			from, err := strconv.ParseInt(pc.From, 10, 64)
			k := truth[c.Knob]
			if Knob(pc.Knob) == c.Knob && err == nil && c.To == min(max(from, k.min), k.max) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func checkInvariants(in Input, p Plan) error {
	if again := Decide(in); !reflect.DeepEqual(p, again) {
		return fmt.Errorf("not deterministic:\n%+v\n%+v", p, again)
	}
	truth := truthOf(in.Spec)
	s := SettingsOf(in.Spec)
	after := Values{}
	for k, v := range in.State.Values {
		after[k] = v
	}
	reduces := false
	for _, c := range p.Changes {
		k, ok := truth[c.Knob]
		switch {
		case !ok:
			return fmt.Errorf("change of an undeclared knob %s", c.Knob)
		case c.To < k.min || c.To > k.max:
			return fmt.Errorf("%s -> %d leaves its bounds %d–%d", c.Knob, c.To, k.min, k.max)
		case k.family != p.Family && (!IsEnvFamily(k.family) || !IsEnvFamily(p.Family)):
			// One family per plan; env families (pool, cache, workers) may share one rollout.
			return fmt.Errorf("%s (family %s) in a %s plan", c.Knob, k.family, p.Family)
		case c.HasFrom && c.From != in.State.Values[c.Knob]:
			return fmt.Errorf("%s from %d, but its value is %d", c.Knob, c.From, in.State.Values[c.Knob])
		case c.HasFrom && c.To == c.From:
			return fmt.Errorf("no-op change %+v", c)
		}
		if c.HasFrom && (c.To < c.From) != k.inverse {
			reduces = true
		}
		after[c.Knob] = c.To
		if why, blocked := in.State.Blocked[c.Knob]; blocked {
			return fmt.Errorf("changed %s, which is blocked (%s)", c.Knob, why)
		}
	}
	if len(p.Changes) == 0 {
		return nil
	}
	undo := p.Diagnosis == DiagnosisRegression || p.Diagnosis == DiagnosisNoImprovement
	if f := in.State.RolloutFailed; f != nil {
		// The only answer to a failed rollout is to restore what
		// navius-tuner's own pending env change replaced; its evidence is the
		// Deployment's verdict, not the signals, and it does not wait for the
		// rollout or the settle time.
		if !f.Ours || !undo || !p.Rollout || !restoresPending(in, p, truth) {
			return fmt.Errorf("a change during a failed rollout that does not restore navius-tuner's own change: %+v", p.Changes)
		}
		return nil
	}
	for _, c := range p.Changes {
		// A rollback restores a value the verdict (on the SLO signals) condemned.
		if f := truth[c.Knob].family; blindTo(in, f) && (!undo || blindTo(in, "")) {
			return fmt.Errorf("changed %s (family %s) with missing data: %+v", c.Knob, f, p.Changes)
		}
	}
	if in.State.RolloutInProgress {
		return fmt.Errorf("acted during a rollout")
	}
	if last, ok := lastChange(in.History); ok && in.Now.Sub(last) < s.SettleTime {
		return fmt.Errorf("acted %s after the last change, settleTime %s", in.Now.Sub(last), s.SettleTime)
	}
	if undo && !restoresPending(in, p, truth) {
		return fmt.Errorf("a rollback that does not restore the pending decision: %+v", p.Changes)
	}
	if reduces && breached(in) && !undo {
		return fmt.Errorf("reduced capacity while an SLO is breached: %+v", p.Changes)
	}
	if p.Rollout != IsEnvFamily(p.Family) {
		return fmt.Errorf("rollout %v for family %s", p.Rollout, p.Family)
	}
	// Every restart is charged, rollbacks included; only a rollback may start when the budget is spent.
	restarts := 0
	for _, h := range in.History {
		if h.Rollout && !h.Time.After(in.Now) && in.Now.Sub(h.Time.Time) < time.Hour {
			restarts++
		}
	}
	if p.Rollout && !undo && restarts >= s.MaxRolloutsPerHour {
		return fmt.Errorf("rollout budget exceeded: %d restarts in the last hour", restarts)
	}
	return checkBudget(in, p, after)
}

// rollingPeak is the most pods that hold database connections at once while
// n replicas roll out, worked out here apart from the engine: the Deployment
// controller rounds a percentage surge up and a percentage of unavailable
// pods down (one pod may be unavailable when both are 0); up to n + surge
// pods run, and the old pods of the last step, surge + unavailable of them
// (at most n), still hold connections while they terminate.
func rollingPeak(n int64, surge, unavailable *intstr.IntOrString) (running, terminating int64) {
	resolve := func(v *intstr.IntOrString, roundUp bool) int64 {
		if v == nil {
			quarter := intstr.FromString("25%")
			v = &quarter
		}
		if v.Type == intstr.Int {
			return int64(v.IntVal)
		}
		p, _ := strconv.ParseInt(strings.TrimSuffix(v.StrVal, "%"), 10, 64)
		if roundUp {
			return (p*n + 99) / 100
		}
		return p * n / 100
	}
	s, u := resolve(surge, true), resolve(unavailable, false)
	if s == 0 && u == 0 {
		u = 1
	}
	return n + s, min(s+u, n)
}

// checkBudget: a plan that raises the pool max or maxReplicas (or creates
// the HPA) leaves the connections at the worst moment of a rollout within
// the database budget, counted independently of the engine (rollingPeak):
// while the pool changes, running pods may all have the larger pool and the
// terminating ones the old pool; after it, every pod has the new pool.
func checkBudget(in Input, p Plan, after Values) error {
	pool := in.Spec.ConnectionPool
	if pool == nil || pool.Database == nil || pool.MaxConnections == nil {
		return nil
	}
	poolKnob := Knob(pool.MaxConnections.Env)
	raised := false
	for _, c := range p.Changes {
		if (c.Knob == poolKnob || c.Knob == KnobHPAMaxReplicas) && (!c.HasFrom || c.To > c.From) {
			raised = true
		}
	}
	next, ok := after[poolKnob]
	if !raised || !ok {
		return nil
	}
	old, ok := in.State.Values[poolKnob]
	if !ok {
		old = next
	}
	// The most pods the Deployment can have, whoever scales it: its ready
	// and declared replicas, every scaler's maximum.
	mostPods := func(vals Values) int64 {
		n := max(int64(in.State.Replicas), int64(in.State.PodsCeiling), 1)
		if v, ok := vals[KnobHPAMaxReplicas]; ok && v > n {
			n = v
		}
		return n
	}
	peak := func(pods, old, next int64) (int64, int64) {
		st := in.State.Strategy
		running, terminating := pods, int64(0) // Recreate: every old pod is gone before a new one starts
		if !st.Recreate {
			running, terminating = rollingPeak(pods, st.MaxSurge, st.MaxUnavailable)
		}
		// The old pods scaled down within one grace period still hold their
		// connections: one batch per step, a step lasting StepSeconds at least.
		if !st.Recreate {
			batch := terminating
			steps := pods // nothing bounds a step: every old pod at once
			if in.State.StepSeconds > 0 {
				steps = in.State.GraceSeconds/in.State.StepSeconds + 1
			}
			terminating = min(batch*steps, pods)
		}
		terminating += int64(in.State.Terminating)
		during := running*max(old, next) + terminating*old
		return max(during, (running+terminating)*next), running + terminating
	}
	limit := int64(pool.Database.MaxConnections - pool.Database.Reserved)
	pods := mostPods(after)
	used, peakPods := peak(pods, old, next)
	was, _ := peak(mostPods(in.State.Values), old, old)
	if used > limit && used > was {
		return fmt.Errorf("connection budget broken: a rollout at %d pods (%+v) peaks at %d pods, pool %d -> %d: %d > %d (was %d)",
			pods, in.State.Strategy, peakPods, old, next, used, limit, was)
	}
	return nil
}

func TestPropertiesOverRandomInputs(t *testing.T) {
	// 4,000 inputs even with -short: savings are rare among random inputs
	// (about 1 in 300 reaches OverProvisioned, since nothing is reduced while
	// any signal of the family is missing), and fewer inputs would not reach
	// that path often enough to prove anything. It takes a few seconds.
	const n = 4000
	counts := map[string]int{}
	for seed := range uint64(n) {
		in := gen{rand.New(rand.NewPCG(seed, 7))}.input()
		p := Decide(in)
		if err := checkInvariants(in, p); err != nil {
			t.Fatalf("seed %d: %v\nplan %+v", seed, err, p)
		}
		if len(p.Changes) > 0 {
			counts["changed"]++
			counts[string(p.Diagnosis)]++
		}
		if p.Judgement != nil {
			counts["judged"]++
		}
	}
	// The generator must reach the interesting paths, or the properties prove nothing.
	for _, k := range []string{"changed", "judged", string(DiagnosisPoolSaturated), string(DiagnosisRegression),
		string(DiagnosisOverProvisioned), string(DiagnosisStartingPoint), string(DiagnosisCPUSaturated)} {
		if counts[k] < 3 {
			t.Errorf("only %d random inputs reached %q: the generator is too narrow (%v)", counts[k], k, counts)
		}
	}
	t.Logf("outcomes over %d inputs: %v", n, counts)
}

func FuzzDecide(f *testing.F) {
	for _, seed := range []string{"", "navius", "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := gen{rand.New(&byteSource{b: data})}.input()
		if err := checkInvariants(in, Decide(in)); err != nil {
			t.Fatal(err)
		}
	})
}
