package benchcluster

import (
	"context"
	"math"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
)

// behavior is the upstream default behaviour with every period divided by
// speed: scale-up by max(100 %, 4 pods) per 15 s without stabilisation,
// scale-down by 100 % per 15 s after a 300 s stabilisation window. Written
// explicitly so that the rate limits are compressed like the sync period
// (without a behavior the controller applies its legacy max(2×, 4) per sync).
func behavior(speed float64) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	period := int32(max(1, math.Round(bench.HPASyncPeriod/speed)))
	down := int32(math.Round(300 / speed))
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0),
			SelectPolicy:               &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: period},
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: period},
			},
		},
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(down),
			SelectPolicy:               &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: period},
			},
		},
	}
}

// setBehavior gives the workload's HPA the compressed default behaviour.
func setBehavior(ctx context.Context, c client.Client, ns string, speed float64) error {
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: workloadName}, &hpa); err != nil {
		return err
	}
	base := hpa.DeepCopy()
	hpa.Spec.Behavior = behavior(speed)
	// a merge patch without the resourceVersion: the HPA controller writes its status meanwhile
	return c.Patch(ctx, &hpa, client.MergeFrom(base), client.FieldOwner(harness.FieldManager))
}

// replayHPA runs tier A's HPA emulation open loop on what tier B recorded:
// every sync period (simulated seconds) it sees the ready pods of the
// cluster and their CPU averaged since the previous sync, and the
// Deployment's replicas at that moment; it returns its desired replicas
// by time.
func replayHPA(cpu []cpuPoint, samples []bench.Sample, requestMillis int64, minR, maxR, target int32, end float64) []bench.Sample {
	h := &bench.HPA{Min: minR, Max: maxR, TargetPct: target}
	var out []bench.Sample
	i := 0
	for t := bench.HPASyncPeriod; t <= end; t += bench.HPASyncPeriod {
		var sum float64
		var n, pods int
		for ; i < len(cpu) && cpu[i].T <= t; i++ {
			if cpu[i].T > t-bench.HPASyncPeriod && cpu[i].Pods > 0 {
				sum += cpu[i].Millis / float64(cpu[i].Pods)
				n++
				pods = cpu[i].Pods
			}
		}
		current := valueAt(samples, t, desired)
		if n == 0 || current == 0 {
			continue
		}
		usage := make([]float64, pods)
		for k := range usage {
			usage[k] = sum / float64(n)
		}
		d := h.Sync(t, int32(current), usage, max(0, current-pods), requestMillis)
		out = append(out, bench.Sample{T: t, Desired: int(d)})
	}
	return out
}

// valueAt is f of the last sample at or before t (0 before the first).
func valueAt(samples []bench.Sample, t float64, f func(bench.Sample) int) int {
	v := 0
	for _, s := range samples {
		if s.T > t {
			break
		}
		v = f(s)
	}
	return v
}
