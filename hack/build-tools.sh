#!/usr/bin/env bash
# Builds the local control plane and the code tools from the Go modules pinned
# under hack/tools/, into bin/, skipping every binary that is already there.
# Nothing is downloaded but Go modules, so this works behind a firewall that
# only lets the Go module proxy through.
#
# usage: hack/build-tools.sh [control-plane|test-tools|controller-gen|golangci-lint|helm|all]...
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_VERSION="v1.37.2"
ASSETS="${KUBEBUILDER_ASSETS:-${ROOT}/bin/k8s/${K8S_VERSION}}"
K8S_LDFLAGS="-X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"

# build NAME DEST_DIR TOOL_MODULE PACKAGE [LDFLAGS]
build() {
	local name="$1" dest="$2" module="$3" pkg="$4" ldflags="${5:-}"
	if [[ -x "${dest}/${name}" ]]; then
		return 0
	fi
	mkdir -p "${dest}"
	echo ">> building ${name} from ${pkg} (the first build takes minutes; later builds reuse the Go build cache)"
	local start=${SECONDS}
	(cd "${ROOT}/hack/tools/${module}" && go build -trimpath -ldflags "-s -w ${ldflags}" -o "${dest}/${name}.tmp.$$" "${pkg}")
	mv "${dest}/${name}.tmp.$$" "${dest}/${name}"
	echo ">> built ${dest}/${name} in $((SECONDS - start))s"
}

control_plane() {
	build etcd "${ASSETS}" etcd ./cmd/etcd
	build kube-apiserver "${ASSETS}" kubernetes k8s.io/kubernetes/cmd/kube-apiserver "${K8S_LDFLAGS}"
	build kube-controller-manager "${ASSETS}" kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "${K8S_LDFLAGS}"
	build kube-scheduler "${ASSETS}" kubernetes k8s.io/kubernetes/cmd/kube-scheduler "${K8S_LDFLAGS}"
	build kwok "${ASSETS}" kwok sigs.k8s.io/kwok/cmd/kwok
	build prometheus "${ASSETS}" prometheus github.com/prometheus/prometheus/cmd/prometheus
}

# The tools the tests use beside the control plane (the demo needs neither).
test_tools() {
	build kubectl "${ASSETS}" kubernetes k8s.io/kubernetes/cmd/kubectl "${K8S_LDFLAGS}"
	build promtool "${ASSETS}" prometheus github.com/prometheus/prometheus/cmd/promtool
}

# One build at a time: tests, the demo and the Makefile may all ask for the
# binaries at once, and parallel builds of the same module only compete for CPU.
mkdir -p "${ROOT}/bin"
exec 9>"${ROOT}/bin/.build-tools.lock"
if ! flock -n 9; then
	echo ">> another build of the tools is running; waiting for it"
	flock 9
fi

build_one() {
case "$1" in
control-plane) control_plane ;;
test-tools) test_tools ;;
controller-gen) build controller-gen "${ROOT}/bin" controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen ;;
golangci-lint) build golangci-lint "${ROOT}/bin" golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
helm) build helm "${ROOT}/bin" helm helm.sh/helm/v3/cmd/helm ;;
all)
	control_plane
	test_tools
	build controller-gen "${ROOT}/bin" controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
	build golangci-lint "${ROOT}/bin" golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	build helm "${ROOT}/bin" helm helm.sh/helm/v3/cmd/helm
	;;
*)
	echo "usage: $0 [control-plane|test-tools|controller-gen|golangci-lint|helm|all]..." >&2
	exit 2
	;;
esac
}

[[ $# -gt 0 ]] || set -- all
for what in "$@"; do
	build_one "${what}"
done
