package sim

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// redisSysShare is the share of Redis CPU time reported as system time
// (network I/O dominates a cache server's CPU).
const redisSysShare = 0.6

// ExpositionOptions shape the Prometheus exposition.
type ExpositionOptions struct {
	// Speed is the run's time compression (simulated seconds per wall
	// second). Every counter and histogram count/sum is divided by it, so that
	// rate() over wall time gives the simulated per-second rates (and CPU
	// utilisation stays usage ÷ request). 0 or 1: counters as simulated.
	Speed float64
}

// Handler serves the metric contract (design §5) in the Prometheus text
// format. Without a query it serves every pod (label pod) and every Redis
// replica; ?target=<pod name> serves one pod (404 when it is not ready), and
// ?target=redis the Redis replicas only, so that each can be its own scrape target.
func (m *Model) Handler(opts ExpositionOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("target")
		snap, ok := m.snapshot(target)
		if !ok {
			http.Error(w, "no such pod: "+target, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = snap.write(w, opts)
	})
}

// WriteMetrics writes the exposition of target ("" for all, a pod name, or
// "redis") to w.
func (m *Model) WriteMetrics(w io.Writer, target string, opts ExpositionOptions) error {
	snap, ok := m.snapshot(target)
	if !ok {
		return fmt.Errorf("no such pod: %s", target)
	}
	return snap.write(w, opts)
}

type podSnap struct {
	name             string
	c                podCounters
	inUse, idle, max float64
	cpuReq, cpuLim   int64
}

type redisSnap struct {
	name                   string
	commands, cpu, clients float64
}

type snapshot struct {
	cfg   Config
	pods  []podSnap
	redis []redisSnap
}

func (m *Model) snapshot(target string) (snapshot, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := snapshot{cfg: m.cfg}
	found := target == "" || target == "redis"
	clients := 0.0
	for _, p := range m.order {
		if p.l2Enabled() {
			clients += float64(m.cfg.RedisClientsPerPod)
		}
		if target != "" && target != p.spec.Name {
			continue
		}
		found = true
		c := p.c
		c.latency.counts = append([]float64(nil), c.latency.counts...)
		c.poolWait.counts = append([]float64(nil), c.poolWait.counts...)
		c.dbQuery.counts = append([]float64(nil), c.dbQuery.counts...)
		open := math.Floor(p.open)
		s.pods = append(s.pods, podSnap{name: p.spec.Name, c: c, inUse: math.Round(p.inUse*100) / 100,
			idle: math.Max(0, open-math.Round(p.inUse*100)/100), max: float64(p.knobs.PoolMax),
			cpuReq: p.spec.CPURequestMillis, cpuLim: p.spec.CPULimitMillis})
	}
	if target == "" || target == "redis" {
		for i, r := range m.redis {
			s.redis = append(s.redis, redisSnap{name: fmt.Sprintf("%s-%d", m.cfg.RedisName, i),
				commands: r.commands, cpu: r.cpuSeconds, clients: math.Ceil(clients / float64(len(m.redis)))})
		}
	}
	return s, found
}

type expWriter struct {
	w     *bufio.Writer
	scale float64 // counters are divided by it
}

