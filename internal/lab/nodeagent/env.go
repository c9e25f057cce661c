package nodeagent

import (
	"context"
	"fmt"
	"os"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// resolveEnv is the container's environment as a kubelet builds it: envFrom
// sources in order (ConfigMaps and Secrets, with their prefix), then env,
// which wins; valueFrom reads ConfigMap and Secret keys and the downward
// API's pod fields (status.podIP is the IP the agent gives the pod). A
// missing source that is not optional is an error, as it keeps a kubelet
// from starting the container. $(VAR) references are not expanded. PATH and
// HOME come from the agent's own environment.
func resolveEnv(ctx context.Context, cl kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, podIP string) ([]string, error) {
	vars := map[string]string{}
	cms := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	configMap := func(name string, optional *bool) (*corev1.ConfigMap, error) {
		if cm, ok := cms[name]; ok {
			return cm, nil
		}
		cm, err := cl.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			cm, err = &corev1.ConfigMap{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ConfigMap %s: %w", name, err)
		}
		cms[name] = cm
		return cm, nil
	}
	secret := func(name string, optional *bool) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := cl.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			s, err = &corev1.Secret{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		secrets[name] = s
		return s, nil
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := configMap(from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
			if err != nil {
				return nil, err
			}
			for k, v := range cm.Data {
				vars[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s, err := secret(from.SecretRef.Name, from.SecretRef.Optional)
			if err != nil {
				return nil, err
			}
			for k, v := range s.Data {
				vars[from.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			vars[e.Name] = e.Value
			continue
		}
		v, ok, err := valueFrom(e.ValueFrom, pod, podIP, configMap, secret)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			vars[e.Name] = v
		}
	}
	for _, k := range []string{"PATH", "HOME"} {
		if _, set := vars[k]; !set {
			vars[k] = os.Getenv(k)
		}
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

func valueFrom(src *corev1.EnvVarSource, pod *corev1.Pod, podIP string,
	configMap func(string, *bool) (*corev1.ConfigMap, error), secret func(string, *bool) (*corev1.Secret, error)) (string, bool, error) {
	switch {
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := configMap(ref.Name, ref.Optional)
		if err != nil {
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok && (ref.Optional == nil || !*ref.Optional) {
			return "", false, fmt.Errorf("ConfigMap %s has no key %s", ref.Name, ref.Key)
		}
		return v, ok, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := secret(ref.Name, ref.Optional)
		if err != nil {
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok && (ref.Optional == nil || !*ref.Optional) {
			return "", false, fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
		}
		return string(v), ok, nil
	case src.FieldRef != nil:
		switch src.FieldRef.FieldPath {
		case "metadata.name":
			return pod.Name, true, nil
		case "metadata.namespace":
			return pod.Namespace, true, nil
		case "metadata.uid":
			return string(pod.UID), true, nil
		case "spec.nodeName":
			return pod.Spec.NodeName, true, nil
		case "spec.serviceAccountName":
			return pod.Spec.ServiceAccountName, true, nil
		case "status.podIP":
			return podIP, true, nil
		case "status.hostIP":
			return "127.0.0.1", true, nil
		}
		return "", false, fmt.Errorf("field %s is not supported by the node agent", src.FieldRef.FieldPath)
	}
	return "", false, fmt.Errorf("unsupported valueFrom (resource fields are not)")
}
