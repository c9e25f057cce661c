package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/period"
)

// The CPU time per request the engine learns reaches status.memory.cpu in
// every mode (here Recommend, which writes nothing to the workload): the
// Deployment's CPU request is read, and 4 pods at 50 % of 500m serving
// 800 req/s cost 1.25 ms each.
func TestLearnedCPUPerRequestIsKeptInStatus(t *testing.T) {
	h := newHarness(t)
	g := h.g
	d := h.deployment(targetName, poolVar("10"))
	g.Expect(env.Client.Get(h.ctx, h.key(targetName), d)).To(Succeed())
	d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
	g.Expect(env.Client.Update(h.ctx, d)).To(Succeed())
	h.rolledOut(targetName)
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeRecommend))
	h.observer.set(steady(), false)

	_, p := h.period("orders")
	g.Expect(p.Status.Memory).NotTo(BeNil())
	g.Expect(p.Status.Memory.CPU).To(Equal(&tuningv1alpha1.LearnedCPU{PerRequest: metav1.Duration{Duration: 1250 * time.Microsecond}, Samples: 1}))
	_, p = h.period("orders")
	g.Expect(p.Status.Memory.CPU.Samples).To(Equal(int32(2)))
}

// The reconciler rewrites status.slis alone every slisRefresh, and
// period.Learn lets the learned CPU ride along with that write: both use
// the same interval.
func TestSLIsRefreshIsTheLedgers(t *testing.T) {
	if slisRefresh != period.SLIsRefresh {
		t.Fatalf("slisRefresh %s, period.SLIsRefresh %s", slisRefresh, period.SLIsRefresh)
	}
}
