package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// PrometheusSource reads a profile's signals through the Prometheus reader's Batcher,
// which observes all profiles of an endpoint in one batch per period. It
// resolves the profile's credentials from Secrets with a direct read (no
// cache of every Secret in the cluster).
type PrometheusSource struct {
	// Secrets reads the auth and CA Secrets, such as the manager's APIReader.
	Secrets client.Reader
	// Batcher shares one batch per endpoint and period.
	Batcher *prom.Batcher
}

// forgetter is implemented by observers that keep per-profile state.
type forgetter interface {
	Forget(profile types.NamespacedName)
}

// Forget drops a deleted profile from its endpoint's batch.
func (o *PrometheusSource) Forget(profile types.NamespacedName) { o.Batcher.Forget(profile.String()) }

// Observe implements SignalSource.
func (o *PrometheusSource) Observe(ctx context.Context, p *tuningv1alpha1.PerformanceProfile) (signals.Observation, error) {
	ep, err := o.endpoint(ctx, p)
	var refused *credentialsNotAllowed
	if errors.As(err, &refused) {
		// Not an error of the read: every signal is missing for a reason a
		// person fixes, which MetricsAvailable names.
		return signals.Unread(time.Time{}, signals.ReasonCredentialsNotAllowed, refused.Error()), nil
	}
	if err != nil {
		return signals.Observation{}, err
	}
	return o.Batcher.Observe(ctx, ep, TargetOf(p)), nil
}

// credentialsNotAllowed is an authSecretRef Secret without the label that
// allows sending it to Prometheus.
type credentialsNotAllowed struct{ namespace, name string }

func (e *credentialsNotAllowed) Error() string {
	return fmt.Sprintf("secret %s/%s is not sent to Prometheus without the label %s=\"true\" (kubectl label secret -n %s %s %s=true)",
		e.namespace, e.name, tuningv1alpha1.PrometheusCredentialsLabel, e.namespace, e.name, tuningv1alpha1.PrometheusCredentialsLabel)
}

// TargetOf is what the metrics reader needs to know about a profile.
func TargetOf(p *tuningv1alpha1.PerformanceProfile) prom.Target {
	t := prom.Target{
		Key:    types.NamespacedName{Namespace: p.Namespace, Name: p.Name}.String(),
		Labels: p.Spec.Metrics.Labels,
		Window: p.Spec.SLO.Window.Duration,
		// 0 when unset: the metrics package's default.
		SaturationWindow: p.Spec.Metrics.SaturationWindow.Duration,
		Workload: &prom.Workload{Namespace: p.Namespace, Name: p.Spec.TargetRef.Name, Kind: "Deployment",
			Container: p.Spec.TargetRef.Container},
		// The same list tier A observes.
		Percentiles:      tuning.ObservedPercentiles(p.Spec),
		Preset:           p.Spec.Metrics.Preset,
		LatencyHistogram: p.Spec.Metrics.LatencyHistogram,
	}
	if q := p.Spec.Metrics.Queries; q != nil {
		t.Overrides = *q
	}
	for _, o := range tuning.Objectives(p.Spec.SLO) {
		if o.Latency {
			if t.Thresholds == nil {
				t.Thresholds = map[signals.Signal]time.Duration{}
			}
			t.Thresholds[o.Signal] = o.Threshold
		}
	}
	if c := p.Spec.Cache; c != nil && c.Redis != nil && c.Redis.Replicas != nil {
		ref := c.Redis.Replicas.TargetRef
		t.Redis = &prom.Workload{Namespace: p.Namespace, Name: ref.Name, Kind: ref.Kind}
	}
	return t
}

// endpoint resolves the profile's Prometheus endpoint and its credentials.
func (o *PrometheusSource) endpoint(ctx context.Context, p *tuningv1alpha1.PerformanceProfile) (prom.Endpoint, error) {
	src := p.Spec.Metrics.Prometheus
	ep := prom.Endpoint{URL: src.URL, Timeout: src.Timeout.Duration}
	if ref := src.AuthSecretRef; ref != nil {
		sec, err := o.secret(ctx, p.Namespace, ref.Name)
		if err != nil {
			return ep, err
		}
		// Only a Secret that opts in is sent: the profile's author chooses
		// the URL, and may not be allowed to read the Secret.
		if sec.Labels[tuningv1alpha1.PrometheusCredentialsLabel] != "true" {
			return ep, &credentialsNotAllowed{namespace: p.Namespace, name: ref.Name}
		}
		switch {
		case len(sec.Data["token"]) > 0:
			ep.Auth.BearerToken = string(sec.Data["token"])
		case len(sec.Data["username"]) > 0:
			ep.Auth.Username, ep.Auth.Password = string(sec.Data["username"]), string(sec.Data["password"])
		default:
			return ep, fmt.Errorf("secret %s/%s (spec.metrics.prometheus.authSecretRef) has neither a token nor a username key", p.Namespace, ref.Name)
		}
	}
	if t := src.TLS; t != nil {
		ep.TLS.ServerName, ep.TLS.InsecureSkipVerify = t.ServerName, t.InsecureSkipVerify
		if ref := t.CASecretRef; ref != nil {
			sec, err := o.secret(ctx, p.Namespace, ref.Name)
			if err != nil {
				return ep, err
			}
			if ep.TLS.CAPEM = sec.Data[ref.Key]; len(ep.TLS.CAPEM) == 0 {
				return ep, fmt.Errorf("secret %s/%s has no key %q (spec.metrics.prometheus.tls.caSecretRef)", p.Namespace, ref.Name, ref.Key)
			}
		}
	}
	return ep, nil
}

func (o *PrometheusSource) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	if err := o.Secrets.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sec); err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	return sec, nil
}

// Prime registers every profile r lists with its endpoint's batch, so that
// the first batch after a start already covers all of them: without it, the
// first period would refresh the batch once for every few profiles as their
// first reconciles come in. A profile whose credentials cannot be read is
// skipped (its reconcile reports why).
func (o *PrometheusSource) Prime(ctx context.Context, r client.Reader) error {
	list := &tuningv1alpha1.PerformanceProfileList{}
	if err := r.List(ctx, list); err != nil {
		return fmt.Errorf("listing the profiles: %w", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		if ep, err := o.endpoint(ctx, p); err == nil {
			o.Batcher.Register(ep, TargetOf(p))
		}
	}
	return nil
}
