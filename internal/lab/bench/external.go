package bench

import "math"

// TableOf measures runs recorded outside RunSuite (tier B, on the local
// cluster) with the same metrics as tier A: one column per arm of results.
func TableOf(sc *Scenario, results map[string][]*Result, seeds []uint64) *Table {
	cx := &context{staticBestCost: math.NaN(), staticBestTailCost: math.NaN(), staticBestTailQ: math.NaN()}
	if sc.isStep() && len(sc.Marks) > 0 {
		cx.neededHigh = neededPods(sc.Model, sc.Start.Knobs, sc.Trace(1).RPS(sc.Marks[0]+1), sc.CPURequest)
		cx.neededLow = neededPods(sc.Model, sc.Start.Knobs, sc.Trace(1).RPS(0), sc.CPURequest)
	}
	t := newTable(sc, results, cx, seeds)
	var arms []string
	for _, a := range t.Arms {
		if len(results[a]) > 0 {
			arms = append(arms, a)
		}
	}
	t.Arms = arms
	var sweep []string
	for _, a := range t.Sweep {
		if len(results[a]) > 0 {
			sweep = append(sweep, a)
		}
	}
	t.Sweep = sweep
	return t
}
