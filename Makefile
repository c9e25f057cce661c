# navius-tuner: keep services inside their latency SLOs by tuning them continuously.

# Image of the manager.
IMG ?= ghcr.io/navius-dev/navius-tuner:dev
# What `manager --version` and navius_tuner_build_info report (internal/version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_PKG = github.com/navius-dev/navius-tuner/internal/version
LDFLAGS ?= -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION)
# Version of the Kubernetes control plane built from Go modules for tests, demo and benchmarks.
K8S_VERSION ?= v1.37.2
KUBEBUILDER_ASSETS ?= $(CURDIR)/bin/k8s/$(K8S_VERSION)
export KUBEBUILDER_ASSETS

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
KUSTOMIZE ?= $(LOCALBIN)/kustomize
ACTIONLINT ?= $(LOCALBIN)/actionlint
HELM ?= $(LOCALBIN)/helm
# The kubectl that install, deploy and their opposites apply with: yours, on PATH.
KUBECTL ?= kubectl
export LOCALBIN
CONTAINER_TOOL ?= docker
KIND_CLUSTER ?= navius-tuner

# Go test flags for every package. RACE_PKGS are the packages where goroutines
# share state (the reconciler and its manager, the example service of the kind
# path, the real service the lab runs on PostgreSQL, the batched Prometheus reader, the process supervisor of the local
# cluster and the node agent that runs pods as processes, the reliability tests that run the manager under faults): they run under -race. The rest is single-goroutine
# simulation and pure decision code, which -race slows 5-10x and cannot check.
GO_TEST_FLAGS ?=
GO_TEST_TIMEOUT ?= 25m
RACE_PKGS ?= ./cmd/manager/... ./cmd/example-service/... ./cmd/real-service/... ./controllers/... ./internal/prom/... ./internal/lab/localcluster/... ./internal/lab/nodeagent/... ./test/reliability/...

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint actionlint ## Run golangci-lint, and actionlint on the GitHub workflows.
	$(GOLANGCI_LINT) run ./...
	$(ACTIONLINT) .github/workflows/*.yaml

.PHONY: verify
verify: ## Fail when generated code, CRDs or go.mod/go.sum are stale.
	hack/verify.sh

.PHONY: test
test: manifests generate vet k8s-binaries helm ## Run every test (unit, envtest, real Prometheus, local-cluster e2e, scenario smoke runs).
	@echo ">> go test -race $(RACE_PKGS)"
	@start=$$SECONDS; go test -race $(GO_TEST_FLAGS) -timeout $(GO_TEST_TIMEOUT) $(RACE_PKGS); \
		echo ">> race packages passed in $$((SECONDS - start))s"
	@echo ">> go test (every other package)"
	@start=$$SECONDS; go test $(GO_TEST_FLAGS) -timeout $(GO_TEST_TIMEOUT) $$(go list ./... | grep -v -x -F -f <(go list $(RACE_PKGS))); \
		echo ">> other packages passed in $$((SECONDS - start))s"

.PHONY: test-short
test-short: ## Run the fast tests only (no control plane).
	go test -short ./...

##@ Build

.PHONY: build
build: ## Build the manager, the kubectl plugin and perfsim binaries into bin/.
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/manager ./cmd/manager
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/kubectl-navius ./cmd/kubectl-navius
	go build -trimpath -o bin/perfsim ./cmd/perfsim

.PHONY: run
run: manifests generate ## Run the manager against the cluster of your current kubeconfig (more flags in RUN_ARGS).
	go run ./cmd/manager $(RUN_FLAGS) $(RUN_ARGS)

# make run serves no metrics and no probes, so that two can run side by side
# and nothing else on the machine has to leave 8443 and 8081 free; RUN_ARGS
# comes after these and wins (RUN_ARGS=--health-probe-bind-address=:8081).
RUN_FLAGS ?= --metrics-bind-address=0 --health-probe-bind-address=0

.PHONY: demo
demo: control-plane build ## Start a local control plane, the operator and a simulated service, and watch it tune.
	bin/perfsim demo $(DEMO_ARGS)

.PHONY: bench
bench: ## Run the tier-A benchmark scenarios (virtual clock) and write docs/benchmarks/.
	go run ./cmd/perfsim bench --out docs/benchmarks $(BENCH_ARGS)
	go test -run '^$$' -bench . -benchmem ./internal/... | tee docs/benchmarks/go-bench.txt

.PHONY: bench-scale
bench-scale: control-plane ## Run B5: the manager with 1k, 5k and 10k profiles on a local API server; write docs/benchmarks/scale-figures.md.
	go test ./test/scale -run TestScale -count=1 -timeout 90m -v -scale.sizes=$(or $(SCALE_SIZES),1000,5000,10000) -scale.out=$(CURDIR)/docs/benchmarks/scale-figures.md

.PHONY: bench-real
bench-real: control-plane build ## Run B8: the operator tunes the lab's real service on PostgreSQL and Redis, idle and with one core busy; write docs/benchmarks/B8-pool.md.
	bin/perfsim bench-real --out docs/benchmarks $(BENCH_ARGS)

.PHONY: bench-cluster
bench-cluster: control-plane build ## Run the tier-B benchmark scenarios on the local cluster (real HPA, real Prometheus).
	bin/perfsim bench-cluster --out docs/benchmarks $(BENCH_ARGS)

.PHONY: docker-build
docker-build: ## Build the manager image (needs a container engine).
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write dist/install.yaml: the CRD and everything the manager needs.
	mkdir -p dist
	hack/build-installer.sh "$(KUSTOMIZE)" "$(IMG)" > dist/install.yaml.tmp
	mv dist/install.yaml.tmp dist/install.yaml

##@ Release

# Where `make release` writes a release's files (gitignored).
RELEASE_DIR ?= _release/$(VERSION)
# Where it stages the build context of the release image (Dockerfile.release).
RELEASE_IMAGE_CONTEXT ?= $(RELEASE_DIR).image
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64
# The platforms of the kubectl plugin's binaries (kubectl-navius, packed for krew).
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
# Where the release's files are downloaded from: the krew manifest names it.
RELEASE_DOWNLOAD ?= https://github.com/navius-dev/navius-tuner/releases/download/$(VERSION)
# The registry repository of the release image; the release's manifests and
# chart run $(IMAGE_REPO):$(VERSION).
IMAGE_REPO ?= ghcr.io/navius-dev/navius-tuner
RELEASE_ENV = VERSION="$(VERSION)" RELEASE_DIR="$(RELEASE_DIR)" RELEASE_IMAGE_CONTEXT="$(RELEASE_IMAGE_CONTEXT)" \
	RELEASE_PLATFORMS="$(RELEASE_PLATFORMS)" PLUGIN_PLATFORMS="$(PLUGIN_PLATFORMS)" RELEASE_DOWNLOAD="$(RELEASE_DOWNLOAD)" \
	IMAGE_REPO="$(IMAGE_REPO)" LDFLAGS="$(LDFLAGS)" \
	KUSTOMIZE="$(KUSTOMIZE)" HELM="$(HELM)"

.PHONY: release
release: kustomize helm ## Write release VERSION=vX.Y.Z into RELEASE_DIR: CRDs, manager manifests, chart, binaries, kubectl plugin and krew manifest, SBOM, SHA256SUMS; stage the image context.
	$(RELEASE_ENV) hack/release.sh build

.PHONY: release-files
release-files: ## Print the names of the files `make release` writes (the release workflow uploads them).
	@$(RELEASE_ENV) hack/release.sh files

.PHONY: release-image
release-image: ## Build the release image IMAGE_REPO:VERSION for this machine's platform from what `make release` staged.
	$(CONTAINER_TOOL) build --build-arg TARGETOS=linux --build-arg TARGETARCH=$$(go env GOARCH) -t $(IMAGE_REPO):$(VERSION) $(RELEASE_IMAGE_CONTEXT)

##@ Deployment

# These apply with the kubectl on your PATH (KUBECTL) and render with the
# pinned kustomize, built from Go modules on first use: no control plane is built.

.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster of your current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: kustomize ## Remove the CRD (and every PerformanceProfile) from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the manager with image IMG to the cluster of your current kubeconfig.
	CHART_DIR= hack/build-installer.sh "$(KUSTOMIZE)" "$(IMG)" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the manager; the CRD and the profiles stay (make uninstall removes them), the workloads it tuned stay as they are.
	CHART_DIR= hack/build-installer.sh "$(KUSTOMIZE)" "$(IMG)" config/release | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: kind-deploy
kind-deploy: ## Build the manager and example-service images, load them into a kind cluster, deploy with metrics-server and Prometheus (needs Docker and kind; then hack/kind-e2e.sh e2e).
	hack/kind-e2e.sh deploy

##@ Tools

.PHONY: k8s-binaries
k8s-binaries: ## Build the control plane plus kubectl and promtool, which the tests use, from Go modules (first time: minutes).
	@hack/build-tools.sh control-plane test-tools

.PHONY: control-plane
control-plane: ## Build only what the local cluster runs: etcd, kube-apiserver, controller-manager, scheduler, kwok, Prometheus.
	@hack/build-tools.sh control-plane

.PHONY: controller-gen
controller-gen: ## Build controller-gen into bin/.
	@hack/build-tools.sh controller-gen

.PHONY: golangci-lint
golangci-lint: ## Build golangci-lint into bin/.
	@hack/build-tools.sh golangci-lint

.PHONY: helm
helm: ## Build helm into bin/ (the chart tests render and lint dist/chart with it).
	@hack/build-tools.sh helm

.PHONY: kustomize
kustomize: ## Build kustomize into bin/ (renders config/ for build-installer, deploy and release).
	@hack/build-tools.sh kustomize

.PHONY: actionlint
actionlint: ## Build actionlint into bin/ (make lint checks .github/workflows with it).
	@hack/build-tools.sh actionlint
