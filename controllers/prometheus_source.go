package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/sigv4"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
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
	// ScrapeInterval is Prometheus' scrape interval: a profile checked again
	// this often (period.NextCheck) asks for a batch no older [0: the period].
	ScrapeInterval time.Duration
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
	// A profile checked again sooner than its interval (a CPU-saturated
	// breach) needs a batch no older than that; the others keep the period's.
	if interval := tuning.SettingsOf(p.Spec).Interval; period.NextCheck(p.Status, interval, o.ScrapeInterval) < interval {
		return o.Batcher.ObserveWithin(ctx, ep, TargetOf(p), o.ScrapeInterval), nil
	}
	return o.Batcher.Observe(ctx, ep, TargetOf(p)), nil
}

// ObserveAt reads the profile's signals as they were at a past time, with
// the queries evaluated then (a replay of recorded history). It resolves the
// endpoint and credentials as Observe does and bypasses the batch, which
// holds only the present.
func (o *PrometheusSource) ObserveAt(ctx context.Context, p *tuningv1alpha1.PerformanceProfile, at time.Time) (signals.Observation, error) {
	ep, err := o.endpoint(ctx, p)
	var refused *credentialsNotAllowed
	if errors.As(err, &refused) {
		return signals.Unread(at, signals.ReasonCredentialsNotAllowed, refused.Error()), nil
	}
	if err != nil {
		return signals.Observation{}, err
	}
	t := TargetOf(p)
	return o.Batcher.Reader().ObserveAt(ctx, ep, []prom.Target{t}, at)[t.Key], nil
}

// credentialsNotAllowed is a credentials Secret (authSecretRef,
// oauth2.clientSecretRef, sigv4.credentialsSecretRef,
// tls.clientCertSecretRef) without the label that allows sending it to
// Prometheus.
type credentialsNotAllowed struct{ namespace, name string }

func (e *credentialsNotAllowed) Error() string {
	return fmt.Sprintf("secret %s/%s is not sent to Prometheus without the label %s=\"true\" (kubectl label secret -n %s %s %s=true)",
		e.namespace, e.name, tuningv1alpha1.PrometheusCredentialsLabel, e.namespace, e.name, tuningv1alpha1.PrometheusCredentialsLabel)
}

// TargetOf is what the metrics reader needs to know about a profile.
func TargetOf(p *tuningv1alpha1.PerformanceProfile) prom.Target {
	t := prom.Target{
		Key:    types.NamespacedName{Namespace: p.Namespace, Name: p.Name}.String(),
		Labels: prom.LabelsOf(p.Spec.Metrics.Labels),
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
		ov := *q // the Target outlives this copy of the profile
		t.Overrides = &ov
	}
	thresholds := map[signals.Signal]time.Duration{}
	for _, o := range tuning.Objectives(p.Spec.SLO) {
		if o.Latency {
			thresholds[o.Signal] = o.Threshold
		}
	}
	t.Thresholds = prom.ThresholdsOf(thresholds)
	if c := p.Spec.Cache; c != nil && c.Redis != nil && c.Redis.Replicas != nil {
		ref := c.Redis.Replicas.TargetRef
		t.Redis = &prom.Workload{Namespace: p.Namespace, Name: ref.Name, Kind: ref.Kind}
	}
	return t
}

