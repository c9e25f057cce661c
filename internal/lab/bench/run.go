package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/period"
	"github.com/navius-dev/navius-tuner/internal/period/step"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Arm names.
const (
	ArmTuner         = "tuner"
	ArmStaticDefault = "static-default"
	ArmStaticBest    = "static-best"
)

// ArmHPA is the name of the HPA arm at pct % CPU.
func ArmHPA(pct int) string { return fmt.Sprintf("hpa-cpu%d", pct) }

// epoch is the wall time of simulated second 0.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func wall(t float64) time.Time { return epoch.Add(time.Duration(t * float64(time.Second))) }

// Sample is the state of a run every SampleEvery seconds.
type Sample struct {
	T, RPS float64
	// Pods exist (ready or starting); Ready serve; Desired is the Deployment's spec.replicas.
	Pods, Ready, Desired int
	// P99 (the scenario's percentile) and ErrRate of the requests of the last SampleEvery seconds (ground truth).
	P99, ErrRate                          float64
	PoolMax, L1Items, L1TTL, L2TTL, Redis int
	HPAMin, HPAMax, HPATarget             int32
	ConnsOpen                             int
}

// SampleEvery is the resolution of the recorded time series, in seconds.
const SampleEvery = 10.0

// Window is the ground truth of one scoring window.
type Window struct {
	T, Q, Mean, ErrRate float64
	Requests            int
	Violating           bool
}

// Step is one control period of the tuner: what it saw and did.
type Step struct {
	T         float64
	Reason    string
	Diagnosis string
	Changes   string
	Holds     []string
	Judgement string
	Applied   bool
	Blind     bool // a needed signal was missing
	// BlindChange: the plan changed a knob whose family's signals (or an SLO signal) were missing.
	BlindChange bool
	DecideNS    float64
	// NoOps are proposed changes to the value the knob already has.
	NoOps int
	// Refused are the changes the guard refused.
	Refused int

	// Ground truth at the decision, for B6's unsafe actions (counted by the
	// harness, independently of the engine's notion of missing data).
	// Wrote is true when the period wrote anything; CapacityReduced when the
	// emulated cluster has less capacity after it than before (see capacity).
	Wrote, CapacityReduced bool
	// TrueQ is the exact SLO percentile over the profile's SLO window and
	// TrueQMinute over the last minute; TrueErr the exact error rate over the window.
	TrueQ, TrueQMinute, TrueErr float64
	// ObservedQ is the SLO percentile the engine was given (NaN: missing).
	ObservedQ float64
}

// Result is one run of one arm on one scenario and seed.
type Result struct {
	Scenario, Arm string
	Seed          uint64
	Config        string // the fixed configuration of a static arm
	Samples       []Sample
	// Periods are 30 s windows, Minutes 60 s windows, scored after the warm-up.
	Periods, Minutes []Window
	// Provisioned over the scored time: pod-, connection- (open), pool-max- and Redis-replica-seconds.
	PodSeconds, ConnSeconds, PoolSeconds, RedisSeconds float64
	// Cost with sim.DefaultCostWeights (pods, pool max, L1 items, Redis
	// replicas); TailCost the same over the last TailSeconds of the run.
	Cost, TailCost float64
	// Requests, Errors and pool errors (500 and 503) over the scored time.
	Requests, Errors, PoolErrors int
	// PoolErrorsFromStart are the pool errors from the operator's start
	// (Scenario.TunerStart) to the end, whatever the arm; PoolErrorsCacheFill
	// those of them during a cache fill: an env rollout of the operator and
	// the ColdStartSeconds after it, while its new pods start with empty
	// caches; PoolErrorsBeforeStart the scored ones before the start.
	PoolErrorsFromStart, PoolErrorsCacheFill, PoolErrorsBeforeStart int
	// Rollouts (env changes), Writes (objects written) and Reversals of the replica count.
	Rollouts, Writes, Reversals int
	// ReversalsAfterHPAWrite are the reversals that came within
	// ReversalAttribution of a write to the HPA's spec: the ones the
	// tuner's writes may have caused.
	ReversalsAfterHPAWrite int
	// MaxConnsOpen and MaxPoolProvisioned (Σ pool max over pods) seen.
	MaxConnsOpen, MaxPoolProvisioned int
	// SecondsOverDBBudget counts the seconds in which the connections open in
	// the model exceeded the profile's database budget (maxConnections −
	// reserved), over the whole run; 0 without a budget.
	SecondsOverDBBudget int
	Steps               []Step
	Scored              float64 // seconds
}

