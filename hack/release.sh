#!/usr/bin/env bash
# Writes the files of a release into RELEASE_DIR, and stages the build context
# of its image (Dockerfile.release, FROM scratch) into RELEASE_IMAGE_CONTEXT.
# `make release VERSION=vX.Y.Z` runs it; .github/workflows/release.yaml
# uploads exactly the files `hack/release.sh files` names.
#
# usage: hack/release.sh files   print the names of the release's files, one a line
#        hack/release.sh build   write them
#
# Environment (the Makefile sets each): VERSION (vX.Y.Z or vX.Y.Z-pre),
# RELEASE_DIR, RELEASE_IMAGE_CONTEXT, RELEASE_PLATFORMS ("linux/amd64
# linux/arm64"), PLUGIN_PLATFORMS (those of the kubectl plugin, darwin too),
# IMAGE_REPO (the release's manifests and chart run IMAGE_REPO:VERSION),
# RELEASE_DOWNLOAD (the URL the release's files are downloaded from, which
# the krew manifest names), LDFLAGS (the version stamps), KUSTOMIZE, HELM.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

VERSION="${VERSION:?VERSION=vX.Y.Z is required}"
if [[ ! "${VERSION}" =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "$0: VERSION=${VERSION} is not a release version (vMAJOR.MINOR.PATCH, optionally -PRERELEASE)" >&2
	exit 2
fi
# Helm charts are versioned without the v; the image tag and appVersion keep it.
CHART_VERSION="${VERSION#v}"
RELEASE_PLATFORMS="${RELEASE_PLATFORMS:-linux/amd64 linux/arm64}"
PLUGIN_PLATFORMS="${PLUGIN_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"

# files prints the release's files: the one list the Makefile and the release
# workflow's test read.
files() {
	echo "navius-tuner.crds.yaml"
	echo "navius-tuner.yaml"
	echo "navius-tuner-${CHART_VERSION}.tgz"
	local p
	for p in ${RELEASE_PLATFORMS}; do
		echo "navius-tuner-manager-${p%/*}-${p#*/}"
	done
	# The kubectl plugin, packed for krew (hack/krew), and its krew manifest.
	for p in ${PLUGIN_PLATFORMS}; do
		echo "kubectl-navius-${p%/*}-${p#*/}.tar.gz"
	done
	echo "krew-navius.yaml"
	echo "navius-tuner.spdx.json"
	echo "SHA256SUMS"
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$@"
	else
		shasum -a 256 "$@"
	fi
}

# ca_bundle prints the path of the build machine's CA bundle, which the image carries.
ca_bundle() {
	local f
	for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
		if [[ -s "${f}" ]]; then
			echo "${f}"
			return 0
		fi
	done
	echo "$0: no CA bundle found (Debian: apt-get install ca-certificates)" >&2
	return 1
}

build() {
	: "${RELEASE_DIR:?}" "${RELEASE_IMAGE_CONTEXT:?}" "${IMAGE_REPO:?}" "${KUSTOMIZE:?}" "${HELM:?}"
	local out="${RELEASE_DIR}" ctx="${RELEASE_IMAGE_CONTEXT}"
	rm -rf "${out}" "${ctx}"
	mkdir -p "${out}" "${ctx}"
	echo ">> release ${VERSION} into ${out}"

	# The CRD apart from the manager: uninstalling the manager keeps every profile.
	"${KUSTOMIZE}" build config/crd >"${out}/navius-tuner.crds.yaml"
	CHART_DIR="" hack/build-installer.sh "${KUSTOMIZE}" "${IMAGE_REPO}:${VERSION}" config/release >"${out}/navius-tuner.yaml"

	# The chart, versioned as the release; its image tag defaults to appVersion.
	local helm_home
	helm_home="$(mktemp -d)"
	HELM_CACHE_HOME="${helm_home}/cache" HELM_CONFIG_HOME="${helm_home}/config" HELM_DATA_HOME="${helm_home}/data" \
		"${HELM}" package dist/chart --version "${CHART_VERSION}" --app-version "${VERSION}" --destination "${out}" >/dev/null
	rm -rf "${helm_home}"

	# Static, reproducible binaries: no cgo, no paths, no VCS stamps, stripped;
	# the version and revision through the Makefile's LDFLAGS.
	local p os arch bin first=""
	for p in ${RELEASE_PLATFORMS}; do
		os="${p%/*}" arch="${p#*/}"
		bin="${out}/navius-tuner-manager-${os}-${arch}"
		echo ">> go build ${p}"
		CGO_ENABLED=0 GOOS="${os}" GOARCH="${arch}" go build -trimpath -buildvcs=false \
			-ldflags "-s -w -buildid= ${LDFLAGS:-}" -o "${bin}" ./cmd/manager
		mkdir -p "${ctx}/${os}/${arch}"
		cp "${bin}" "${ctx}/${os}/${arch}/manager"
		first="${first:-${bin}}"
	done

	# The kubectl plugin, built the same way, packed for krew with its
	# manifest (hack/krew).
	local plugins="${out}.plugin" packed=()
	rm -rf "${plugins}"
	mkdir -p "${plugins}"
	for p in ${PLUGIN_PLATFORMS}; do
		os="${p%/*}" arch="${p#*/}"
		bin="${plugins}/kubectl-navius-${os}-${arch}"
		echo ">> go build kubectl-navius ${p}"
		CGO_ENABLED=0 GOOS="${os}" GOARCH="${arch}" go build -trimpath -buildvcs=false \
			-ldflags "-s -w -buildid= ${LDFLAGS:-}" -o "${bin}" ./cmd/kubectl-navius
		packed+=("${p}=${bin}")
	done
	go run ./hack/krew -version "${VERSION}" -download "${RELEASE_DOWNLOAD:-https://github.com/navius-dev/navius-tuner/releases/download/${VERSION}}" \
		-out "${out}" "${packed[@]}"
	rm -rf "${plugins}"

	# The module graph of the manager, from the binary itself. Dated by the
	# commit, so that one commit gives one document.
	SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" \
		go run ./hack/sbom -name navius-tuner -version "${VERSION}" "${first}" >"${out}/navius-tuner.spdx.json"

	local names=()
	while IFS= read -r f; do
		[[ "${f}" == SHA256SUMS ]] || names+=("${f}")
	done < <(files)
	(cd "${out}" && sha256 "${names[@]}" >SHA256SUMS)

	# The image's build context: the binaries per platform, the CA bundle and
	# a passwd and group with the non-root user the image runs as.
	cp Dockerfile.release "${ctx}/Dockerfile"
	cp "$(ca_bundle)" "${ctx}/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"${ctx}/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"${ctx}/group"

	local want got
	want="$(files | sort)"
	got="$(for f in "${out}"/*; do basename "${f}"; done | sort)"
	if [[ "${want}" != "${got}" ]]; then
		echo "$0: ${out} holds other files than the release's list:" >&2
		diff <(echo "${want}") <(echo "${got}") >&2 || true
		exit 1
	fi
	echo ">> wrote ${out}:"
	files | sed 's/^/     /'
	echo ">> staged the image context ${ctx} (docker build ${ctx})"
}

case "${1:-}" in
files) files ;;
build) build ;;
*)
	echo "usage: $0 files|build" >&2
	exit 2
	;;
esac
