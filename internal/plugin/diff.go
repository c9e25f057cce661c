package plugin

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
)

func (o *Options) diffCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "diff NAME [-o patch]",
		Short: "What Recommend mode proposes against what runs",
		Long: `diff compares status.recommendation, what navius-tuner would apply now (published in
mode Recommend, and in mode Auto while the profile is paused), with status.current, the
values the workload runs.

-o patch prints the proposal as strategic-merge patches, one per object (the target
Deployment's env entries, merged by name; the HPA; the Redis workload), for a GitOps
repository: kubectl patch --type strategic, or kustomize's patches.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "patch" {
				return fmt.Errorf("--output %q: table or patch", output)
			}
			p, err := o.profile(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "patch" {
				patches, err := o.recommendationPatches(cmd.Context(), p)
				if err != nil {
					return err
				}
				if len(patches) == 0 {
					fprintf(o.ErrOut, "%s/%s proposes no change: no patch.\n", p.Namespace, p.Name)
					return nil
				}
				return writePatches(o.Out, p, patches)
			}
			o.diff(p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, or patch: strategic-merge patches of the proposal, one per object")
	return cmd
}

func (o *Options) diff(p *tuningv1alpha1.PerformanceProfile) {
	rec := p.Status.Recommendation
	if rec == nil {
		switch {
		case p.Spec.Mode == tuningv1alpha1.ModeOff:
			fprintf(o.Out, "%s/%s is in mode Off: nothing is proposed (set mode Recommend to see proposals).\n", p.Namespace, p.Name)
		case p.Spec.Mode == tuningv1alpha1.ModeRecommend || p.Annotations[tuningv1alpha1.PausedAnnotation] == "true":
			fprintf(o.Out, "%s/%s has no recommendation yet: navius-tuner has not decided since the mode or the pause changed.\n", p.Namespace, p.Name)
		default:
			fprintf(o.Out, "%s/%s is in mode Auto: navius-tuner applies what it decides, so nothing waits (`kubectl navius pause %s` or mode Recommend publishes proposals instead).\n",
				p.Namespace, p.Name, p.Name)
		}
		return
	}
	runs := actuate.KnownValues(p.Status.Current)
	proposed := map[string]tuningv1alpha1.Change{}
	for _, c := range rec.Changes {
		proposed[c.Knob] = c
		if _, ok := runs[c.Knob]; !ok {
			runs[c.Knob] = c.From
		}
	}
	knobs := make([]string, 0, len(runs))
	for k := range runs {
		knobs = append(knobs, k)
	}
	sort.Strings(knobs)
	w := printers.GetNewTabWriter(o.Out)
	fprintf(w, "KNOB\tRUNS\tPROPOSED\n")
	for _, k := range knobs {
		to := "="
		if c, ok := proposed[k]; ok {
			to = c.To
		}
		fprintf(w, "%s\t%s\t%s\n", k, orDash(runs[k]), to)
	}
	_ = w.Flush()
	if len(rec.Changes) == 0 {
		fprintf(o.Out, "\nNo change proposed (%s).\n", ago(rec.Time, o.Now()))
	} else {
		fprintf(o.Out, "\nProposed %s.\n", ago(rec.Time, o.Now()))
	}
	if rec.Reason != "" {
		fprintf(o.Out, "Why: %s\n", rec.Reason)
	}
}

// pauseCommand is pause (on) or resume (off).
func (o *Options) pauseCommand(on bool) *cobra.Command {
	verb, short := "resume", "Let navius-tuner write to the workload again"
	if on {
		verb, short = "pause", "Stop every write navius-tuner makes to the workload; status and recommendations go on"
	}
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.setPaused(cmd, args[0], on)
		},
	}
}

var _ = fmt.Sprint
