# syntax=docker/dockerfile:1
# Build the manager binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# Reported by `manager --version` and navius_tuner_build_info (make docker-build sets them).
ARG VERSION=dev
ARG REVISION=unknown

WORKDIR /workspace
COPY go.mod go.sum ./
# Only the packages the manager is built from (README.md's "What ships";
# test/install checks this list against the manager's import graph). No
# `go mod download`: go build fetches only the modules those packages import,
# so the image build never downloads the lab's plotting and benchmark code.
COPY api/v1alpha1/ api/v1alpha1/
COPY cmd/manager/ cmd/manager/
COPY controllers/ controllers/
COPY internal/actuate/ internal/actuate/
COPY internal/prom/ internal/prom/
COPY internal/signals/ internal/signals/
COPY internal/conditions/ internal/conditions/
COPY internal/guard/ internal/guard/
COPY internal/period/ internal/period/
COPY internal/tuning/ internal/tuning/
COPY internal/version/ internal/version/

# Static, reproducible: no cgo, no paths, no VCS stamps, stripped.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags="-s -w -buildid= -X github.com/navius-dev/navius-tuner/internal/version.Version=${VERSION} -X github.com/navius-dev/navius-tuner/internal/version.Revision=${REVISION}" \
      -o manager ./cmd/manager

# A distroless base: no shell, no package manager, runs as nonroot (65532).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
