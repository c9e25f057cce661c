package sim

import (
	"fmt"
	"math"
	"testing"
)

// scenario is a steady run: a fixed set of pods under constant load.
type scenario struct {
	cfg      Config
	knobs    Knobs
	pods     int
	rps      float64
	redis    int
	cpuLimit int64
}

type outcome struct {
	w    WindowStats
	last StepStats
}

// run warms the scenario up for 300 s and measures the following 300 s.
func (s scenario) run(t *testing.T) outcome {
	t.Helper()
	m := New(s.cfg)
	m.SetTrace(Constant(s.rps))
	lim := s.cpuLimit
	if lim == 0 {
		lim = 1000
	}
	m.SyncPods(MakePods("orders-api", s.pods, s.knobs, lim/2, lim))
	m.SetRedisReplicas(max(s.redis, 1))
	m.Run(600, 1)
	h := m.History()
	return outcome{w: m.Window(300), last: h[len(h)-1]}
}

func (o outcome) String() string {
	return fmt.Sprintf("mean=%.3f p50=%.3f p95=%.3f p99=%.3f err=%.4f l1=%.2f l2=%.2f redis=%.2fms dbu=%.2f",
		o.w.Mean, o.w.P50, o.w.P95, o.w.P99, o.w.ErrorRate(), o.last.L1HitRatio, o.last.L2HitRatio, o.last.RedisMS, o.last.DBUtil)
}

var noCache = func(pool int) Knobs { return Knobs{PoolMax: pool, PoolMin: min(2, pool)} }

func TestPoolSizeLowersP99UntilItSuffices(t *testing.T) {
	var prev outcome
	for i, pool := range []int{4, 5, 6, 8, 12} {
		o := scenario{knobs: noCache(pool), pods: 2, rps: 100}.run(t)
		t.Logf("pool %2d: %v", pool, o)
		if o.w.ErrorRate() > 0.001 {
			t.Errorf("pool %d: error rate %.4f, want none", pool, o.w.ErrorRate())
		}
		if i > 0 && o.w.P99 > prev.w.P99*1.05 {
			t.Errorf("pool %d: p99 %.3f above the smaller pool's %.3f", pool, o.w.P99, prev.w.P99)
		}
		prev = o
	}
	starved := scenario{knobs: noCache(4), pods: 2, rps: 100}.run(t)
	ample := scenario{knobs: noCache(12), pods: 2, rps: 100}.run(t)
	if starved.w.P99 < 2.5*ample.w.P99 {
		t.Errorf("starved pool p99 %.3f, want ≥ 2.5× the ample pool's %.3f", starved.w.P99, ample.w.P99)
	}
	// Past what the load needs, a bigger pool buys nothing.
	huge := scenario{knobs: noCache(40), pods: 2, rps: 100}.run(t)
	if math.Abs(huge.w.P99-ample.w.P99) > 0.15*ample.w.P99 {
		t.Errorf("pool 40 p99 %.3f, want about pool 12's %.3f", huge.w.P99, ample.w.P99)
	}
	// A pool below the load's need overflows: timeouts (503) at the pool's capacity.
	over := scenario{knobs: noCache(2), pods: 2, rps: 100}.run(t)
	capacity := 2 * 2 / over.last.DBTime
	if got := over.w.Throughput(); math.Abs(got-capacity) > 0.1*capacity {
		t.Errorf("pool 2: throughput %.1f, want the pools' capacity %.1f", got, capacity)
	}
}

func TestDatabaseConnectionLimit(t *testing.T) {
	cfg := Config{DBMaxConnections: 12}
	fits := scenario{cfg: cfg, knobs: noCache(6), pods: 2, rps: 100}.run(t)
	exceeds := scenario{cfg: cfg, knobs: noCache(12), pods: 2, rps: 100}.run(t)
	t.Logf("pool 6: %v conns=%d", fits, fits.last.ConnsOpen)
	t.Logf("pool 12: %v conns=%d", exceeds, exceeds.last.ConnsOpen)
	if fits.w.ErrorRate() > 0.001 {
		t.Errorf("within the limit: error rate %.4f", fits.w.ErrorRate())
	}
	if exceeds.last.ConnsOpen > 12 {
		t.Errorf("open connections %d exceed the database limit 12", exceeds.last.ConnsOpen)
	}
	if exceeds.w.ErrorRate() < 0.005 {
		t.Errorf("pools beyond the DB limit: error rate %.4f, want connection errors", exceeds.w.ErrorRate())
	}
	if exceeds.last.ByStatus[st500] == 0 {
		t.Errorf("want 500s from refused connections, got %v", exceeds.last.ByStatus)
	}
}

