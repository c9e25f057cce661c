package scale

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// probeWriters and probeFor size the write probe: as many writers as the
// manager has reconcile workers (--max-concurrent-reconciles, 16), for 10 s.
const (
	probeWriters = 16
	probeFor     = 10 * time.Second
)

// probeWriteRate measures the writes per second the API server accepts, in
// the run itself and right before the manager starts: probeWriters writers
// patch the status of a profile each (the manager's most common write) for
// probeFor. B5's time to reconcile everything is judged only given an API
// server that accepts a stated rate; this is that rate on the machine as
// loaded at the time. The probe's profiles are deleted before the manager
// starts.
func probeWriteRate(ctx context.Context, t *testing.T, c client.Client, promURL string) float64 {
	t.Helper()
	const ns = "scale-write-probe"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	var profiles []*tuningv1alpha1.PerformanceProfile
	for i := range probeWriters {
		p := profileFor(service{ns: ns, name: fmt.Sprintf("probe-%02d", i)}, promURL)
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		profiles = append(profiles, p)
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	until := start.Add(probeFor)
	for _, p := range profiles {
		wg.Go(func() {
			for n := 0; time.Now().Before(until); n++ {
				// Each patch changes the status (a no-op would cost the API
				// server less), with conditions as the manager writes them.
				patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil,
					`{"status":{"conditions":[{"type":"Probe","status":"True","reason":"Probe","message":"write %d","lastTransitionTime":%q}]}}`,
					n, time.Now().UTC().Format(time.RFC3339)))
				if err := c.Status().Patch(ctx, p, patch); err == nil {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	rate := float64(accepted.Load()) / time.Since(start).Seconds()
	for _, p := range profiles {
		if err := c.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	return rate
}
