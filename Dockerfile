# syntax=docker/dockerfile:1
# mcpguard as a static binary on distroless: no shell, no package manager,
# runs as the unprivileged user 65532 (distroless "nonroot", numeric so
# Kubernetes' runAsNonRoot can verify it). The binary uses cgo (tree-sitter
# parses aws___run_script code) and is linked statically against glibc in
# the builder; the final image has no libc at all.
#
# Multi-arch: the builder runs on the build machine's platform and
# cross-compiles for TARGETARCH with Debian's cross toolchains, e.g.
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t mcpguard .
#
# Base images: pin both by digest for a release build, by passing the
# digests the registry reports for the tags below, e.g.
#   --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:<digest> \
#   --build-arg RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:<digest>
# (docs/deploy.md shows how to read them with `docker buildx imagetools inspect`).
# docs/deploy.md explains why the defaults here carry no digest.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG BUILDARCH
# gcc and libc6-dev (libc.a) for the static cgo link; the cross toolchain
# when the target differs from the build machine.
RUN set -eu; \
    pkgs="gcc libc6-dev binutils"; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      case "$TARGETARCH" in \
        amd64) pkgs="$pkgs gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
        arm64) pkgs="$pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
        *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
      esac; \
    fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits reuse the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    CC=gcc; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      case "$TARGETARCH" in \
        amd64) CC=x86_64-linux-gnu-gcc ;; \
        arm64) CC=aarch64-linux-gnu-gcc ;; \
      esac; \
    fi; \
    CGO_ENABLED=1 GOOS="$TARGETOS" GOARCH="$TARGETARCH" CC="$CC" go build -trimpath -tags netgo,osusergo \
      -ldflags "-s -w -X main.version=${VERSION} -linkmode external -extldflags -static" \
      -o /out/mcpguard ./cmd/mcpguard; \
    if readelf -lW /out/mcpguard | grep -q 'program interpreter'; then echo "mcpguard is not static" >&2; exit 1; fi

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mcpguard" \
      org.opencontainers.image.description="Envoy ext_proc security gateway in front of the AWS MCP Server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/mcpguard/mcpguard"
COPY --from=build /out/mcpguard /mcpguard
# 9002: ext_proc gRPC (only Envoy may reach it); 9090: admin (probes, metrics).
EXPOSE 9002 9090
USER 65532:65532
ENTRYPOINT ["/mcpguard"]
CMD ["serve", "--config", "/etc/mcpguard/config.yaml"]
