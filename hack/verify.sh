#!/usr/bin/env bash
# Fails when anything generated is stale: CRDs, RBAC and deepcopy must be what
# `make manifests generate` produces from the types and markers, and go.mod /
# go.sum (of the project and of every tool module) what `go mod tidy` writes;
# dist/install.yaml and the chart's copies what `make build-installer` writes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

make --no-print-directory manifests generate
# With the default image, so that an IMG in the environment does not count as a change.
make --no-print-directory build-installer IMG=ghcr.io/navius-dev/navius-tuner:dev
for dir in . hack/tools/*/; do
	(cd "${dir}" && go mod tidy)
done

if ! git diff --exit-code --stat -- . ':(exclude)docs/benchmarks'; then
	echo "generated files or go.mod/go.sum are stale: run 'make manifests generate build-installer' and 'go mod tidy', then commit" >&2
	exit 1
fi
untracked="$(git ls-files --others --exclude-standard -- api config dist hack go.mod go.sum)"
if [[ -n "${untracked}" ]]; then
	echo "generated files are not committed:" >&2
	echo "${untracked}" >&2
	exit 1
fi
echo "verify: generated code, manifests and go.mod are up to date"
