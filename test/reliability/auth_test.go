package reliability

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/controllers"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/prom"
)

// testCert is a certificate with its key, parsed and in PEM.
type testCert struct {
	cert            *x509.Certificate
	key             *ecdsa.PrivateKey
	certPEM, keyPEM []byte
}

// issueCert signs a certificate with ca, or a self-signed CA when ca is nil.
func issueCert(t *testing.T, ca *testCert, cn string, usage x509.ExtKeyUsage) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage, tmpl.KeyUsage = []x509.ExtKeyUsage{usage}, x509.KeyUsageDigitalSignature
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return &testCert{cert: c, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
}

// verifyingProxy is an HTTPS reverse proxy in front of a real Prometheus that
// forwards a query only when check accepts its credential, and answers 401
// (403 for a bad signature) otherwise, as an auth gateway does.
type verifyingProxy struct {
	srv              *httptest.Server
	passed, rejected atomic.Int64
}

func newVerifyingProxy(t *testing.T, backend string, serverCert, clientCA *testCert, clientAuth tls.ClientAuthType,
	check func(*http.Request) (int, error)) *verifyingProxy {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	vp := &verifyingProxy{}
	vp.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := check(r); err != nil {
			vp.rejected.Add(1)
			http.Error(w, err.Error(), code)
			return
		}
		vp.passed.Add(1)
		forward.ServeHTTP(w, r)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	vp.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: clientAuth, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.cert.Raw}, PrivateKey: serverCert.key}}}
	vp.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	vp.srv.StartTLS()
	t.Cleanup(vp.srv.Close)
	return vp
}

// tokenEndpoint is an OAuth2 authorization server of the client-credentials
// grant: it issues a fresh token to the one client whose id and secret it
// knows, for the scope and audience it expects, and remembers what it issued.
type tokenEndpoint struct {
	srv                         *httptest.Server
	clientID, secret            string
	mu                          sync.Mutex
	issued                      map[string]bool
	refused                     atomic.Int64
	wantScope, wantAudienceParm string
}

func newTokenEndpoint(t *testing.T, clientID, secret string) *tokenEndpoint {
	te := &tokenEndpoint{clientID: clientID, secret: secret, issued: map[string]bool{},
		wantScope: "prometheus/.default", wantAudienceParm: "prometheus"}
	te.srv = httptest.NewServer(http.HandlerFunc(te.serve))
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, kind string) {
		te.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": kind})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	// RFC 6749 §2.3.1: the client authenticates with basic auth or in the form.
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != te.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(te.secret)) != 1 {
		fail(http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("scope") != te.wantScope || r.PostForm.Get("audience") != te.wantAudienceParm {
		fail(http.StatusBadRequest, "invalid_scope")
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	te.mu.Lock()
	te.issued[token] = true
	te.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600})
}

func (te *tokenEndpoint) valid(token string) bool {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.issued[token]
}

