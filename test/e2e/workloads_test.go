package e2e

import (
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// SLOs of the scenarios.
const (
	starvedSLO                 = 400 * time.Millisecond
	coldCacheP95, coldCacheP99 = 150 * time.Millisecond, 400 * time.Millisecond
	loadStepP95, loadStepP99   = 200 * time.Millisecond, 400 * time.Millisecond
	regressionSLO              = 400 * time.Millisecond
)

// The hostile scenario's undeclared HPA ceiling and database budget.
const (
	hostileHPAMax = 6
	hostileBudget = 100
)

// workloads are the scenarios' services, by test name. Each runs in the
// namespace e2e-<name>; all are created when the cluster comes up.
func workloads() map[string]harness.WorkloadOptions {
	withPoolOnly := func(slo time.Duration) func(*tuningv1alpha1.PerformanceProfile) {
		return func(p *tuningv1alpha1.PerformanceProfile) {
			onlyLatency(p, p99(slo))
			p.Spec.Cache = nil
		}
	}
	poolOK := sim.Knobs{PoolMax: 12, PoolMin: 2}
	guide := sim.Knobs{PoolMax: 12, PoolMin: 2, L1Items: 10000, L1TTL: 60, L2TTL: 300}
	return map[string]harness.WorkloadOptions{
		// The guide's case study "before": 2 pods, pool 4, no cache, 100 req/s.
		"TestStarvedPoolIsRaised": {Trace: sim.Constant(100), Profile: withPoolOnly(starvedSLO)},
		// The pool is fine, both cache tiers are off.
		"TestColdCacheIsTuned": {Knobs: &poolOK, Trace: sim.Constant(100),
			Profile: func(p *tuningv1alpha1.PerformanceProfile) { onlyLatency(p, p95(coldCacheP95), p99(coldCacheP99)) }},
		// 100 -> 500 req/s after 40 simulated seconds; pods request 200m, burst to 400m; HPA 2-3.
		"TestLoadStepTunesHPA": {Knobs: &guide, CPURequest: "200m", CPULimit: "400m",
			HPA:   &harness.HPAOptions{MinReplicas: 2, MaxReplicas: 3, TargetCPU: 70},
			Trace: sim.Step(100, 500, 40),
			Profile: func(p *tuningv1alpha1.PerformanceProfile) {
				onlyLatency(p, p95(loadStepP95), p99(loadStepP99))
				p.Spec.ConnectionPool = nil
				p.Spec.Cache = nil
			}},
		// The case study "before" as clusters really are: the pool comes from
		// a ConfigMap, a sidecar is listed first, and an HPA the profile does
		// not name may run up to 6 pods, all of which the budget of 100
		// connections must hold.
		"TestHostileShapesKeepTheInvariants": {Trace: sim.Constant(100), KnobsFromConfigMap: true, SidecarFirst: true,
			HPA: &harness.HPAOptions{MinReplicas: 2, MaxReplicas: hostileHPAMax, TargetCPU: 70},
			Profile: func(p *tuningv1alpha1.PerformanceProfile) {
				withPoolOnly(regressionSLO)(p)
				p.Spec.Autoscaling = nil
				p.Spec.ConnectionPool.Database = &tuningv1alpha1.DatabaseBudget{MaxConnections: hostileBudget}
			}},
		// The case study "before", but the database accepts 10 connections
		// while the profile declares a budget of 200.
		"TestRegressionIsRolledBack": {Trace: sim.Constant(100), Profile: withPoolOnly(regressionSLO),
			SimConfig: func(c *sim.Config) { c.DBMaxConnections = 10 }},
	}
}
