package tuning

import (
	"fmt"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// WorstObjective names the SLO objective with the highest SLI-to-limit ratio
// in o (the one nearest to, or furthest past, its limit) and its SLI rounded,
// for status.slis and the printer columns: such as "p99<=100ms" and "93.1ms".
// Both are empty when no objective can be judged on o.
func WorstObjective(slo tuningv1alpha1.SLO, o signals.Observation) (name, sli string) {
	r := evaluateSLO(slo, o.Get, func([]signals.Signal) []string { return nil })
	var worst *objective
	for i := range r.objectives {
		if worst == nil || r.objectives[i].ratio > worst.ratio {
			worst = &r.objectives[i]
		}
	}
	switch {
	case worst == nil:
		return "", ""
	case worst.latency:
		return percentileName(worst.signal) + "<=" + fmtSeconds(worst.limit), fmtSeconds(worst.value)
	case worst.signal == signals.ErrorRate:
		return "errors<=" + fmtRatio(worst.limit), fmtRatio(worst.value)
	default:
		return fmt.Sprintf("throughput>=%.0f/s", worst.limit), fmt.Sprintf("%.0f/s", worst.value)
	}
}
