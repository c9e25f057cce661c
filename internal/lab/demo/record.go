package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// sample is one row of the run: the ground truth over the last few
// simulated seconds and the knob values in the cluster.
type sample struct {
	wall          time.Duration
	simMin        float64
	load, goodput float64 // offered and successful req/s
	p50, p95, p99 float64 // seconds, ground truth
	errRate       float64
	statusP99     float64 // what the operator last observed (0: unknown)
	sloMet        string  // the SLOMet condition: True, False or ""
	pods, desired int32
	redis         int32
	hpaMin        int32
	hpaMax        int32
	hpaTarget     int32
	poolMax       int
	l1Items       int
	l1TTL, l2TTL  int
	l1Hit, l2Hit  float64
	connsInUse    float64
}

// decisionLine is a decision as shown once.
type decisionLine struct {
	at   time.Duration
	text string
}

// phase are the ground-truth statistics of one part of the run, with the
// configuration that served it.
type phase struct {
	stats  sim.WindowStats
	sample sample
	ok     bool
}

// recorder polls the workload and keeps what the table, summary and plot need.
type recorder struct {
	w        *harness.Workload
	o        Options
	samples  []sample
	seen     map[string]bool
	lines    []decisionLine
	before   phase
	after    phase
	changed  bool // the operator changed something
	profiled bool // the PerformanceProfile exists
	lastWhy  string
	lastDec  string
	slo      string
	p95, p99 time.Duration
}

func newRecorder(w *harness.Workload, o Options) *recorder {
	return &recorder{w: w, o: o, seen: map[string]bool{}, p95: harness.SLOP95, p99: harness.SLOP99,
		slo: fmt.Sprintf("p95 ≤ %v, p99 ≤ %v", harness.SLOP95, harness.SLOP99)}
}

// rowWindow is the simulated seconds a row's percentiles cover.
func (r *recorder) rowWindow() float64 { return max(15, 3*r.o.Refresh.Seconds()*r.o.Speed) }

// loop samples until the run's duration has passed or ctx ends.
func (r *recorder) loop(ctx context.Context, v *view) error {
	end := time.After(r.o.Duration)
	t := time.NewTicker(r.o.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end:
			r.finish()
			return nil
		case <-t.C:
			if !r.profiled && time.Since(r.w.Clock.Start) >= harness.ProfileWindow {
				if err := r.w.CreateProfile(ctx); err != nil {
					return err
				}
				r.profiled = true
				r.lines = append(r.lines, decisionLine{at: time.Since(r.w.Clock.Start),
					text: "created PerformanceProfile orders-api: the operator takes over"})
			}
			if err := r.poll(ctx); err != nil {
				v.note("reading the cluster: " + err.Error())
				continue
			}
			v.render(r)
		}
	}
}

func (r *recorder) poll(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	snap, err := r.w.Snapshot(cctx, r.rowWindow())
	if err != nil {
		return err
	}
	s := sample{
		wall: snap.Wall, simMin: snap.SimSeconds / 60, load: snap.Offered,
		p50: snap.Window.P50, p95: snap.Window.P95, p99: snap.Window.P99, errRate: snap.Window.ErrorRate(),
		goodput: snap.Window.Throughput(),
		pods:    snap.Replicas, desired: snap.Desired, redis: snap.RedisReplicas,
		hpaMin: snap.HPAMin, hpaMax: snap.HPAMax, hpaTarget: snap.HPATarget,
		poolMax: snap.EnvInt(sim.EnvPoolMax), l1Items: snap.EnvInt(sim.EnvL1Items),
		l1TTL: snap.EnvInt(sim.EnvL1TTL), l2TTL: snap.EnvInt(sim.EnvL2TTL),
		l1Hit: snap.Last.L1HitRatio, l2Hit: snap.Last.L2HitRatio, connsInUse: snap.Last.ConnsInUse,
	}
	if p := snap.Profile; p != nil {
		if p.Status.SLIs != nil && p.Status.SLIs.P99 != nil {
			s.statusP99 = p.Status.SLIs.P99.Seconds()
		}
		for _, c := range p.Status.Conditions {
			if c.Type == tuningv1alpha1.ConditionSLOMet {
				s.sloMet = string(c.Status)
			}
		}
		r.decisions(p, snap.Wall)
	}
	r.samples = append(r.samples, s)
	// "Before" is the untuned service: everything up to the first change.
	if !r.changed && snap.SimSeconds >= 30 {
		r.before = phase{stats: r.w.Model.Window(min(snap.SimSeconds, 300)), sample: s, ok: true}
	}
	return nil
}

