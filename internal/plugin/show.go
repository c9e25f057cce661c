package plugin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// statusColumns are the columns of `kubectl navius status` (docs/kubectl-plugin.md shows them).
var statusColumns = []string{"NAMESPACE", "NAME", "MODE", "OBJECTIVE", "SLI", "DOING", "LAST CHANGE", "NEXT ROLLOUT"}

func (o *Options) statusCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "status [-A]",
		Short: "One line per profile: objective vs SLI, what it is doing, last change, next possible rollout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			var opts []client.ListOption
			if !all {
				ns, err := o.Namespace()
				if err != nil {
					return err
				}
				opts = append(opts, client.InNamespace(ns))
			}
			list := &tuningv1alpha1.PerformanceProfileList{}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				return fmt.Errorf("listing PerformanceProfiles: %w", err)
			}
			if len(list.Items) == 0 {
				fprintf(o.ErrOut, "No PerformanceProfiles found.\n")
				return nil
			}
			sort.Slice(list.Items, func(i, j int) bool {
				a, b := list.Items[i], list.Items[j]
				return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
			})
			now := o.Now()
			w := printers.GetNewTabWriter(o.Out)
			fprintf(w, "%s\n", strings.Join(statusColumns, "\t"))
			for i := range list.Items {
				p := &list.Items[i]
				last := "never"
				if d := p.Status.LastAdjustment; d != nil {
					last = fmt.Sprintf("%s %s (%s)", ago(d.Time, now), changes(d.Changes), d.Outcome)
				}
				objective, sli := "-", "-"
				if s := p.Status.SLIs; s != nil && s.WorstObjective != "" {
					objective, sli = s.WorstObjective, s.WorstSLI
				}
				fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, orDash(string(p.Spec.Mode)),
					objective, sli, doing(p), last, nextRollout(p, now))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the profiles of every namespace")
	return cmd
}

// whyDecisions is how many of the last decisions `why` shows.
const whyDecisions = 3

func (o *Options) whyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "why NAME",
		Short: "The last decisions with their evidence, predictions vs outcomes, and what holds which family now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.profile(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			now := o.Now()
			fprintf(o.Out, "%s/%s tunes Deployment %s (mode %s): %s\n", p.Namespace, p.Name, p.Spec.TargetRef.Name, orDash(string(p.Spec.Mode)), doing(p))
			if s := p.Status.SLIs; s != nil && s.WorstObjective != "" {
				fprintf(o.Out, "SLO: %s, measured %s\n", s.WorstObjective, s.WorstSLI)
			}
			fprintf(o.Out, "\nLast decisions (newest first):\n")
			h := p.Status.History
			if len(h) == 0 {
				fprintf(o.Out, "  none yet\n")
			}
			for i := len(h) - 1; i >= 0 && i >= len(h)-whyDecisions; i-- {
				for _, l := range decisionLines(h[i], now) {
					fprintf(o.Out, "  %s\n", l)
				}
			}
			fprintf(o.Out, "\nWhat holds now:\n")
			for _, l := range holds(p) {
				fprintf(o.Out, "  %s\n", l)
			}
			fprintf(o.Out, "\nNext rollout: %s\n", nextRollout(p, now))
			return nil
		},
	}
}

// holds lists what holds which family now, from the status: the families
// whose signals are missing, the recommendation's holds, the conditions
// that stop or slow navius-tuner, and the back-offs it remembers.
func holds(p *tuningv1alpha1.PerformanceProfile) []string {
	var out []string
	for _, r := range p.Status.Readiness {
		if !r.Tunable {
			out = append(out, fmt.Sprintf("%s (%s): signals missing: %s", r.Family, strings.Join(r.Knobs, ", "), strings.Join(r.Missing, "; ")))
		}
	}
	for _, typ := range []string{tuningv1alpha1.ConditionReady, tuningv1alpha1.ConditionMetricsAvailable,
		tuningv1alpha1.ConditionRolloutBudget, tuningv1alpha1.ConditionConnectionBudget, tuningv1alpha1.ConditionStalled} {
		c := condition(p, typ)
		if c == nil || healthy(*c) {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%s (%s): %s", c.Type, c.Status, c.Reason, c.Message))
	}
	if r := p.Status.Recommendation; r != nil && r.Reason != "" {
		out = append(out, "recommendation: "+r.Reason)
	}
	if m := p.Status.Memory; m != nil {
		for _, k := range m.Knobs {
			for _, d := range []struct {
				dir string
				b   *tuningv1alpha1.BackOff
			}{{"up", k.Up}, {"down", k.Down}} {
				if dir, b := d.dir, d.b; b != nil && b.Bound != "" {
					out = append(out, fmt.Sprintf("%s: not moved %s to %s again without new evidence (undone %d time(s))", k.Knob, dir, b.Bound, b.Level))
				}
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "nothing: every declared family may act")
	}
	return out
}

// healthy reports whether a condition says nothing is held back.
func healthy(c metav1.Condition) bool {
	switch c.Type {
	case tuningv1alpha1.ConditionStalled:
		return c.Status != metav1.ConditionTrue
	case tuningv1alpha1.ConditionReady:
		return c.Status == metav1.ConditionTrue
	}
	return c.Status != metav1.ConditionFalse
}

func (o *Options) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "The decision history and what navius-tuner remembers (status.memory), in plain words",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.profile(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			now := o.Now()
			fprintf(o.Out, "Decisions of %s/%s (oldest first, the last %d are kept):\n", p.Namespace, p.Name, tuningv1alpha1.MaxHistoryItems)
			if len(p.Status.History) == 0 {
				fprintf(o.Out, "  none yet\n")
			}
			for _, d := range p.Status.History {
				for _, l := range decisionLines(d, now) {
					fprintf(o.Out, "  %s\n", l)
				}
			}
			fprintf(o.Out, "\nRemembered beyond the history:\n")
			for _, l := range memoryLines(p, now) {
				fprintf(o.Out, "  %s\n", l)
			}
			return nil
		},
	}
}
