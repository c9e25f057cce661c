// Package plugin is `kubectl navius`: it shows what navius-tuner does to a
// workload and why (status, why, history, diff), pauses and resumes a
// profile, and checks before a profile is applied which knob families the
// service's metrics let it tune (check), and replays recorded metrics
// through the manager's period (replay). It reads what the manager wrote in
// the profiles' status and computes nothing the manager decides: readiness,
// the rollout budget and a replay's decisions come from the engine's own
// functions, the metrics from the manager's own Prometheus reader.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/version"
)

// FieldManager is the field manager of the plugin's writes (pause and
// resume), so that `kubectl get -o yaml --show-managed-fields` tells them
// from the manager's and from other tools'.
const FieldManager = "kubectl-navius"

// ExitNotTunable is the exit code of check when a family the profile
// declares cannot be tuned on the signals read.
const ExitNotTunable = 3

// ExitError is raised as an error whose exit code is not 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process exit code for the error Execute returned.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return 1
	}
	return 0
}

// Options are what every verb shares.
type Options struct {
	genericiooptions.IOStreams
	// Flags are kubectl's own: --kubeconfig, --context, -n, --as, --token, …
	Flags *genericclioptions.ConfigFlags
	// Now is the clock the ages and waits are measured with [time.Now].
	Now func() time.Time
	// client is built on first use from Flags.
	client client.Client
}

// NewCommand returns `kubectl navius` with its verbs.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams, Flags: genericclioptions.NewConfigFlags(true), Now: time.Now}
	return o.command()
}

func (o *Options) command() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-navius",
		Short: "See what navius-tuner does to your workloads and why; check a profile before applying it",
		Long: `kubectl navius shows what navius-tuner does to the workloads its PerformanceProfiles tune,
and why, from the profiles' status; pauses and resumes a profile; and checks, before a
profile is applied, which knob families the service's metrics let it tune.`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl navius",
		},
	}
	root.SetIn(o.In)
	root.SetOut(o.Out)
	root.SetErr(o.ErrOut)
	o.Flags.AddFlags(root.PersistentFlags())
	root.AddCommand(o.statusCommand(), o.whyCommand(), o.historyCommand(), o.diffCommand(),
		o.pauseCommand(true), o.pauseCommand(false), o.checkCommand(), o.replayCommand())
	return root
}

// Client is the API client of the current kubeconfig and flags.
func (o *Options) Client() (client.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := tuningv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	o.client = c
	return c, nil
}

// Namespace is the namespace of -n, else of the kubeconfig's context, else default.
func (o *Options) Namespace() (string, error) {
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

// profile reads one profile of the current namespace.
func (o *Options) profile(ctx context.Context, name string) (*tuningv1alpha1.PerformanceProfile, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	ns, err := o.Namespace()
	if err != nil {
		return nil, err
	}
	p := &tuningv1alpha1.PerformanceProfile{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
		return nil, fmt.Errorf("reading PerformanceProfile %s/%s: %w", ns, name, err)
	}
	return p, nil
}

func fprintf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