func TestL1SizeFollowsZipf(t *testing.T) {
	cfg := DefaultConfig()
	g := newKeyGroups(cfg.Keys, cfg.ZipfS)
	topMass := func(c int) float64 { // the best a static cache of c items could do
		var m, n float64
		for i := range g.n {
			take := math.Min(g.n[i], float64(c)-n)
			if take <= 0 {
				break
			}
			m += take * g.q[i]
			n += take
		}
		return m
	}
	prev := 0.0
	for _, items := range []int{1000, 5000, 20000, 50000} {
		k := Knobs{PoolMax: 20, PoolMin: 5, L1Items: items, L1TTL: 550}
		o := scenario{knobs: k, pods: 1, rps: 300}.run(t)
		hit := o.last.L1HitRatio
		che := CheHitRatio(items, 550, 300, cfg.Keys, cfg.ZipfS)
		t.Logf("L1 %6d items: hit %.3f (Che %.3f, top-%d mass %.3f) %v", items, hit, che, items, topMass(items), o)
		if hit <= prev+0.02 {
			t.Errorf("L1 %d items: hit ratio %.3f not above %.3f", items, hit, prev)
		}
		if math.Abs(hit-che) > 0.01 {
			t.Errorf("L1 %d items: model %.3f differs from Che's approximation %.3f", items, hit, che)
		}
		if hit > topMass(items) || hit < 0.6*topMass(items) {
			t.Errorf("L1 %d items: hit %.3f outside (0.6, 1]× the top-%d mass %.3f", items, hit, items, topMass(items))
		}
		prev = hit
	}
	// A short TTL caps the hit ratio of a big cache.
	short := CheHitRatio(80000, 5, 300, cfg.Keys, cfg.ZipfS)
	long := CheHitRatio(80000, 600, 300, cfg.Keys, cfg.ZipfS)
	if short >= long-0.1 {
		t.Errorf("TTL 5 s hit %.3f, want well below TTL 600 s's %.3f", short, long)
	}
}

func TestRedisReplicasLowerRedisLatencyUnderLoad(t *testing.T) {
	cfg := Config{RedisOpsPerReplica: 550}
	k := Knobs{PoolMax: 30, PoolMin: 5, L2TTL: 600}
	var prev outcome
	for i, replicas := range []int{1, 2, 4} {
		o := scenario{cfg: cfg, knobs: k, pods: 4, rps: 400, redis: replicas}.run(t)
		t.Logf("redis %d: %v util=%.2f", replicas, o, o.last.RedisUtil)
		if i > 0 && o.last.RedisMS >= prev.last.RedisMS {
			t.Errorf("redis %d replicas: latency %.2f ms, want below %.2f ms", replicas, o.last.RedisMS, prev.last.RedisMS)
		}
		prev = o
	}
	one := scenario{cfg: cfg, knobs: k, pods: 4, rps: 400, redis: 1}.run(t)
	four := scenario{cfg: cfg, knobs: k, pods: 4, rps: 400, redis: 4}.run(t)
	if one.last.RedisMS < 3*four.last.RedisMS || one.w.P50 <= four.w.P50 {
		t.Errorf("1 replica %.2f ms (p50 %.4f) vs 4 replicas %.2f ms (p50 %.4f): want a clear gap",
			one.last.RedisMS, one.w.P50, four.last.RedisMS, four.w.P50)
	}
}

func TestCPUSaturationRaisesLatency(t *testing.T) {
	k := Knobs{PoolMax: 20, PoolMin: 5, L1Items: 200000, L1TTL: 3600}
	var prev outcome
	for i, rps := range []float64{100, 300, 420} {
		o := scenario{knobs: k, pods: 1, rps: rps, cpuLimit: 1000}.run(t)
		t.Logf("rps %.0f: %v cpu=%.2f", rps, o, o.last.CPUCores)
		if i > 0 && o.w.P50 < 1.5*prev.w.P50 {
			t.Errorf("rps %.0f: p50 %.4f, want ≥ 1.5× %.4f", rps, o.w.P50, prev.w.P50)
		}
		prev = o
	}
	over := scenario{knobs: k, pods: 1, rps: 700, cpuLimit: 1000}.run(t)
	t.Logf("rps 700: %v cpu=%.2f", over, over.last.CPUCores)
	if over.last.CPUCores > 1.01 || over.w.ErrorRate() < 0.1 || over.w.P50 < 1 {
		t.Errorf("overloaded CPU: cores %.2f, error rate %.3f, p50 %.3f: want capped at the limit, timeouts and queueing",
			over.last.CPUCores, over.w.ErrorRate(), over.w.P50)
	}
	// Fewer worker threads than cores cap the CPU a pod can use.
	k.Workers = 1
	two := scenario{knobs: k, pods: 1, rps: 700, cpuLimit: 2000}.run(t)
	if two.last.CPUCores > 1.01 {
		t.Errorf("1 worker on 2 cores used %.2f cores", two.last.CPUCores)
	}
}

