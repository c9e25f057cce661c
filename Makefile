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
KUBECTL ?= $(KUBEBUILDER_ASSETS)/kubectl
CONTAINER_TOOL ?= docker
KIND_CLUSTER ?= navius-tuner

# Go test flags for every package. RACE_PKGS are the packages where goroutines
# share state (the reconciler and its manager, the example service of the kind
# path, the batched Prometheus reader, the process supervisor of the local
# cluster, the reliability tests that run the manager under faults): they run under -race. The rest is single-goroutine
# simulation and pure decision code, which -race slows 5-10x and cannot check.
GO_TEST_FLAGS ?=
GO_TEST_TIMEOUT ?= 25m
RACE_PKGS ?= ./cmd/manager/... ./cmd/example-service/... ./controllers/... ./internal/prom/... ./internal/lab/localcluster/... ./test/reliability/...

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
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

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
build: ## Build the manager and perfsim binaries into bin/.
	go build -trimpath -ldflags "$(LDFLAGS)" -o bin/manager ./cmd/manager
	go build -trimpath -o bin/perfsim ./cmd/perfsim

.PHONY: run
run: manifests generate ## Run the manager against the cluster of your current kubeconfig (more flags in RUN_ARGS).
	go run ./cmd/manager $(RUN_ARGS)

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
build-installer: manifests generate k8s-binaries ## Write dist/install.yaml: the CRD and everything the manager needs.
	mkdir -p dist
	cd config/manager && $(KUBECTL) kustomize . >/dev/null
	hack/build-installer.sh "$(KUBECTL)" "$(IMG)" > dist/install.yaml

##@ Deployment

.PHONY: install
install: manifests k8s-binaries ## Install the CRD into the cluster of your current kubeconfig.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: k8s-binaries ## Remove the CRD (and every PerformanceProfile) from the cluster.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests k8s-binaries ## Deploy the manager with image IMG to the cluster of your current kubeconfig.
	hack/build-installer.sh "$(KUBECTL)" "$(IMG)" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: k8s-binaries ## Remove the manager (the workloads it tuned stay as they are).
	hack/build-installer.sh "$(KUBECTL)" "$(IMG)" | $(KUBECTL) delete --ignore-not-found -f -

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
