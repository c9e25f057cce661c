package prom

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// manySeries is an answer of n latency series of one service, each with its
// own bucket bound: what the proxy of the report returned to every query.
func manySeries(service string, n int) string {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"namespace":"shop","service":%q,"navius_part":"bucket","le":"%d"},"value":[%d,"1"]}`,
			service, i, t0.Unix())
	}
	b.WriteString(`]}}`)
	return b.String()
}

// TestTooManySeries: an answer with far more series than the batch's
// profiles can use is refused with its own reason, and the decoding stops
// there; the other families are unaffected.
func TestTooManySeries(t *testing.T) {
	g := NewWithT(t)
	huge := manySeries("orders", 120000)
	prom := newFakeProm(t, func(q string) (int, string) {
		if family(q) == famLatency {
			return http.StatusOK, huge
		}
		return healthy("orders")(q)
	})
	o, _, _ := testReader(t, Options{})
	obs := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, []Target{orders("k", "orders")})["k"]
	for _, sig := range []signals.Signal{signals.LatencyP99, signals.LatencyMean} {
		g.Expect(obs.Missing[sig].Reason).To(Equal(signals.ReasonTooManySeries), obs.Missing[sig].String())
		g.Expect(obs.Missing[sig].Message).To(ContainSubstring("more than 400 series"))
	}
	g.Expect(obs.Has(signals.Throughput, signals.PoolInUse, signals.CPUUtilization)).To(BeTrue())

	// The cap grows with the batch: the answer of 1,000 profiles (13 latency
	// series each) is read whole.
	targets, bodies := benchData(1000)
	prom = newFakeProm(t, func(q string) (int, string) { return http.StatusOK, bodies[family(q)] })
	o, _, _ = testReader(t, Options{Freshness: signals.Freshness{ScrapeInterval: 500 * time.Hour}})
	res := o.Observe(context.Background(), Endpoint{URL: prom.URL()}, targets)
	g.Expect(res[targets[999].Key].Has(signals.LatencyP50, signals.CPUUtilization)).To(BeTrue(), strings.Join(res[targets[999].Key].MissingSignals(), "; "))
}

// heapSampler records the largest live heap (bytes in heap objects, live or
// not yet swept) seen while it runs.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	sample := []runtimemetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.done.Go(func() {
		for {
			runtimemetrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	})
	return h
}

func (h *heapSampler) end() uint64 { close(h.stop); h.done.Wait(); return h.peak }

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestLargestAdmittedAnswerHeap bounds the heap that reading Prometheus
// takes, with the default caps, for the largest answers they admit:
//   - one profile, every family answered with the most series the cap
//     admits (401), each carrying an 80 KiB label, up to the byte cap: what
//     the report's proxy could have sent and still be read;
//   - one profile, every family answered with 120,000 series: refused by the
//     series cap, whatever its size;
//   - the default answers of 10,000 profiles, every family at once, all kept.
//
// The garbage collector runs with GOGC=5 during the measurement, so the
// sampled peak is the live heap of the decoding (answers in flight and the
// points kept), not the collector's pacing; the manager's peak is that times
// (1 + GOGC/100). The canned answers are allocated before the baseline.
// docs/operations.md states the bound beside the manager's memory limit.
func TestLargestAdmittedAnswerHeap(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds answers of the byte cap; the race detector multiplies the heap it measures")
	}
	const maxBytes = DefaultMaxResponseBytes
	admitted := 2 * DefaultMaxSeriesPerProfile // one profile and one profile's slack
	fill := func(service string) []byte {
		pad := strings.Repeat("x", maxBytes/(admitted+1)-200)
		var b bytes.Buffer
		b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
		for i := range admitted {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"metric":{"namespace":"shop","service":%q,"navius_part":"bucket","le":"%d","pad":%q},"value":[%d,"1"]}`,
				service, i, pad, t0.Unix())
		}
		b.WriteString(`]}}`)
		return b.Bytes()
	}
	hostile := []byte(manySeries("orders", 120000))
	largest := fill("orders")
	tenK, bodies := benchData(10000)
	cases := []struct {
		name    string
		targets []Target
		answer  func(fam string) []byte
		bound   uint64
		check   func(g Gomega, res map[string]signals.Observation)
	}{
		{"one profile, every answer the most series admitted, 32 MiB", []Target{orders("k", "orders")},
			func(string) []byte { return largest }, 24 << 20,
			func(g Gomega, res map[string]signals.Observation) {
				// Read whole (no +Inf bucket among the 401 bounds, so NaN), not refused.
				g.Expect(res["k"].Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonNaN))
			}},
		{"one profile, every answer 120,000 series", []Target{orders("k", "orders")},
			func(string) []byte { return hostile }, 8 << 20,
			func(g Gomega, res map[string]signals.Observation) {
				g.Expect(res["k"].Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonTooManySeries))
			}},
		{"10,000 profiles, default answers", tenK,
			func(fam string) []byte { return []byte(bodies[fam]) }, 96 << 20,
			func(g Gomega, res map[string]signals.Observation) {
				g.Expect(res[tenK[9999].Key].Has(signals.LatencyP99, signals.CPUUtilization)).To(BeTrue())
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			answers := map[string][]byte{}
			for _, fam := range familyOrder {
				answers[fam] = tc.answer(fam)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(answers[family(r.Form.Get("query"))])
			}))
			defer srv.Close()
			o, _, _ := testReader(t, Options{Freshness: signals.Freshness{ScrapeInterval: 500 * time.Hour}})
			defer debug.SetGCPercent(debug.SetGCPercent(5))
			base := heapNow()
			h := sampleHeap()
			res := o.Observe(context.Background(), Endpoint{URL: srv.URL}, tc.targets)
			peak := h.end()
			tc.check(g, res)
			added := peak - min(peak, base)
			t.Logf("%s: answers %.1f MiB each, heap peak %.1f MiB above the baseline (bound %d MiB)",
				tc.name, float64(len(answers[famLatency]))/(1<<20), float64(added)/(1<<20), tc.bound>>20)
			g.Expect(added).To(BeNumerically("<=", tc.bound))
		})
	}
}