func TestCaseStudyCalibration(t *testing.T) {
	before := scenario{knobs: CaseStudyBefore, pods: 2, rps: 100}.run(t)
	t.Logf("before (pool %d, no cache, 2 pods, 100 req/s): %v", CaseStudyBefore.PoolMax, before)
	if before.w.Mean < 0.2 || before.w.Mean > 0.32 {
		t.Errorf("before: mean %.3f s, want about 0.25 s", before.w.Mean)
	}
	if before.w.P95 < 0.4 || before.w.ErrorRate() > 0.005 {
		t.Errorf("before: p95 %.3f s (want ≥ 0.4), error rate %.4f", before.w.P95, before.w.ErrorRate())
	}
	tuned := Knobs{PoolMax: 20, PoolMin: 5, L1Items: 20000, L1TTL: 120, L2TTL: 600}
	after := scenario{knobs: tuned, pods: 3, rps: 500}.run(t)
	t.Logf("after (pool 20, L1 20k/120 s, L2 600 s, 3 pods, 500 req/s): %v", after)
	if after.w.Throughput() < 5*before.w.Throughput()*0.98 || after.w.P95 > 0.1 || after.w.ErrorRate() > 0.001 {
		t.Errorf("after: throughput %.0f (want ≥ 5× %.0f), p95 %.3f (want ≤ 0.1), errors %.4f",
			after.w.Throughput(), before.w.Throughput(), after.w.P95, after.w.ErrorRate())
	}
	if after.last.DBUtil >= before.last.DBUtil {
		t.Errorf("DB utilisation %.2f after, want below %.2f before", after.last.DBUtil, before.last.DBUtil)
	}
}

func TestDeterministicForASeed(t *testing.T) {
	run := func(seed uint64) []StepStats {
		m := New(Config{Seed: seed})
		m.SetTrace(Noise(Diurnal(50, 300, 600), 0.2, 5, seed))
		m.SyncPods(MakePods("a", 3, GuideDefaults, 500, 1000))
		m.Run(200, 1)
		m.SyncPods(MakePods("b", 4, GuideDefaults, 500, 1000)) // a rolling update
		m.Run(200, 1)
		return m.History()
	}
	a, b, c := run(7), run(7), run(8)
	if len(a) != len(b) {
		t.Fatalf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d differs for the same seed:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("another seed gave the same run")
	}
}

func TestRollingUpdateStartsCold(t *testing.T) {
	m := New(Config{})
	m.SetTrace(Constant(300))
	m.SyncPods(MakePods("old", 3, GuideDefaults, 500, 1000))
	m.Run(600, 1)
	warm := m.History()[599]
	m.SyncPods(MakePods("new", 3, GuideDefaults, 500, 1000))
	first := m.Step(1)
	m.Run(299, 1)
	later := m.History()[899]
	t.Logf("warm: l1 %.2f p99 %.3f; first step after restart: l1 %.2f p99 %.3f; 300 s later: l1 %.2f p99 %.3f",
		warm.L1HitRatio, warm.P99, first.L1HitRatio, first.P99, later.L1HitRatio, later.P99)
	if first.L1HitRatio > 0.3*warm.L1HitRatio || first.RedisUtil <= 1.2*warm.RedisUtil {
		t.Errorf("a restarted pod should start with an empty L1 (hit %.2f vs %.2f), sending more to Redis (util %.2f vs %.2f)",
			first.L1HitRatio, warm.L1HitRatio, first.RedisUtil, warm.RedisUtil)
	}
	if later.L1HitRatio < 0.8*warm.L1HitRatio {
		t.Errorf("L1 hit %.2f after 300 s, want it recovered towards %.2f", later.L1HitRatio, warm.L1HitRatio)
	}
	// The same pod listed again is not restarted.
	m.SyncPods(MakePods("new", 3, GuideDefaults, 500, 1000))
	if s := m.Step(1); s.L1HitRatio < 0.8*warm.L1HitRatio {
		t.Errorf("re-listing the same pods restarted them: l1 %.2f", s.L1HitRatio)
	}
}

func TestNoPodsMeansErrors(t *testing.T) {
	m := New(Config{})
	m.SetTrace(Constant(50))
	s := m.Step(1)
	if s.Unserved == 0 || s.Errors != s.Requests {
		t.Errorf("without pods: %+v", s)
	}
}

