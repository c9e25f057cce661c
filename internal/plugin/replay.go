package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/replay"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// ExitReplayUnsafe is the exit code of replay when the guard would have
// refused a change or the connection peak would have exceeded the budget.
const ExitReplayUnsafe = 4

type replayOptions struct {
	file           string
	from, to       string
	since          time.Duration
	prometheus     string
	scrapeInterval time.Duration
	set            []string
	noWorkload     bool
	output         string
	timeout        time.Duration
}

func (o *Options) replayCommand() *cobra.Command {
	var ro replayOptions
	cmd := &cobra.Command{
		Use:   "replay (NAME | -f profile.yaml) (--since 24h | --from TIME [--to TIME])",
		Short: "Replay a time range of recorded metrics through the engine: what navius-tuner would have done",
		Long: `replay reads the profile's recorded metrics from Prometheus with the manager's own queries,
evaluated at every spec.interval of the range, and runs the manager's engine, guard and
ledger over them, starting from the knob values the workload had at the start of the range
(the values it runs now, with every change in status.history since then undone; --set
overrides them). It prints each decision with its evidence and predicted effect, the
holds and guard refusals, and a summary. It writes nothing.

Only the first change is a statement about the past: the metrics after it are those of
the workload as it ran, not as the change would have made it, so what follows is a preview
of what the data would have triggered. The output says so.

Exit code: 0; 4 when the guard would have refused a change or the connection peak would
have exceeded the database budget; 1 when the replay could not run.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.replay(cmd.Context(), args, ro)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ro.file, "filename", "f", "", "replay the profile of this file instead of one in the cluster ('-' reads standard input)")
	f.StringVar(&ro.from, "from", "", "start of the range (RFC 3339, such as 2026-03-01T12:00:00Z)")
	f.StringVar(&ro.to, "to", "", "end of the range (RFC 3339) [now]")
	f.DurationVar(&ro.since, "since", 0, "replay the last duration, such as 24h (instead of --from)")
	f.StringVar(&ro.prometheus, "prometheus", "", "the Prometheus URL to query instead of spec.metrics.prometheus.url")
	f.DurationVar(&ro.scrapeInterval, "prometheus-scrape-interval", signals.DefaultScrapeInterval,
		"the scrape interval, as the manager's flag of that name gives it (the default saturation window and the staleness rule follow it)")
	f.StringArrayVar(&ro.set, "set", nil, "start from KNOB=VALUE instead of the workload's value (repeatable; hpa.maxReplicas=10, DB_POOL_MAX_CONNECTIONS=20)")
	f.BoolVar(&ro.noWorkload, "no-workload", false, "do not read the target Deployment, HPA and Redis workload: start from the --set values alone")
	f.StringVarP(&ro.output, "output", "o", "table", "table or json")
	f.DurationVar(&ro.timeout, "timeout", 30*time.Second, "how long the queries of one period may take, retries included")
	return cmd
}

func (o *Options) replay(ctx context.Context, args []string, ro replayOptions) error {
	if ro.output != "table" && ro.output != "json" {
		return fmt.Errorf("--output %q: table or json", ro.output)
	}
	p, err := o.replayProfile(ctx, args, ro.file)
	if err != nil {
		return err
	}
	from, to, err := replayRange(ro, o.Now())
	if err != nil {
		return err
	}
	if ro.prometheus != "" {
		p.Spec.Metrics.Prometheus.URL = ro.prometheus
	}
	if p.Spec.Metrics.Prometheus.URL == "" {
		return fmt.Errorf("PerformanceProfile %s/%s has no spec.metrics.prometheus.url: give one with --prometheus", p.Namespace, p.Name)
	}
	set, err := knobValues(ro.set)
	if err != nil {
		return err
	}
	var state tuning.State
	if !ro.noWorkload {
		c, err := o.Client()
		if err != nil {
			return err
		}
		if state, err = controllers.ReadState(ctx, c, p, o.Now()); err != nil {
			return fmt.Errorf("reading the workload of PerformanceProfile %s/%s (--no-workload with --set starts without it): %w", p.Namespace, p.Name, err)
		}
		state.Values = replay.ValuesAt(state.Values, p.Status.History, from)
	}
	if state.Values == nil {
		state.Values = tuning.Values{}
	}
	maps.Copy(state.Values, set)
	reader := prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(),
		Freshness: signals.Freshness{ScrapeInterval: ro.scrapeInterval}})
	src := &controllers.PrometheusSource{Secrets: &lazySecrets{o: o}, Batcher: prom.NewBatcher(reader, prom.BatcherOptions{})}
	observe := func(ctx context.Context, at time.Time) (signals.Observation, error) {
		qctx, cancel := context.WithTimeout(ctx, ro.timeout)
		defer cancel()
		obs, err := src.ObserveAt(qctx, p, at)
		if err == nil {
			err = unreachable(p, obs)
		}
		return obs, err
	}
	rep, err := replay.Run(ctx, replay.Config{Profile: p, From: from, To: to, State: state, Observe: observe})
	if err != nil {
		return err
	}
	if ro.output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		o.replayTable(rep)
	}
	if rep.Unsafe() {
		var why []string
		if rep.Refusals > 0 {
			why = append(why, fmt.Sprintf("the guard would have refused %d change%s", rep.Refusals, plural(rep.Refusals, "", "s")))
		}
		if rep.OverBudget() {
			why = append(why, fmt.Sprintf("the connection peak %d would have exceeded the budget %d", *rep.PeakConnections, *rep.Budget))
		}
		return &ExitError{Code: ExitReplayUnsafe, Err: errors.New(strings.Join(why, "; "))}
	}
	return nil
}

// replayProfile is the profile of NAME in the cluster, or of -f.
func (o *Options) replayProfile(ctx context.Context, args []string, file string) (*tuningv1alpha1.PerformanceProfile, error) {
	switch {
	case file != "" && len(args) > 0:
		return nil, errors.New("give a profile NAME or -f, not both")
	case file != "":
		ps, err := o.readProfiles(file)
		if err != nil {
			return nil, err
		}
		if len(ps) > 1 {
			return nil, fmt.Errorf("%s holds %d PerformanceProfiles: replay one at a time", file, len(ps))
		}
		return ps[0], nil
	case len(args) == 1:
		return o.profile(ctx, args[0])
	}
	return nil, errors.New("give a profile NAME or -f profile.yaml")
}

// replayRange reads --from/--to or --since.
func replayRange(ro replayOptions, now time.Time) (from, to time.Time, err error) {
	to = now
	if ro.to != "" {
		if to, err = time.Parse(time.RFC3339, ro.to); err != nil {
			return from, to, fmt.Errorf("--to: %w", err)
		}
	}
	switch {
	case ro.from != "" && ro.since != 0:
		return from, to, errors.New("give --from or --since, not both")
	case ro.from != "":
		if from, err = time.Parse(time.RFC3339, ro.from); err != nil {
			return from, to, fmt.Errorf("--from: %w", err)
		}
	case ro.since > 0:
		from = to.Add(-ro.since)
	default:
		return from, to, errors.New("give the range: --since DURATION, or --from TIME [--to TIME]")
	}
	return from, to, nil
}

// knobValues reads the --set flags.
func knobValues(set []string) (tuning.Values, error) {
	out := tuning.Values{}
	for _, s := range set {
		k, v, ok := strings.Cut(s, "=")
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if !ok || k == "" || err != nil {
			return nil, fmt.Errorf("--set %q: KNOB=INTEGER", s)
		}
		out[tuning.Knob(strings.TrimSpace(k))] = n
	}
	return out, nil
}

// replayTable prints the replay for people: one row per period that
// decided, judged or was refused something, holds collapsed into one row
// per run of the same reason, then the summary.
func (o *Options) replayTable(rep *replay.Report) {
	fprintf(o.Out, "Replay of %s/%s from %s to %s, every %s, as in mode Auto. Starting values: %s\n\n",
		rep.Namespace, rep.Profile, rep.From.UTC().Format(time.RFC3339), rep.To.UTC().Format(time.RFC3339), rep.Interval, valuesText(rep.Start))
	w := printers.GetNewTabWriter(o.Out)
	fprintf(w, "TIME\tOBJECTIVE\tSLI\tDECISION\n")
	flush := func() { _ = w.Flush() }
	previewSaid := false
	for i := 0; i < len(rep.Periods); i++ {
		pr := rep.Periods[i]
		if pr.Preview && !previewSaid {
			flush()
			fprintf(o.Out, "--- After the first change: a preview of what the recorded metrics would have triggered, not a\n"+
				"--- counterfactual: they are the metrics of the workload as it ran, without the change.\n")
			previewSaid = true
		}
		when := pr.Time.UTC().Format(time.TimeOnly)
		if quiet(pr) {
			n := 1
			for i+n < len(rep.Periods) && quiet(rep.Periods[i+n]) && rep.Periods[i+n].Reason == pr.Reason &&
				rep.Periods[i+n].Preview == pr.Preview && slices.Equal(rep.Periods[i+n].Missing, pr.Missing) {
				n++
			}
			if n > 1 {
				when += "–" + rep.Periods[i+n-1].Time.UTC().Format(time.TimeOnly)
			}
			fprintf(w, "%s\t%s\t%s\thold: %s\n", when, orDash(pr.Objective), orDash(pr.SLI), orDash(pr.Reason))
			for _, m := range pr.Missing {
				fprintf(w, "\t\t\t  missing: %s\n", m)
			}
			i += n - 1
			continue
		}
		text := "hold"
		if d := pr.Decision; d != nil {
			text = changes(d.Changes)
			if d.Rollout {
				text += " (restarts the pods)"
			}
		}
		fprintf(w, "%s\t%s\t%s\t%s\n", when, orDash(pr.Objective), orDash(pr.SLI), text)
		if d := pr.Decision; d != nil {
			if d.Diagnosis != "" {
				fprintf(w, "\t\t\t  diagnosis: %s\n", d.Diagnosis)
			}
			fprintf(w, "\t\t\t  evidence:  %s\n", orDash(d.Reason))
			if d.Predicted != "" {
				fprintf(w, "\t\t\t  predicted: %s\n", d.Predicted)
			}
		} else if pr.Reason != "" {
			fprintf(w, "\t\t\t  why:       %s\n", pr.Reason)
		}
		if j := pr.Judged; j != nil {
			fprintf(w, "\t\t\t  judged:    the change of %s: %s (%s)\n", j.Time.UTC().Format(time.TimeOnly), j.Outcome, orDash(j.Observed))
		}
		for _, r := range pr.Refused {
			fprintf(w, "\t\t\t  REFUSED by the guard: %s\n", r)
		}
		for _, h := range pr.Holds {
			fprintf(w, "\t\t\t  held: %s\n", h)
		}
		if pk := pr.PeakConnections; pk != nil && pr.Decision != nil {
			fprintf(w, "\t\t\t  connections at the worst moment: %d\n", *pk)
		}
	}
	flush()
	fprintf(o.Out, "\nSummary: %d change%s, %d rollout%s, %d refused by the guard",
		rep.Changes, plural(rep.Changes, "", "s"), rep.Rollouts, plural(rep.Rollouts, "", "s"), rep.Refusals)
	switch {
	case rep.PeakConnections != nil && rep.Budget != nil:
		fprintf(o.Out, "; connection peak %d of a budget of %d", *rep.PeakConnections, *rep.Budget)
		if rep.OverBudget() {
			fprintf(o.Out, " (OVER BUDGET)")
		}
	case rep.PeakConnections != nil:
		fprintf(o.Out, "; connection peak %d (no database budget declared)", *rep.PeakConnections)
	}
	fprintf(o.Out, ".\n")
	if rep.FirstChange != nil {
		fprintf(o.Out, "Only the first change (%s) is what navius-tuner would have done; the rest is a preview of what the data would have triggered.\n",
			rep.FirstChange.UTC().Format(time.RFC3339))
	}
}

// quiet is a period that neither decided, judged nor was refused anything.
func quiet(p replay.Period) bool { return p.Decision == nil && p.Judged == nil && len(p.Refused) == 0 }

// valuesText reads "DB_POOL_MAX_CONNECTIONS=10, hpa.maxReplicas=8".
func valuesText(v tuning.Values) string {
	if len(v) == 0 {
		return "none known"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		out = append(out, fmt.Sprintf("%s=%d", k, v[k]))
	}
	return strings.Join(out, ", ")
}
