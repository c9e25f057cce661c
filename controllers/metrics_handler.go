package controllers

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	ctrl "sigs.k8s.io/controller-runtime"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// metricsHandler serves a scrape: the families of the registry, then the
// per-profile series a family at a time, each family built for a chunk of
// profiles at a time. promhttp's handler gathers every series of every
// family before it writes the first byte: at 10,000 profiles (about 19
// series each) that was about 55 MB in flight at each scrape; one family
// of them all (the conditions: 7 series a profile) still held about 45
// MB, on top of whatever the manager held then, and a scrape set the
// manager's peak. Here a scrape holds the list of the profiles (one list
// for all families), the series of chunk profiles, and for the protobuf
// format the encoded family (about 100 bytes a series).
type metricsHandler struct {
	registry prometheus.Gatherer
	profiles *profileCollector
	chunk    int
}

// profileChunk is how many profiles' series of one family a scrape builds
// at a time.
const profileChunk = 256

// handler is the metricsHandler of registry and m's per-profile series,
// which must not be registered with registry (newMetrics).
func (m *Metrics) handler(registry prometheus.Gatherer) http.Handler {
	return metricsHandler{registry: registry, profiles: m.profiles, chunk: profileChunk}
}

// listedFamily collects one family of the per-profile series of profiles
// listed once for the scrape.
type listedFamily struct {
	c        *profileCollector
	desc     *prometheus.Desc
	profiles []*tuningv1alpha1.PerformanceProfile
}

func (f listedFamily) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f listedFamily) Collect(ch chan<- prometheus.Metric) { f.c.send(ch, f.profiles, f.desc) }

// ServeHTTP answers in the format the scraper asks for (text or protobuf,
// negotiated as controller-runtime's promhttp handler does), gzipped when
// it accepts gzip. A registry that cannot be gathered is an error (500),
// as with controller-runtime's handler. Each chunk of a per-profile family
// is gathered by a registry of its own, which checks and sorts its series
// as the manager's registry did; a series it refuses (two alike) is left
// out and logged, since the answer has begun by then. The series of a
// family are sorted within each chunk only (Prometheus needs no order).
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
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			log.V(1).Info("A scrape ended early", "error", err.Error())
			return
		}
	}
	if profiles, ok := h.profiles.list(); ok {
		chunk := h.chunk
		if chunk <= 0 {
			chunk = len(profiles)
		}
		if t := format.FormatType(); t != expfmt.TypeTextPlain && t != expfmt.TypeProtoDelim {
			chunk = len(profiles) // formats familyWriter does not join: a family at once
		}
		for _, desc := range h.profiles.families() {
			fw := familyWriter{enc: enc, format: format, out: out}
			var refused error
			for start := 0; start < len(profiles); start += chunk {
				reg := prometheus.NewRegistry()
				reg.MustRegister(listedFamily{c: h.profiles, desc: desc, profiles: profiles[start:min(start+chunk, len(profiles))]})
				fams, err := reg.Gather()
				refused = errors.Join(refused, err)
				for _, mf := range fams {
					if err := fw.add(mf); err != nil {
						log.V(1).Info("A scrape ended early", "error", err.Error())
						return
					}
				}
			}
			if err := fw.finish(); err != nil {
				log.V(1).Info("A scrape ended early", "error", err.Error())
				return
			}
			if refused != nil {
				log.Error(refused, "Per-profile series left out of this scrape")
			}
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}

// familyWriter writes one family whose series come in chunks (several
// families of the same name, each with some of its series) as one family:
// its HELP and TYPE once, then every series. In the text format the first
// chunk is encoded as it is and each later one without its header; in the
// delimited protobuf format, whose message is preceded by its length, the
// family is encoded into a buffer, its header once and then the series of
// each chunk (protobuf appends the repeated field of a message encoded
// after another to it), and written by finish.
type familyWriter struct {
	enc    expfmt.Encoder
	format expfmt.Format
	out    io.Writer
	begun  bool
	proto  []byte
	text   bytes.Buffer
}

func (f *familyWriter) add(mf *dto.MetricFamily) error {
	first := !f.begun
	f.begun = true
	switch f.format.FormatType() {
	case expfmt.TypeProtoDelim:
		mf = model.EscapeMetricFamily(mf, f.format.ToEscapingScheme())
		if !first {
			mf = &dto.MetricFamily{Metric: mf.Metric}
		}
		var err error
		f.proto, err = proto.MarshalOptions{}.MarshalAppend(f.proto, mf)
		return err
	case expfmt.TypeTextPlain:
		if first {
			return f.enc.Encode(mf)
		}
		f.text.Reset()
		if err := expfmt.NewEncoder(&f.text, f.format).Encode(mf); err != nil {
			return err
		}
		_, err := f.out.Write(samplesOnly(f.text.Bytes()))
		return err
	}
	return f.enc.Encode(mf)
}

// finish writes the family's protobuf message, when it has one.
func (f *familyWriter) finish() error {
	if len(f.proto) == 0 {
		return nil
	}
	_, err := f.out.Write(protowire.AppendVarint(nil, uint64(len(f.proto))))
	if err == nil {
		_, err = f.out.Write(f.proto)
	}
	return err
}

// samplesOnly is a family in the text format without its header: the
// comment lines (HELP, TYPE) it begins with. A sample line never begins
// with "#".
func samplesOnly(b []byte) []byte {
	for len(b) > 0 && b[0] == '#' {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
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
