package envtest_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env) { env = e })
}

// The harness itself: the API server built from Go modules answers, reports
// the pinned version, and serves the project's CRD.
func TestAPIServerAnswers(t *testing.T) {
	g := NewWithT(t)
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	v, err := dc.ServerVersion()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v.GitVersion).To(Equal(testenv.KubernetesVersion))

	resources, err := dc.ServerResourcesForGroupVersion("tuning.navius.io/v1alpha1")
	g.Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, r := range resources.APIResources {
		names = append(names, r.Name)
	}
	g.Expect(names).To(ContainElements("performanceprofiles", "performanceprofiles/status"))

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "harness"}}
	g.Expect(env.Client.Create(context.Background(), ns)).To(Succeed())
}
