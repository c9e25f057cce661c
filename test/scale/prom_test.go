package scale

import (
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// service is one simulated service: a Deployment named name in namespace ns.
// A starved service breaches its p99 objective with a saturated connection
// pool, so the engine acts on it (raises the pool).
type service struct {
	ns, name string
	starved  bool
	// fromConfigMap: its pool size is set by a ConfigMap through envFrom,
	// not by a literal env entry.
	fromConfigMap bool
}

// starvedEvery makes one service in starvedEvery starved (10 %).
const starvedEvery = 10

// fromConfigMapEvery: two services in fromConfigMapEvery take their pool
// size from a ConfigMap (10 %: every other starved one, and as many steady
// ones).
const fromConfigMapEvery = 20

var (
	// steady: p99 85 ms of a 100 ms objective, SLOs met without the margin
	// that savings need.
	steady = testenv.Load{P99: 0.085, Mean: 0.03, Throughput: 800, PoolInUse: 6, PoolMax: 10, PoolWait: 0.0002, DBTime: 0.005}
	// starved: p99 about 0.9 s, every connection in use, 40 ms waits for one.
	starved = testenv.Load{P99: 0.912, Mean: 0.03, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.005}
)

// batchProm is the shared fake Prometheus answering each batched family
// query of the reader with the series of every service at once.
type batchProm struct {
	*testenv.FakeProm
	mu       sync.Mutex
	services []testenv.Service
}

func newBatchProm(t *testing.T) *batchProm {
	p := &batchProm{FakeProm: testenv.NewFakeProm(t, nil)}
	p.AnswerSeries(func(q string) []testenv.Series {
		p.mu.Lock()
		svcs := p.services
		p.mu.Unlock()
		return testenv.ServiceSeries(q, svcs...)
	})
	return p
}

func (p *batchProm) setServices(svcs []service) {
	out := make([]testenv.Service, 0, len(svcs))
	for _, s := range svcs {
		l := steady
		if s.starved {
			l = starved
		}
		out = append(out, testenv.Service{Namespace: s.ns, Name: s.name, Load: l})
	}
	p.mu.Lock()
	p.services = out
	p.mu.Unlock()
}

// maxPerPeriod is the most queries asked in one period since t: the most
// asked within 25 s of a query that starts a batch (the first after t, or
// the first more than 5 s after the one before). A 25 s window cannot hold
// the next regular batch (one period, 30 s, later) but holds any refresh
// the period added; counting queries over the whole span instead and
// dividing by its length counts 3 batches in 65 s when they fall at its
// start and end.
func (p *batchProm) maxPerPeriod(t time.Time) int {
	var since []time.Time
	for _, q := range p.Queries() {
		if !q.At.Before(t) {
			since = append(since, q.At)
		}
	}
	most := 0
	for i, a := range since {
		if i > 0 && a.Sub(since[i-1]) <= 5*time.Second {
			continue // inside a batch
		}
		n := 0
		for _, b := range since[i:] {
			if b.Sub(a) < 25*time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}
