package install_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestSamplesBringTheirWorkloadsAndLeaveTheTourAlone applies config/samples
// as docs/api.md says, into the namespace of the README's tour after the
// tour's workload and profile: the tour's profile is left as it was, and the
// manager finds every sample's Deployment, HPA and Redis StatefulSet (no
// TargetNotFound, HPANotFound or RedisNotFound).
func TestSamplesBringTheirWorkloadsAndLeaveTheTourAlone(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	const ns = "shop-samples"
	ensureNamespace(t, ns)
	// The tour's workload and profile, moved to this test's namespace.
	var tourDocs []string
	for _, f := range []string{"config/samples/tour/orders-api.yaml", tourSample} {
		tourDocs = append(tourDocs, strings.ReplaceAll(string(readFile(t, f)), "namespace: shop", "namespace: "+ns))
	}
	r := kubectl(t, []byte(strings.Join(tourDocs, "\n---\n")), "apply", "--server-side", "-f", "-")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	tour := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders-api"}, tour)).To(Succeed())

	r = kubectl(t, nil, "apply", "--server-side", "-k", "config/samples", "-n", ns)
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	after := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(tour), after)).To(Succeed())
	g.Expect(after.Generation).To(Equal(tour.Generation), "applying the samples changed the tour's profile")

	profiles := &tuningv1alpha1.PerformanceProfileList{}
	g.Expect(env.Client.List(ctx, profiles, client.InNamespace(ns))).To(Succeed())
	g.Expect(profiles.Items).To(HaveLen(4), "the tour's profile and the three samples")
	targets := map[string]string{}
	for _, p := range profiles.Items {
		g.Expect(targets).NotTo(HaveKey(p.Spec.TargetRef.Name), "%s and %s tune the same Deployment", p.Name, targets[p.Spec.TargetRef.Name])
		targets[p.Spec.TargetRef.Name] = p.Name
	}

	runManager(t, buildManager(t), "", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	missing := []string{tuningv1alpha1.ReasonTargetNotFound, tuningv1alpha1.ReasonHPANotFound, tuningv1alpha1.ReasonRedisNotFound}
	for _, p := range profiles.Items {
		g.Eventually(func(g Gomega) {
			got := &tuningv1alpha1.PerformanceProfile{}
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(&p), got)).To(Succeed())
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.Current).NotTo(BeNil(), "the manager read no knob of %s's workload", p.Name)
			for _, c := range got.Status.Conditions {
				g.Expect(missing).NotTo(ContainElement(c.Reason), "%s: condition %s: %s", p.Name, c.Type, c.Message)
			}
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, tuningv1alpha1.ConditionReady)).NotTo(BeNil())
		}, 60*time.Second, 250*time.Millisecond).Should(Succeed())
	}
}