// runner carries one run.
type runner struct {
	sc     *Scenario
	arm    string
	seed   uint64
	m      *sim.Model
	d      *deployment
	hpa    *HPA
	redis  int // desired Redis replicas
	redisN int // ready Redis replicas
	redisT float64
	prom   *prom
	st     tuningv1alpha1.PerformanceProfileStatus
	res    *Result
	// decide is the engine: tuning.Decide (a test may script it).
	decide func(tuning.Input) tuning.Plan

	lastReplicas int32
	lastDir      int
	// lastHPAWrite is when the tuner last changed the HPA's spec (-1: never).
	lastHPAWrite float64
	// podsKey is the Deployment's pod changes and ready count the model last got.
	podsKey [2]int
	// lastRollout is the last second an env rollout was under way after the
	// operator's start (-Inf: none yet).
	lastRollout float64
	// rps is the rps arm's scaler (nil for other arms).
	rps *rpsScaler
	// floorAt is when a floor-raiser arm raises the HPA's minimum to
	// floorPods (never for other arms: +Inf).
	floorAt   float64
	floorPods int32
}

// RedisStartSeconds is how long a new Redis replica takes to become ready.
const RedisStartSeconds = 10.0

// Run plays one arm of a scenario with one seed. fixed is the configuration
// of the static-best arm (ignored by the others).
func Run(sc *Scenario, arm string, seed uint64, fixed *sim.FixedConfig) *Result {
	r := newRunner(sc, arm, seed, fixed)
	r.loop()
	return r.res
}

// newRunner sets one arm of a scenario up at t = 0: the model on the
// scenario's trace, the starting Deployment with its pods warm-starting,
// Redis, the HPA of the arm and, for the tuner, its emulated Prometheus.
func newRunner(sc *Scenario, arm string, seed uint64, fixed *sim.FixedConfig) *runner {
	cfg := sc.Model
	cfg.Seed = seed
	r := &runner{sc: sc, arm: arm, seed: seed, lastHPAWrite: -1, lastRollout: math.Inf(-1), m: sim.New(cfg),
		res: &Result{Scenario: sc.ID, Arm: arm, Seed: seed}, decide: tuning.Decide}
	r.m.SetTrace(sc.Trace(seed))
	knobs, replicas, redis := sc.Start.Knobs, sc.Start.Replicas, sc.Start.RedisReplicas
	if arm == ArmStaticBest && fixed != nil {
		knobs, replicas, redis = fixed.Knobs, int32(fixed.Replicas), fixed.RedisReplicas
		r.res.Config = fmtFixed(*fixed)
	}
	if arm == ArmStaticDefault {
		r.res.Config = fmtFixed(sim.FixedConfig{Replicas: int(replicas), Knobs: knobs, RedisReplicas: redis})
	}
	r.d = &deployment{name: "orders-api", replicas: replicas, env: knobs.Env(), startSeconds: StartSeconds,
		cpuReq: sc.CPURequest, cpuLm: sc.CPULimit, defaults: cfg.DefaultKnobs}
	// the pods of the starting configuration are up and warm-starting at t = 0
	for range replicas {
		r.d.create(-StartSeconds)
	}
	r.redis, r.redisN = redis, redis
	r.m.SetRedisReplicas(redis)
	if pct, window, windowSet, ok := hpaArm(arm); ok {
		r.hpa = &HPA{Min: sc.Start.HPAMin, Max: sc.Start.HPAMax, TargetPct: pct, DownWindow: window, DownWindowSet: windowSet}
	}
	r.floorAt = math.Inf(1)
	if at, ok := floorAction(sc, arm, tuning.SettingsOf(sc.Profile).Interval.Seconds()); ok {
		r.hpa = &HPA{Min: sc.Start.HPAMin, Max: sc.Start.HPAMax, TargetPct: sc.Start.TunerTargetPct}
		r.floorAt = at
		r.floorPods = int32(neededPods(sc.Model, sc.Start.Knobs, sc.Trace(seed).RPS(sc.Marks[0]+1), sc.CPURequest))
	}
	if arm == ArmRPS {
		r.hpa = &HPA{Min: sc.Start.HPAMin, Max: sc.Start.HPAMax}
		r.rps = &rpsScaler{perPod: rpsPerPod(sc)}
		r.prom = newProm(KEDARateWindow + 2*ScrapeInterval)
	}
	if arm == ArmTuner {
		r.hpa = &HPA{Min: sc.Start.HPAMin, Max: sc.Start.HPAMax, TargetPct: sc.Start.TunerTargetPct}
		r.prom = newProm(tuning.SettingsOf(sc.Profile).Window.Seconds() + 2*ScrapeInterval + StaleAge)
		r.prom.readAs(sc.Profile)
	}
	r.lastReplicas = r.d.replicas
	return r
}

