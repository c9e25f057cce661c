package reliability

import (
	"sync"
	"testing"

	"k8s.io/utils/clock"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

// fault and load are the shared fake Prometheus' faults and service state.
type (
	fault = testenv.Fault
	load  = testenv.Load
)

const (
	healthy     = testenv.FaultNone
	stopped     = testenv.FaultStopped
	unavailable = testenv.FaultUnavailable
	slow        = testenv.FaultSlow
	nanValues   = testenv.FaultNaN
	stale       = testenv.FaultStale
	several     = testenv.FaultSeveralSeries
)

var (
	starved = load{P99: 0.235, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.025}
	// worse is a regression against starved: p99 far above its baseline.
	worse = load{P99: 0.9, Throughput: 800, PoolInUse: 10, PoolMax: 10, PoolWait: 0.040, DBTime: 0.025}
	// steady meets the SLOs without the margin that savings need.
	steady = load{P99: 0.085, Throughput: 800, PoolInUse: 6, PoolMax: 10, PoolWait: 0.0002, DBTime: 0.025}
)

// fakeProm is the shared fake Prometheus reporting one service (namespace
// ns, service and Deployment targetName) in the load it is set to.
type fakeProm struct {
	*testenv.FakeProm
	mu   sync.Mutex
	load load
}

func newFakeProm(t *testing.T, clk clock.PassiveClock, ns string) *fakeProm {
	f := &fakeProm{FakeProm: testenv.NewFakeProm(t, clk), load: starved}
	f.AnswerSeries(func(q string) []testenv.Series {
		f.mu.Lock()
		l := f.load
		f.mu.Unlock()
		return testenv.ServiceSeries(q, testenv.Service{Namespace: ns, Name: targetName, Load: l})
	})
	return f
}

// set changes the fault and the load.
func (f *fakeProm) set(fl fault, l load) {
	f.mu.Lock()
	f.load = l
	f.mu.Unlock()
	f.SetFault(fl)
}
