package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Arms beside the tuner, the static ones and the HPA at a CPU target.
const (
	// ArmRPS scales on the request rate as KEDA's Prometheus scaler does: a
	// 1-minute rate of the service's requests, polled every KEDAPollSeconds,
	// served as an external metric to the HPA KEDA creates (AverageValue:
	// a target per pod), which scales with the HPA's own algorithm and
	// its default behaviour (see rpsScaler).
	ArmRPS = "rps"
	// ArmFloorAtStep and ArmFloorAtControl are B1's scripted clairvoyant
	// floor-raisers: the tuner's starting HPA (70 % CPU) whose minimum is
	// raised to the pods the step needs, at the step itself or at the first
	// control period after it. They print the floor of the scenario: the
	// seconds a perfect decision, made then, still needs (pods start, the
	// queue built meanwhile drains).
	ArmFloorAtStep    = "floor-at-step"
	ArmFloorAtControl = "floor-at-control"
)

// KEDA's defaults for a ScaledObject with a Prometheus trigger.
const (
	// KEDAPollSeconds is the ScaledObject's pollingInterval (default 30 s):
	// the Prometheus query runs that often and the HPA reads the value of
	// the last poll (the trigger's metric cached over the polling interval).
	KEDAPollSeconds = 30.0
	// KEDARateWindow is the range of the rate() the scaler's query reads.
	KEDARateWindow = 60.0
	// KEDACooldownSeconds is the ScaledObject's cooldownPeriod (default
	// 300 s). It applies only to scaling to zero (and from an idle replica
	// count); between minReplicaCount ≥ 1 and N the HPA scales, with its
	// default 300 s scale-down stabilisation, so it never acts here.
	KEDACooldownSeconds = 300.0
)

// ArmHPAWindow names the HPA arm at pct % CPU with a scale-down
// stabilisation window of window seconds; at the upstream default of 300 s
// it is ArmHPA(pct).
func ArmHPAWindow(pct int, window float64) string {
	if window == hpaDownWindow {
		return ArmHPA(pct)
	}
	return fmt.Sprintf("hpa-cpu%d-down%.0fs", pct, window)
}

// hpaArm parses an HPA arm name: its CPU target, and its scale-down window
// when the name sets one; ok is false for other arms.
func hpaArm(arm string) (pct int32, window float64, windowSet, ok bool) {
	s, found := strings.CutPrefix(arm, "hpa-cpu")
	if !found {
		return 0, 0, false, false
	}
	p, w, hasWindow := strings.Cut(s, "-down")
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return 0, 0, false, false
	}
	if hasWindow {
		secs, err := strconv.ParseFloat(strings.TrimSuffix(w, "s"), 64)
		if err != nil || secs < 0 || !strings.HasSuffix(w, "s") {
			return 0, 0, false, false
		}
		return int32(n), secs, true, true
	}
	return int32(n), 0, false, true
}

// hpaPct is the CPU target of an HPA arm; ok is false for other arms.
func hpaPct(arm string) (int32, bool) {
	pct, _, _, ok := hpaArm(arm)
	return pct, ok
}

// rpsScaler is the rps arm's scaler: KEDA polls Prometheus every
// KEDAPollSeconds for sum(rate(http_requests_total[1m])) and the HPA it
// creates reads that value at its own sync as an external metric with an
// AverageValue target of perPod requests per second. The HPA's replica
// calculation for such a metric (upstream GetExternalPerPodMetricReplicas):
// with the scale's status replicas n, usage ratio = value / (perPod × n);
// outside the 10 % tolerance the replicas are ceil(value / perPod). No
// readiness correction (that is for resource and pod metrics); then the same
// stabilisation, rate limits and bounds as every HPA (HPA.normalize).
type rpsScaler struct {
	perPod float64
	// value is the last poll's result; ok false until the first poll answers.
	value float64
	ok    bool
}

// poll runs the scaler's query against the emulated Prometheus at now.
func (k *rpsScaler) poll(p *prom, now float64) {
	v, ok := p.sumRate("http_requests_total", now, KEDARateWindow, nil)
	if ok {
		k.value, k.ok = v, true
	}
}

// desired is the HPA's raw recommendation from the external metric.
func (k *rpsScaler) desired(statusReplicas int32) int32 {
	if !k.ok || k.perPod <= 0 || statusReplicas <= 0 {
		return statusReplicas
	}
	ratio := k.value / (k.perPod * float64(statusReplicas))
	if math.Abs(1-ratio) <= hpaTolerance {
		return statusReplicas
	}
	return int32(math.Ceil(k.value / k.perPod))
}

// SyncExternal is the HPA's sync for the rps arm: the recommendation from
// the external metric (desired, already computed from the status replicas),
// through the same normalisation as a CPU metric.
func (h *HPA) SyncExternal(now float64, current, desired int32) int32 {
	return h.normalize(now, current, desired)
}

// rpsPerPod is the rps arm's target per pod: the request rate one pod
// serves at 70 % of its CPU request, the same sizing as hpa-cpu70's, so the
// two differ in the signal they scale on, not in how busy they keep a pod.
func rpsPerPod(sc *Scenario) float64 {
	return 0.7 * float64(sc.CPURequest) / 1000 / cpuPerRequest(sc.Model, sc.Start.Knobs, Peak)
}

// floorAction is when a floor-raiser arm acts on the step and whether it is one.
func floorAction(sc *Scenario, arm string, interval float64) (float64, bool) {
	if !sc.isStep() || len(sc.Marks) == 0 {
		return 0, false
	}
	up := sc.Marks[0]
	switch arm {
	case ArmFloorAtStep:
		return up, true
	case ArmFloorAtControl:
		// the first control after the step: the operator's periods end at
		// multiples of the interval, and the one ending at the step has not
		// seen a second of it
		return (math.Floor(up/interval) + 1) * interval, true
	}
	return 0, false
}
