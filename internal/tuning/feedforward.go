package tuning

import (
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// The feed-forward floor. The HPA sizes from CPU utilisation, which a
// saturated pod caps at its limit: with the limit at the request it sees at
// most 100 % against a 70 % target and grows ×1.43 per sync, however large
// the step. The engine sizes from the load instead: the CPU time a request
// costs, learned while the pods had headroom, times the offered load (every
// request the server counted, errors and timeouts included) is the CPU the
// load needs, whatever the pods could give it.

// MaxCPUSamples is the memory of the learned CPU per request: a running mean
// of the first MaxCPUSamples observations, then an exponential average over
// about as many (a release that changes the cost is followed within as many
// periods).
const MaxCPUSamples = 20

// learnCPU is the CPU time per request learned with this observation, nil
// when the observation says nothing about it: a signal is missing; CPU is at
// or above the HPA's target or the SLOs are breached (a saturated pod queues
// or drops what it cannot serve, so CPU ÷ throughput says what it could
// give, not what the load needs); or a pod is starting (it counts with its
// request before it has a CPU rate, which reads as a low CPU).
func (d *decider) learnCPU() *tuningv1alpha1.LearnedCPU {
	cpu, ok1 := d.v.get(signals.CPUUtilization)
	load, ok2 := d.v.get(signals.Throughput)
	pods, req := d.pods(), d.in.State.CPURequestMillis
	starting := !d.in.State.PodsWarmSince.IsZero() && !d.in.State.PodsWarmSince.Before(d.in.Now)
	if !ok1 || !ok2 || cpu <= 0 || load <= 0 || pods < 1 || req <= 0 || cpu >= d.cpuTarget() || !d.slo.met() || starting {
		return nil
	}
	x := cpu * pods * float64(req) / 1000 / load
	avg, n := x, int32(1)
	if m := d.mem.CPU; m != nil && m.Samples > 0 && m.PerRequest.Duration > 0 {
		n = min(m.Samples+1, MaxCPUSamples)
		prev := m.PerRequest.Seconds()
		avg = prev + (x-prev)/float64(n)
	}
	per := time.Duration(avg * float64(time.Second)).Round(time.Microsecond)
	if per <= 0 {
		return nil
	}
	return &tuningv1alpha1.LearnedCPU{PerRequest: metav1.Duration{Duration: per}, Samples: n}
}

// cpuPerRequest is the learned CPU time per request in seconds: this
// period's update, else the memory's; false when none was learned yet.
func (d *decider) cpuPerRequest() (float64, bool) {
	m := d.plan.CPU
	if m == nil {
		m = d.mem.CPU
	}
	if m == nil || m.PerRequest.Duration <= 0 {
		return 0, false
	}
	return m.PerRequest.Seconds(), true
}

// feedForward is the pods the offered load needs at the HPA's CPU target,
// from the learned CPU per request: ceil(offered × cpuPerRequest ÷ (target ×
// request)), at the load now (loadNow). False when the cost, the load or
// the request is unknown.
func (d *decider) feedForward() (int64, string, bool) {
	return d.feedForwardAt(d.loadNow())
}

// loadNow is the offered load that capacity is added for: the larger of
// the rate over the saturation window (Throughput) and the rate over the
// newest scrape interval (ThroughputNow). Both under-read while pods are
// being added, each differently: the window's rate divides a new pod's
// first requests by a window it did not exist for, the newest interval's
// leaves out a pod with one sample only; neither counts a request twice,
// so the larger is the nearer. The verdicts, the savings and the learned
// CPU per request keep the window's rates, like with like.
func (d *decider) loadNow() (float64, bool) {
	load, ok := d.v.get(signals.Throughput)
	if now, known := d.v.get(signals.ThroughputNow); known && (!ok || now > load) {
		return now, true
	}
	return load, ok
}

// feedForwardAt is feedForward at the given load (ok2 false: unknown).
func (d *decider) feedForwardAt(load float64, ok2 bool) (int64, string, bool) {
	cost, ok1 := d.cpuPerRequest()
	req := d.in.State.CPURequestMillis
	if !ok1 || !ok2 || load <= 0 || req <= 0 {
		return 0, "", false
	}
	target := d.cpuTarget()
	n := PodsForLoad(load, cost, target, float64(req)/1000)
	return n, fmt.Sprintf("%.0f/s × %s CPU per request ÷ (%s × %dm) = %d pods",
		load, fmtSeconds(cost), fmtRatio(target), req, n), true
}

// PodsForLoad is the pods that serve load requests per second costing
// cpuPerRequest CPU-seconds each when every pod runs at target (a share of
// its request of requestCores): ceil(load × cpuPerRequest ÷ (target × requestCores)).
func PodsForLoad(load, cpuPerRequest, target, requestCores float64) int64 {
	if load <= 0 || cpuPerRequest <= 0 || target <= 0 || requestCores <= 0 {
		return 0
	}
	return int64(math.Ceil(load*cpuPerRequest/(target*requestCores) - 1e-9))
}

// floorRaiseContinues says whether the newest decision is a raise of the
// HPA's floor for saturated CPU that is still settling while the SLO is
// still breached: the same breach. A further floor raise may skip the
// settle time then, since an HPA change restarts nothing and the raise
// that preceded it is judged by the next one (it did not suffice).
func (d *decider) floorRaiseContinues() bool {
	n := len(d.in.History)
	if n == 0 || !d.slo.known || d.slo.met() {
		return false
	}
	last := d.in.History[n-1]
	if last.Outcome != tuningv1alpha1.OutcomePending || Diagnosis(last.Diagnosis) != DiagnosisCPUSaturated || len(last.Changes) == 0 {
		return false
	}
	for _, c := range last.Changes {
		from, to, ok := ChangeValues(c)
		if Knob(c.Knob) != KnobHPAMinReplicas || !ok || to <= from {
			return false
		}
	}
	return true
}

// raiseFloorAgain raises the HPA's floor again within the same breach (see
// floorRaiseContinues), before the last raise settled: only to the
// feed-forward answer, when it is above the floor (the CPU signal says
// little then: the pods the raise added count with their request and no use). The last
// raise is kept (it is superseded, not undone). It returns false when there
// is nothing to raise: the caller holds for the settle time then.
func (d *decider) raiseFloorAgain() bool {
	_, how, ok := d.feedForward()
	if !ok {
		return false
	}
	p, hold := d.raiseHPAFloor()
	if hold != "" || len(p.changes) != 1 || p.changes[0].Knob != KnobHPAMinReplicas {
		return false
	}
	p.family, p.diagnosis = FamilyAutoscaling, DiagnosisCPUSaturated
	p.reason = fmt.Sprintf("%s; the load needs %s: the floor is raised again in the same breach (an HPA change restarts nothing, so it does not wait for the last raise to settle)",
		d.sloText(), how)
	if d.adopt(p) != "" {
		return false
	}
	d.plan.Judgement = &Judgement{Outcome: tuningv1alpha1.OutcomeKept,
		Observed: tuningv1alpha1.Truncate("superseded by a higher floor in the same breach: "+d.slo.summary(), tuningv1alpha1.MaxNoteLength)}
	return true
}
