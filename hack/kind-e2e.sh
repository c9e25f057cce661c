#!/usr/bin/env bash
# Runs navius-tuner end to end in a kind cluster (needs Docker, or another
# engine through CONTAINER_TOOL, and kind on PATH).
#
# usage: hack/kind-e2e.sh deploy   create the cluster if missing, build and load the
#                                  manager and example-service images, deploy the manager,
#                                  metrics-server and a minimal Prometheus
#        hack/kind-e2e.sh e2e      run the example service (namespace shop) with its HPA and
#                                  a profile, and wait until the profile is Ready
#        hack/kind-e2e.sh delete   delete the cluster
#
# The example service (cmd/example-service) serves the metric contract and loads
# itself; Prometheus (hack/kind/prometheus.yaml) scrapes it at
# prometheus.monitoring:9090, where the profile (hack/kind/example.yaml) reads it.
#
# Your kubeconfig and its current context are never changed: every command uses
# a kubeconfig of its own for the kind cluster (`kind get kubeconfig`), removed
# on exit.
#
# Environment: KIND_CLUSTER (navius-tuner), IMG (navius-tuner:kind), CONTAINER_TOOL (docker),
# KIND (kind), KUBECTL (kubectl on PATH, else bin/k8s/<version>/kubectl, built when
# missing), TIMEOUT (5m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND_CLUSTER="${KIND_CLUSTER:-navius-tuner}"
# Tags other than "latest": kind nodes then use the loaded images (IfNotPresent).
IMG="${IMG:-navius-tuner:kind}"
# The image hack/kind/example.yaml runs.
EXAMPLE_IMG="navius-example-service:kind"
CONTAINER_TOOL="${CONTAINER_TOOL:-docker}"
KIND="${KIND:-kind}"
TIMEOUT="${TIMEOUT:-5m}"
MANIFESTS="${ROOT}/hack/kind"
NAMESPACE="navius-tuner-system"
DEPLOYMENT="navius-tuner-controller-manager"

cd "${ROOT}"

need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "$0: $1 is not installed" >&2
		exit 1
	fi
}

# find_kubectl sets KUBECTL: the one given, else kubectl on PATH, else the one
# built from Go modules (built only when neither exists).
find_kubectl() {
	if [[ -n "${KUBECTL:-}" ]]; then
		return
	fi
	if command -v kubectl >/dev/null 2>&1; then
		KUBECTL="$(command -v kubectl)"
		return
	fi
	KUBECTL="${ROOT}/bin/k8s/v1.37.2/kubectl"
	if [[ ! -x "${KUBECTL}" ]]; then
		make --no-print-directory k8s-binaries
	fi
}

# KIND_KUBECONFIG is a private kubeconfig of the kind cluster; the user's is left alone.
KIND_KUBECONFIG="$(mktemp "${TMPDIR:-/tmp}/navius-kind-kubeconfig.XXXXXX")"
trap 'rm -f "${KIND_KUBECONFIG}"' EXIT

cluster_exists() {
	"${KIND}" get clusters | grep -qx "${KIND_CLUSTER}"
}

use_cluster() {
	"${KIND}" get kubeconfig --name "${KIND_CLUSTER}" >"${KIND_KUBECONFIG}"
}

kubectl_kind() {
	"${KUBECTL}" --kubeconfig "${KIND_KUBECONFIG}" "$@"
}

rollout() {
	kubectl_kind -n "$1" rollout status "deployment/$2" --timeout "${TIMEOUT}"
}

deploy() {
	need "${KIND}"
	need "${CONTAINER_TOOL}"
	find_kubectl
	if ! cluster_exists; then
		# --kubeconfig: kind writes the new cluster's credentials there, not
		# into ~/.kube/config, and does not switch the current context.
		"${KIND}" create cluster --name "${KIND_CLUSTER}" --kubeconfig "${KIND_KUBECONFIG}" --wait 2m
	fi
	use_cluster
	make --no-print-directory docker-build IMG="${IMG}" CONTAINER_TOOL="${CONTAINER_TOOL}"
	"${CONTAINER_TOOL}" build -f "${MANIFESTS}/example-service.Dockerfile" -t "${EXAMPLE_IMG}" "${ROOT}"
	"${KIND}" load docker-image "${IMG}" "${EXAMPLE_IMG}" --name "${KIND_CLUSTER}"
	kubectl_kind apply --server-side -f "${MANIFESTS}/metrics-server.yaml" -f "${MANIFESTS}/prometheus.yaml"
	hack/build-tools.sh kustomize
	CHART_DIR="" hack/build-installer.sh "${LOCALBIN:-${ROOT}/bin}/kustomize" "${IMG}" | kubectl_kind apply --server-side -f -
	rollout kube-system metrics-server
	rollout monitoring prometheus
	rollout "${NAMESPACE}" "${DEPLOYMENT}"
}

e2e() {
	need "${KIND}"
	find_kubectl
	use_cluster
	rollout "${NAMESPACE}" "${DEPLOYMENT}"
	rollout monitoring prometheus
	kubectl_kind apply --server-side -f "${MANIFESTS}/example.yaml"
	rollout shop orders-api
	if ! kubectl_kind -n shop wait performanceprofiles.tuning.navius.io/orders-api \
		--for=condition=Ready --timeout "${TIMEOUT}"; then
		kubectl_kind -n shop describe performanceprofiles.tuning.navius.io/orders-api
		kubectl_kind -n "${NAMESPACE}" logs "deployment/${DEPLOYMENT}" --tail 50
		exit 1
	fi
	kubectl_kind -n shop get performanceprofiles.tuning.navius.io,hpa,deployment
}

delete() {
	need "${KIND}"
	"${KIND}" delete cluster --name "${KIND_CLUSTER}" --kubeconfig "${KIND_KUBECONFIG}"
}

case "${1:-}" in
deploy) deploy ;;
e2e) e2e ;;
delete) delete ;;
*)
	echo "usage: $0 deploy|e2e|delete" >&2
	exit 2
	;;
esac
