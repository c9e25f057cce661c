package localcluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/rolling"
)

// Pools the two templates' pods hold in the rollouts below: the new one
// larger, so that the weighted peak tells which version's pods were counted.
const oldPool, newPool = 10, 15

// rollingCase is one Deployment strategy the oracle is checked on.
type rollingCase struct {
	name            string
	replicas        int32
	surge, unavail  intstr.IntOrString
	recreate        bool
	minReadySeconds int32
}

// checkRollingOracle runs, on the real Deployment controller, the rolling
// updates of the cases and compares the most pods of each version that
// existed at once (counted from a watch of the API server: a pod counts from
// its creation until it is gone) with what package rolling, the guard's
// budget oracle, counts for the same strategy. The oracle may never count
// fewer connections than the real controller makes exist: it would let the
// guard pass a rollout that exceeds the budget. It may count more: kwok
// removes a stopped pod within milliseconds, where a kubelet takes up to a
// second to kill a pod with no grace period, and the oracle holds it that
// long; both figures are logged.
func checkRollingOracle(ctx context.Context, t *testing.T, c *localcluster.Cluster) {
	cases := []rollingCase{
		{name: "roll-default", replicas: 4, surge: intstr.FromString("25%"), unavail: intstr.FromString("25%")},
		{name: "roll-surge0", replicas: 4, surge: intstr.FromInt32(0), unavail: intstr.FromInt32(1)},
		{name: "roll-surge2", replicas: 4, surge: intstr.FromInt32(2), unavail: intstr.FromInt32(0)},
		{name: "roll-half", replicas: 6, surge: intstr.FromString("50%"), unavail: intstr.FromInt32(0), minReadySeconds: 2},
		{name: "roll-recreate", replicas: 3, recreate: true},
	}
	wc, err := client.NewWithWatch(c.RESTConfig(), client.Options{Scheme: c.Client().Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			d := deployment(tc.name, tc.replicas)
			d.Spec.MinReadySeconds = tc.minReadySeconds
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To(int64(0))
			if tc.recreate {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			} else {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavail}}
			}
			g.Expect(c.Client().Create(ctx, d)).To(Succeed())
			g.Eventually(func(g Gomega) int { return readyPods(ctx, g, c.Client(), tc.name, "1") }).
				WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(int(tc.replicas)))
			g.Eventually(func(g Gomega) int32 {
				g.Expect(c.Client().Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
				return d.Status.AvailableReplicas
			}).WithTimeout(30 * time.Second).Should(Equal(tc.replicas))

			var pods corev1.PodList
			g.Expect(c.Client().List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"app": tc.name})).To(Succeed())
			w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(namespace), client.MatchingLabels{"app": tc.name},
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: pods.ResourceVersion}})
			g.Expect(err).NotTo(HaveOccurred())
			defer w.Stop()
			version := map[string]string{} // pod name → VERSION of its template
			for _, p := range pods.Items {
				version[p.Name] = p.Spec.Containers[0].Env[0].Value
			}
			var peak, peakPods int64
			mixed := false // old and new pods existed at once
			var peakAt rolling.Moment
			count := func() {
				var m rolling.Moment
				for _, v := range version {
					if v == "1" {
						m.Old++
					} else {
						m.New++
					}
				}
				if conns := m.Old*oldPool + m.New*newPool; conns > peak {
					peak, peakAt = conns, m
				}
				peakPods = max(peakPods, m.Old+m.New)
				mixed = mixed || (m.Old > 0 && m.New > 0)
			}
			count()

			before := d.DeepCopy()
			d.Spec.Template.Spec.Containers[0].Env[0].Value = "2"
			g.Expect(c.Client().Patch(ctx, d, client.MergeFrom(before))).To(Succeed())
			done := func() bool {
				if err := c.Client().Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
					return false
				}
				old := 0
				for _, v := range version {
					if v == "1" {
						old++
					}
				}
				return d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == tc.replicas &&
					d.Status.Replicas == tc.replicas && d.Status.AvailableReplicas == tc.replicas && old == 0
			}
			deadline := time.After(60 * time.Second)
			for !done() {
				select {
				case ev, ok := <-w.ResultChan():
					g.Expect(ok).To(BeTrue(), "the watch closed")
					p, isPod := ev.Object.(*corev1.Pod)
					if !isPod {
						continue
					}
					if ev.Type == watch.Deleted {
						delete(version, p.Name)
					} else {
						version[p.Name] = p.Spec.Containers[0].Env[0].Value
					}
					count()
				case <-time.After(200 * time.Millisecond):
				case <-deadline:
					t.Fatalf("the rollout did not finish within 60s: %+v", d.Status)
				}
			}

			r := rolling.Rollout{MaxSurge: tc.surge, MaxUnavailable: tc.unavail, Recreate: tc.recreate,
				StepSeconds: int64(tc.minReadySeconds)}
			want := r.PeakConnections(int64(tc.replicas), oldPool, newPool)
			wantPods := r.PeakConnections(int64(tc.replicas), 1, 1)
			t.Logf("%s: the controller-manager peaked at %d connections (%d old + %d new pods; %d pods at most), the oracle counts %d (%d pods)",
				tc.name, peak, peakAt.Old, peakAt.New, peakPods, want, wantPods)
			g.Expect(peak).To(BeNumerically("<=", want), "the oracle under-counts the connections of the real controller's rollout")
			g.Expect(peakPods).To(BeNumerically("<=", wantPods), fmt.Sprintf("the oracle under-counts the pods at once during the rollout of %d replicas", tc.replicas))
			if tc.recreate {
				g.Expect(mixed).To(BeFalse(), "Recreate ran old and new pods at once")
			} else {
				g.Expect(mixed).To(BeTrue(), "the rollout never ran old and new pods side by side: nothing was checked")
			}

			// The pods go with their Deployment, so that the cluster's figures
			// after this test count the other subtests' pods only.
			g.Expect(c.Client().Delete(ctx, d, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
			g.Eventually(func(g Gomega) []corev1.Pod {
				var left corev1.PodList
				g.Expect(c.Client().List(ctx, &left, client.InNamespace(namespace), client.MatchingLabels{"app": tc.name})).To(Succeed())
				return left.Items
			}).WithTimeout(30 * time.Second).Should(BeEmpty())
		})
	}
}
