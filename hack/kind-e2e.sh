#!/usr/bin/env bash
# Runs navius-tuner in a kind cluster (needs Docker, or another engine through
# CONTAINER_TOOL, and kind on PATH).
#
# usage: hack/kind-e2e.sh deploy   create the cluster if missing, build the image, load it, deploy
#        hack/kind-e2e.sh e2e      create a target workload and its HPA, apply the minimal sample
#                                  PerformanceProfile next to them and wait until it is Ready
#        hack/kind-e2e.sh delete   delete the cluster
#
# The sample reads its SLIs from http://prometheus.monitoring:9090: install a
# Prometheus there (e.g. kube-prometheus-stack), or set WAIT_FOR to a weaker
# condition such as "condition=Ready=False" to only check that the manager reconciles.
#
# Environment: KIND_CLUSTER (navius-tuner), IMG (navius-tuner:kind), CONTAINER_TOOL (docker),
# KIND (kind), KUBECTL (bin/k8s/<version>/kubectl, built when missing), TIMEOUT (5m),
# E2E_NAMESPACE (navius-e2e), WAIT_FOR (condition=Ready).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND_CLUSTER="${KIND_CLUSTER:-navius-tuner}"
# A tag other than "latest": kind nodes then use the loaded image (IfNotPresent).
IMG="${IMG:-navius-tuner:kind}"
CONTAINER_TOOL="${CONTAINER_TOOL:-docker}"
KIND="${KIND:-kind}"
KUBECTL="${KUBECTL:-${ROOT}/bin/k8s/v1.37.2/kubectl}"
SAMPLE="${ROOT}/config/samples/tuning_v1alpha1_performanceprofile_minimal.yaml"
TIMEOUT="${TIMEOUT:-5m}"
E2E_NAMESPACE="${E2E_NAMESPACE:-navius-e2e}"
WAIT_FOR="${WAIT_FOR:-condition=Ready}"
NAMESPACE="navius-tuner-system"
DEPLOYMENT="navius-tuner-controller-manager"

cd "${ROOT}"

need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "$0: $1 is not installed" >&2
		exit 1
	fi
}

kubectl_kind() {
	"${KUBECTL}" --context "kind-${KIND_CLUSTER}" "$@"
}

deploy() {
	need "${KIND}"
	need "${CONTAINER_TOOL}"
	if [[ ! -x "${KUBECTL}" ]]; then
		make --no-print-directory k8s-binaries
	fi
	if ! "${KIND}" get clusters | grep -x "${KIND_CLUSTER}" >/dev/null; then
		"${KIND}" create cluster --name "${KIND_CLUSTER}" --wait 2m
	fi
	make --no-print-directory docker-build IMG="${IMG}" CONTAINER_TOOL="${CONTAINER_TOOL}"
	"${KIND}" load docker-image "${IMG}" --name "${KIND_CLUSTER}"
	"${KUBECTL}" config use-context "kind-${KIND_CLUSTER}"
	make --no-print-directory deploy IMG="${IMG}"
	kubectl_kind -n "${NAMESPACE}" rollout status "deployment/${DEPLOYMENT}" --timeout "${TIMEOUT}"
}

# The workload the minimal sample tunes: a Deployment and its HPA, both catalog-api.
target() {
	cat <<EOT
apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalog-api
spec:
  selector:
    matchLabels: {app: catalog-api}
  template:
    metadata:
      labels: {app: catalog-api}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 32Mi}}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: catalog-api
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: catalog-api}
  minReplicas: 2
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
EOT
}

e2e() {
	kubectl_kind -n "${NAMESPACE}" rollout status "deployment/${DEPLOYMENT}" --timeout "${TIMEOUT}"
	kubectl_kind create namespace "${E2E_NAMESPACE}" --dry-run=client -o yaml | kubectl_kind apply -f -
	target | kubectl_kind -n "${E2E_NAMESPACE}" apply -f -
	kubectl_kind -n "${E2E_NAMESPACE}" apply -f "${SAMPLE}"
	if ! kubectl_kind -n "${E2E_NAMESPACE}" wait performanceprofiles.tuning.navius.io/catalog-api \
		--for="${WAIT_FOR}" --timeout "${TIMEOUT}"; then
		kubectl_kind -n "${E2E_NAMESPACE}" describe performanceprofiles.tuning.navius.io/catalog-api
		kubectl_kind -n "${NAMESPACE}" logs "deployment/${DEPLOYMENT}" --tail 50
		exit 1
	fi
	kubectl_kind -n "${E2E_NAMESPACE}" get performanceprofiles.tuning.navius.io
}

delete() {
	need "${KIND}"
	"${KIND}" delete cluster --name "${KIND_CLUSTER}"
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
