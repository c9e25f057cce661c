package install_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestApiDocShowsThePrinterColumns runs each `kubectl get npp` of
// docs/api.md against a profile with the status the page shows, and compares
// the columns kubectl prints with the page's: the header, and for the default
// output the row too (all but AGE, which the test cannot make 3 days old).
func TestApiDocShowsThePrinterColumns(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	const ns = "shop-columns"
	ensureNamespace(t, ns)
	profile := ordersProfile(ns, "http://prometheus.monitoring:9090")
	g.Expect(env.Client.Create(ctx, profile)).To(Succeed())
	now := metav1.Now()
	profile.Status.SLIs = &tuningv1alpha1.SLIs{ObservedAt: &now, WorstObjective: "p99<=100ms", WorstSLI: "93.1ms"}
	profile.Status.Conditions = []metav1.Condition{{
		Type: tuningv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: tuningv1alpha1.ReasonSLOMet,
		Message: "every objective is met", LastTransitionTime: metav1.NewTime(time.Now()), ObservedGeneration: profile.Generation,
	}}
	g.Expect(env.Client.Status().Update(ctx, profile)).To(Succeed())

	blocks := regexp.MustCompile("(?s)```console\n(\\$ kubectl get npp[^\n]*)\n(.*?)```").FindAllStringSubmatch(string(readFile(t, "docs/api.md")), -1)
	g.Expect(blocks).NotTo(BeEmpty(), "docs/api.md shows no `kubectl get npp`")
	for _, b := range blocks {
		args := strings.Fields(strings.TrimPrefix(b[1], "$ kubectl "))
		for i := range args {
			if args[i] == "shop" {
				args[i] = ns
			}
		}
		r := kubectl(t, nil, args...)
		g.Expect(r.err).NotTo(HaveOccurred(), r.String())
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		want := strings.Split(strings.TrimSpace(b[2]), "\n")
		t.Logf("%s:\n%s", b[1], r.stdout)
		g.Expect(strings.Fields(want[0])).To(Equal(strings.Fields(got[0])), "%s: the header", b[1])
		if !strings.Contains(b[1], "-o wide") && len(want) > 1 {
			g.Expect(got).To(HaveLen(2))
			w, gf := strings.Fields(want[1]), strings.Fields(got[1])
			g.Expect(w[:len(w)-1]).To(Equal(gf[:len(gf)-1]), "%s: the row", b[1])
		}
	}
}
