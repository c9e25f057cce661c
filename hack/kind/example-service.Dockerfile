# The example service of hack/kind-e2e.sh (cmd/example-service), built as the
# manager's Dockerfile builds the manager, on an empty base.
# Build from the repository root:
#   docker build -f hack/kind/example-service.Dockerfile -t navius-example-service:kind .
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
COPY go.mod go.sum ./
COPY cmd/example-service/ cmd/example-service/

# Static, reproducible: no cgo, no paths, no VCS stamps, stripped. `go build`
# downloads only the modules this command imports.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o example-service ./cmd/example-service

# Nothing but the binary: it needs no shell, no CA bundle (plain HTTP) and no user database.
FROM scratch
COPY --from=builder /workspace/example-service /example-service
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/example-service"]
