#!/usr/bin/env bash
# Builds the local control plane and the code tools from the Go modules pinned
# under hack/tools/, into bin/, skipping every binary that is already there.
# Nothing is downloaded but Go modules, so this works behind a firewall that
# only lets the Go module proxy through.
#
# usage: hack/build-tools.sh [control-plane|test-tools|controller-gen|golangci-lint|helm|kustomize|actionlint|all]...
#
# LOCALBIN (default bin/) is where the code tools go; KUBEBUILDER_ASSETS
# (default bin/k8s/<version>) where the control plane goes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_VERSION="v1.37.2"
BIN="${LOCALBIN:-${ROOT}/bin}"
ASSETS="${KUBEBUILDER_ASSETS:-${BIN}/k8s/${K8S_VERSION}}"
K8S_LDFLAGS="-X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"

# build NAME DEST_DIR TOOL_MODULE PACKAGE [LDFLAGS]
build() {
	local name="$1" dest="$2" module="$3" pkg="$4" ldflags="${5:-}"
	if [[ -x "${dest}/${name}" ]]; then
		return 0
	fi
	lock
	# Another build may have finished it while this one waited for the lock.
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
# binaries at once, and parallel builds of the same module only compete for
# CPU. The lock is taken only when something must be built, so a run whose
# tools are all there never waits. flock where there is one (Linux); macOS has
# none, so elsewhere a directory that holds the owner's pid: mkdir is atomic,
# and a lock whose owner died is taken over.
LOCKED=""
LOCK_DIR="${BIN}/.build-tools.lock.d"
lock() {
	[[ -z "${LOCKED}" ]] || return 0
	LOCKED=1
	mkdir -p "${BIN}"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"${BIN}/.build-tools.lock"
		if ! flock -n 9; then
			echo ">> another build of the tools is running; waiting for it"
			flock 9
		fi
		return 0
	fi
	local said=""
	until mkdir "${LOCK_DIR}" 2>/dev/null; do
		local owner
		owner="$(cat "${LOCK_DIR}/pid" 2>/dev/null || true)"
		if [[ -n "${owner}" ]] && ! kill -0 "${owner}" 2>/dev/null; then
			rm -rf "${LOCK_DIR}"
			continue
		fi
		if [[ -z "${said}" ]]; then
			echo ">> another build of the tools is running; waiting for it"
			said=1
		fi
		sleep 1
	done
	echo "$$" >"${LOCK_DIR}/pid"
	trap 'rm -rf "${LOCK_DIR}"' EXIT
}

build_one() {
case "$1" in
control-plane) control_plane ;;
test-tools) test_tools ;;
controller-gen) build controller-gen "${BIN}" controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen ;;
golangci-lint) build golangci-lint "${BIN}" golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
helm) build helm "${BIN}" helm helm.sh/helm/v3/cmd/helm ;;
kustomize) build kustomize "${BIN}" kustomize sigs.k8s.io/kustomize/kustomize/v5 ;;
actionlint) build actionlint "${BIN}" actionlint github.com/rhysd/actionlint/cmd/actionlint ;;
all)
	for tool in control-plane test-tools controller-gen golangci-lint helm kustomize actionlint; do
		build_one "${tool}"
	done
	;;
*)
	echo "usage: $0 [control-plane|test-tools|controller-gen|golangci-lint|helm|kustomize|actionlint|all]..." >&2
	exit 2
	;;
esac
}

[[ $# -gt 0 ]] || set -- all
for what in "$@"; do
	build_one "${what}"
done
