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
)

// probeWriters and probeFor size the write probe: as many writers as the
// manager has reconcile workers (--max-concurrent-reconciles, 16), for 10 s.
const (
	probeWriters = 16
	probeFor     = 10 * time.Second
)

// probeWriteRate measures the writes per second the API server accepts, in
// the run itself and right before the manager starts: probeWriters writers
// patch ConfigMaps of a namespace of their own for probeFor. B5's time to
// reconcile everything is judged only given an API server that accepts a
// stated rate; this is that rate on the machine as loaded at the time. The
// ConfigMaps are in no namespace the manager reads, and nothing watches them.
func probeWriteRate(ctx context.Context, t *testing.T, c client.Client) float64 {
	t.Helper()
	const ns = "scale-write-probe"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for i := range probeWriters {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("probe-%02d", i)}}
		if err := c.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	until := start.Add(probeFor)
	for i := range probeWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("probe-%02d", i)}}
			for n := 0; time.Now().Before(until); n++ {
				// Each patch changes the object: a no-op would cost the API server less.
				patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"data":{"n":"%d"}}`, n))
				if err := c.Patch(ctx, cm, patch); err == nil {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(accepted.Load()) / time.Since(start).Seconds()
}
