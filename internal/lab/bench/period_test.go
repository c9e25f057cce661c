package bench

import (
	"slices"
	"testing"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// The emulated operator keeps the manager's books after tuning.Decide: the
// shared script (also run by the reconciler, controllers
// TestReconcilerRunsTheSharedPeriodScript) must leave the same history and
// give the engine the same SLOMetSince (issue 15 §1).
func TestControlRunsTheSharedPeriodScript(t *testing.T) {
	sc := Scenarios(true)[2]
	from := int64(sc.Start.Knobs.PoolMax)
	script := testenv.Script(tuning.Knob(sim.EnvPoolMax), from)
	eng := testenv.NewScriptedEngine(script)
	r := &runner{sc: sc, arm: ArmTuner, seed: 1, res: &Result{}, decide: eng.Decide}
	cfg := sc.Model
	cfg.Seed = 1
	r.m = sim.New(cfg)
	r.m.SetTrace(sc.Trace(1))
	r.d = &deployment{name: "orders-api", replicas: sc.Start.Replicas, env: sc.Start.Knobs.Env(), startSeconds: StartSeconds,
		cpuReq: sc.CPURequest, cpuLm: sc.CPULimit, defaults: cfg.DefaultKnobs}
	for range sc.Start.Replicas {
		r.d.create(-StartSeconds)
	}
	r.hpa = &HPA{Min: sc.Start.HPAMin, Max: sc.Start.HPAMax, TargetPct: 70}
	r.prom = newProm(120)
	r.redis, r.redisN = 1, 1
	r.m.SyncPods(r.d.readySpecs(0))
	interval := tuning.SettingsOf(sc.Profile).Interval.Seconds()
	for i, p := range script {
		r.control(600 + float64(i)*interval)
		if got := testenv.HistoryEntries(r.st); !slices.Equal(got, p.History) {
			t.Fatalf("period %d: history %q, want %q", i, got, p.History)
		}
	}
	if len(eng.Errors) > 0 {
		t.Fatal(eng.Errors)
	}
}
