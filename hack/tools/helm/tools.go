//go:build tools

// Package tools pins helm, which the install tests use to render and lint the
// chart in dist/chart without a helm binary on the machine.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
