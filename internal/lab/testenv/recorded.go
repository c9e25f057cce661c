// This file: a recorded history of a service's metrics in the OpenMetrics
// text format, for PrometheusOptions.Recorded: what a service instrumented
// as docs/metrics.md asks (http_*, db_*, cAdvisor and kube-state-metrics
// CPU) would have exported, scrape by scrape, so that a real Prometheus
// answers the reader's own queries at past times.

package testenv

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RecordedService is the history of one service: Pods pods of Deployment
// Name in Namespace (the service label is Name too), scraped every Scrape
// from From to To with the load Load gives at each scrape.
type RecordedService struct {
	Namespace, Name string
	// Pods is the number of pods [4]; each reports an equal share.
	Pods   int
	From   time.Time
	To     time.Time
	Scrape time.Duration
	// Load at a scrape time: the latency (P99, Mean), the requests per
	// second (Throughput) and the pool's state, as in a FakeProm's Load.
	Load func(t time.Time) Load
}

// recordedBounds are the latency histogram's bucket bounds.
var recordedBounds = []float64{0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5}

// latencyShares splits the requests of a scrape interval over the buckets
// so that the p99 falls inside the bucket that holds p99: 98 % of the
// requests below 50 ms, 2 % in p99's bucket (Prometheus' interpolation puts
// the 99th percentile in its middle).
func latencyShares(p99 float64) []float64 {
	shares := make([]float64, len(recordedBounds)+1) // +Inf last
	shares[2] = 0.98
	at := len(recordedBounds)
	for i, b := range recordedBounds {
		if p99 <= b {
			at = i
			break
		}
	}
	if at <= 2 {
		shares[2] = 1
		return shares
	}
	shares[at] = 0.02
	return shares
}

// OpenMetrics renders the history, ending in "# EOF".
func (r RecordedService) OpenMetrics() string {
	pods := r.Pods
	if pods <= 0 {
		pods = 4
	}
	podName := func(i int) string { return fmt.Sprintf("%s-7d9f8b6c5-p%04d", r.Name, i) }
	var times []time.Time
	for t := r.From; !t.After(r.To); t = t.Add(r.Scrape) {
		times = append(times, t)
	}
	// The counters' totals per scrape, per pod (every pod reports the same).
	type totals struct {
		buckets                        []float64
		reqs, latSum, waitSum, waitCnt float64
		dbSum, dbCnt, cpu              float64
	}
	cum := make([]totals, len(times))
	var acc totals
	acc.buckets = make([]float64, len(recordedBounds)+1)
	for i, t := range times {
		l := r.Load(t)
		if i > 0 {
			dt := r.Scrape.Seconds()
			n := l.Throughput * dt / float64(pods)
			for b, s := range latencyShares(l.P99) {
				acc.buckets[b] += n * s
			}
			mean := l.Mean
			if mean == 0 {
				mean = 0.4 * l.P99
			}
			acc.reqs += n
			acc.latSum += n * mean
			// one connection acquisition and one query per request
			acc.waitCnt += n
			acc.waitSum += n * l.PoolWait
			acc.dbCnt += n
			acc.dbSum += n * l.DBTime
			acc.cpu += 0.5 * dt
		}
		c := acc
		c.buckets = append([]float64(nil), acc.buckets...)
		cum[i] = c
	}
	var b strings.Builder
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	ts := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
	app := func(p int, extra string) string {
		l := fmt.Sprintf(`namespace="%s",service="%s",pod="%s"`, r.Namespace, r.Name, podName(p))
		if extra != "" {
			l += "," + extra
		}
		return l
	}
	series := func(name, labels string, value func(i int) float64) {
		for i, t := range times {
			fmt.Fprintf(&b, "%s{%s} %s %s\n", name, labels, num(value(i)), ts(t))
		}
	}
	b.WriteString("# TYPE http_request_duration_seconds histogram\n")
	for p := range pods {
		for k := range len(recordedBounds) + 1 {
			le := "+Inf"
			if k < len(recordedBounds) {
				le = num(recordedBounds[k])
			}
			series("http_request_duration_seconds_bucket", app(p, `le="`+le+`"`), func(i int) float64 {
				sum := 0.0
				for j := 0; j <= k; j++ {
					sum += cum[i].buckets[j]
				}
				return math.Round(sum*1000) / 1000
			})
		}
		series("http_request_duration_seconds_sum", app(p, ""), func(i int) float64 { return cum[i].latSum })
		series("http_request_duration_seconds_count", app(p, ""), func(i int) float64 {
			sum := 0.0
			for _, v := range cum[i].buckets {
				sum += v
			}
			return math.Round(sum*1000) / 1000
		})
	}
	b.WriteString("# TYPE http_requests counter\n")
	for p := range pods {
		series("http_requests_total", app(p, `status="200"`), func(i int) float64 { return cum[i].reqs })
	}
	gauge := func(name string, extra string, value func(t time.Time) float64) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for p := range pods {
			for _, t := range times {
				fmt.Fprintf(&b, "%s{%s} %s %s\n", name, app(p, extra), num(value(t)), ts(t))
			}
		}
	}
	gauge("db_pool_connections", `state="in_use"`, func(t time.Time) float64 { return r.Load(t).PoolInUse })
	gauge("db_pool_max_connections", "", func(t time.Time) float64 { return r.Load(t).PoolMax })
	summary := func(name string, sum, count func(i int) float64) {
		fmt.Fprintf(&b, "# TYPE %s summary\n", name)
		for p := range pods {
			series(name+"_sum", app(p, ""), sum)
			series(name+"_count", app(p, ""), count)
		}
	}
	summary("db_pool_wait_seconds", func(i int) float64 { return cum[i].waitSum }, func(i int) float64 { return cum[i].waitCnt })
	summary("db_query_duration_seconds", func(i int) float64 { return cum[i].dbSum }, func(i int) float64 { return cum[i].dbCnt })
	b.WriteString("# TYPE container_cpu_usage_seconds counter\n")
	for p := range pods {
		series("container_cpu_usage_seconds_total", fmt.Sprintf(`namespace="%s",pod="%s",container="app"`, r.Namespace, podName(p)),
			func(i int) float64 { return cum[i].cpu })
	}
	b.WriteString("# TYPE kube_pod_container_resource_requests gauge\n")
	for p := range pods {
		series("kube_pod_container_resource_requests",
			fmt.Sprintf(`namespace="%s",pod="%s",container="app",resource="cpu",unit="core"`, r.Namespace, podName(p)),
			func(int) float64 { return 1 })
	}
	b.WriteString("# EOF\n")
	return b.String()
}
