package envtest_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
)

// TestNeverReconciledProfileIsInProgress: a profile that navius-tuner has
// not reconciled yet (the operator not installed, not running, or not there
// yet) must not read Current to kstatus (Flux's health checks, kpt,
// cli-utils): the API server gives it status.observedGeneration 0, which
// kstatus compares with metadata.generation. Once the operator has written
// its status for the generation, kstatus follows the conditions.
func TestNeverReconciledProfileIsInProgress(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureNamespace(g, validationNamespace)
	p := profileFrom(g, validProfile)
	p.SetName("kstatus")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, p) })

	read := func() *kstatus.Result {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(tuningv1alpha1.GroupVersion.WithKind("PerformanceProfile"))
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(p), u)).To(Succeed())
		res, err := kstatus.Compute(u)
		g.Expect(err).NotTo(HaveOccurred())
		return res
	}
	res := read()
	g.Expect(res.Status).To(Equal(kstatus.InProgressStatus), res.Message)

	// The operator's first status for this generation, with the SLOs met.
	var prof tuningv1alpha1.PerformanceProfile
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(p), &prof)).To(Succeed())
	prof.Status.ObservedGeneration = prof.Generation
	conditions.SetAll(&prof.Status.Conditions, conditions.Facts{Generation: prof.Generation, Now: time.Now(), Mode: prof.Spec.Mode,
		Observed: true, Evaluated: true, SLOKnown: true, SLOMet: true})
	g.Expect(env.Client.Status().Update(ctx, &prof)).To(Succeed())
	res = read()
	g.Expect(res.Status).To(Equal(kstatus.CurrentStatus), res.Message)

	// A new generation of the spec is InProgress until it is reconciled.
	prof.Spec.Interval = metav1.Duration{Duration: time.Minute}
	g.Expect(env.Client.Update(ctx, &prof)).To(Succeed())
	res = read()
	g.Expect(res.Status).To(Equal(kstatus.InProgressStatus), res.Message)
}