func (e *expWriter) family(name, typ, help string) {
	fmt.Fprintf(e.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (e *expWriter) sample(name, labels string, v float64) {
	e.w.WriteString(name)
	if labels != "" {
		e.w.WriteString("{" + labels + "}")
	}
	e.w.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
}

func (e *expWriter) histogram(name, labels string, h histogram) {
	cum := 0.0
	for i, b := range h.bounds {
		cum += h.counts[i]
		e.sample(name+"_bucket", labels+`,le="`+strconv.FormatFloat(b, 'g', -1, 64)+`"`, cum/e.scale)
	}
	e.sample(name+"_bucket", labels+`,le="+Inf"`, h.count/e.scale)
	e.sample(name+"_sum", labels, h.sum/e.scale)
	e.sample(name+"_count", labels, h.count/e.scale)
}

func label(name, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return name + `="` + r.Replace(value) + `"`
}

func (s snapshot) write(w io.Writer, opts ExpositionOptions) error {
	e := &expWriter{w: bufio.NewWriter(w), scale: opts.Speed}
	if e.scale <= 0 {
		e.scale = 1
	}
	base := func(svc, pod string) string {
		return label("namespace", s.cfg.Namespace) + "," + label("service", svc) + "," + label("pod", pod)
	}
	forPods := func(name, typ, help string, each func(l string, p podSnap)) {
		if len(s.pods) == 0 {
			return
		}
		e.family(name, typ, help)
		for _, p := range s.pods {
			each(base(s.cfg.Service, p.name), p)
		}
	}
	forPods("http_request_duration_seconds", "histogram", "Request latency.", func(l string, p podSnap) {
		e.histogram("http_request_duration_seconds", l, p.c.latency)
	})
	forPods("http_requests_total", "counter", "Requests by HTTP status.", func(l string, p podSnap) {
		for i, st := range Statuses {
			e.sample("http_requests_total", l+","+label("status", st), p.c.requests[i]/e.scale)
		}
	})
	forPods("db_pool_connections", "gauge", "Pool connections by state.", func(l string, p podSnap) {
		e.sample("db_pool_connections", l+`,state="in_use"`, p.inUse)
		e.sample("db_pool_connections", l+`,state="idle"`, p.idle)
	})
	forPods("db_pool_max_connections", "gauge", "Pool maximum size.", func(l string, p podSnap) {
		e.sample("db_pool_max_connections", l, p.max)
	})
	forPods("db_pool_wait_seconds", "histogram", "Time waited for a pool connection.", func(l string, p podSnap) {
		e.histogram("db_pool_wait_seconds", l, p.c.poolWait)
	})
	forPods("db_query_duration_seconds", "histogram", "Database call time, holding a connection.", func(l string, p podSnap) {
		e.histogram("db_query_duration_seconds", l, p.c.dbQuery)
	})
	forPods("cache_requests_total", "counter", "Cache lookups by tier and result.", func(l string, p podSnap) {
		for ti, tier := range []string{"memory", "redis"} {
			for ri, res := range []string{"hit", "miss"} {
				e.sample("cache_requests_total", l+","+label("tier", tier)+","+label("result", res), p.c.cache[ti][ri]/e.scale)
			}
		}
	})
	ctr := "," + label("container", s.cfg.Container)
	forPods("container_cpu_usage_seconds_total", "counter", "CPU time used (cAdvisor).", func(l string, p podSnap) {
		e.sample("container_cpu_usage_seconds_total", l+ctr, p.c.cpuSeconds/e.scale)
	})
	cpu := ctr + `,resource="cpu",unit="core"`
	forPods("kube_pod_container_resource_requests", "gauge", "Container resource requests (kube-state-metrics).", func(l string, p podSnap) {
		if p.cpuReq > 0 {
			e.sample("kube_pod_container_resource_requests", l+cpu, float64(p.cpuReq)/1000)
		}
	})
	forPods("kube_pod_container_resource_limits", "gauge", "Container resource limits (kube-state-metrics).", func(l string, p podSnap) {
		if p.cpuLim > 0 {
			e.sample("kube_pod_container_resource_limits", l+cpu, float64(p.cpuLim)/1000)
		}
	})
	forRedis := func(name, typ, help string, value func(r redisSnap) float64) {
		if len(s.redis) == 0 {
			return
		}
		e.family(name, typ, help)
		for _, r := range s.redis {
			e.sample(name, base(s.cfg.RedisService, r.name), value(r))
		}
	}
	forRedis("redis_commands_processed_total", "counter", "Commands processed (redis_exporter).",
		func(r redisSnap) float64 { return r.commands / e.scale })
	forRedis("redis_cpu_sys_seconds_total", "counter", "System CPU time of the Redis server (redis_exporter).",
		func(r redisSnap) float64 { return r.cpu * redisSysShare / e.scale })
	forRedis("redis_cpu_user_seconds_total", "counter", "User CPU time of the Redis server (redis_exporter).",
		func(r redisSnap) float64 { return r.cpu * (1 - redisSysShare) / e.scale })
	forRedis("redis_connected_clients", "gauge", "Connected clients (redis_exporter).",
		func(r redisSnap) float64 { return r.clients })
	return e.w.Flush()
}

// PodCPUMillis is each ready pod's CPU use over the last step, in
// millicores: what a metrics.k8s.io server reports to the HPA.
func (m *Model) PodCPUMillis() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.order))
	for _, p := range m.order {
		out[p.spec.Name] = int64(math.Round(p.cpuMill))
	}
	return out
}

// PodState is one pod as the model sees it, for live tables.
type PodState struct {
	Name       string
	Knobs      Knobs
	AgeSeconds float64
	CPUMillis  int64
	ConnsOpen  int
	ConnsInUse float64
	L1HitRatio float64
	L2HitRatio float64
}

// Pods lists the ready pods, oldest first.
func (m *Model) Pods() []PodState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]PodState, 0, len(m.order))
	for _, p := range m.order {
		out = append(out, PodState{Name: p.spec.Name, Knobs: p.knobs, AgeSeconds: m.now - p.born,
			CPUMillis: int64(math.Round(p.cpuMill)), ConnsOpen: int(p.open), ConnsInUse: p.inUse,
			L1HitRatio: p.hit1, L2HitRatio: p.hit2})
	}
	return out
}

// HistogramQuantile estimates the q-quantile (0..1) from cumulative bucket
// counts at the given upper bounds (the +Inf bucket last, its bound ignored)
// the way Prometheus' histogram_quantile does: linear interpolation inside
// the bucket, the lowest bucket starting at 0, the highest finite bound
// when the rank falls in +Inf. NaN without observations.
func HistogramQuantile(q float64, bounds, cumulative []float64) float64 {
	n := len(cumulative)
	if n == 0 || cumulative[n-1] == 0 {
		return math.NaN()
	}
	rank := q * cumulative[n-1]
	for i := range n {
		if cumulative[i] < rank {
			continue
		}
		if i >= len(bounds) { // +Inf bucket
			return bounds[len(bounds)-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = bounds[i-1], cumulative[i-1]
		}
		in := cumulative[i] - below
		if in == 0 {
			return bounds[i]
		}
		return lo + (bounds[i]-lo)*(rank-below)/in
	}
	return bounds[len(bounds)-1]
}
