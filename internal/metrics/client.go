package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Endpoint is a Prometheus-compatible query API (Prometheus, Thanos, Mimir,
// VictoriaMetrics) with its credentials already resolved: the reconciler
// reads the Secrets and passes the bytes, this package never reads Secrets.
type Endpoint struct {
	// URL of the API root, such as http://prometheus.monitoring:9090.
	URL string
	// Auth is the bearer token or basic-auth credentials; zero for none.
	Auth Auth
	// TLS configures the TLS client of an https URL.
	TLS TLS
	// Timeout bounds each query attempt; 0 means Options.Timeout.
	Timeout time.Duration
}

// Auth holds resolved credentials. At most one of BearerToken and Username is set.
type Auth struct {
	BearerToken string
	Username    string
	Password    string
}

// TLS holds the resolved TLS settings.
type TLS struct {
	// CAPEM is the PEM bundle of the CAs that sign the server's certificate; empty for the system pool.
	CAPEM []byte
	// ServerName overrides the name checked against the server's certificate.
	ServerName string
	// InsecureSkipVerify disables certificate verification.
	InsecureSkipVerify bool
}

// key identifies an endpoint with its credentials, for client reuse and
// batching. It is a hash: credentials never appear in it.
func (ep Endpoint) key() string {
	h := sha256.New()
	for _, s := range []string{ep.URL, ep.Auth.BearerToken, ep.Auth.Username, ep.Auth.Password,
		string(ep.TLS.CAPEM), ep.TLS.ServerName, fmt.Sprint(ep.TLS.InsecureSkipVerify), ep.Timeout.String()} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// newAPI builds a Prometheus API client for the endpoint.
func newAPI(ep Endpoint, maxBody int64) (promv1.API, error) {
	tlsConfig := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         ep.TLS.ServerName,
		InsecureSkipVerify: ep.TLS.InsecureSkipVerify, //nolint:gosec // the profile asks for it explicitly
	}
	if len(ep.TLS.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.TLS.CAPEM) {
			return nil, errors.New("no certificate found in the CA PEM bundle")
		}
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	client, err := api.NewClient(api.Config{
		Address:      ep.URL,
		RoundTripper: &authRoundTripper{auth: ep.Auth, next: transport, maxBody: maxBody},
	})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(client), nil
}

// authRoundTripper adds credentials and records the HTTP status of the
// response in the request's context, so errors can be classified by status.
type authRoundTripper struct {
	auth Auth
	next http.RoundTripper
	// maxBody bounds the body of one answer (Options.MaxResponseBytes).
	maxBody int64
}

func (rt *authRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	switch {
	case rt.auth.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(rt.auth.BearerToken))
	case rt.auth.Username != "":
		req.SetBasicAuth(rt.auth.Username, rt.auth.Password)
	}
	resp, err := rt.next.RoundTrip(req)
	if resp != nil {
		if st, ok := req.Context().Value(statusKey{}).(*statusHolder); ok {
			st.set(resp.StatusCode)
		}
		resp.Body = &limitedBody{rc: resp.Body, left: rt.maxBody}
	}
	return resp, err
}

// errResponseTooLarge fails the read of an answer beyond Options.MaxResponseBytes.
var errResponseTooLarge = errors.New("response body larger than the limit (Options.MaxResponseBytes)")

// limitedBody fails the read of a body beyond its limit.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 {
			return 0, err // the end (io.EOF) exactly at the limit, or a read error
		}
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

type statusKey struct{}

type statusHolder struct {
	mu   sync.Mutex
	code int
}

func (s *statusHolder) set(code int) { s.mu.Lock(); s.code = code; s.mu.Unlock() }
func (s *statusHolder) get() int     { s.mu.Lock(); defer s.mu.Unlock(); return s.code }

// failure is why a query gave no usable answer.
type failure struct {
	Reason  signals.Reason
	Message string
	retry   bool
}

func (f *failure) Error() string { return string(f.Reason) + ": " + f.Message }

// errQueryTimeout is the cancel cause of an attempt that ran out of time.
var errQueryTimeout = errors.New("query timed out")

// queryOnce runs one attempt of an instant query, bounded by timeout on the
// injected clock.
func queryOnce(ctx context.Context, clk clock.Clock, papi promv1.API, q string, at time.Time, timeout time.Duration) (model.Value, *failure) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := clk.NewTimer(timeout)
	defer timer.Stop()
	go func() {
		select {
		case <-timer.C():
			cancel(errQueryTimeout)
		case <-ctx.Done():
		}
	}()
	st := &statusHolder{}
	qctx := context.WithValue(ctx, statusKey{}, st)
	v, _, _, err := papi.Query(qctx, q, at, promv1.WithTimeout(timeout))
	if err != nil {
		return nil, classify(qctx, err, st.get())
	}
	return v, nil
}

// classify maps a query error to a signals.Reason and says whether another
// attempt may help.
func classify(ctx context.Context, err error, status int) *failure {
	msg := err.Error()
	if errors.Is(err, errResponseTooLarge) {
		return &failure{Reason: signals.ReasonMalformed, Message: msg}
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errQueryTimeout) {
			return &failure{Reason: signals.ReasonTimeout, Message: "no answer within the query timeout", retry: true}
		}
		return &failure{Reason: signals.ReasonTimeout, Message: "canceled: " + cause.Error()}
	}
	var apiErr *promv1.Error
	if errors.As(err, &apiErr) {
		if apiErr.Msg == "" { // an error answer without a message still gets one
			apiErr.Msg = fmt.Sprintf("%s error without a message (HTTP %d)", apiErr.Type, status)
		}
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return &failure{Reason: signals.ReasonUnauthorized, Message: fmt.Sprintf("HTTP %d", status)}
		}
		switch apiErr.Type {
		case promv1.ErrBadData, promv1.ErrExec:
			return &failure{Reason: signals.ReasonBadQuery, Message: apiErr.Msg}
		case promv1.ErrTimeout, promv1.ErrCanceled:
			return &failure{Reason: signals.ReasonTimeout, Message: "server: " + apiErr.Msg, retry: true}
		case promv1.ErrServer:
			return &failure{Reason: signals.ReasonHTTPError, Message: fmt.Sprintf("HTTP %d", status), retry: true}
		case promv1.ErrClient:
			return &failure{Reason: signals.ReasonHTTPError, Message: fmt.Sprintf("HTTP %d", status),
				retry: status == http.StatusTooManyRequests}
		case promv1.ErrBadResponse:
			if status != 0 && status/100 != 2 {
				return &failure{Reason: signals.ReasonHTTPError, Message: fmt.Sprintf("HTTP %d", status)}
			}
			return &failure{Reason: signals.ReasonMalformed, Message: apiErr.Msg}
		}
		return &failure{Reason: signals.ReasonHTTPError, Message: msg}
	}
	var certErr *tls.CertificateVerificationError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &uaErr) || errors.As(err, &hostErr) {
		return &failure{Reason: signals.ReasonEndpointDown, Message: "TLS: " + msg}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &failure{Reason: signals.ReasonTimeout, Message: msg, retry: true}
	}
	return &failure{Reason: signals.ReasonEndpointDown, Message: msg, retry: true}
}

// backoff returns the wait before attempt n+1 (n >= 1): exponential from
// base, capped at max, with full jitter drawn from rnd in [0, 1).
func backoff(n int, base, max time.Duration, rnd func() float64) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	// Half fixed, half jitter: never retry immediately, never in lockstep.
	return d/2 + time.Duration(rnd()*float64(d/2))
}