func TestPodCPUMillis(t *testing.T) {
	m := New(Config{})
	m.SetTrace(Constant(100))
	m.SyncPods(MakePods("p", 2, GuideDefaults, 500, 1000))
	m.Run(60, 1)
	low := m.PodCPUMillis()
	m.SetTrace(Constant(400))
	m.Run(60, 1)
	high := m.PodCPUMillis()
	if len(low) != 2 {
		t.Fatalf("got %v", low)
	}
	for name, v := range low {
		if v <= 5 || high[name] < 3*v || high[name] > 1000 {
			t.Errorf("%s: %d m at 100 req/s, %d m at 400 req/s", name, v, high[name])
		}
	}
}

func TestStaticBest(t *testing.T) {
	opts := GridOptions{
		Trace:    Constant(300),
		Duration: 900, Warmup: 600,
		SLO:      SLO{Percentile: 0.95, Threshold: 0.1, MaxErrorRate: 0.001, Window: 60},
		Parallel: 2,
	}
	grid := Grid{Replicas: []int{1, 2, 3}, PoolMax: []int{4, 10, 20}, L1Items: []int{0, 20000},
		L1TTL: []float64{300}, L2TTL: []float64{0, 600}, RedisReplicas: []int{1}, PoolMin: 2}
	best, ok, evaluated := StaticBest(opts, grid)
	if !ok {
		t.Fatalf("no configuration meets the SLO; evaluated %+v", evaluated)
	}
	t.Logf("static-best after %d evaluations: %+v", len(evaluated), best)
	for _, r := range evaluated[:len(evaluated)-1] {
		if r.Meets || r.Cost > best.Cost {
			t.Errorf("evaluated before the best: %+v", r)
		}
	}
	// Every cheaper configuration of the grid fails when evaluated on its own.
	for _, fc := range grid.Configs() {
		if c := opts.Cost.Cost(fc, opts.Duration-opts.Warmup); c < best.Cost {
			if r := Evaluate(opts, fc); r.Meets {
				t.Errorf("cheaper %+v meets the SLO", fc)
			}
		}
	}
}

// TestStaticBestWithinBounds: a CPU cap rules out a configuration that meets
// the latency SLO only by running its pods hotter than the cap, and Allow
// keeps the search inside the bounds it is given.
func TestStaticBestWithinBounds(t *testing.T) {
	opts := GridOptions{Trace: Constant(300), Duration: 600, Warmup: 300,
		SLO: SLO{Percentile: 0.99, Threshold: 0.5, MaxErrorRate: 0.01, Window: 60}}
	grid := Grid{Replicas: []int{1, 2, 3, 4}, PoolMax: []int{10}, L1Items: []int{10000}, L1TTL: []float64{60},
		L2TTL: []float64{300}, RedisReplicas: []int{1}, PoolMin: 5}
	free, ok, _ := StaticBest(opts, grid)
	if !ok {
		t.Fatal("no configuration meets the SLO without a cap")
	}
	opts.MaxCPUUtilization = 0.85
	capped, ok, evaluated := StaticBest(opts, grid)
	if !ok {
		t.Fatal("no configuration meets the SLO under the cap")
	}
	if free.CPUUtilization <= 0.85 {
		t.Skipf("the uncapped best (%d pods) already runs at %.2f of its request: the cap changes nothing here",
			free.Config.Replicas, free.CPUUtilization)
	}
	if capped.Config.Replicas <= free.Config.Replicas || capped.CPUUtilization > 0.85 {
		t.Errorf("capped best %d pods at %.2f CPU, uncapped %d pods at %.2f", capped.Config.Replicas, capped.CPUUtilization,
			free.Config.Replicas, free.CPUUtilization)
	}
	for _, r := range evaluated {
		if r.Meets != (r.ViolatingWindows == 0 && r.CPUUtilization <= 0.85) {
			t.Errorf("%d pods: meets %v with %d violating windows at %.2f CPU", r.Config.Replicas, r.Meets, r.ViolatingWindows, r.CPUUtilization)
		}
	}
	opts.Allow = func(fc FixedConfig) bool { return fc.Replicas != capped.Config.Replicas }
	if other, ok, _ := StaticBest(opts, grid); ok && other.Config.Replicas == capped.Config.Replicas {
		t.Errorf("Allow refused %d pods and the search chose them", capped.Config.Replicas)
	}
}

func benchmarkStep(b *testing.B, pods int) {
	m := New(Config{})
	m.SetTrace(Constant(float64(pods) * 100))
	m.SyncPods(MakePods("p", pods, GuideDefaults, 500, 1000))
	m.Run(60, 1)
	b.ReportAllocs()
	for b.Loop() {
		m.Step(1)
	}
}

func BenchmarkStep10Pods(b *testing.B)  { benchmarkStep(b, 10) }
func BenchmarkStep100Pods(b *testing.B) { benchmarkStep(b, 100) }