func fmtFixed(fc sim.FixedConfig) string {
	k := fc.Knobs
	return fmt.Sprintf("%d pods, pool %d, L1 %d/%.0fs, L2 %.0fs, %d Redis", fc.Replicas, k.PoolMax, k.L1Items, k.L1TTL, k.L2TTL, fc.RedisReplicas)
}

func (r *runner) loop() {
	sc, res := r.sc, r.res
	settings := tuning.SettingsOf(sc.Profile)
	tunerStart := sc.TunerStart()
	// the first period at the first multiple of the interval from the operator's start
	nextControl := math.Ceil(tunerStart/settings.Interval.Seconds()) * settings.Interval.Seconds()
	budget, hasBudget := dbBudget(sc.Profile)
	var acc struct{ reqs, errs int }
	for t := 0.0; t < sc.Duration-1e-9; t++ {
		r.raiseFloor(t)
		if r.hpa != nil && t > 0 && math.Mod(t, HPASyncPeriod) == 0 {
			r.syncHPA(t)
		}
		r.d.reconcile(t)
		if t >= tunerStart && r.d.rollingOut() {
			r.lastRollout = t + 1
		}
		if r.redisN < r.redis && t >= r.redisT {
			r.redisN = r.redis
			r.m.SetRedisReplicas(r.redisN)
		}
		r.syncPods(t)
		st := r.m.Step(1)
		cpu := r.m.PodCPUMillis()
		poolProv := 0
		for _, p := range r.d.pods {
			if v, ok := cpu[p.name]; ok {
				p.cpuSum += float64(v)
				p.cpuN++
			}
			poolProv += sim.KnobsFromEnv(p.env, r.d.defaults).PoolMax
		}
		now := t + 1
		scored := now > sc.Warmup
		poolErrs := st.ByStatus[1] + st.ByStatus[2] - st.Unserved
		if now > tunerStart {
			res.PoolErrorsFromStart += poolErrs
			if now-r.lastRollout <= ColdStartSeconds {
				res.PoolErrorsCacheFill += poolErrs
			}
		}
		res.MaxConnsOpen = max(res.MaxConnsOpen, st.ConnsOpen)
		res.MaxPoolProvisioned = max(res.MaxPoolProvisioned, poolProv)
		if scored {
			res.Scored++
			res.PodSeconds += float64(len(r.d.pods))
			res.ConnSeconds += float64(st.ConnsOpen)
			res.PoolSeconds += float64(poolProv)
			res.RedisSeconds += float64(r.redis)
			var items float64
			for _, p := range r.d.pods {
				items += float64(sim.KnobsFromEnv(p.env, r.d.defaults).L1Items)
			}
			w := sim.DefaultCostWeights
			cost := float64(len(r.d.pods))*w.PodSecond + float64(poolProv)*w.ConnSecond + items*w.L1ItemSecond + float64(r.redis)*w.RedisReplicaSecond
			res.Cost += cost
			if now > sc.Duration-TailSeconds {
				res.TailCost += cost
			}
			res.Requests += st.Requests
			res.Errors += st.Errors
			res.PoolErrors += poolErrs
			if now <= tunerStart {
				res.PoolErrorsBeforeStart += poolErrs
			}
			acc.reqs += st.Requests
			acc.errs += st.Errors
		}
		if r.prom != nil && math.Mod(now, ScrapeInterval) == 0 {
			r.prom.scrape(r.m, now)
		}
		if r.rps != nil && math.Mod(now, KEDAPollSeconds) == 0 {
			r.rps.poll(r.prom, now)
		}
		if hasBudget && st.ConnsOpen > budget {
			res.SecondsOverDBBudget++
		}
		if r.arm == ArmTuner && now >= tunerStart && now >= nextControl {
			r.control(now)
			// the manager's requeue: every interval, every scrape while a breach is CPU-saturated
			nextControl = now + period.NextCheck(r.st, settings.Interval, time.Duration(ScrapeInterval*float64(time.Second))).Seconds()
		}
		if math.Mod(now, SampleEvery) == 0 {
			r.sample(now, st)
		}
		if scored && math.Mod(now, 30) == 0 {
			res.Periods = append(res.Periods, r.window(now, 30))
		}
		if scored && math.Mod(now, 60) == 0 {
			res.Minutes = append(res.Minutes, r.window(now, 60))
		}
	}
}

