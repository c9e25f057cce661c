package metricsapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func pod(name, app, node string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main"}, {Name: "sidecar"}}},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		body = map[string]any{"raw": rec.Body.String()}
	}
	return rec.Code, body
}

func names(list map[string]any) []string {
	var out []string
	for _, it := range list["items"].([]any) {
		out = append(out, it.(map[string]any)["metadata"].(map[string]any)["name"].(string))
	}
	return out
}

func TestHandler(t *testing.T) {
	kube := fake.NewClientBuilder().WithObjects(
		pod("a-1", "a", "n1", corev1.PodRunning),
		pod("a-2", "a", "n2", corev1.PodRunning),
		pod("b-1", "b", "n1", corev1.PodRunning),
		pod("a-pending", "a", "", corev1.PodPending),
		pod("no-sample", "a", "n1", corev1.PodRunning),
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
	).Build()
	src := PodCPUFunc(func(ns string) map[string]int64 {
		return map[string]int64{"a-1": 100, "a-2": 300, "b-1": 50, "a-pending": 1}
	})
	h := (&Server{src: src, kube: kube, now: time.Now}).Handler()
	gv := "/apis/metrics.k8s.io/v1beta1"

	t.Run("discovery", func(t *testing.T) {
		g := NewWithT(t)
		code, body := get(t, h, "/apis")
		g.Expect(code).To(Equal(http.StatusOK))
		g.Expect(body["groups"]).To(HaveLen(1))
		code, body = get(t, h, gv)
		g.Expect(code).To(Equal(http.StatusOK))
		g.Expect(body["resources"]).To(HaveLen(2))
		for _, p := range []string{"/healthz", "/openapi/v2", "/openapi/v3", "/apis/metrics.k8s.io"} {
			code, _ := get(t, h, p)
			g.Expect(code).To(Equal(http.StatusOK), p)
		}
	})

	t.Run("pod metrics honour the label selector", func(t *testing.T) {
		g := NewWithT(t)
		code, body := get(t, h, gv+"/namespaces/ns/pods?labelSelector=app%3Da")
		g.Expect(code).To(Equal(http.StatusOK))
		g.Expect(body["kind"]).To(Equal("PodMetricsList"))
		g.Expect(names(body)).To(ConsistOf("a-1", "a-2"))
		first := body["items"].([]any)[0].(map[string]any)
		g.Expect(first["window"]).To(Equal("1s"))
		containers := first["containers"].([]any)
		g.Expect(containers).To(HaveLen(2))
		g.Expect(containers[0].(map[string]any)["usage"].(map[string]any)["cpu"]).To(MatchRegexp(`^[13]00m$`))
		g.Expect(containers[1].(map[string]any)["usage"].(map[string]any)["cpu"]).To(Equal("0m"))

		_, all := get(t, h, gv+"/pods")
		g.Expect(names(all)).To(ConsistOf("a-1", "a-2", "b-1"))
	})

	t.Run("single pod", func(t *testing.T) {
		g := NewWithT(t)
		code, body := get(t, h, gv+"/namespaces/ns/pods/b-1")
		g.Expect(code).To(Equal(http.StatusOK))
		g.Expect(body["containers"].([]any)[0].(map[string]any)["usage"].(map[string]any)["cpu"]).To(Equal("50m"))
		code, _ = get(t, h, gv+"/namespaces/ns/pods/no-sample")
		g.Expect(code).To(Equal(http.StatusNotFound))
	})

	t.Run("node metrics sum their pods", func(t *testing.T) {
		g := NewWithT(t)
		code, body := get(t, h, gv+"/nodes/n1")
		g.Expect(code).To(Equal(http.StatusOK))
		g.Expect(body["usage"].(map[string]any)["cpu"]).To(Equal("150m"))
		_, list := get(t, h, gv+"/nodes")
		g.Expect(names(list)).To(ConsistOf("n1", "n2"))
	})

	t.Run("bad selector", func(t *testing.T) {
		g := NewWithT(t)
		code, body := get(t, h, gv+"/namespaces/ns/pods?labelSelector=%3D%3D%3D")
		g.Expect(code).To(Equal(http.StatusBadRequest))
		g.Expect(body["kind"]).To(Equal("Status"))
	})
}
