package demo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// RealNamespace is where the real service runs.
const RealNamespace = "real"

// Variants of the real service's scenario.
const (
	// RealPool: pool 2, 25 ms per query, 300 req/s, 100k uniform keys.
	RealPool = "pool"
	// RealCache: the same with Zipf keys and misses that cost 4× as much (100 ms).
	RealCache = "cache"
)

// RealOptions of a run of the real service.
type RealOptions struct {
	// Variant is RealPool or RealCache.
	Variant string
	// Duration is the wall time from the profile's creation.
	Duration time.Duration
	// SLO is the p99 objective. Zero: 40 ms.
	SLO time.Duration
	// Busy keeps one core busy with another process for the whole run.
	Busy bool
	// Manager is the operator binary; empty: bin/manager, built when missing.
	Manager string
	// Out receives a line every Every. Nil: os.Stdout.
	Out   io.Writer
	Every time.Duration
}

// RealRow is one line of a run.
type RealRow struct {
	At time.Duration // since the profile was created
	// Rate, P50 and P99 are the load generator's over the last Every.
	Rate, P50, P99 float64
	Failed         int
	// StatusP99 is the p99 the operator read from Prometheus ("" before it read one).
	StatusP99 string
	SLOMet    string
	Pool      string
	// Connections are the role's connections in pg_stat_activity.
	Connections int
}

// RealReport is a run's outcome.
type RealReport struct {
	Options               RealOptions
	Budget                int
	Rows                  []RealRow
	Before, After         harness.LoadWindow
	BeforeWait, AfterWait float64 // mean pool wait from Prometheus, seconds
	PoolBefore, PoolAfter string
	MaxConnections        int
	Refused               int
	FirstMet              time.Duration // -1: never
	MetAtEnd              bool
	// HeldAfterFirstMet: SLOMet was True in every row from the first True on.
	HeldAfterFirstMet bool
	// DecisionsToFirstMet counts the decisions with changes made before
	// SLOMet first held (-1: never held).
	DecisionsToFirstMet int
	// LoadAverage is the machine's 1-minute load average at the start and
	// the end of the run (from /proc/loadavg): how idle "idle" was.
	LoadAverage              [2]string
	Decisions                []tuningv1alpha1.Decision
	DecisionsWithoutEvidence int
}