// decisions records new history entries and the latest reason.
func (r *recorder) decisions(p *tuningv1alpha1.PerformanceProfile, wall time.Duration) {
	for _, d := range p.Status.History {
		key := d.Time.String() + d.Family + string(d.Outcome)
		if r.seen[key] {
			continue
		}
		r.seen[key] = true
		r.changed = true
		var ch []string
		for _, c := range d.Changes {
			ch = append(ch, fmt.Sprintf("%s %s→%s", c.Knob, c.From, c.To))
		}
		text := fmt.Sprintf("%s [%s] %s: %s", d.Family, d.Outcome, d.Diagnosis, strings.Join(ch, ", "))
		if d.Observed != "" {
			text += " (observed: " + d.Observed + ")"
		}
		r.lines = append(r.lines, decisionLine{at: wall, text: text})
		r.lastDec = text
	}
	switch {
	case p.Status.Recommendation != nil && p.Status.Recommendation.Reason != "":
		r.lastWhy = p.Status.Recommendation.Reason
	case p.Status.LastAdjustment != nil:
		r.lastWhy = p.Status.LastAdjustment.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == tuningv1alpha1.ConditionReady && c.Status != "True" && c.Message != "" && r.lastWhy == "" {
			r.lastWhy = c.Reason + ": " + c.Message
		}
	}
}

// finish records the "after" phase: the last quarter of the run (at most the
// model's truth retention).
func (r *recorder) finish() {
	secs := min(0.25*r.o.Duration.Seconds()*r.o.Speed, 900)
	if len(r.samples) == 0 {
		return
	}
	r.after = phase{stats: r.w.Model.Window(secs), sample: r.samples[len(r.samples)-1], ok: true}
}

// summary prints the before/after table next to the guide's case study.
func (r *recorder) summary(out io.Writer) {
	if !r.after.ok && len(r.samples) > 0 {
		r.finish()
	}
	if !r.before.ok || !r.after.ok {
		fmt.Fprintln(out, "the run was too short for a before/after summary")
		return
	}
	b, a := r.before, r.after
	fmt.Fprintf(out, "Before/after (ground truth of the simulated service; SLO %s):\n", r.slo)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tbefore (untuned)\tafter (tuned)\tguide's case study")
	fmt.Fprintf(tw, "throughput (ok req/s)\t%.0f\t%.0f\t100 → 500\n", b.stats.Throughput(), a.stats.Throughput())
	fmt.Fprintf(tw, "mean latency\t%s\t%s\t250 ms → 50 ms\n", fmtMS(b.stats.Mean), fmtMS(a.stats.Mean))
	fmt.Fprintf(tw, "p95 latency\t%s\t%s\t500 ms → 100 ms\n", fmtMS(b.stats.P95), fmtMS(a.stats.P95))
	fmt.Fprintf(tw, "p99 latency\t%s\t%s\t\n", fmtMS(b.stats.P99), fmtMS(a.stats.P99))
	fmt.Fprintf(tw, "errors\t%.2f%%\t%.2f%%\t\n", 100*b.stats.ErrorRate(), 100*a.stats.ErrorRate())
	fmt.Fprintf(tw, "pods\t%d\t%d\t\n", b.sample.pods, a.sample.pods)
	fmt.Fprintf(tw, "DB pool max\t%d\t%d\t\n", b.sample.poolMax, a.sample.poolMax)
	fmt.Fprintf(tw, "L1 items / TTL\t%d / %ds\t%d / %ds\t10,000 / 60 s\n", b.sample.l1Items, b.sample.l1TTL, a.sample.l1Items, a.sample.l1TTL)
	fmt.Fprintf(tw, "L2 (Redis) TTL\t%ds\t%ds\t300 s\n", b.sample.l2TTL, a.sample.l2TTL)
	fmt.Fprintf(tw, "Redis replicas\t%d\t%d\t\n", b.sample.redis, a.sample.redis)
	fmt.Fprintf(tw, "HPA min-max @ CPU\t%d-%d @ %d%%\t%d-%d @ %d%%\t\n", b.sample.hpaMin, b.sample.hpaMax, b.sample.hpaTarget,
		a.sample.hpaMin, a.sample.hpaMax, a.sample.hpaTarget)
	_ = tw.Flush()
	fmt.Fprintf(out, "before: the first %.0f simulated seconds, until the operator's first change; after: the last %.0f simulated seconds.\n",
		b.stats.To-b.stats.From, a.stats.To-a.stats.From)
	if len(r.lines) > 0 {
		fmt.Fprintf(out, "%d decisions:\n", len(r.lines))
		for _, l := range r.lines {
			fmt.Fprintf(out, "  %s  %s\n", fmtClock(l.at), l.text)
		}
	}
}

func fmtClock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
