// Package e2e holds the closed-loop tests: the real operator binary tunes
// simulated workloads on the local cluster (real kube-apiserver, real HPA and
// Deployment controllers, kwok pods, real Prometheus scraping the simulated
// service), time-compressed. The scenarios share one cluster and one operator
// and run in parallel, each in its own namespace; each asserts outcomes: the
// SLIs and conditions in the profile's status, the knob values in the
// Deployment, HPA and Redis StatefulSet, and the model's ground truth.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/harness"
)

// speed is the time compression of the simulated service and the controllers.
const speed = 4

var (
	shared struct {
		once      sync.Once
		env       *harness.Env
		err       error
		workloads map[string]*harness.Workload // by test name
		// watchers check each workload's invariants from the API server's
		// watches, from its creation to the end of the suite.
		watchers    map[string]*watcher
		stopWatches context.CancelFunc
		real        *harness.RealWorkload
	}
	suiteStart time.Time
)

// env starts the cluster and the operator on first use and returns them to
// every scenario.
func env(t *testing.T) *harness.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("closed-loop e2e needs the local cluster; not run with -short")
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a first build of the binaries takes minutes
		defer cancel()
		began := time.Now()
		e, err := harness.Start(ctx, harness.Options{Speed: speed, Progress: os.Stderr})
		if err != nil {
			shared.err = err
			return
		}
		// NAVIUS_MANAGER_BINARY runs a prebuilt operator; otherwise bin/manager is
		// rebuilt (incrementally) so that the tests never run a stale one.
		op := harness.OperatorOptions{Rebuild: true}
		if bin := os.Getenv("NAVIUS_MANAGER_BINARY"); bin != "" {
			op = harness.OperatorOptions{Binary: bin}
		}
		if err := e.StartOperator(ctx, op); err != nil {
			shared.err = fmt.Errorf("%w\n%s", err, tail(e.OperatorLog(), 30))
			_ = e.Stop()
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: cluster and operator up in %v\n%s", time.Since(began).Round(time.Millisecond), e.Cluster().Stats())
		if err := startWorkloads(ctx, e); err != nil {
			shared.err = err
			_ = e.Stop()
			return
		}
		shared.env = e
	})
	if shared.err != nil {
		t.Fatalf("starting the local cluster and the operator: %v", shared.err)
	}
	return shared.env
}

// startWorkloads creates every scenario's workload, lets them run untuned for
// a window (as a real service has before someone tunes it, so that the
// operator's first baseline covers a whole window), then creates their profiles.
func startWorkloads(ctx context.Context, e *harness.Env) error {
	shared.workloads = map[string]*harness.Workload{}
	shared.watchers = map[string]*watcher{}
	watchCtx, stop := context.WithCancel(context.Background())
	shared.stopWatches = stop
	for name, opts := range workloads() {
		opts.Namespace = "e2e-" + strings.ToLower(strings.TrimPrefix(name, "Test"))
		opts.DeferProfile = true
		w, err := e.AddWorkload(ctx, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		shared.workloads[name] = w
		inv, err := watchInvariants(watchCtx, e, w)
		if err != nil {
			return fmt.Errorf("%s: watching: %w", name, err)
		}
		shared.watchers[name] = inv
	}
	real, err := e.AddRealWorkload(ctx, realWorkload())
	if err != nil {
		return fmt.Errorf("the real service: %w", err)
	}
	shared.real = real
	select {
	case <-time.After(harness.ProfileWindow + 5*time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	for name, w := range shared.workloads {
		if err := w.CreateProfile(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return shared.real.CreateProfile(ctx, realSLO)
}

func TestMain(m *testing.M) {
	flag.Parse()
	suiteStart = time.Now()
	code := m.Run()
	if shared.stopWatches != nil {
		shared.stopWatches()
	}
	if shared.env != nil {
		fmt.Fprintf(os.Stderr, "e2e: suite took %v; cluster at the end:\n%s", time.Since(suiteStart).Round(time.Second), shared.env.Cluster().Stats())
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping:", err)
		}
	}
	os.Exit(code)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
