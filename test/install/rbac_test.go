package install_test

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// installForReal applies dist/install.yaml to the API server (nothing runs the
// Deployment's pods there; the test runs the manager itself).
func installForReal(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	install := readFile(t, "dist/install.yaml")
	createSystemNamespace(t, install)
	r := kubectl(t, install, "apply", "--server-side", "--force-conflicts", "-f", "-")
	if r.err != nil {
		t.Fatalf("applying dist/install.yaml: %s", r)
	}
	return decodeAll(t, install)
}

// serviceAccountToken returns a token of the ServiceAccount from the TokenRequest API.
func serviceAccountToken(t *testing.T, namespace, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{}
	sa.Namespace, sa.Name = namespace, name
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := env.Client.SubResource("token").Create(t.Context(), sa, tr); err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// tokenConfig is envtest's API server with a bearer token and no client certificate.
func tokenConfig(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = token
	return cfg
}

// access is one request of the access-review table.
type access struct {
	namespace, group, resource, subresource, verb, name string
}

func (a access) String() string {
	res := a.resource
	if a.subresource != "" {
		res += "/" + a.subresource
	}
	where := "cluster-wide"
	if a.namespace != "" {
		where = "in " + a.namespace
	}
	return fmt.Sprintf("%s %s.%s %s", a.verb, res, a.group, where)
}

// allowed asks the API server whether c's user may do a.
func allowed(t *testing.T, c client.Client, a access) bool {
	t.Helper()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.namespace, Group: a.group, Resource: a.resource, Subresource: a.subresource, Verb: a.verb, Name: a.name,
		},
	}}
	if err := c.Create(t.Context(), review); err != nil {
		t.Fatalf("reviewing %s: %v", a, err)
	}
	return review.Status.Allowed
}

// TestManagerRBAC checks, as the manager's ServiceAccount, that every grant of
// the manager role holds cluster-wide and leader election in its namespace,
// and that requests outside them are refused.
func TestManagerRBAC(t *testing.T) {
	g := NewWithT(t)
	objs := installForReal(t)
	sa := saClient(t, managerSA)

	granted := grants(find(t, objs, "ClusterRole", "navius-tuner-manager-role"))
	g.Expect(granted).NotTo(BeEmpty())
	// What the reconciler needs (its +kubebuilder:rbac markers).
	needed := []access{
		{group: "tuning.navius.io", resource: "performanceprofiles", verb: "list"},
		{group: "tuning.navius.io", resource: "performanceprofiles", verb: "watch"},
		{group: "tuning.navius.io", resource: "performanceprofiles", subresource: "status", verb: "patch"},
		{group: "apps", resource: "deployments", verb: "watch"},
		{group: "apps", resource: "deployments", verb: "patch"},
		{group: "apps", resource: "statefulsets", verb: "patch"},
		{group: "autoscaling", resource: "horizontalpodautoscalers", verb: "patch"},
		{group: "autoscaling", resource: "horizontalpodautoscalers", verb: "create"},
		{group: "events.k8s.io", resource: "events", verb: "create"},
	}
	leaderElection := []access{}
	for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
		leaderElection = append(leaderElection, access{namespace: systemNamespace, group: "coordination.k8s.io", resource: "leases", verb: verb})
	}
	metricsAuth := []access{
		{group: "authentication.k8s.io", resource: "tokenreviews", verb: "create"},
		{group: "authorization.k8s.io", resource: "subjectaccessreviews", verb: "create"},
	}
	for _, list := range [][]access{granted, needed, leaderElection, metricsAuth} {
		for _, a := range list {
			g.Expect(allowed(t, sa, a)).To(BeTrue(), "the manager may not %s", a)
		}
	}

	refused := []access{
		{resource: "secrets", verb: "list"},
		{resource: "secrets", verb: "watch"},
		{namespace: "kube-system", resource: "secrets", verb: "list"},
		{resource: "secrets", verb: "create"},
		{group: "apps", resource: "deployments", verb: "delete"},
		{group: "apps", resource: "deployments", verb: "update"},
		{group: "apps", resource: "deployments", verb: "create"},
		{group: "apps", resource: "statefulsets", verb: "delete"},
		{group: "autoscaling", resource: "horizontalpodautoscalers", verb: "delete"},
		{resource: "pods", verb: "create"},
		{resource: "pods", subresource: "exec", verb: "create"},
		{resource: "configmaps", verb: "list"},
		{group: "tuning.navius.io", resource: "performanceprofiles", verb: "delete"},
		{group: "tuning.navius.io", resource: "performanceprofiles", verb: "create"},
		{group: "rbac.authorization.k8s.io", resource: "clusterroles", verb: "escalate"},
		{group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", verb: "create"},
		{group: "apiextensions.k8s.io", resource: "customresourcedefinitions", verb: "update"},
		{namespace: "default", group: "coordination.k8s.io", resource: "leases", verb: "create"},
		{resource: "serviceaccounts", subresource: "token", verb: "create"},
	}
	for _, a := range refused {
		g.Expect(allowed(t, sa, a)).To(BeFalse(), "the manager may %s", a)
	}

	// And the API server refuses real requests outside the role.
	err := sa.List(t.Context(), &corev1.SecretList{})
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("forbidden"))
}

// grants lists every request the rules of a Role or ClusterRole allow, without a namespace.
func grants(role *unstructured.Unstructured) []access {
	var out []access
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		rule := r.(map[string]any)
		for _, group := range stringList(rule["apiGroups"]) {
			for _, res := range stringList(rule["resources"]) {
				resource, sub, _ := strings.Cut(res, "/")
				for _, verb := range stringList(rule["verbs"]) {
					out = append(out, access{group: group, resource: resource, subresource: sub, verb: verb})
				}
			}
		}
	}
	return out
}

// saClient is a client authenticated as a ServiceAccount of systemNamespace.
func saClient(t *testing.T, name string) client.Client {
	t.Helper()
	return saClientIn(t, systemNamespace, name)
}

func stringList(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, s := range list {
			out = append(out, s.(string))
		}
	}
	return out
}
