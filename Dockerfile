# Build the manager binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# Reported by `manager --version` and navius_tuner_build_info (make docker-build sets them).
ARG VERSION=dev
ARG REVISION=unknown

WORKDIR /workspace
# Copy the module files first so the dependency layer is cached across code changes.
COPY go.mod go.sum ./
RUN go mod download

COPY api/ api/
COPY cmd/manager/ cmd/manager/
COPY controllers/ controllers/
COPY internal/ internal/

# Static, reproducible: no cgo, no paths, no VCS stamps, stripped.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags="-s -w -buildid= -X github.com/navius-dev/navius-tuner/internal/version.Version=${VERSION} -X github.com/navius-dev/navius-tuner/internal/version.Revision=${REVISION}" \
      -o manager ./cmd/manager

# A distroless base: no shell, no package manager, runs as nonroot (65532).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
