package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TestMetricsPathIsServedByTheProfileSeriesHandler: the metrics server's
// filter answers /metrics itself (the registry's families, here
// controller-runtime's, in the text format) and passes any other path to
// the handler it wraps, behind the auth filter when there is one; an auth
// filter that cannot be built fails the provider.
func TestMetricsPathIsServedByTheProfileSeriesHandler(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("wrapped handler")) })
	serve := func(t *testing.T, f metricsserver.Filter, path string) string {
		t.Helper()
		h, err := f(logr.Discard(), next)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Body.String()
	}
	plain, err := servingProfileSeries(nil)(&rest.Config{}, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if body := serve(t, plain, "/metrics"); !strings.Contains(body, "# TYPE ") || strings.Contains(body, "wrapped handler") {
		t.Errorf("/metrics answered %q, want the registry's exposition", body)
	}
	if body := serve(t, plain, "/debug/other"); body != "wrapped handler" {
		t.Errorf("another path answered %q", body)
	}

	denyAll := func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
		return func(_ logr.Logger, _ http.Handler) (http.Handler, error) {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "denied", http.StatusForbidden) }), nil
		}, nil
	}
	authed, err := servingProfileSeries(denyAll)(&rest.Config{}, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if body := serve(t, authed, "/metrics"); strings.TrimSpace(body) != "denied" {
		t.Errorf("/metrics behind the auth filter answered %q", body)
	}
	broken := func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
		return nil, errors.New("no authenticator")
	}
	if _, err := servingProfileSeries(broken)(&rest.Config{}, http.DefaultClient); err == nil {
		t.Error("a filter provider that fails was accepted")
	}
}
