# syntax=docker/dockerfile:1
# mcpguard as a static binary on distroless: no shell, no package manager,
# runs as the unprivileged "nonroot" user (65532). The binary uses cgo
# (tree-sitter parses aws___run_script code) and is linked statically
# against glibc in the builder, whose Debian image has gcc and libc6-dev
# (libc.a); the final image has no libc at all. Build with
#   docker build --build-arg VERSION=$(git describe --tags --always) -t mcpguard .

FROM golang:1.26 AS build
# The Debian-based Go image ships these already; naming them keeps the
# static cgo link working if the image ever slims down.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits reuse the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
      -ldflags "-s -w -X main.version=${VERSION} -linkmode external -extldflags -static" \
      -o /out/mcpguard ./cmd/mcpguard \
 && if readelf -lW /out/mcpguard | grep -q 'program interpreter'; then echo "mcpguard is not static" >&2; exit 1; fi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mcpguard /mcpguard
# 9002: ext_proc gRPC (only Envoy may reach it); 9090: admin (probes, metrics).
EXPOSE 9002 9090
USER nonroot:nonroot
ENTRYPOINT ["/mcpguard"]
CMD ["serve", "--config", "/etc/mcpguard/config.yaml"]