// syncPods gives the model the Deployment's ready pods whenever they change.
// The key counts pod creations and deletions, not the newest pod's index: at
// the end of a rollout the last new pod becomes ready in the step that
// deletes the last old one, which leaves the ready count unchanged.
func (r *runner) syncPods(t float64) {
	ready := 0
	for _, p := range r.d.pods {
		if p.ready(t, r.d.startSeconds) {
			ready++
		}
	}
	if key := [2]int{r.d.podChanges, ready}; key != r.podsKey || len(r.d.pods) != ready {
		r.podsKey = key
		r.m.SyncPods(r.d.readySpecs(t))
	}
}

func (r *runner) window(now, secs float64) Window {
	w := r.m.Window(secs)
	q := w.Quantile(r.sc.SLO.Percentile)
	return Window{T: now, Q: q, Mean: w.Mean, ErrRate: w.ErrorRate(), Requests: w.Requests,
		Violating: q > r.sc.SLO.Threshold || w.ErrorRate() > r.sc.SLO.MaxErrorRate}
}

func (r *runner) sample(now float64, st sim.StepStats) {
	w := r.m.Window(SampleEvery)
	k := r.d.knobs()
	s := Sample{T: now, RPS: st.OfferedRPS, Pods: len(r.d.pods), Ready: st.Pods, Desired: int(r.d.replicas),
		P99: w.Quantile(r.sc.SLO.Percentile), ErrRate: w.ErrorRate(),
		PoolMax: k.PoolMax, L1Items: k.L1Items, L1TTL: int(k.L1TTL), L2TTL: int(k.L2TTL), Redis: r.redis, ConnsOpen: st.ConnsOpen}
	if r.hpa != nil {
		s.HPAMin, s.HPAMax, s.HPATarget = r.hpa.Min, r.hpa.Max, r.hpa.TargetPct
	}
	r.res.Samples = append(r.res.Samples, s)
}

// syncHPA runs the HPA controller and scales the Deployment.
func (r *runner) syncHPA(t float64) {
	var usage []float64
	unready := 0
	for _, p := range r.d.pods {
		if !p.ready(t, r.d.startSeconds) {
			unready++
		} else if p.cpuN > 0 {
			usage = append(usage, p.cpuSum/p.cpuN)
		}
		p.cpuSum, p.cpuN = 0, 0
	}
	var n int32
	if r.rps != nil {
		// the scale's status replicas: the pods that exist, ready or not
		n = r.hpa.SyncExternal(t, r.d.replicas, r.rps.desired(int32(len(r.d.pods))))
	} else {
		n = r.hpa.Sync(t, r.d.replicas, usage, unready, r.d.cpuReq)
	}
	r.setReplicas(t, n)
}

// setReplicas scales the Deployment to n (an HPA's decision), counting
// reversals of the direction.
func (r *runner) setReplicas(t float64, n int32) {
	if n != r.d.replicas {
		dir := 1
		if n < r.d.replicas {
			dir = -1
		}
		if r.lastDir != 0 && dir != r.lastDir && t > r.sc.Warmup {
			r.res.Reversals++
			if AfterHPAWrite(t, r.lastHPAWrite) {
				r.res.ReversalsAfterHPAWrite++
			}
		}
		r.lastDir = dir
		r.d.replicas = n
	}
}

// raiseFloor is the floor-raiser arms' script: at floorAt the HPA's
// minimum becomes the pods the step needs and the Deployment scales to it at
// once (a clairvoyant acting then, without waiting for the HPA's next
// sync); at the step down the minimum returns to the start's and the HPA
// scales down as it does by itself.
func (r *runner) raiseFloor(t float64) {
	switch {
	case t == r.floorAt:
		r.hpa.Min = r.floorPods
		r.setReplicas(t, max(r.d.replicas, r.floorPods))
	case !math.IsInf(r.floorAt, 1) && len(r.sc.Marks) > 1 && t == r.sc.Marks[1]:
		r.hpa.Min = r.sc.Start.HPAMin
	}
}

