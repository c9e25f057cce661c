// Package metricsapi serves the metrics.k8s.io/v1beta1 API (PodMetrics and
// NodeMetrics) from a callback that gives the CPU use of each pod, so that the
// real HPA controller scales workloads on simulated load. The server runs in
// the calling process on a loopback port; Register makes the cluster's
// aggregator route metrics.k8s.io to it.
package metricsapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PodCPUSource gives the current CPU use of pods.
type PodCPUSource interface {
	// PodCPUMillis returns the CPU use, in millicores, of the pods of the
	// namespace by pod name. Pods absent from the map have no metrics.
	PodCPUMillis(namespace string) map[string]int64
}

// PodCPUFunc adapts a function to PodCPUSource.
type PodCPUFunc func(namespace string) map[string]int64

// PodCPUMillis calls f.
func (f PodCPUFunc) PodCPUMillis(namespace string) map[string]int64 { return f(namespace) }

// Group and Version of the served API.
const (
	Group   = "metrics.k8s.io"
	Version = "v1beta1"
)

// window is the sampling window reported with every sample. It is short, and
// samples are stamped now, so that the HPA does not discard samples of pods
// that have just become ready.
const window = time.Second

// Server is a running metrics.k8s.io server.
type Server struct {
	src  PodCPUSource
	kube client.Reader
	ln   net.Listener
	srv  *http.Server
	now  func() time.Time
}

// Start serves the API over TLS with cert on a free port of 127.0.0.1. kube
// is used to list pods (for labels, containers and nodes) and nodes.
func Start(src PodCPUSource, kube client.Reader, cert tls.Certificate) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{src: src, kube: kube, ln: ln, now: time.Now}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return s.srv.Close()
	}
	return err
}

// Handler returns the HTTP handler of the API. Requests are not
// authenticated: the server listens on loopback only.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	gv := "/apis/" + Group + "/" + Version
	mux.HandleFunc("GET /healthz", s.ok)
	mux.HandleFunc("GET /readyz", s.ok)
	mux.HandleFunc("GET /livez", s.ok)
	mux.HandleFunc("GET /openapi/v2", s.openAPIv2)
	mux.HandleFunc("GET /openapi/v3", s.openAPIv3)
	mux.HandleFunc("GET /apis", s.apiGroupList)
	mux.HandleFunc("GET /apis/"+Group, s.apiGroup)
	mux.HandleFunc("GET "+gv, s.resourceList)
	mux.HandleFunc("GET "+gv+"/pods", listHandler("PodMetrics", s.podMetrics))
	mux.HandleFunc("GET "+gv+"/namespaces/{namespace}/pods", listHandler("PodMetrics", s.podMetrics))
	mux.HandleFunc("GET "+gv+"/namespaces/{namespace}/pods/{name}", getHandler("PodMetrics", s.podMetrics))
	mux.HandleFunc("GET "+gv+"/nodes", listHandler("NodeMetrics", s.nodeMetrics))
	mux.HandleFunc("GET "+gv+"/nodes/{name}", getHandler("NodeMetrics", s.nodeMetrics))
	return mux
}

func (s *Server) ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

func (s *Server) openAPIv2(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"swagger": "2.0",
		"info":    map[string]string{"title": "navius local metrics", "version": Version},
		"paths":   map[string]any{},
	})
}

func (s *Server) openAPIv3(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"paths": map[string]any{}})
}

func groupVersion() map[string]string {
	return map[string]string{"groupVersion": Group + "/" + Version, "version": Version}
}

func apiGroup() map[string]any {
	return map[string]any{
		"name":             Group,
		"versions":         []any{groupVersion()},
		"preferredVersion": groupVersion(),
	}
}

func (s *Server) apiGroupList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{apiGroup()},
	})
}

func (s *Server) apiGroup(w http.ResponseWriter, _ *http.Request) {
	g := apiGroup()
	g["kind"], g["apiVersion"] = "APIGroup", "v1"
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) resourceList(w http.ResponseWriter, _ *http.Request) {
	resource := func(name, kind string, namespaced bool) map[string]any {
		return map[string]any{
			"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
			"verbs": []string{"get", "list"},
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": Group + "/" + Version,
		"resources": []any{resource("nodes", "NodeMetrics", false), resource("pods", "PodMetrics", true)},
	})
}

// listOptions turns the labelSelector query parameter into list options.
func listOptions(r *http.Request, namespace string) ([]client.ListOption, error) {
	opts := []client.ListOption{client.InNamespace(namespace)}
	if sel := r.URL.Query().Get("labelSelector"); sel != "" {
		parsed, err := labels.Parse(sel)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: parsed})
	}
	return opts, nil
}

