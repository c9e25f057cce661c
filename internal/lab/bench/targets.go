package bench

import (
	"fmt"
	"math"
	"strings"
)

// TargetRow is one target of benchmarks.md with the measured figure.
type TargetRow struct {
	ID, Target, Measured string
	// Met is "yes", "no", "tier B" (not measurable in process) or
	// "test/scale" (measured on the real manager by test/scale).
	Met string
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// targets judges a scenario's targets on the tuner's figures over all seeds
// (the worst seed for "at most" targets).
func targets(t *Table) []TargetRow {
	id := t.Scenario.ID
	tu := t.Stats[ArmTuner]
	hpa := t.Stats[ArmHPA(70)]
	get := func(s map[string]Stat, m string) Stat { return s[m] }
	worst := func(s Stat) float64 {
		if s.Never > 0 {
			return math.Inf(1)
		}
		return s.Max
	}
	var out []TargetRow
	add := func(target, measured string, met string) {
		out = append(out, TargetRow{ID: id, Target: target, Measured: measured, Met: met})
	}
	switch {
	case t.Scenario.isStep():
		out = append(out, stepTargets(t)...)
	case id == "B2":
		out = append(out, sweepTargets(t)...)
	case id == "B3":
		v := get(tu, "SLO-violating minutes")
		add("0 violating minutes", fmtStat(v, 0), yesNo(worst(v) == 0))
		r := get(tu, "scale reversals per hour")
		add("≤ 2 reversals/h", fmtStat(r, 1)+" (hpa-cpu70: "+fmtStat(get(hpa, "scale reversals per hour"), 1)+")", yesNo(worst(r) <= 2))
		ro := get(tu, "env rollouts per hour")
		add("≤ 1 rollout per 6 h", fmtStat(ro, 1)+" per hour", yesNo(worst(ro) <= 1.0/6))
	case strings.HasPrefix(id, "B4"):
		// At equal p99: the converged tuner (the last 10 minutes) reaches
		// static-best's p99 within 10 % at no more than 110 % of its cost over
		// the same minutes; a lower p99 at a higher cost is not "equal p99".
		dq, dc := get(tu, "p99 over static-best's (last 10 min)"), get(tu, "cost over static-best's (last 10 min)")
		ro, q := get(tu, "env rollouts"), get(tu, "p99 over the last 10 min (worst minute, ms)")
		sb := get(t.Stats[ArmStaticBest], "p99 over the last 10 min (worst minute, ms)")
		add("within 10 % of static-best's cost at equal p99 (within 10 % of static-best's p99, not merely under the SLO) after ≤ 3 rollouts",
			fmt.Sprintf("last 10 min: p99 %s ms vs static-best %s ms (%s), cost %s over static-best's; %s rollouts",
				fmtStat(q, 0), fmtStat(sb, 0), signedPct(dq), signedPct(dc), fmtStat(ro, 0)),
			yesNo(worst(dq) <= 0.1 && worst(dc) <= 0.1 && worst(ro) <= 3))
		pe, fill := get(tu, RowPoolErrorsFromStart), get(tu, RowPoolErrorsCacheFill)
		add("0 pool-exhaustion errors after the operator starts",
			fmt.Sprintf("%s from the operator's start at %.0f s, of them %s in a cache fill (an env rollout and the 60 s after it); %s before the start (hpa-cpu70: %s from the start)",
				fmtStat(pe, 0), t.Scenario.TunerStart(), fmtStat(fill, 0), fmtStat(get(tu, RowPoolErrorsBeforeStart), 0), fmtStat(get(hpa, RowPoolErrorsFromStart), 0)),
			yesNo(worst(pe) == 0))
		budget, _ := dbBudget(t.Scenario.Profile)
		pm, over := get(tu, "max Σ pool max (connections provisioned)"), get(tu, "seconds over the database budget (open connections)")
		add("the connection budget is never exceeded at the worst moment of a rollout",
			fmt.Sprintf("max Σ pool max over the pods that exist, every second (surge pods included) %s of %d; %s s with more open than that", fmtStat(pm, 0), budget, fmtStat(over, 0)),
			yesNo(worst(pm) <= float64(budget) && worst(over) == 0))
		add("static-best is searched over replicas too, within the profile's bounds", staticBestBounds(t.Scenario), yesNo(staticBestWithinBounds(t.Scenario)))
	case id == "B5":
		// B5's memory, queries and time to reconcile are the real manager's,
		// measured by test/scale (docs/benchmarks/scale.md), not tier A's.
		add("10k profiles: ≤ 256 MiB RSS", "not measured in process", "test/scale")
		add("≤ 5 PromQL queries per period in all", "not measured in process (tier A calls no Prometheus)", "test/scale")
		n := get(tu, "no-op changes proposed")
		add("0 no-op writes", "engine proposed "+fmtStat(n, 0)+" no-op changes; the harness, like the reconciler, writes only changed content", yesNo(n.Mean == 0))
		e := get(tu, "10k profiles: engine time per 30 s period (s)")
		add("all reconciled within 2 min of start", "engine share only: "+fmtStat(e, 2)+" s for 10k decisions on one core; judged on the real manager", "test/scale")
	case id == "B6":
		u := get(tu, "unsafe actions (ground truth)")
		add("0 unsafe actions", fmt.Sprintf("%s from ground truth: %s reductions while the SLO breached, %s writes on an observation off by > a bucket, %s s over the database budget",
			fmtStat(u, 0), fmtStat(get(tu, "unsafe: capacity reductions while the SLO truly breaches"), 0),
			fmtStat(get(tu, "unsafe: writes on an observation off the truth by > a bucket"), 0),
			fmtStat(get(tu, "unsafe: seconds over the database budget"), 0)), yesNo(worst(u) == 0))
		r := get(tu, "periods to resume after a fault (worst)")
		add("resume within 1 period of recovery", fmtStat(r, 0)+" periods", yesNo(worst(r) <= 1))
		h := get(tu, "decisions per period (hot loop: > 1)")
		add("no hot loop", fmtStat(h, 2)+" decisions per period", yesNo(worst(h) <= 1.01))
		add("409 conflicts on 5 % of writes; nothing lost after a restart", "tier A keeps no state outside status; conflicts and a killed process need the API server", "tier B")
	case id == "B7":
		x := get(tu, "throughput × the 100 req/s start")
		add("≥ 5× throughput at p95 ≤ 100 ms (operator alone)", fmtStat(x, 1)+"× (hpa-cpu70: "+fmtStat(get(hpa, "throughput × the 100 req/s start"), 1)+"×)", yesNo(x.Min >= 5 && x.Never == 0))
	}
	return out
}

// signedPct renders a ratio's mean as a signed percentage ("+4 %", "−12 %").
func signedPct(s Stat) string {
	if math.IsNaN(s.Mean) {
		return "never"
	}
	return fmt.Sprintf("%+.0f %%", s.Mean*100)
}

// TargetsMarkdown renders the target rows as one table.
func TargetsMarkdown(rows []TargetRow) string {
	var b strings.Builder
	b.WriteString("| id | target | measured (tuner, seeds) | met |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.ID, r.Target, r.Measured, r.Met)
	}
	return b.String()
}