// TailSeconds is the end of a run where B4 compares the converged tuner
// with static-best: p99 and cost over the same last 10 minutes.
const TailSeconds = 600.0

// ColdStartSeconds is how long the model's start at t = 0 (every pod new,
// caches empty, pools at their minimum) visibly lasts at the suite's loads.
const ColdStartSeconds = 60.0

// TunerStart is when the operator is installed: half the warm-up (the
// service's caches and pools are warm), but not before its SLO window holds
// only history after the cold start. A real operator is installed on a
// service that has been running; its first window must not show it the
// simulation's start, which no real history has (with the default 5-minute
// window the operator would otherwise spend a rollout on it).
func (sc *Scenario) TunerStart() float64 {
	return max(sc.Warmup/2, ColdStartSeconds+tuning.SettingsOf(sc.Profile).Window.Seconds())
}

// ReversalAttribution is how long after a write to the HPA's spec a
// reversal of the replica count is put down to it: the HPA's default
// scale-down stabilisation window, within which a write can still turn
// the recommendation around.
const ReversalAttribution = 300.0

// AfterHPAWrite reports whether a reversal at t falls within
// ReversalAttribution of the last write to the HPA's spec (lastWrite < 0:
// none yet).
func AfterHPAWrite(t, lastWrite float64) bool {
	return lastWrite >= 0 && t-lastWrite <= ReversalAttribution
}

// dbBudget is the profile's database connection budget, as the engine counts it.
func dbBudget(spec tuningv1alpha1.PerformanceProfileSpec) (int, bool) {
	b, ok := tuning.ConnectionBudget(spec)
	return int(b), ok
}

// control is one reconcile of the tuner at time now.
func (r *runner) control(now float64) {
	sc := r.sc
	for _, k := range sc.Kill {
		if now >= k && now < k+sc.KillFor {
			return // the operator is down
		}
	}
	// The period is the manager's (internal/period): what is observed, the
	// engine's input, the write gate and the judge-then-record order
	// (period.Apply), the status summary and the conditions.
	settings := tuning.SettingsOf(sc.Profile)
	percentiles := tuning.ObservedPercentiles(sc.Profile)
	at := wall(now)
	obs := r.observe(now, settings.Window.Seconds(), at, percentiles)
	state := r.state(now)
	truth := r.m.Window(settings.Window.Seconds())
	var decideNS float64
	decide := func(in tuning.Input) tuning.Plan {
		start := time.Now()
		defer func() { decideNS = float64(time.Since(start).Nanoseconds()) }()
		return r.decide(in)
	}
	before := r.capacity()
	w := &emulatedWriter{r: r, now: now}
	// The emulated writes cannot fail, so the period's errors are impossible here.
	res, _ := step.Run(&r.st, step.Input{Spec: sc.Profile, Gate: period.Gate{Mode: settings.Mode},
		Observation: obs, State: state, Now: at, Decide: decide}, w)
	plan := res.Plan
	row := Step{T: now, Reason: plan.Reason, Diagnosis: string(plan.Diagnosis), Holds: plan.Holds,
		DecideNS: decideNS,
		TrueQ:    truth.Quantile(sc.SLO.Percentile), TrueQMinute: r.m.Window(60).Quantile(sc.SLO.Percentile),
		TrueErr: truth.ErrorRate(), ObservedQ: math.NaN()}
	if s, ok := signals.LatencySignal(string(percentileName(sc.SLO.Percentile))); ok {
		if v, ok := obs.Get(s); ok {
			row.ObservedQ = v
		}
	}
	for _, c := range plan.Changes {
		if cur, ok := state.Values[c.Knob]; ok && cur == c.To {
			row.NoOps++
		}
	}
	row.Blind = !plan.Missing.None()
	row.BlindChange = len(plan.Missing.SLO) > 0 && len(plan.Changes) > 0
	for _, fm := range plan.Missing.Families {
		for _, c := range plan.Changes {
			row.BlindChange = row.BlindChange || slices.Contains(fm.Knobs, c.Knob)
		}
	}
	if j := plan.Judgement; j != nil {
		row.Judgement = string(j.Outcome) + ": " + j.Observed
	}
	row.Refused = len(res.Refused)
	row.Wrote, row.CapacityReduced = w.writes > 0, r.capacity().less(before)
	if d := res.Committed.Recorded; d != nil {
		row.Applied = true
		row.Changes = period.ChangesString(d.Changes)
	}
	r.res.Steps = append(r.res.Steps, row)
}

