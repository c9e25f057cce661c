package prom

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
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
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

// promClient sends instant queries to one endpoint. It is client_golang's
// request (POST of the form, GET when the server refuses POST) over a plain
// http.Client, because client_golang's api.Client reads each answer whole
// before decoding it: here the body is decoded as it arrives (decodeAnswer).
type promClient struct {
	queryURL string
	http     *http.Client
	// maxBody bounds the body of one answer (Options.MaxResponseBytes).
	maxBody int64
}

// newClient builds the client of an endpoint.
func newClient(ep Endpoint, maxBody int64) (*promClient, error) {
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, err
	}
	u.Path = path.Join(u.Path, "/api/v1/query")
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
	return &promClient{
		queryURL: u.String(),
		http:     &http.Client{Transport: &authRoundTripper{auth: ep.Auth, next: transport}},
		maxBody:  maxBody,
	}, nil
}

// query runs one instant query and hands every series of the answer to keep.
// It returns the HTTP status of the answer (0 when there was none).
func (c *promClient) query(ctx context.Context, q string, at time.Time, timeout time.Duration, maxSeries int, keep keepFunc) (int, error) {
	form := url.Values{}
	form.Set("query", q)
	form.Set("time", strconv.FormatFloat(float64(at.Unix())+float64(at.Nanosecond())/1e9, 'f', -1, 64))
	form.Set("timeout", timeout.String())
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.queryURL, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header["Idempotency-Key"] = nil // lets the transport retry a POST on a dropped keep-alive connection
	resp, err := c.http.Do(req)
	if err == nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
		drain(resp)
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.queryURL+"?"+body, nil); err != nil {
			return 0, err
		}
		resp, err = c.http.Do(req)
	}
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	code := resp.StatusCode
	resp.Body = &limitedBody{rc: resp.Body, left: c.maxBody}
	// As client_golang: Prometheus answers a refused query with 400 or 422
	// and an error envelope; any other non-2xx is an HTTP error.
	if code/100 != 2 && code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
		typ := promv1.ErrBadResponse
		switch code / 100 {
		case 4:
			typ = promv1.ErrClient
		case 5:
			typ = promv1.ErrServer
		}
		return code, &promv1.Error{Type: typ, Msg: fmt.Sprintf("HTTP %d", code)}
	}
	err = decodeAnswer(resp.Body, maxSeries, keep)
	if err == nil && code/100 != 2 {
		return code, &promv1.Error{Type: promv1.ErrBadResponse, Msg: "inconsistent body for response code"}
	}
	return code, err
}

// drain ends a response so that its connection can be reused: a little of
// the rest is read, never a whole large answer.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

// authRoundTripper adds credentials.
type authRoundTripper struct {
	auth Auth
	next http.RoundTripper
}

func (rt *authRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	switch {
	case rt.auth.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(rt.auth.BearerToken))
	case rt.auth.Username != "":
		req.SetBasicAuth(rt.auth.Username, rt.auth.Password)
	}
	return rt.next.RoundTrip(req)
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
// injected clock, and hands every series of the answer to keep.
func queryOnce(ctx context.Context, clk clock.Clock, c *promClient, q string, at time.Time, timeout time.Duration, maxSeries int, keep keepFunc) *failure {
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
	if status, err := c.query(ctx, q, at, timeout, maxSeries, keep); err != nil {
		return classify(ctx, err, status)
	}
	return nil
}

// classify maps a query error to a signals.Reason and says whether another
// attempt may help.
func classify(ctx context.Context, err error, status int) *failure {
	msg := err.Error()
	if errors.Is(err, errResponseTooLarge) {
		return &failure{Reason: signals.ReasonMalformed, Message: msg}
	}
	if errors.Is(err, errTooManySeries) {
		return &failure{Reason: signals.ReasonTooManySeries, Message: msg +
			": the scope labels (spec.metrics.labels) or an override select far more series than the profiles need"}
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
