package controllers

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// metricsHandler serves a scrape: the families of the registry, then the
// per-profile series one family at a time. promhttp's handler gathers
// every series of every family before it writes the first byte; at 10,000
// profiles (about 19 series each) that was about 55 MB in flight at each
// scrape, on top of whatever the manager held then, and the scrape's peak
// set the manager's. Here a scrape holds the list of the profiles (one
// list for all families) and one family's series at a time.
type metricsHandler struct {
	registry prometheus.Gatherer
	profiles *profileCollector
}

// handler is the metricsHandler of registry and m's per-profile series,
// which must not be registered with registry (newMetrics).
func (m *Metrics) handler(registry prometheus.Gatherer) http.Handler {
	return metricsHandler{registry: registry, profiles: m.profiles}
}

// listedFamily collects one family of the per-profile series of profiles
// listed once for the scrape.
type listedFamily struct {
	c        *profileCollector
	desc     *prometheus.Desc
	profiles []tuningv1alpha1.PerformanceProfile
}

func (f listedFamily) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f listedFamily) Collect(ch chan<- prometheus.Metric) { f.c.send(ch, f.profiles, f.desc) }

// ServeHTTP answers in the format the scraper asks for (text or protobuf,
// negotiated as controller-runtime's promhttp handler does), gzipped when
// it accepts gzip. A registry that cannot be gathered is an error (500),
// as with controller-runtime's handler. Each per-profile family is
// gathered by a registry of its own, which checks and sorts its series as
// the manager's registry did; a series it refuses (two alike) is left out
// and logged, since the answer has begun by then.
func (h metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mfs, err := h.registry.Gather()
	if err != nil {
		http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
	w.Header().Add("Vary", "Accept")
	w.Header().Add("Vary", "Accept-Encoding")
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r.Header) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer func() { _ = gz.Close() }()
		out = gz
	}
	enc := expfmt.NewEncoder(out, format)
	log := ctrl.Log.WithName("metrics")
	encode := func(mfs []*dto.MetricFamily) bool {
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				log.V(1).Info("A scrape ended early", "error", err.Error())
				return false
			}
		}
		return true
	}
	if !encode(mfs) {
		return
	}
	if profiles, ok := h.profiles.list(); ok {
		for _, desc := range h.profiles.families() {
			reg := prometheus.NewRegistry()
			reg.MustRegister(listedFamily{c: h.profiles, desc: desc, profiles: profiles})
			fams, err := reg.Gather()
			if err != nil {
				log.Error(err, "Per-profile series left out of this scrape")
			}
			if !encode(fams) {
				return
			}
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}

// acceptsGzip says whether the request's Accept-Encoding lists gzip with
// a weight above 0.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for _, enc := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(enc), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			for _, param := range strings.Split(params, ";") {
				if k, q, ok := strings.Cut(strings.TrimSpace(param), "="); ok && strings.EqualFold(k, "q") {
					if w, err := strconv.ParseFloat(q, 64); err == nil && w <= 0 {
						return false
					}
				}
			}
			return true
		}
	}
	return false
}