// emulatedWriter is tier A's period.Writer. The emulated cluster cannot
// fail a write, so the writes happen as they are prepared: recording after
// them leaves the same status as the manager's record-then-write.
type emulatedWriter struct {
	r      *runner
	now    float64
	writes int
}

func (w *emulatedWriter) Prepare(changes []tuning.Change) (int, error) {
	w.writes = w.r.apply(w.now, changes)
	return w.writes, nil
}

func (w *emulatedWriter) Record() error { return nil }

func (w *emulatedWriter) Write() (int, error) { return w.writes, nil }

// capacity is what the emulated cluster provisions, read from the cluster
// (not from the plan): the env knobs, the HPA's fields and the Redis replicas.
type capacity struct {
	knobs                     sim.Knobs
	hpaMin, hpaMax, hpaTarget int32
	hpaDownWindow             float64
	redis                     int
}

func (r *runner) capacity() capacity {
	c := capacity{knobs: sim.KnobsFromEnv(r.d.env, r.d.defaults), redis: r.redis}
	if r.hpa != nil {
		c.hpaMin, c.hpaMax, c.hpaTarget = r.hpa.Min, r.hpa.Max, r.hpa.TargetPct
		c.hpaDownWindow = r.hpa.Window()
	}
	return c
}

// less reports whether c provisions less than b in any dimension: a smaller
// pool, cache or TTL, fewer Redis replicas, a lower HPA minimum or maximum,
// a higher CPU target or a shorter scale-down window (each lets capacity go).
func (c capacity) less(b capacity) bool {
	k, o := c.knobs, b.knobs
	return k.PoolMax < o.PoolMax || k.PoolMin < o.PoolMin || k.L1Items < o.L1Items || k.L1TTL < o.L1TTL ||
		k.L2TTL < o.L2TTL || c.redis < b.redis || c.hpaMin < b.hpaMin || c.hpaMax < b.hpaMax ||
		c.hpaTarget > b.hpaTarget || c.hpaDownWindow < b.hpaDownWindow
}

// StaleAge is how old the newest samples are during a stale fault, in seconds.
const StaleAge = 600.0

// observe reads the signals, with the scenario's faults injected.
func (r *runner) observe(now, window float64, at time.Time, percentiles []signals.Signal) signals.Observation {
	var active []FaultKind
	for _, f := range r.sc.Faults {
		if now >= f.From && now < f.To {
			active = append(active, f.Kind)
		}
	}
	r.prom.down = false
	for _, k := range active {
		if k == FaultDown {
			r.prom.down = true
		}
	}
	evalAt := now
	if slices.Contains(active, FaultStale) {
		evalAt = now - StaleAge // the newest samples are that old, with the values of then
	}
	obs := r.prom.observe(evalAt, window, at, percentiles)
	for _, k := range active {
		switch k {
		case FaultNaN:
			for _, s := range percentiles {
				obs.Set(s, math.NaN(), at)
			}
		case FaultStale:
			for s, v := range obs.Values {
				v.At = at.Add(-time.Duration(StaleAge * float64(time.Second)))
				obs.Values[s] = v
			}
		}
	}
	// The reader's one rule for stale samples, with the emulated scrape
	// interval and the operator's period.
	obs.Expire(signals.Freshness{ScrapeInterval: time.Duration(ScrapeInterval * float64(time.Second)),
		ObservePeriod: tuning.SettingsOf(r.sc.Profile).Interval})
	return obs
}