// TestBatchRefreshHeapAtTenThousandProfiles bounds the heap a batch refresh
// of 10,000 profiles takes above what it keeps (the packed observations):
// the answers are filed compactly, and each observation is packed as soon as
// it is read rather than every one held unpacked until the last. The refresh
// is what set the manager's peak at scale (every 30 s, over the informer
// caches), so its bound is the manager's headroom.
func TestBatchRefreshHeapAtTenThousandProfiles(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("the race detector multiplies the heap it measures")
	}
	g := NewWithT(t)
	targets, bodies := benchData(10000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, bodies[family(r.Form.Get("query"))])
	}))
	defer srv.Close()
	o, _, _ := testReader(t, Options{Freshness: signals.Freshness{ScrapeInterval: 500 * time.Hour}})
	b := NewBatcher(o, BatcherOptions{})
	ep := Endpoint{URL: srv.URL}
	b.mu.Lock()
	for _, tg := range targets {
		b.register(ep, tg)
	}
	st := b.endpoints[ep.key()]
	b.mu.Unlock()

	defer debug.SetGCPercent(debug.SetGCPercent(5))
	// The first refresh, then one of the steady state (its index sized by
	// the answers before, the previous batch held until it ends).
	for _, round := range []string{"first", "steady"} {
		base := heapNow()
		h := sampleHeap()
		b.mu.Lock()
		b.startRefresh(context.Background(), st)
		done := st.inflight
		b.mu.Unlock()
		<-done
		peak := h.end()
		kept := heapNow()
		b.mu.Lock()
		g.Expect(st.result).To(HaveLen(len(targets)))
		obs := st.result[targets[9999].Key].Unpack()
		b.mu.Unlock()
		g.Expect(obs.Has(signals.LatencyP99, signals.CPUUtilization)).To(BeTrue())
		transient := peak - min(peak, max(kept, base))
		t.Logf("%s refresh of 10,000 profiles: heap peak %.1f MiB above what it keeps (%.1f MiB kept)",
			round, float64(transient)/(1<<20), float64(kept-min(kept, base))/(1<<20))
		g.Expect(transient).To(BeNumerically("<=", 40<<20), round)
	}
}

// BenchmarkDecodeAnswer decodes the latency answer of 10,000 profiles (10
// buckets each, 130,000 series, 14 MiB): as client_golang's Query did before
// (the whole body, then model.Vector), and with the stream decoder that keeps
// only the profiles' points.
func BenchmarkDecodeAnswer(b *testing.B) {
	targets, bodies := benchData(10000)
	body := []byte(bodies[famLatency])
	b.Run("decoder=client_golang", func(b *testing.B) {
		papi := promv1.NewAPI(cannedClient{body: body})
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			v, _, _, err := papi.Query(context.Background(), "q", t0)
			if err != nil || v == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder=stream", func(b *testing.B) {
		o, _, _ := testReader(b, Options{})
		groups, _ := o.plan(slices.Values(targets))
		j := groups[0].byFamily[famLatency]
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeAnswer(bytes.NewReader(body), j.maxSeries, j.keep(0)); err != nil {
				b.Fatal(err)
			}
			kept := 0
			for _, h := range j.ix.heads {
				if h >= 0 {
					kept++
				}
			}
			if kept != len(targets) {
				b.Fatalf("kept %d targets", kept)
			}
		}
	})
}

// cannedClient is an api.Client that answers every request with body, for
// measuring client_golang's decoding without a network.
type cannedClient struct{ body []byte }

func (c cannedClient) URL(ep string, _ map[string]string) *url.URL {
	return &url.URL{Scheme: "http", Host: "prometheus", Path: ep}
}

func (c cannedClient) Do(context.Context, *http.Request) (*http.Response, []byte, error) {
	body := bytes.Clone(c.body) // api.Client returns a body of its own
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}, body, nil
}

var _ api.Client = cannedClient{}

// TestConnectionLostMidAnswerIsRetried: a body cut off by the network is an
// unreachable endpoint (retried), not a malformed answer (not retried).
func TestConnectionLostMidAnswerIsRetried(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection closes before the promised length
	}))
	defer srv.Close()
	o, clk, _ := testReader(t, Options{MaxAttempts: 2})
	testenv.AutoStep(t, clk, 100*time.Millisecond)
	tg := orders("k", "orders")
	tg.Workload, tg.Redis = nil, nil
	obs := o.Observe(context.Background(), Endpoint{URL: srv.URL}, []Target{tg})["k"]
	g.Expect(obs.Missing[signals.LatencyP99].Reason).To(Equal(signals.ReasonEndpointDown), obs.Missing[signals.LatencyP99].String())
	g.Expect(obs.Missing[signals.LatencyP99].Message).To(ContainSubstring("after 2 attempts"))
}
