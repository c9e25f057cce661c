package benchcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/bench"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Extra is what tier B records beside a bench.Sample, at the same time.
type Extra struct {
	// PromQ is Prometheus' histogram_quantile of the SLO percentile over the
	// profile's window (wall time); TruthQ the model's exact quantile over
	// the same simulated seconds. NaN when unknown.
	PromQ, TruthQ float64
	// StatusQ is the operator's last observed SLI of the SLO percentile
	// (NaN: none), observed at simulated time StatusAt.
	StatusQ, StatusAt float64
	// HPADesired and HPACurrent are the real HPA's status.
	HPADesired, HPACurrent int
	// Lag is how far the model is behind its clock, in simulated seconds.
	Lag float64
}

// cpuPoint is the model's CPU use of the ready pods at simulated time T.
type cpuPoint struct {
	T      float64
	Millis float64
	Pods   int
}

// ArmRun is one arm of one scenario on the cluster.
type ArmRun struct {
	Scenario *bench.Scenario
	Arm      string
	Result   *bench.Result
	// Extras parallel Result.Samples.
	Extras []Extra
	// ProfileAt is the simulated time the tuner's profile was created (NaN: none).
	ProfileAt float64
	// Decisions are the operator's decision history at the end (tuner arm).
	Decisions []tuningv1alpha1.Decision

	cpu []cpuPoint
	w   *harness.Workload
}

// recorder follows one arm until its scenario's duration has passed.
type recorder struct {
	run     *ArmRun
	c       client.Client
	promURL string
	speed   float64
	profile *tuningv1alpha1.PerformanceProfile // created at tunerStart (tuner)
	// tunerStart is when the operator gets its profile, in simulated
	// seconds: tier A's rule (bench.Scenario.TunerStart) at the window the
	// profile runs with here.
	tunerStart float64
	window     time.Duration // Prometheus' window (wall)
	lastEnv    string
	lastHPA    string
	lastRed    int
	lastDes    int
	lastDir    int
	// lastHPAWrite is when the HPA's spec last changed after the warm-up (-1: never).
	lastHPAWrite float64
	httpc        *http.Client
	logf         func(string, ...any)
	nextSamp     float64
	nextPer      float64
	nextMin      float64

	mu   sync.Mutex
	last *bench.Sample // for progress lines
}

// latest is the last sample, for progress lines.
func (r *recorder) latest() (bench.Sample, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return bench.Sample{}, false
	}
	return *r.last, true
}

// loop samples the arm every simulated second until the end of the scenario.
func (r *recorder) loop(ctx context.Context) error {
	run, sc := r.run, r.run.Scenario
	w := run.w
	tick := time.Duration(float64(time.Second) / r.speed)
	t := time.NewTicker(max(tick, 50*time.Millisecond))
	defer t.Stop()
	r.nextSamp, r.nextPer, r.nextMin = bench.SampleEvery, sc.Warmup+30, sc.Warmup+60
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		now := w.SimNow()
		cpu := w.Model.PodCPUMillis()
		var sum float64
		for _, v := range cpu {
			sum += float64(v)
		}
		run.cpu = append(run.cpu, cpuPoint{T: now, Millis: sum, Pods: len(cpu)})
		if r.profile != nil && now >= r.tunerStart {
			if err := r.c.Create(ctx, r.profile, client.FieldOwner(harness.FieldManager)); err != nil {
				return fmt.Errorf("creating the profile: %w", err)
			}
			run.ProfileAt = now
			r.logf("%s/%s: profile created at %.0f s", sc.ID, run.Arm, now)
			r.profile = nil
		}
		for now >= r.nextPer && r.nextPer <= sc.Duration {
			run.Result.Periods = append(run.Result.Periods, r.truthWindow(r.nextPer, 30))
			r.nextPer += 30
		}
		for now >= r.nextMin && r.nextMin <= sc.Duration {
			run.Result.Minutes = append(run.Result.Minutes, r.truthWindow(r.nextMin, 60))
			r.nextMin += 60
		}
		if now >= r.nextSamp {
			if err := r.sample(ctx, r.nextSamp); err != nil {
				r.logf("%s/%s: sampling at %.0f s: %v", sc.ID, run.Arm, now, err)
			}
			r.nextSamp += bench.SampleEvery
		}
		if now >= sc.Duration {
			return nil
		}
	}
}

