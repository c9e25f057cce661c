package install_test

import (
	"testing"

	kustomizev1 "github.com/fluxcd/kustomize-controller/api/v1"
	"github.com/fluxcd/pkg/runtime/cel"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/conditions"
)

// fluxHealth evaluates docs/gitops.md's healthCheckExprs for
// PerformanceProfile on p with Flux's own evaluator (fluxcd/pkg/runtime/cel,
// what kustomize-controller runs for spec.healthCheckExprs).
func fluxHealth(t *testing.T, p *tuningv1alpha1.PerformanceProfile) string {
	t.Helper()
	var k kustomizev1.Kustomization
	if err := yaml.UnmarshalStrict([]byte(blockWith(t, yamlBlocks(t, "docs/gitops.md"), "healthCheckExprs:", "docs/gitops.md")), &k); err != nil {
		t.Fatalf("docs/gitops.md: the Kustomization with healthCheckExprs is not Flux's: %v", err)
	}
	var evaluator *cel.StatusEvaluator
	for _, h := range k.Spec.HealthCheckExprs {
		if h.APIVersion == tuningv1alpha1.GroupVersion.String() && h.Kind == "PerformanceProfile" {
			e, err := cel.NewStatusEvaluator(&h.HealthCheckExpressions)
			if err != nil {
				t.Fatalf("docs/gitops.md: %v", err)
			}
			evaluator = e
		}
	}
	if evaluator == nil {
		t.Fatal("docs/gitops.md: no healthCheckExprs for PerformanceProfile")
	}
	p.APIVersion, p.Kind = tuningv1alpha1.GroupVersion.String(), "PerformanceProfile"
	// The object as kustomize-controller reads it from the API server:
	// integers as int64, and status.observedGeneration defaulted to 0 by
	// the schema when the operator has not written it yet.
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, found, _ := unstructured.NestedFieldNoCopy(obj, "status", "observedGeneration"); !found {
		g := NewWithT(t)
		g.Expect(unstructured.SetNestedField(obj, int64(0), "status", "observedGeneration")).To(Succeed())
	}
	res, err := evaluator.Evaluate(t.Context(), u)
	if err != nil {
		t.Fatalf("Flux's evaluator failed on %v: %v", obj, err)
	}
	return string(res.Status)
}

// TestFluxHealthCheckExprs runs the documented healthCheckExprs on the
// statuses the operator writes: a reconciled profile waiting for traffic is
// deployed (Current), a person must act (Stalled) is Failed, and what waits
// on something to fix (Prometheus, the target, a new spec) stays InProgress.
func TestFluxHealthCheckExprs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile *tuningv1alpha1.PerformanceProfile
		want    string
	}{
		{"tuning, every SLO met", profileAfter(1, period(0, nil)), "Current"},
		{"reconciled, waiting for traffic", profileAfter(1, period(0, noTraffic)), "Current"},
		{"waiting for traffic on a new spec not observed yet", profileAfter(2, period(0, noTraffic)), "InProgress"},
		{"Prometheus not answering", profileAfter(1, period(0, metricsDown)), "InProgress"},
		{"the target not created yet", profileAfter(1, period(0, func(f *conditions.Facts) {
			f.Evaluated = false
			f.Blocker = &conditions.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "Deployment shop/orders-api does not exist"}
		})), "InProgress"},
		{"a field conflict", profileAfter(1, period(0, func(f *conditions.Facts) {
			f.Conflicts = []conditions.Conflict{{Knob: "connectionPool.maxConnections", Field: "env[DB_POOL_MAX_CONNECTIONS]", Manager: "kustomize-controller", Applied: "20", Live: "10"}}
		})), "Failed"},
		{"no status yet", profileAfter(1), "InProgress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fluxHealth(t, tc.profile); got != tc.want {
				t.Errorf("Flux health %q, want %q; conditions: %+v", got, tc.want, tc.profile.Status.Conditions)
			}
		})
	}
}
