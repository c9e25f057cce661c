package conditions

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestKstatusReadsTheProfile computes the conditions with the setters, as a
// reconcile does, and checks what kstatus (Flux's health checks, kpt,
// cli-utils) makes of the profile.
func TestKstatusReadsTheProfile(t *testing.T) {
	conflict := Conflict{Knob: "DB_POOL_MAX_CONNECTIONS", Field: "env[DB_POOL_MAX_CONNECTIONS]", Manager: "argocd-controller", Applied: "20", Live: "10"}
	for _, tc := range []struct {
		name  string
		facts func(*Facts)
		want  kstatus.Status
	}{
		{"tuning", func(*Facts) {}, kstatus.CurrentStatus},
		{"settling a change", func(f *Facts) { f.Pending = &v1.Decision{Family: "pool", Time: metav1.NewTime(now)} }, kstatus.CurrentStatus},
		{"target rolling out", func(f *Facts) { f.RolloutInProgress = true }, kstatus.CurrentStatus},
		{"SLO breached", func(f *Facts) { f.SLOMet = false }, kstatus.CurrentStatus},
		{"paused", func(f *Facts) { f.Paused = true }, kstatus.CurrentStatus},
		{"mode Off", func(f *Facts) { f.Mode = v1.ModeOff }, kstatus.CurrentStatus},
		{"mode Recommend", func(f *Facts) { f.Mode = v1.ModeRecommend }, kstatus.CurrentStatus},
		{"target not found", func(f *Facts) {
			f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonTargetNotFound, Message: "Deployment shop/orders-api not found"}
		}, kstatus.InProgressStatus},
		{"HPA not found", func(f *Facts) {
			f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonHPANotFound, Message: "HPA shop/orders-api not found"}
		}, kstatus.InProgressStatus},
		{"SLO signals missing", func(f *Facts) {
			f.SLOKnown, f.SLOMissing = false, []string{"latencyP99: EndpointDown"}
		}, kstatus.InProgressStatus},
		{"a reconcile error", func(f *Facts) {
			f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonReconciling, Message: "apply: the server is busy"}
		}, kstatus.InProgressStatus},
		{"invalid spec", func(f *Facts) {
			f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonInvalidSpec, Message: "no container app", Stalled: true}
		}, kstatus.FailedStatus},
		{"field conflict", func(f *Facts) { f.Conflicts = []Conflict{conflict} }, kstatus.FailedStatus},
		{"field conflict while metrics are missing", func(f *Facts) {
			f.Conflicts, f.SLOMissing = []Conflict{conflict}, []string{"latencyP99: Empty"}
		}, kstatus.FailedStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := base()
			tc.facts(&f)
			p := profileWith(f)
			got, err := kstatus.Compute(toUnstructured(g, p))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Status).To(Equal(tc.want), "conditions: %+v; kstatus: %s", p.Status.Conditions, got.Message)
		})
	}
}

// TestKstatusAfterRecovery: the conditions of one profile move through the
// states a real profile goes through; kstatus follows, and a stall that ends
// does not leave the profile Failed, nor a wait that ends InProgress.
func TestKstatusAfterRecovery(t *testing.T) {
	g := NewWithT(t)
	p := &v1.PerformanceProfile{}
	p.Generation = 3
	steps := []struct {
		facts func(*Facts)
		want  kstatus.Status
	}{
		{func(f *Facts) { f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonTargetNotFound} }, kstatus.InProgressStatus},
		{func(*Facts) {}, kstatus.CurrentStatus},
		{func(f *Facts) { f.Evaluated, f.Blocker = false, &Blocker{Reason: v1.ReasonInvalidSpec, Stalled: true} }, kstatus.FailedStatus},
		{func(f *Facts) { f.SLOMissing = []string{"latencyP99: Stale"} }, kstatus.InProgressStatus},
		{func(*Facts) {}, kstatus.CurrentStatus},
	}
	for i, st := range steps {
		f := base()
		st.facts(&f)
		SetAll(&p.Status.Conditions, f)
		p.Status.ObservedGeneration = f.Generation
		got, err := kstatus.Compute(toUnstructured(g, p))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Status).To(Equal(st.want), "step %d: %+v", i, p.Status.Conditions)
	}
	// A spec change the manager has not seen yet is InProgress, whatever the conditions say.
	p.Generation++
	got, err := kstatus.Compute(toUnstructured(g, p))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Status).To(Equal(kstatus.InProgressStatus))
}

func profileWith(f Facts) *v1.PerformanceProfile {
	p := &v1.PerformanceProfile{}
	p.APIVersion, p.Kind = v1.GroupVersion.String(), "PerformanceProfile"
	p.Namespace, p.Name, p.Generation = "shop", "orders-api", f.Generation
	p.Status.ObservedGeneration = f.Generation
	SetAll(&p.Status.Conditions, f)
	return p
}

func toUnstructured(g Gomega, p *v1.PerformanceProfile) *unstructured.Unstructured {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	g.Expect(err).NotTo(HaveOccurred())
	return &unstructured.Unstructured{Object: obj}
}