func (r *recorder) truthWindow(t, secs float64) bench.Window {
	sc := r.run.Scenario
	ws := r.run.w.Model.Window(secs)
	q := ws.Quantile(sc.SLO.Percentile)
	return bench.Window{T: t, Q: q, Mean: ws.Mean, ErrRate: ws.ErrorRate(), Requests: ws.Requests,
		Violating: q > sc.SLO.Threshold || ws.ErrorRate() > sc.SLO.MaxErrorRate}
}

// sample reads the model's truth, the cluster's objects and Prometheus at simulated time t.
func (r *recorder) sample(ctx context.Context, t float64) error {
	run, sc, w := r.run, r.run.Scenario, r.run.w
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws := w.Model.Window(bench.SampleEvery)
	s := bench.Sample{T: t, RPS: w.Trace().RPS(t), P99: ws.Quantile(sc.SLO.Percentile), ErrRate: ws.ErrorRate()}
	if h := w.Model.History(); len(h) > 0 {
		s.ConnsOpen = h[len(h)-1].ConnsOpen
	}
	x := Extra{PromQ: math.NaN(), TruthQ: math.NaN(), StatusQ: math.NaN(), StatusAt: math.NaN(), Lag: w.Clock.SimSeconds(time.Now()) - w.SimNow()}
	winSim := r.window.Seconds() * r.speed
	if w.SimNow() >= winSim {
		x.TruthQ = w.Model.Window(winSim).Quantile(sc.SLO.Percentile)
		x.PromQ = r.promQuantile(ctx, w.Namespace, sc.SLO.Percentile)
	}
	key := client.ObjectKey{Namespace: w.Namespace, Name: workloadName}
	var d appsv1.Deployment
	if err := r.c.Get(ctx, key, &d); err != nil {
		return err
	}
	s.Pods, s.Ready = int(d.Status.Replicas), int(d.Status.ReadyReplicas)
	if d.Spec.Replicas != nil {
		s.Desired = int(*d.Spec.Replicas)
	}
	env := map[string]string{}
	for _, ct := range d.Spec.Template.Spec.Containers {
		if ct.Name == harness.Container {
			for _, e := range ct.Env {
				env[e.Name] = e.Value
			}
		}
	}
	k := sim.KnobsFromEnv(env, sc.Model.DefaultKnobs)
	s.PoolMax, s.L1Items, s.L1TTL, s.L2TTL = k.PoolMax, k.L1Items, int(k.L1TTL), int(k.L2TTL)
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := r.c.Get(ctx, key, &hpa); err != nil {
		return err
	}
	s.HPAMin, s.HPAMax, s.HPATarget = harness.HPASettings(&hpa)
	x.HPADesired, x.HPACurrent = int(hpa.Status.DesiredReplicas), int(hpa.Status.CurrentReplicas)
	var sts appsv1.StatefulSet
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: harness.RedisName}, &sts); err != nil {
		return err
	}
	if sts.Spec.Replicas != nil {
		s.Redis = int(*sts.Spec.Replicas)
	}
	if run.Arm == bench.ArmTuner && !math.IsNaN(run.ProfileAt) {
		var p tuningv1alpha1.PerformanceProfile
		if err := r.c.Get(ctx, key, &p); err == nil {
			x.StatusQ = statusQuantile(p.Status.SLIs, sc.SLO.Percentile)
			if sl := p.Status.SLIs; sl != nil && sl.ObservedAt != nil {
				x.StatusAt = w.Clock.SimSeconds(sl.ObservedAt.Time)
			}
			run.Decisions = p.Status.History
		}
	}
	r.count(t, s, hpa.Spec)
	run.Result.Samples = append(run.Result.Samples, s)
	run.Extras = append(run.Extras, x)
	r.mu.Lock()
	r.last = &s
	r.mu.Unlock()
	return nil
}

