// Package gateway assembles a validated configuration into a running
// mcpguard: the ext_proc gRPC server (with the standard grpc.health.v1
// service) and the admin HTTP server (/healthz, /readyz, /metrics, RFC 9728
// metadata). The CLI, the local quickstart and the end-to-end tests share it,
// so all three run exactly the same wiring.
//
// It imports every domain package and extproc; nothing imports it but
// cmd/mcpguard, examples and tests.
package gateway
