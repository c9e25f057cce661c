//go:build tools

// Package tools pins the Kubernetes control-plane binaries that the tests, the
// demo and the benchmarks run. `make k8s-binaries` builds them from here.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