// endpoint resolves the profile's Prometheus endpoint and its credentials
// into prometheus/common's HTTP client configuration, every secret inline:
// nothing in it names a file of the manager's.
func (o *PrometheusSource) endpoint(ctx context.Context, p *tuningv1alpha1.PerformanceProfile) (prom.Endpoint, error) {
	src := p.Spec.Metrics.Prometheus
	ep := prom.Endpoint{URL: src.URL, Timeout: src.Timeout.Duration,
		// As Prometheus' own default: follow redirects (the credentials are
		// not sent to another host), HTTP/2 when the server offers it.
		HTTP: config.HTTPClientConfig{FollowRedirects: true, EnableHTTP2: true}}
	cfg := &ep.HTTP
	if ref := src.AuthSecretRef; ref != nil {
		sec, err := o.credentials(ctx, p.Namespace, ref.Name)
		if err != nil {
			return ep, err
		}
		switch {
		case len(sec.Data["token"]) > 0:
			cfg.Authorization = &config.Authorization{Type: "Bearer", Credentials: config.Secret(strings.TrimSpace(string(sec.Data["token"])))}
		case len(sec.Data["username"]) > 0:
			cfg.BasicAuth = &config.BasicAuth{Username: string(sec.Data["username"]), Password: config.Secret(sec.Data["password"])}
		default:
			return ep, fmt.Errorf("secret %s/%s (spec.metrics.prometheus.authSecretRef) has neither a token nor a username key", p.Namespace, ref.Name)
		}
	}
	if a := src.OAuth2; a != nil {
		sec, err := o.credentials(ctx, p.Namespace, a.ClientSecretRef.Name)
		if err != nil {
			return ep, err
		}
		secret := strings.TrimSpace(string(sec.Data[a.ClientSecretRef.Key]))
		if secret == "" {
			return ep, fmt.Errorf("secret %s/%s has no key %q (spec.metrics.prometheus.oauth2.clientSecretRef)", p.Namespace, a.ClientSecretRef.Name, a.ClientSecretRef.Key)
		}
		cfg.OAuth2 = &config.OAuth2{ClientID: a.ClientID, ClientSecret: config.Secret(secret), TokenURL: a.TokenURL,
			Scopes: a.Scopes, EndpointParams: a.EndpointParams}
	}
	if s := src.SigV4; s != nil {
		sec, err := o.credentials(ctx, p.Namespace, s.CredentialsSecretRef.Name)
		if err != nil {
			return ep, err
		}
		id, key := strings.TrimSpace(string(sec.Data["accessKeyID"])), strings.TrimSpace(string(sec.Data["secretAccessKey"]))
		if id == "" || key == "" {
			return ep, fmt.Errorf("secret %s/%s (spec.metrics.prometheus.sigv4.credentialsSecretRef) needs the keys accessKeyID and secretAccessKey", p.Namespace, s.CredentialsSecretRef.Name)
		}
		ep.SigV4 = &sigv4.SigV4Config{Region: s.Region, AccessKey: id, SecretKey: config.Secret(key), RoleARN: s.RoleARN, ServiceName: s.Service}
	}
	if len(src.Headers) > 0 {
		cfg.HTTPHeaders = &config.Headers{Headers: map[string]config.Header{}}
		for name, value := range src.Headers {
			cfg.HTTPHeaders.Headers[name] = config.Header{Values: []string{string(value)}}
		}
	}
	if src.ProxyURL != "" {
		u, err := url.Parse(src.ProxyURL)
		if err != nil {
			return ep, fmt.Errorf("spec.metrics.prometheus.proxyURL: %w", err)
		}
		cfg.ProxyURL = config.URL{URL: u}
		if cfg.OAuth2 != nil { // the token requests take the same way out
			cfg.OAuth2.ProxyURL = cfg.ProxyURL
		}
	}
	if t := src.TLS; t != nil {
		cfg.TLSConfig.ServerName, cfg.TLSConfig.InsecureSkipVerify = t.ServerName, t.InsecureSkipVerify
		if ref := t.CASecretRef; ref != nil {
			sec, err := o.secret(ctx, p.Namespace, ref.Name)
			if err != nil {
				return ep, err
			}
			ca := sec.Data[ref.Key]
			if len(ca) == 0 {
				return ep, fmt.Errorf("secret %s/%s has no key %q (spec.metrics.prometheus.tls.caSecretRef)", p.Namespace, ref.Name, ref.Key)
			}
			cfg.TLSConfig.CA = string(ca)
		}
		if ref := t.ClientCertSecretRef; ref != nil {
			sec, err := o.credentials(ctx, p.Namespace, ref.Name)
			if err != nil {
				return ep, err
			}
			cert, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
			if len(cert) == 0 || len(key) == 0 {
				return ep, fmt.Errorf("secret %s/%s (spec.metrics.prometheus.tls.clientCertSecretRef) needs the keys tls.crt and tls.key", p.Namespace, ref.Name)
			}
			cfg.TLSConfig.Cert, cfg.TLSConfig.Key = string(cert), config.Secret(key)
		}
	}
	return ep, nil
}

// credentials reads a Secret that is sent to Prometheus: only one that opts
// in with the label, since the profile's author chooses the URL and may not
// be allowed to read the Secret.
func (o *PrometheusSource) credentials(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	sec, err := o.secret(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if sec.Labels[tuningv1alpha1.PrometheusCredentialsLabel] != "true" {
		return nil, &credentialsNotAllowed{namespace: namespace, name: name}
	}
	return sec, nil
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