// fetchFunc returns the metrics objects matching opts (and name, unless empty).
type fetchFunc func(ctx context.Context, name string, opts ...client.ListOption) ([]any, error)

// listHandler serves the list of kind, honouring the labelSelector parameter.
func listHandler(kind string, fetch fetchFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		opts, err := listOptions(r, r.PathValue("namespace"))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, err.Error())
			return
		}
		items, err := fetch(r.Context(), "", opts...)
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, list(kind+"List", items))
	}
}

// getHandler serves one object of kind.
func getHandler(kind string, fetch fetchFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		items, err := fetch(r.Context(), name, client.InNamespace(r.PathValue("namespace")))
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, err.Error())
			return
		}
		if len(items) == 0 {
			writeStatus(w, http.StatusNotFound, fmt.Sprintf("%s %q not found", strings.ToLower(kind), name))
			return
		}
		writeJSON(w, http.StatusOK, items[0])
	}
}

// podCPU lists the running pods matching opts (and name, unless empty) that
// have a sample, with their CPU use.
func (s *Server) podCPU(ctx context.Context, name string, opts ...client.ListOption) ([]corev1.Pod, []int64, error) {
	var pods corev1.PodList
	if err := s.kube.List(ctx, &pods, opts...); err != nil {
		return nil, nil, err
	}
	byNamespace := map[string]map[string]int64{}
	var matched []corev1.Pod
	var cpu []int64
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || (name != "" && p.Name != name) {
			continue
		}
		usage, ok := byNamespace[p.Namespace]
		if !ok {
			usage = s.src.PodCPUMillis(p.Namespace)
			byNamespace[p.Namespace] = usage
		}
		if m, ok := usage[p.Name]; ok {
			matched = append(matched, p)
			cpu = append(cpu, m)
		}
	}
	return matched, cpu, nil
}

// podMetrics returns the PodMetrics of the pods matching opts (and name,
// unless empty). The pod's use is reported on its first container, the others
// report zero.
func (s *Server) podMetrics(ctx context.Context, name string, opts ...client.ListOption) ([]any, error) {
	pods, cpu, err := s.podCPU(ctx, name, opts...)
	if err != nil {
		return nil, err
	}
	now := s.now()
	items := make([]any, 0, len(pods))
	for i, p := range pods {
		containers := make([]any, 0, len(p.Spec.Containers))
		for j, c := range p.Spec.Containers {
			var m int64
			if j == 0 {
				m = cpu[i]
			}
			containers = append(containers, map[string]any{"name": c.Name, "usage": usage(m)})
		}
		items = append(items, map[string]any{
			"kind": "PodMetrics", "apiVersion": Group + "/" + Version,
			"metadata":   objectMeta(p.Name, p.Namespace, p.Labels, now),
			"timestamp":  now.UTC().Format(time.RFC3339),
			"window":     window.String(),
			"containers": containers,
		})
	}
	return items, nil
}

// nodeMetrics returns the NodeMetrics of the nodes matching opts (and name,
// unless empty): the sum of their pods' use.
func (s *Server) nodeMetrics(ctx context.Context, name string, opts ...client.ListOption) ([]any, error) {
	var nodes corev1.NodeList
	if err := s.kube.List(ctx, &nodes, opts...); err != nil {
		return nil, err
	}
	pods, cpu, err := s.podCPU(ctx, "")
	if err != nil {
		return nil, err
	}
	perNode := map[string]int64{}
	for i, p := range pods {
		perNode[p.Spec.NodeName] += cpu[i]
	}
	now := s.now()
	items := make([]any, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		if name != "" && n.Name != name {
			continue
		}
		items = append(items, map[string]any{
			"kind": "NodeMetrics", "apiVersion": Group + "/" + Version,
			"metadata":  objectMeta(n.Name, "", n.Labels, now),
			"timestamp": now.UTC().Format(time.RFC3339),
			"window":    window.String(),
			"usage":     usage(perNode[n.Name]),
		})
	}
	return items, nil
}

func usage(millis int64) map[string]string {
	return map[string]string{"cpu": fmt.Sprintf("%dm", millis), "memory": "0"}
}

func objectMeta(name, namespace string, lbls map[string]string, now time.Time) map[string]any {
	m := map[string]any{"name": name, "labels": lbls, "creationTimestamp": now.UTC().Format(time.RFC3339)}
	if namespace != "" {
		m["namespace"] = namespace
	}
	return m
}

func list(kind string, items []any) map[string]any {
	return map[string]any{
		"kind": kind, "apiVersion": Group + "/" + Version,
		"metadata": map[string]any{}, "items": items,
	}
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	reason := strings.ReplaceAll(http.StatusText(code), " ", "")
	writeJSON(w, code, map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": msg, "reason": reason, "code": code,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