// state reads tuning.State from the emulated cluster, as the reconciler does.
func (r *runner) state(now float64) tuning.State {
	st := tuning.State{Values: tuning.Values{}, Blocked: map[tuning.Knob]string{}}
	for _, k := range tuning.Knobs(r.sc.Profile) {
		if k.Place != tuning.PlaceEnv {
			continue
		}
		if v, ok := r.d.env[string(k.Knob)]; ok {
			if n, ok := k.Parse(v); ok {
				st.Values[k.Knob] = n
			}
		}
	}
	st.RolloutInProgress = r.d.rollingOut()
	if ws := r.d.warmSince(now); !math.IsInf(ws, -1) {
		st.PodsWarmSince = wall(ws)
	}
	for _, p := range r.d.pods {
		if p.ready(now, r.d.startSeconds) {
			st.Replicas++
		}
	}
	// The most pods the Deployment runs, as the reconciler reads it:
	// spec.replicas and the pods that exist (status.replicas).
	st.PodsCeiling = max(r.d.replicas, int32(len(r.d.pods)))
	// The emulated pods are ready StartSeconds after they start, and
	// terminate within Kubernetes' default grace period.
	st.GraceSeconds, st.StepSeconds = corev1.DefaultTerminationGracePeriodSeconds, int64(StartSeconds)
	st.SpecReplicas = r.d.replicas
	st.CPULimitMillis = r.d.cpuLm
	st.CPURequestMillis = r.d.cpuReq
	st.Strategy = tuning.RolloutStrategy{} // the simulated Deployment rolls out as Kubernetes' default: 25 % surge and unavailable
	if r.hpa != nil {
		st.HasHPA = true
		st.Values[tuning.KnobHPAMinReplicas] = int64(r.hpa.Min)
		st.Values[tuning.KnobHPAMaxReplicas] = int64(r.hpa.Max)
		st.Values[tuning.KnobHPATargetCPU] = int64(r.hpa.TargetPct)
		if r.hpa.DownWindowSet { // unset: the HPA's behaviour has none (upstream default 300 s)
			st.Values[tuning.KnobHPAScaleDownWindowS] = int64(r.hpa.DownWindow)
		}
		st.HPAAtMax = r.hpa.Desired >= r.hpa.Max
		st.HPAHeldByWindow = r.hpa.Stabilized
		st.HPADesiredReplicas = r.hpa.Desired
	}
	st.Values[tuning.KnobRedisReplicas] = int64(r.redis)
	st.RedisReady = r.redisN >= r.redis
	return st
}

// apply writes a plan's changes: the env (a rollout when it changes), the
// HPA fields and the Redis replicas, each only when its content changes.
func (r *runner) apply(now float64, changes []tuning.Change) (writes int) {
	env := map[string]string{}
	for k, v := range r.d.env {
		env[k] = v
	}
	routed := tuning.Route(changes)
	if n := routed.RedisReplicas; n != nil && int(*n) != r.redis {
		if int(*n) > r.redis {
			r.redisT = now + RedisStartSeconds
		} else {
			r.redisN = int(*n)
			r.m.SetRedisReplicas(r.redisN)
		}
		r.redis = int(*n)
		writes++
	}
	hpaChanged := false
	if r.hpa != nil {
		for k, v := range routed.HPA {
			hpaChanged = r.hpa.set(k, v) || hpaChanged
		}
	}
	envChanged := false
	for k, v := range routed.Env {
		if s := strconv.FormatInt(v, 10); env[string(k)] != s {
			env[string(k)] = s
			envChanged = true
		}
	}
	if hpaChanged {
		writes++
		r.lastHPAWrite = now
	}
	if envChanged && r.d.setEnv(env) {
		writes++
		if now > r.sc.Warmup {
			r.res.Rollouts++
		}
	}
	if writes > 0 && now > r.sc.Warmup {
		r.res.Writes += writes
	}
	return writes
}

func pct(r float64) string { return strconv.FormatFloat(r*100, 'f', -1, 64) + "%" }

// set sets knob k of the emulated HPA to v; it reports whether the value changed.
func (h *HPA) set(k tuning.Knob, v int64) bool {
	var slot *int32
	switch k {
	case tuning.KnobHPAMinReplicas:
		slot = &h.Min
	case tuning.KnobHPAMaxReplicas:
		slot = &h.Max
	case tuning.KnobHPATargetCPU:
		slot = &h.TargetPct
	case tuning.KnobHPAScaleDownWindowS:
		if h.DownWindowSet && h.DownWindow == float64(v) {
			return false
		}
		h.DownWindow, h.DownWindowSet = float64(v), true
		return true
	default:
		return false
	}
	if int64(*slot) == v {
		return false
	}
	*slot = int32(v)
	return true
}