// count tallies rollouts (template env changes), writes (env, HPA spec,
// Redis replicas) and reversals of the replica count after the warm-up.
func (r *recorder) count(t float64, s bench.Sample, hpa autoscalingv2.HorizontalPodAutoscalerSpec) {
	res, scored := r.run.Result, t > r.run.Scenario.Warmup
	env := fmt.Sprint(s.PoolMax, s.L1Items, s.L1TTL, s.L2TTL)
	spec, _ := json.Marshal(struct {
		Min     *int32
		Max     int32
		Metrics any
		B       any
	}{hpa.MinReplicas, hpa.MaxReplicas, hpa.Metrics, hpa.Behavior})
	if r.lastEnv != "" && scored {
		if env != r.lastEnv {
			res.Rollouts++
			res.Writes++
		}
		if string(spec) != r.lastHPA {
			res.Writes++
			r.lastHPAWrite = t
		}
		if s.Redis != r.lastRed {
			res.Writes++
		}
	}
	if r.lastDes > 0 && s.Desired != r.lastDes {
		dir := 1
		if s.Desired < r.lastDes {
			dir = -1
		}
		if r.lastDir != 0 && dir != r.lastDir && scored {
			res.Reversals++
			if bench.AfterHPAWrite(t, r.lastHPAWrite) {
				res.ReversalsAfterHPAWrite++
			}
		}
		r.lastDir = dir
	}
	r.lastEnv, r.lastHPA, r.lastRed, r.lastDes = env, string(spec), s.Redis, s.Desired
}

// finish integrates the model's per-second truth over the scored time.
func (r *recorder) finish() {
	run, sc := r.run, r.run.Scenario
	res := run.Result
	wts := sim.DefaultCostWeights
	for _, st := range run.w.Model.History() {
		if st.T <= sc.Warmup || st.T > sc.Duration {
			continue
		}
		items := float64(valueAt(res.Samples, st.T, func(s bench.Sample) int { return s.L1Items })) * float64(st.Pods)
		res.Scored += st.Duration
		res.PodSeconds += float64(st.Pods) * st.Duration
		res.ConnSeconds += float64(st.ConnsOpen) * st.Duration
		res.PoolSeconds += float64(st.PoolMaxTotal) * st.Duration
		res.RedisSeconds += float64(st.RedisReplicas) * st.Duration
		res.Cost += (float64(st.Pods)*wts.PodSecond + float64(st.PoolMaxTotal)*wts.ConnSecond + items*wts.L1ItemSecond +
			float64(st.RedisReplicas)*wts.RedisReplicaSecond) * st.Duration
		res.Requests += st.Requests
		res.Errors += st.Errors
		res.PoolErrors += st.ByStatus[1] + st.ByStatus[2] - st.Unserved
		res.MaxConnsOpen = max(res.MaxConnsOpen, st.ConnsOpen)
		res.MaxPoolProvisioned = max(res.MaxPoolProvisioned, st.PoolMaxTotal)
	}
}

func statusQuantile(s *tuningv1alpha1.SLIs, p float64) float64 {
	if s == nil {
		return math.NaN()
	}
	v, ok := tuning.SLISeconds(*s.Latency(tuningv1alpha1.Percentile(signals.PercentileAtMost(p).Name)))
	if !ok {
		return math.NaN()
	}
	return v
}

// promQuantile asks Prometheus for the SLO percentile of the workload's
// latency histogram over the profile's window, as the operator's query does.
func (r *recorder) promQuantile(ctx context.Context, ns string, p float64) float64 {
	q := fmt.Sprintf(`histogram_quantile(%g, sum by (le) (rate(http_request_duration_seconds_bucket{namespace=%q,service=%q}[%s])))`,
		p, ns, workloadName, promDuration(r.window))
	return harness.PromScalar(ctx, r.httpc, r.promURL, q)
}

func promDuration(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) + "s" }
