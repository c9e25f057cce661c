package prom

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/sigv4"
	"golang.org/x/oauth2"
	"k8s.io/utils/clock"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Endpoint is a Prometheus-compatible query API (Prometheus, Thanos, Mimir,
// VictoriaMetrics) with its credentials already resolved: the reconciler
// reads the Secrets and passes the bytes, this package never reads Secrets.
type Endpoint struct {
	// URL of the API root, such as http://prometheus.monitoring:9090.
	URL string
	// HTTP is the client's authorization, basic auth, OAuth2, TLS (CA,
	// server name, client certificate), headers and proxy, in Prometheus'
	// own configuration type. Every secret is inline: the fields that name a
	// file of the manager's filesystem (*_file, files) or a secret manager
	// (*_ref) are refused, since an endpoint comes from a profile. Without a
	// proxy URL, the manager's HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply.
	HTTP config.HTTPClientConfig
	// SigV4 signs every query with AWS Signature Version 4 with the access
	// key it holds; nil for none. The AWS default credentials (the manager's
	// environment, files, web identity or instance role) are refused.
	SigV4 *sigv4.SigV4Config
	// Timeout bounds each query attempt; 0 means Options.Timeout.
	Timeout time.Duration
}

// key identifies an endpoint with its credentials, for client reuse and
// batching: a changed URL, secret or setting gives another key. It is a
// hash: credentials never appear in it.
func (ep Endpoint) key() string {
	h := sha256.New()
	hashValue(h, reflect.ValueOf(ep))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// hashValue writes every field of v, secrets included (a config.Secret is a
// string to reflection, whatever it marshals to), in a stable order. Walking
// the whole value keeps the key complete when the configuration type gains
// fields.
func hashValue(w io.Writer, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			fmt.Fprint(w, "nil;")
			return
		}
		hashValue(w, v.Elem())
	case reflect.Struct:
		fmt.Fprintf(w, "{%d:", v.NumField())
		for i := range v.NumField() {
			hashValue(w, v.Field(i))
		}
		fmt.Fprint(w, "}")
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		fmt.Fprintf(w, "map%d[", len(keys))
		for _, k := range keys {
			hashValue(w, k)
			hashValue(w, v.MapIndex(k))
		}
		fmt.Fprint(w, "]")
	case reflect.Slice, reflect.Array:
		fmt.Fprintf(w, "list%d[", v.Len())
		for i := range v.Len() {
			hashValue(w, v.Index(i))
		}
		fmt.Fprint(w, "]")
	case reflect.String:
		fmt.Fprintf(w, "%d:%s;", v.Len(), v.String())
	case reflect.Bool:
		fmt.Fprintf(w, "%t;", v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fmt.Fprintf(w, "%d;", v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		fmt.Fprintf(w, "%d;", v.Uint())
	case reflect.Float32, reflect.Float64:
		fmt.Fprintf(w, "%v;", v.Float())
	default: // funcs and channels: none in an endpoint
		fmt.Fprintf(w, "%s;", v.Kind())
	}
}

// refuseFiles names the fields of the endpoint that would make the manager
// read something of its own: a file of its filesystem (such as its
// service-account token), a secret manager's reference, or the AWS default
// credentials. An endpoint comes from a profile, whose author also chooses
// the URL the credentials are sent to.
func refuseFiles(ep Endpoint) error {
	var names []string
	collectFileFields(reflect.ValueOf(ep.HTTP), "", &names)
	if s := ep.SigV4; s != nil {
		if s.Profile != "" {
			names = append(names, "sigv4.profile")
		}
		if s.AccessKey == "" || s.SecretKey == "" {
			names = append(names, "sigv4 without an access key, which would sign with the manager's own AWS identity")
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("the HTTP client configuration reads from the manager (%s): a profile's credentials come only from Secrets in its namespace",
		strings.Join(names, ", "))
}

// collectFileFields appends the YAML path of every set field of v whose
// name ends in _file or _ref, or is files.
func collectFileFields(v reflect.Value, prefix string, names *[]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			collectFileFields(v.Elem(), prefix, names)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			collectFileFields(v.MapIndex(k), prefix+k.String()+".", names)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			field := prefix + name
			if name == "" { // inline
				field = strings.TrimSuffix(prefix, ".")
			}
			if (strings.HasSuffix(name, "_file") || strings.HasSuffix(name, "_ref") || name == "files") && !v.Field(i).IsZero() {
				*names = append(*names, field)
				continue
			}
			next := field + "."
			if name == "" {
				next = prefix
			}
			collectFileFields(v.Field(i), next, names)
		}
	}
}

// userAgent is sent with every query.
const userAgent = "navius-tuner"

// promClient sends instant queries to one endpoint. It is client_golang's
// request (POST of the form, GET when the server refuses POST) over an
// http.Client of prometheus/common's config, because client_golang's
// api.Client reads each answer whole before decoding it: here the body is
// decoded as it arrives (decodeAnswer).
type promClient struct {
	queryURL string
	http     *http.Client
	// maxBody bounds the body of one answer (Options.MaxResponseBytes).
	maxBody int64

	// kept is the number of points each batch query of the last refresh
	// kept, by the query's hash: the next answer's index starts at that size
	// instead of growing to it by doubling (at 10,000 profiles, about half of
	// a refresh's bytes were the index's outgrown copies). Each refresh
	// replaces it: a batch query names its targets' label values, so the
	// queries change as profiles come and go.
	keptMu sync.Mutex
	kept   map[uint64]int
}

// keptBefore is how many points the last answer to q kept, 0 when none.
func (c *promClient) keptBefore(q string) int {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	return c.kept[queryHash(q)]
}

// rememberKept replaces kept with the points each answered batch job of a
// refresh kept.
func (c *promClient) rememberKept(jobs []*job) {
	kept := make(map[uint64]int, len(jobs))
	for _, j := range jobs {
		if j.wanted != nil && j.ix != nil {
			kept[queryHash(j.query)] = len(j.ix.entries)
		}
	}
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	c.kept = kept
}

func queryHash(q string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(q))
	return h.Sum64()
}

// newClient builds the client of an endpoint.
func newClient(ep Endpoint, maxBody int64) (*promClient, error) {
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, err
	}
	u.Path = path.Join(u.Path, "/api/v1/query")
	if err := refuseFiles(ep); err != nil {
		return nil, err
	}
	cfg := ep.HTTP
	if cfg.ProxyURL.URL == nil {
		cfg.ProxyFromEnvironment = true
	}
	if cfg.OAuth2 != nil && cfg.OAuth2.ProxyURL.URL == nil { // the token requests too
		o := *cfg.OAuth2
		o.ProxyFromEnvironment = true
		cfg.OAuth2 = &o
	}
	if cfg.OAuth2 != nil {
		// The OAuth2 round tripper resolves its proxy lazily, writing it on
		// the first token request of each concurrent query; resolving it
		// here, before any query, leaves them only reads.
		_ = cfg.OAuth2.Proxy()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rt, err := config.NewRoundTripperFromConfig(cfg, "prometheus", config.WithUserAgent(userAgent),
		config.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		return nil, err
	}
	if cfg.OAuth2 != nil {
		rt = &firstAlone{next: rt}
	}
	if ep.SigV4 != nil {
		if err := ep.SigV4.Validate(); err != nil {
			return nil, fmt.Errorf("sigv4: %w", err)
		}
		if rt, err = sigv4.NewSigV4RoundTripper(ep.SigV4, rt); err != nil {
			return nil, err
		}
	}
	c := &http.Client{Transport: rt}
	if !cfg.FollowRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &promClient{queryURL: u.String(), http: c, maxBody: maxBody}, nil
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
	// prometheus/common's transport does not ask for compression; a batch's
	// answer is large text, so ask for gzip and decompress here.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.http.Do(req)
	if err == nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
		drain(resp)
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.queryURL+"?"+body, nil); err != nil {
			return 0, err
		}
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err = c.http.Do(req)
	}
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	code := resp.StatusCode
	var answer io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return code, &promv1.Error{Type: promv1.ErrBadResponse, Msg: "gzip: " + err.Error()}
		}
		answer = zr
	}
	// The limit bounds the decompressed answer.
	resp.Body = &limitedBody{rc: io.NopCloser(answer), left: c.maxBody}
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
	var tokenErr *oauth2.RetrieveError
	if errors.As(err, &tokenErr) {
		return &failure{Reason: signals.ReasonUnauthorized, Message: "OAuth2 token endpoint: " + tokenErr.Error()}
	}
	if clientCertRefused(err) {
		return &failure{Reason: signals.ReasonUnauthorized, Message: "TLS: the server refused the client certificate: " + msg}
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

// clientCertRefused tells the TLS alerts a server sends when it refuses the
// client's certificate, or asks for one the client did not send. crypto/tls
// reports a received alert as a net.OpError "remote error" over an
// unexported type, so the alert is told by its text (crypto/tls' names of
// the alerts: bad, unsupported, revoked, expired or unknown certificate,
// unknown certificate authority, certificate required, access denied).
func clientCertRefused(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	alert := op.Err.Error()
	return strings.Contains(alert, "certificate") || strings.Contains(alert, "access denied")
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

// firstAlone lets requests through one at a time until one has gone through
// without error. prometheus/common's OAuth2 round tripper builds its token
// source on its first request and writes it into a transport that the
// requests already under way read, unguarded; once one request has built
// it, the others only read it.
type firstAlone struct {
	next  http.RoundTripper
	mu    sync.Mutex
	ready atomic.Bool
}

func (f *firstAlone) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.ready.Load() {
		return f.next.RoundTrip(req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp, err := f.next.RoundTrip(req)
	if err == nil {
		f.ready.Store(true)
	}
	return resp, err
}

// CloseIdleConnections passes on to the wrapped round tripper, so that a
// client freed with its endpoint closes its connections.
func (f *firstAlone) CloseIdleConnections() {
	if c, ok := f.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
