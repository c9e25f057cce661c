#!/usr/bin/env bash
# Prints the single-file installer (config/default rendered with kustomize) with
# the manager image set to IMG, and refreshes the copies of the CRD, of the
# generated manager ClusterRole, of the alerts and of the Grafana dashboard that
# the Helm chart in dist/chart carries (a chart cannot read files outside its
# directory). The CRD goes to files/crds/, which templates/crds.yaml renders
# (crds.install, crds.keep), not to crds/, which Helm never upgrades.
#
# usage: hack/build-installer.sh KUSTOMIZE IMG [KUSTOMIZATION] > dist/install.yaml
#
# KUSTOMIZE is the kustomize binary that hack/build-tools.sh builds from its
# pinned module, so the output does not depend on the kubectl of the machine.
# KUSTOMIZATION (default config/default) is the directory rendered; it must
# hold the manager's Deployment. CHART_DIR (default dist/chart) is where the
# chart's copies go; set it empty to leave the chart alone (make release).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
	echo "usage: $0 KUSTOMIZE IMG [KUSTOMIZATION]" >&2
	exit 2
fi
KUSTOMIZE="$1"
IMG="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUSTOMIZATION="${3:-${ROOT}/config/default}"
CHART_DIR="${CHART_DIR-${ROOT}/dist/chart}"

# The image config/manager/kustomization.yaml sets (the Makefile's default IMG).
DEFAULT_IMG="ghcr.io/navius-dev/navius-tuner:dev"

rendered="$("${KUSTOMIZE}" build "${KUSTOMIZATION}")"
count="$(grep -c "^ *image: ${DEFAULT_IMG}\$" <<<"${rendered}" || true)"
if [[ "${count}" != "1" ]]; then
	echo "$0: expected exactly one 'image: ${DEFAULT_IMG}' in ${KUSTOMIZATION}, found ${count}: keep config/manager/kustomization.yaml and this script in step" >&2
	exit 1
fi

if [[ -n "${CHART_DIR}" ]]; then
	mkdir -p "${CHART_DIR}/files/crds"
	cp "${ROOT}"/config/crd/bases/*.yaml "${CHART_DIR}/files/crds/"
	cp "${ROOT}/config/rbac/role.yaml" "${CHART_DIR}/files/manager-role.yaml"
	cp "${ROOT}/config/prometheus/rules.yaml" "${CHART_DIR}/files/prometheus-rule.yaml"
	cp "${ROOT}/config/grafana/navius-tuner.json" "${CHART_DIR}/files/navius-tuner.json"
fi

# A fixed string, not a pattern: IMG may hold '/', ':', '@' or '.'.
while IFS= read -r line; do
	if [[ "${line}" =~ ^(\ *)image:\ (.*)$ && "${BASH_REMATCH[2]}" == "${DEFAULT_IMG}" ]]; then
		printf '%simage: %s\n' "${BASH_REMATCH[1]}" "${IMG}"
	else
		printf '%s\n' "${line}"
	fi
done <<<"${rendered}"