// RunReal starts the local cluster, the real service (PostgreSQL, Redis,
// processes for pods), lets it run untuned for a window, creates its
// profile, starts the operator and records the run.
func RunReal(ctx context.Context, o RealOptions) (*RealReport, error) {
	o.SLO = cmp.Or(o.SLO, 40*time.Millisecond)
	o.Every = cmp.Or(o.Every, 10*time.Second)
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Duration < 2*time.Minute {
		return nil, fmt.Errorf("duration must be at least 2m, got %v", o.Duration)
	}
	opts := harness.RealWorkloadOptions{
		Namespace: RealNamespace, Knobs: &sim.Knobs{PoolMax: 2, L1Items: 1000, L1TTL: 30, L2TTL: 60},
		QueryCost: 25 * time.Millisecond, Keys: 100_000, Rate: 300, WithoutDBTime: true,
		DBMaxConnections: 60, DBReserved: 10,
	}
	switch o.Variant {
	case RealPool, "":
		o.Variant = RealPool
	case RealCache:
		opts.KeyDistribution, opts.QueryCost = "zipf", 100*time.Millisecond
	default:
		return nil, fmt.Errorf("unknown variant %q (%s, %s)", o.Variant, RealPool, RealCache)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(o.Out, format+"\n", a...) }
	if o.Busy {
		busy := exec.Command("sh", "-c", "while :; do :; done")
		busy.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := busy.Start(); err != nil {
			return nil, err
		}
		defer func() { _ = busy.Process.Kill(); _ = busy.Wait() }()
		logf("one core kept busy by pid %d", busy.Process.Pid)
	}
	env, err := harness.Start(ctx, harness.Options{Speed: 1, Progress: os.Stderr})
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	w, err := env.AddRealWorkload(ctx, opts)
	if err != nil {
		return nil, err
	}
	logf("real service %s/%s: 2 pods as processes, pool 2, %v per query, 300 req/s, PostgreSQL budget %d; untuned for %v",
		RealNamespace, w.Name, opts.QueryCost, w.Budget(), harness.ProfileWindow)
	if err := env.StartOperator(ctx, harness.OperatorOptions{Binary: o.Manager}); err != nil {
		return nil, err
	}
	select {
	case <-time.After(harness.ProfileWindow + 5*time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := &RealReport{Options: o, Budget: w.Budget(), FirstMet: -1, DecisionsToFirstMet: -1}
	r.LoadAverage[0] = loadAverage()
	r.Before = w.Load.Window(30 * time.Second)
	r.BeforeWait = promMeanWait(ctx, env.Cluster().PrometheusURL())
	r.PoolBefore = poolEnv(ctx, env, w)
	if err := w.CreateProfile(ctx, o.SLO); err != nil {
		return nil, err
	}
	created := time.Now()
	logf("%6s %6s %8s %8s %6s %10s %7s %5s %11s", "t", "req/s", "p50", "p99", "fail", "status p99", "SLOMet", "pool", "pg conns")
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for time.Since(created) < o.Duration {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
		row := RealRow{At: time.Since(created).Round(time.Second)}
		lw := w.Load.Window(o.Every)
		row.Rate, row.P50, row.P99, row.Failed = lw.Rate, lw.P50.Seconds(), lw.P99.Seconds(), lw.Failed
		row.Pool = poolEnv(ctx, env, w)
		row.Connections, _ = w.Postgres.RoleConnections(ctx)
		r.MaxConnections = max(r.MaxConnections, row.Connections)
		p := &tuningv1alpha1.PerformanceProfile{}
		if err := env.Client().Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: w.Name}, p); err == nil {
			if p.Status.SLIs != nil && p.Status.SLIs.P99 != nil {
				row.StatusP99 = p.Status.SLIs.P99.Duration.String()
			}
			if c := meta.FindStatusCondition(p.Status.Conditions, tuningv1alpha1.ConditionSLOMet); c != nil {
				row.SLOMet = string(c.Status)
				if c.Status == metav1.ConditionTrue && r.FirstMet < 0 {
					r.FirstMet = row.At
				}
				r.MetAtEnd = c.Status == metav1.ConditionTrue
			}
			r.Decisions = p.Status.History
		}
		r.Rows = append(r.Rows, row)
		logf("%6s %6.0f %8s %8s %6d %10s %7s %5s %5d of %d", row.At, row.Rate, fmtMS(row.P50), fmtMS(row.P99), row.Failed,
			cmp.Or(row.StatusP99, "-"), cmp.Or(row.SLOMet, "-"), row.Pool, row.Connections, r.Budget)
	}
	r.After = w.Load.Window(time.Minute)
	r.LoadAverage[1] = loadAverage()
	r.judgeHold(created)
	r.AfterWait = promMeanWait(ctx, env.Cluster().PrometheusURL())
	r.PoolAfter = poolEnv(ctx, env, w)
	r.Refused, _ = w.Postgres.RefusedConnections()
	for _, d := range r.Decisions {
		if missingEvidence(d) != "" {
			r.DecisionsWithoutEvidence++
		}
	}
	return r, nil
}

// judgeHold fills HeldAfterFirstMet and DecisionsToFirstMet from the rows
// and the decision history.
func (r *RealReport) judgeHold(created time.Time) {
	if r.FirstMet < 0 {
		return
	}
	r.HeldAfterFirstMet = true
	for _, row := range r.Rows {
		if row.At >= r.FirstMet && row.SLOMet != string(metav1.ConditionTrue) {
			r.HeldAfterFirstMet = false
		}
	}
	r.DecisionsToFirstMet = 0
	for _, d := range r.Decisions {
		if len(d.Changes) > 0 && d.Time.Sub(created) <= r.FirstMet {
			r.DecisionsToFirstMet++
		}
	}
}

// loadAverage is the first field of /proc/loadavg ("?" where there is none).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// poolEnv is the Deployment's pool size.
func poolEnv(ctx context.Context, env *harness.Env, w *harness.RealWorkload) string {
	var d appsv1.Deployment
	if err := env.Client().Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: w.Name}, &d); err != nil {
		return "?"
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == sim.EnvPoolMax {
			return e.Value
		}
	}
	return "?"
}

// promMeanWait is the mean pool wait over the last minute, from Prometheus.
func promMeanWait(ctx context.Context, base string) float64 {
	q := fmt.Sprintf(`sum(rate(db_client_connection_wait_time_seconds_sum{namespace=%q}[1m])) / sum(rate(db_client_connection_wait_time_seconds_count{namespace=%q}[1m]))`, RealNamespace, RealNamespace)
	return harness.PromScalar(ctx, http.DefaultClient, base, q)
}

