#!/usr/bin/env bash
# Refreshes test/install/testdata/gitops-crds: unmodified copies of the CRDs
# of the GitOps tools docs/gitops.md gives recipes for, taken from their Go
# modules on the module proxy (the tests install them in a real API server
# and create the page's objects against them). Bump a version here and in
# README.md there, run this, and commit the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=test/install/testdata/gitops-crds
sources=(
	"github.com/fluxcd/kustomize-controller@v1.9.6 config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml"
	"github.com/fluxcd/helm-controller@v1.6.0 config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml"
	"github.com/argoproj/argo-cd/v3@v3.6.2 manifests/crds/application-crd.yaml"
)
mkdir -p "${out}"
for s in "${sources[@]}"; do
	read -r module file <<<"${s}"
	# A module may declare a newer Go than this machine's; its files are
	# downloaded all the same, and only its files are used here.
	dir=$({ GOFLAGS=-mod=mod go mod download -json "${module}" 2>/dev/null || true; } | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	# Once extracted, a module's files stay in the module cache; the JSON
	# then names no Dir when the module's Go version is refused.
	dir=${dir:-$(go env GOMODCACHE)/${module}}
	if [[ ! -f "${dir}/${file}" ]]; then
		echo "gitops-crds: ${module}: ${file} not found" >&2
		exit 1
	fi
	install -m 0644 "${dir}/${file}" "${out}/$(basename "${file}")"
	echo "gitops-crds: ${module} ${file}"
done
