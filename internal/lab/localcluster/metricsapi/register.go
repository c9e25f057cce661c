package metricsapi

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// ServiceNamespace and ServiceName name the ExternalName Service through which
// the aggregator reaches the server.
const (
	ServiceNamespace = "kube-system"
	ServiceName      = "navius-local-metrics"
)

// apiServiceGVK is the kind of the aggregator's APIService.
var apiServiceGVK = schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"}

// APIServiceName is the name of the registered APIService.
const APIServiceName = Version + "." + Group

// Register makes the cluster's aggregator route metrics.k8s.io to a server on
// port of the apiserver's host: Endpoints refuse loopback addresses, so it
// uses an ExternalName Service for localhost and an APIService that skips TLS
// verification (aggregator routing must be off, the default). It waits until
// the APIService is Available.
func Register(ctx context.Context, c client.Client, port int) error {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ServiceNamespace, Name: ServiceName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, svc, func() error {
		svc.Spec = corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}
		return nil
	}); err != nil {
		return fmt.Errorf("creating service %s/%s: %w", ServiceNamespace, ServiceName, err)
	}
	apisvc := &unstructured.Unstructured{}
	apisvc.SetGroupVersionKind(apiServiceGVK)
	apisvc.SetName(APIServiceName)
	if _, err := controllerutil.CreateOrUpdate(ctx, c, apisvc, func() error {
		apisvc.Object["spec"] = map[string]any{
			"group":                 Group,
			"version":               Version,
			"groupPriorityMinimum":  int64(100),
			"versionPriority":       int64(100),
			"insecureSkipTLSVerify": true,
			"service": map[string]any{
				"namespace": ServiceNamespace,
				"name":      ServiceName,
				"port":      int64(port),
			},
		}
		return nil
	}); err != nil {
		return fmt.Errorf("creating APIService %s: %w", APIServiceName, err)
	}
	return waitAvailable(ctx, c)
}

// waitAvailable waits until the APIService reports Available=True.
func waitAvailable(ctx context.Context, c client.Client) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		apisvc := &unstructured.Unstructured{}
		apisvc.SetGroupVersionKind(apiServiceGVK)
		if err := c.Get(ctx, client.ObjectKey{Name: APIServiceName}, apisvc); err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(apisvc.Object, "status", "conditions")
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Available" {
				last = fmt.Sprintf("%v: %v", m["reason"], m["message"])
				return m["status"] == "True", nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("APIService %s not available (%s): %w", APIServiceName, last, err)
	}
	return nil
}
