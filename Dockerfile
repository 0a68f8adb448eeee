# syntax=docker/dockerfile:1
# mcpguard as a static binary on distroless: no shell, no package manager,
# runs as the unprivileged "nonroot" user (65532). Build with
#   docker build --build-arg VERSION=$(git describe --tags --always) -t mcpguard .

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so source edits reuse the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mcpguard ./cmd/mcpguard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mcpguard /mcpguard
# 9002: ext_proc gRPC (only Envoy may reach it); 9090: admin (probes, metrics).
EXPOSE 9002 9090
USER nonroot:nonroot
ENTRYPOINT ["/mcpguard"]
CMD ["serve", "--config", "/etc/mcpguard/config.yaml"]
