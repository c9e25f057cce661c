package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/spf13/cobra"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

type checkOptions struct {
	file       string
	prometheus string
	timeout    time.Duration
}

func (o *Options) checkCommand() *cobra.Command {
	var co checkOptions
	cmd := &cobra.Command{
		Use:   "check -f profile.yaml [--prometheus URL]",
		Short: "Run a profile's queries against Prometheus and say which knob families its metrics let navius-tuner tune",
		Long: `check reads the PerformanceProfiles of a file (other objects in it are skipped), runs
every query navius-tuner would run for each against Prometheus (the profile's
spec.metrics.prometheus.url, or --prometheus), and prints, per knob family the profile
declares, which signals were found, which are missing and why, and which knobs can
therefore be tuned. status.readiness says the same once the profile is applied.

Exit code: 0 when every declared family can be tuned, 3 when one cannot, 1 when the
check could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.check(cmd.Context(), co)
		},
	}
	cmd.Flags().StringVarP(&co.file, "filename", "f", "", "the file with the profile ('-' reads standard input)")
	cmd.Flags().StringVar(&co.prometheus, "prometheus", "", "the Prometheus URL to query instead of spec.metrics.prometheus.url (a port-forward, say)")
	cmd.Flags().DurationVar(&co.timeout, "timeout", 30*time.Second, "how long the queries of one profile may take, retries included")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *Options) check(ctx context.Context, co checkOptions) error {
	profiles, err := o.readProfiles(co.file)
	if err != nil {
		return err
	}
	reader := prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry()})
	src := &controllers.PrometheusSource{Secrets: &lazySecrets{o: o}, Batcher: prom.NewBatcher(reader, prom.BatcherOptions{})}
	notTunable := 0
	for i, p := range profiles {
		if i > 0 {
			fprintf(o.Out, "\n")
		}
		if co.prometheus != "" {
			p.Spec.Metrics.Prometheus.URL = co.prometheus
		}
		if p.Spec.Metrics.Prometheus.URL == "" {
			return fmt.Errorf("PerformanceProfile %s/%s has no spec.metrics.prometheus.url: give one with --prometheus", p.Namespace, p.Name)
		}
		qctx, cancel := context.WithTimeout(ctx, co.timeout)
		obs, err := src.Observe(qctx, p)
		cancel()
		if err != nil {
			return fmt.Errorf("observing PerformanceProfile %s/%s: %w", p.Namespace, p.Name, err)
		}
		if err := unreachable(p, obs); err != nil {
			return err
		}
		notTunable += o.report(p, obs)
	}
	if notTunable > 0 {
		return &ExitError{Code: ExitNotTunable, Err: fmt.Errorf("%d declared knob famil%s cannot be tuned on these metrics", notTunable, plural(notTunable, "y", "ies"))}
	}
	return nil
}

// report prints what one profile's observation lets navius-tuner tune and
// returns how many declared families cannot be tuned.
func (o *Options) report(p *tuningv1alpha1.PerformanceProfile, obs signals.Observation) int {
	w := o.Out
	fprintf(w, "PerformanceProfile %s/%s, Prometheus %s\n", p.Namespace, p.Name, p.Spec.Metrics.Prometheus.URL)
	slo := tuning.SLOSignals(p.Spec)
	fprintf(w, "SLO signals (every family needs them):\n")
	if len(slo) == 0 {
		fprintf(w, "  none: the profile declares no objective\n")
	}
	for _, s := range slo {
		fprintf(w, "  %s\n", signalLine(s, obs))
	}
	families := tuning.Readiness(p.Spec, obs)
	if len(families) == 0 {
		fprintf(w, "The profile declares no knobs: navius-tuner only reports its SLIs.\n")
		return 0
	}
	bad := 0
	var tunable []string
	for _, r := range families {
		knobs := make([]string, len(r.Knobs))
		for i, k := range r.Knobs {
			knobs[i] = string(k)
		}
		if r.Tunable() {
			fprintf(w, "%s: tunable (%s)\n", r.Family, strings.Join(knobs, ", "))
			tunable = append(tunable, knobs...)
		} else {
			bad++
			fprintf(w, "%s: NOT tunable, holds %s\n", r.Family, strings.Join(knobs, ", "))
		}
		for _, s := range r.Needs {
			if !slices.Contains(slo, s) {
				fprintf(w, "  %s\n", signalLine(s, obs))
			}
		}
		if slices.ContainsFunc(r.Missing, func(g tuning.SignalGap) bool { return slices.Contains(slo, g.Signal) }) {
			fprintf(w, "  held while an SLO signal is missing (above)\n")
		}
	}
	switch {
	case bad == 0:
		fprintf(w, "Every declared family can be tuned.\n")
	case len(tunable) == 0:
		fprintf(w, "No knob can be tuned on these metrics (docs/metrics.md says what each signal needs).\n")
	default:
		fprintf(w, "Can be tuned: %s; %d famil%s held (docs/metrics.md says what each signal needs).\n",
			strings.Join(tunable, ", "), bad, plural(bad, "y", "ies"))
	}
	return bad
}

// unreachable is the error of an observation in which Prometheus itself
// could not be read (every SLO signal missing for the endpoint, its
// credentials or a timeout): that says nothing about the service's metrics.
func unreachable(p *tuningv1alpha1.PerformanceProfile, obs signals.Observation) error {
	slo := tuning.SLOSignals(p.Spec)
	if len(slo) == 0 {
		return nil
	}
	for _, s := range slo {
		switch m := obs.Missing[s]; m.Reason {
		case signals.ReasonEndpointDown, signals.ReasonTimeout, signals.ReasonUnauthorized, signals.ReasonCredentialsNotAllowed, signals.ReasonHTTPError:
		default:
			return nil
		}
	}
	return fmt.Errorf("PerformanceProfile %s/%s: Prometheus at %s could not be queried: %s",
		p.Namespace, p.Name, p.Spec.Metrics.Prometheus.URL, obs.Missing[slo[0]])
}

// signalLine reads "found    poolWait = 1.2ms" or "missing  dbTime: Empty: …".
func signalLine(s signals.Signal, obs signals.Observation) string {
	if v, ok := obs.Get(s); ok {
		return fmt.Sprintf("found    %s = %s", s, value(s, v))
	}
	if m, ok := obs.Missing[s]; ok {
		return fmt.Sprintf("missing  %s: %s", s, m)
	}
	return fmt.Sprintf("missing  %s: not observed", s)
}

// value formats a signal's value in its unit.
func value(s signals.Signal, v float64) string {
	_, latency := signals.Quantile(s)
	switch {
	case latency || s == signals.LatencyMean || s == signals.PoolWait || s == signals.DBTime:
		return time.Duration(v * float64(time.Second)).Round(time.Microsecond).String()
	case s == signals.ErrorRate || s == signals.MemoryHitRatio || s == signals.RedisHitRatio || s == signals.CPUUtilization:
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.4g", v)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// readProfiles reads every PerformanceProfile of a YAML or JSON file (or
// standard input for "-"), strictly: a field the API does not know is an
// error, as the API server's strict field validation would make it.
func (o *Options) readProfiles(file string) ([]*tuningv1alpha1.PerformanceProfile, error) {
	var r io.Reader
	if file == "-" {
		r = o.In
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	ns, err := o.Namespace()
	if err != nil {
		ns = corev1.NamespaceDefault
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []*tuningv1alpha1.PerformanceProfile
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading document %d: %w", file, i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if tm.Kind != "PerformanceProfile" || !strings.HasPrefix(tm.APIVersion, tuningv1alpha1.GroupVersion.Group+"/") {
			continue
		}
		if tm.APIVersion != tuningv1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("%s: document %d: apiVersion %s is not served by this plugin (%s)", file, i, tm.APIVersion, tuningv1alpha1.GroupVersion)
		}
		p := &tuningv1alpha1.PerformanceProfile{}
		if err := yaml.UnmarshalStrict(doc, p); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if p.Namespace == "" {
			p.Namespace = ns
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PerformanceProfile (%s)", file, tuningv1alpha1.GroupVersion)
	}
	return out, nil
}

// lazySecrets reads the profile's credential Secrets from the cluster of
// the kubeconfig, connecting only when a profile names one: a profile
// without credentials is checked without a cluster.
type lazySecrets struct{ o *Options }

func (l *lazySecrets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c, err := l.o.Client()
	if err != nil {
		return fmt.Errorf("the profile names a Secret, which is read from the cluster: %w", err)
	}
	return c.Get(ctx, key, obj, opts...)
}

func (l *lazySecrets) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c, err := l.o.Client()
	if err != nil {
		return err
	}
	return c.List(ctx, list, opts...)
}