// Markdown renders the report as B8's section.
func (r *RealReport) Markdown() string {
	var b strings.Builder
	o := r.Options
	load := "idle machine"
	if o.Busy {
		load = "one core kept busy by another process"
	}
	fmt.Fprintf(&b, "### B8 %s variant, %s\n\n", o.Variant, load)
	fmt.Fprintf(&b, "p99 ≤ %v; %v from the profile's creation; PostgreSQL budget %d connections (the role's limit).\n\n", o.SLO, o.Duration, r.Budget)
	b.WriteString("| | before (untuned, last 30 s) | after (last minute) |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| p99 (load generator) | %s | %s |\n", fmtMS(r.Before.P99.Seconds()), fmtMS(r.After.P99.Seconds()))
	fmt.Fprintf(&b, "| p50 (load generator) | %s | %s |\n", fmtMS(r.Before.P50.Seconds()), fmtMS(r.After.P50.Seconds()))
	fmt.Fprintf(&b, "| answered req/s | %.0f | %.0f |\n", r.Before.Rate, r.After.Rate)
	fmt.Fprintf(&b, "| failed requests | %d | %d |\n", r.Before.Failed, r.After.Failed)
	fmt.Fprintf(&b, "| mean pool wait (Prometheus) | %s | %s |\n", fmtMS(r.BeforeWait), fmtMS(r.AfterWait))
	fmt.Fprintf(&b, "| pool per pod | %s | %s |\n\n", r.PoolBefore, r.PoolAfter)
	first := "never"
	if r.FirstMet >= 0 {
		first = r.FirstMet.String()
	}
	margin := r.After.P99 <= time.Duration(0.9*float64(o.SLO))
	fmt.Fprintf(&b, "- SLOMet first True after %s, after %d decisions with changes; held from then to the end: %v; True at the end: %v; margin (p99 ≤ 0.9 × threshold at the end): %v\n",
		first, r.DecisionsToFirstMet, r.HeldAfterFirstMet, r.MetAtEnd, margin)
	fmt.Fprintf(&b, "- machine load average (1 min) at the start and the end: %s, %s (2 cores)\n", r.LoadAverage[0], r.LoadAverage[1])
	fmt.Fprintf(&b, "- PostgreSQL connections of the role: at most %d of %d sampled; refused: %d\n", r.MaxConnections, r.Budget, r.Refused)
	fmt.Fprintf(&b, "- decisions: %d, without their evidence: %d\n\n", len(r.Decisions), r.DecisionsWithoutEvidence)
	for _, d := range r.Decisions {
		fmt.Fprintf(&b, "  - %s %s %s → %s: %s\n", d.Family, d.Diagnosis, changes(d.Changes), d.Outcome, oneLine(d.Reason))
		if m := missingEvidence(d); m != "" {
			fmt.Fprintf(&b, "    - **without its evidence: %s**\n", m)
		}
		if d.Predicted != "" {
			fmt.Fprintf(&b, "    - predicted: %s\n", oneLine(d.Predicted))
		}
		if d.Observed != "" {
			fmt.Fprintf(&b, "    - observed: %s\n", oneLine(d.Observed))
		}
	}
	b.WriteString("\n| t | req/s | p50 | p99 | failed | status p99 | SLOMet | pool | PG conns |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %d | %s | %s | %s | %d |\n", row.At, row.Rate, fmtMS(row.P50), fmtMS(row.P99), row.Failed,
			cmp.Or(row.StatusP99, "-"), cmp.Or(row.SLOMet, "-"), row.Pool, row.Connections)
	}
	return b.String()
}

// missingEvidence says what a decision that changed something lacks of its
// evidence: the SLIs it started from (its baseline) and what it expected
// (a model's prediction, or a predicted effect in words: an undo predicts
// the SLIs from before the change it undoes); "" when it has both.
func missingEvidence(d tuningv1alpha1.Decision) string {
	var lacks []string
	if len(d.Changes) == 0 {
		return ""
	}
	if d.Baseline == nil {
		lacks = append(lacks, "no baseline")
	}
	if d.Prediction == nil && d.Predicted == "" {
		lacks = append(lacks, "no prediction")
	}
	return strings.Join(lacks, ", ")
}

func changes(cs []tuningv1alpha1.Change) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.Knob+" "+c.From+"→"+c.To)
	}
	return strings.Join(parts, ", ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