// verifySigV4 recomputes an AWS Signature Version 4 from the request and the
// secret key, following AWS' published algorithm (canonical request, string
// to sign, derived signing key); it shares no code with the signer.
func verifySigV4(r *http.Request, accessKeyID, secretKey, region, service string, now time.Time) error {
	auth := r.Header.Get("Authorization")
	const algorithm = "AWS4-HMAC-SHA256"
	if !strings.HasPrefix(auth, algorithm+" ") {
		return errors.New("not a SigV4 authorization")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algorithm+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || at.Sub(now).Abs() > 5*time.Minute {
		return fmt.Errorf("X-Amz-Date %q is not within 5 minutes", amzDate)
	}
	scope := strings.Join([]string{at.Format("20060102"), region, service, "aws4_request"}, "/")
	if fields["Credential"] != accessKeyID+"/"+scope {
		return fmt.Errorf("credential %q, want %s/%s", fields["Credential"], accessKeyID, scope)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) || !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") {
		return fmt.Errorf("signed headers %v must be sorted and cover host and x-amz-date", signed)
	}
	var canonicalHeaders strings.Builder
	for _, h := range signed {
		var values []string
		switch h {
		case "host":
			values = []string{r.Host}
		case "content-length":
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		default:
			values = r.Header.Values(h)
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		fmt.Fprintf(&canonicalHeaders, "%s:%s\n", h, strings.Join(values, ","))
	}
	payload := sha256.Sum256(body)
	canonicalRequest := strings.Join([]string{r.Method, escapePath(r.URL.EscapedPath()), canonicalQuery(r.URL.Query()),
		canonicalHeaders.String(), fields["SignedHeaders"], hex.EncodeToString(payload[:])}, "\n")
	crHash := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := strings.Join([]string{algorithm, amzDate, scope, hex.EncodeToString(crHash[:])}, "\n")
	key := []byte("AWS4" + secretKey)
	for _, s := range []string{at.Format("20060102"), region, service, "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return errors.New("the signature does not match")
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// escapePath is the canonical URI: the path as sent, / when empty. (AWS
// encodes each segment of a non-S3 path once more; this test's paths hold
// only unreserved characters, which that leaves alone.)
func escapePath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// canonicalQuery sorts the query by name and value, each encoded as AWS asks
// (RFC 3986 unreserved characters kept, everything else %XX, space as %20).
func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, awsEscape(k)+"="+awsEscape(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func awsEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// bearerIs checks the Authorization header against one bearer token.
func bearerIs(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// TestAuthModesThroughAVerifyingProxy runs the reconciler against a real
// Prometheus behind a proxy that verifies each auth mode's credential (a
// bearer token, basic auth, a tenant header, a client certificate of its
// client CA, a token its own OAuth2 endpoint issued, a SigV4 signature it
// recomputes): with the right credential the profile reads its signals
// through the proxy; with a wrong one MetricsAvailable turns False and says
// why, and nothing wrong reaches Prometheus.
func TestAuthModesThroughAVerifyingProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	ctx := context.Background()
	ns := namespace(t)
	exp := newPoolExporter(ns)
	testenv.Every(t, 100*time.Millisecond, exp.batch)
	metricsSrv := httptest.NewServer(promhttp.HandlerFor(prometheus.GathererFunc(exp.gather), promhttp.HandlerOpts{}))
	defer metricsSrv.Close()
	backend := testenv.StartPrometheus(t, testenv.PrometheusOptions{Targets: []string{strings.TrimPrefix(metricsSrv.URL, "http://")},
		ScrapeInterval: time.Second})
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	NewWithT(t).Expect(backend.WaitForSeries(waitCtx, `count_over_time(http_requests_total[10s]) >= 3`)).To(Succeed())

	serverCA := issueCert(t, nil, "server CA", 0)
	serverCert := issueCert(t, serverCA, "prometheus-gateway", x509.ExtKeyUsageServerAuth)
	clientCA := issueCert(t, nil, "client CA", 0)
	clientCert := issueCert(t, clientCA, "navius-tuner", x509.ExtKeyUsageClientAuth)
	rogueCA := issueCert(t, nil, "rogue CA", 0)
	rogueCert := issueCert(t, rogueCA, "navius-tuner", x509.ExtKeyUsageClientAuth)

	allowed := map[string]string{tuningv1alpha1.PrometheusCredentialsLabel: "true"}
	putSecret := func(name string, typ corev1.SecretType, data map[string][]byte) {
		t.Helper()
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: allowed}, Type: typ, Data: data}
		if err := env.Client.Create(ctx, sec); err != nil {
			NewWithT(t).Expect(env.Client.Update(ctx, sec)).To(Succeed())
		}
	}
	putSecret("prometheus-ca", corev1.SecretTypeOpaque, map[string][]byte{"ca.crt": serverCA.certPEM})
	withCA := func(ep tuningv1alpha1.PrometheusEndpoint) tuningv1alpha1.PrometheusEndpoint {
		if ep.TLS == nil {
			ep.TLS = &tuningv1alpha1.TLSConfig{}
		}
		ep.TLS.CASecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "prometheus-ca"}, Key: "ca.crt"}
		ep.Timeout = metav1.Duration{Duration: 2 * time.Second}
		return ep
	}
	ref := func(n string) *corev1.LocalObjectReference { return &corev1.LocalObjectReference{Name: n} }

	const batchPeriod = time.Second
	obs := prom.NewReader(prom.Options{Registerer: prometheus.NewRegistry(), MaxAttempts: 1})
	r, err := controllers.NewPerformanceProfileReconciler(directClient(t), controllers.Options{
		Source:  &controllers.PrometheusSource{Secrets: env.Client, Batcher: prom.NewBatcher(obs, prom.BatcherOptions{Period: batchPeriod})},
		Metrics: controllers.NewMetrics(prometheus.NewRegistry()),
	})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	deployment(t, ns, "10")
	p := poolProfile(ns, "https://127.0.0.1")
	p.Spec.Mode = tuningv1alpha1.ModeRecommend
	NewWithT(t).Expect(env.Client.Create(ctx, p)).To(Succeed())
	useEndpoint := func(g Gomega, ep tuningv1alpha1.PrometheusEndpoint) {
		cur := getProfile(t, ns)
		cur.Spec.Metrics.Prometheus = ep
		g.Expect(env.Client.Update(ctx, cur)).To(Succeed())
	}
	metricsAvailable := func(g Gomega) metav1.Condition {
		_, err := r.Reconcile(ctrl.LoggerInto(ctx, ctrl.Log), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: profile}})
		g.Expect(err).NotTo(HaveOccurred())
		return condition(getProfile(t, ns), tuningv1alpha1.ConditionMetricsAvailable)
	}

	oauth := newTokenEndpoint(t, "navius-tuner", "client-s3cret")
	oauthEndpoint := func(u string) tuningv1alpha1.PrometheusEndpoint {
		return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, OAuth2: &tuningv1alpha1.OAuth2Config{
			TokenURL: oauth.srv.URL + "/oauth2/v2.0/token", ClientID: "navius-tuner",
			ClientSecretRef: corev1.SecretKeySelector{LocalObjectReference: *ref("oauth"), Key: "client-secret"},
			Scopes:          []string{"prometheus/.default"}, EndpointParams: map[string]string{"audience": "prometheus"}}})
	}
	const accessKeyID, secretAccessKey, region = "AKIDNAVIUSTEST", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "eu-west-1"

	modes := []struct {
		name       string
		clientAuth tls.ClientAuthType
		check      func(*http.Request) (int, error)
		// right sets the right credential and returns the endpoint; wrong breaks the credential.
		right, wrong func(t *testing.T, proxyURL string) tuningv1alpha1.PrometheusEndpoint
		// refused is what MetricsAvailable says with the wrong credential.
		refused []string
	}{{
		name: "bearer token",
		check: func(r *http.Request) (int, error) {
			if !bearerIs(r, "t0ken-abc") {
				return http.StatusUnauthorized, errors.New("bad bearer token")
			}
			return 0, nil
		},
		right: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("bearer", "", map[string][]byte{"token": []byte("t0ken-abc\n")})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, AuthSecretRef: ref("bearer")})
		},
		wrong: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("bearer", "", map[string][]byte{"token": []byte("t0ken-old")})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, AuthSecretRef: ref("bearer")})
		},
		refused: []string{"Unauthorized", "HTTP 401"},
	}, {
		name: "basic auth",
		check: func(r *http.Request) (int, error) {
			u, pw, ok := r.BasicAuth()
			if !ok || u != "tuner" || subtle.ConstantTimeCompare([]byte(pw), []byte("pa55")) != 1 {
				return http.StatusUnauthorized, errors.New("bad basic auth")
			}
			return 0, nil
		},
		right: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("basic", "", map[string][]byte{"username": []byte("tuner"), "password": []byte("pa55")})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, AuthSecretRef: ref("basic")})
		},
		wrong: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("basic", "", map[string][]byte{"username": []byte("tuner"), "password": []byte("wrong")})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, AuthSecretRef: ref("basic")})
		},
		refused: []string{"Unauthorized", "HTTP 401"},
	}, {
		// A tenant of Mimir behind its gateway: basic auth names the
		// tenant's user, X-Scope-OrgID the tenant it may read.
		name: "tenant header",
		check: func(r *http.Request) (int, error) {
			if v := r.Header.Values("X-Scope-Orgid"); len(v) != 1 || v[0] != "tenant-a" {
				return http.StatusUnauthorized, fmt.Errorf("tenant %v not allowed", v)
			}
			if u, pw, ok := r.BasicAuth(); !ok || u != "tenant-a" || pw != "pa55" {
				return http.StatusUnauthorized, errors.New("bad basic auth")
			}
			return 0, nil
		},
		right: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("tenant", "", map[string][]byte{"username": []byte("tenant-a"), "password": []byte("pa55")})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, AuthSecretRef: ref("tenant"),
				Headers: map[string]tuningv1alpha1.HeaderValue{"X-Scope-OrgID": "tenant-a"}})
		},
		wrong: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, AuthSecretRef: ref("tenant"),
				Headers: map[string]tuningv1alpha1.HeaderValue{"X-Scope-OrgID": "tenant-b"}})
		},
		refused: []string{"Unauthorized", "HTTP 401"},
	}, {
		name:       "mutual TLS",
		clientAuth: tls.RequireAndVerifyClientCert,
		check: func(r *http.Request) (int, error) {
			if len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != "navius-tuner" {
				return http.StatusUnauthorized, errors.New("no verified client certificate of navius-tuner")
			}
			return 0, nil
		},
		right: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("client-cert", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": clientCert.certPEM, "tls.key": clientCert.keyPEM})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, TLS: &tuningv1alpha1.TLSConfig{ClientCertSecretRef: ref("client-cert")}})
		},
		wrong: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("client-cert", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": rogueCert.certPEM, "tls.key": rogueCert.keyPEM})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u, TLS: &tuningv1alpha1.TLSConfig{ClientCertSecretRef: ref("client-cert")}})
		},
		refused: []string{"Unauthorized", "the server refused the client certificate"},
	}, {
		name: "OAuth2 client credentials",
		check: func(r *http.Request) (int, error) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !oauth.valid(token) {
				return http.StatusUnauthorized, errors.New("not a token of the token endpoint")
			}
			return 0, nil
		},
		right: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("oauth", "", map[string][]byte{"client-secret": []byte("client-s3cret")})
			return oauthEndpoint(u)
		},
		wrong: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("oauth", "", map[string][]byte{"client-secret": []byte("expired-secret")})
			return oauthEndpoint(u)
		},
		refused: []string{"Unauthorized", "OAuth2 token endpoint", "invalid_client"},
	}, {
		name: "SigV4",
		check: func(r *http.Request) (int, error) {
			if err := verifySigV4(r, accessKeyID, secretAccessKey, region, "aps", time.Now()); err != nil {
				return http.StatusForbidden, err
			}
			// Amazon's workspace path stands before the Prometheus API.
			r.URL.Path, r.URL.RawPath = strings.TrimPrefix(r.URL.Path, "/workspaces/ws-1234"), ""
			return 0, nil
		},
		right: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("aws", "", map[string][]byte{"accessKeyID": []byte(accessKeyID), "secretAccessKey": []byte(secretAccessKey)})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u + "/workspaces/ws-1234", SigV4: &tuningv1alpha1.SigV4Config{
				Region: region, CredentialsSecretRef: *ref("aws")}})
		},
		wrong: func(t *testing.T, u string) tuningv1alpha1.PrometheusEndpoint {
			putSecret("aws", "", map[string][]byte{"accessKeyID": []byte(accessKeyID), "secretAccessKey": []byte("not-the-key")})
			return withCA(tuningv1alpha1.PrometheusEndpoint{URL: u + "/workspaces/ws-1234", SigV4: &tuningv1alpha1.SigV4Config{
				Region: region, CredentialsSecretRef: *ref("aws")}})
		},
		refused: []string{"Unauthorized", "HTTP 403"},
	}}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			g := NewWithT(t)
			clientAuth := m.clientAuth
			if clientAuth == 0 {
				clientAuth = tls.VerifyClientCertIfGiven
			}
			vp := newVerifyingProxy(t, backend.URL, serverCert, clientCA, clientAuth, m.check)

			useEndpoint(g, m.right(t, vp.srv.URL))
			g.Eventually(func(g Gomega) {
				c := metricsAvailable(g)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
			}).WithTimeout(30 * time.Second).WithPolling(batchPeriod).Should(Succeed())
			g.Expect(getProfile(t, ns).Status.SLIs.P99.Duration).To(BeNumerically("~", 150*time.Millisecond, 5*time.Millisecond),
				"the signals came through the proxy")
			g.Expect(vp.passed.Load()).To(BeNumerically(">", 0))
			g.Expect(vp.rejected.Load()).To(BeZero(), "the right credential is never refused")

			passed := vp.passed.Load()
			useEndpoint(g, m.wrong(t, vp.srv.URL))
			var c metav1.Condition
			g.Eventually(func(g Gomega) {
				c = metricsAvailable(g)
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse), c.Message)
			}).WithTimeout(30 * time.Second).WithPolling(batchPeriod).Should(Succeed())
			for _, s := range m.refused {
				g.Expect(c.Message).To(ContainSubstring(s))
			}
			g.Expect(vp.passed.Load()).To(Equal(passed), "no query with the wrong credential reached Prometheus")
		})
	}
}
