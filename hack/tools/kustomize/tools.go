//go:build tools

// Package tools pins kustomize, which renders config/ into dist/install.yaml,
// the release's manifests and what `make deploy` applies, so that the output
// does not depend on the kustomize built into whichever kubectl a machine has.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
