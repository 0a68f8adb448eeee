// Package envoy is mcpguard's Envoy-facing configuration: it generates the
// bootstrap that puts mcpguard's ext_proc filter in front of the signed MCP
// upstream, and it validates any bootstrap (generated or hand-written)
// against Envoy's own API before an operator deploys it.
//
// Configuration is built from go-control-plane's generated structs and
// serialised with protojson; it is never string-templated. Validation parses
// YAML into bootstrap.v3.Bootstrap with protojson, resolves every
// google.protobuf.Any (typed_config) through the protobuf registry, runs the
// protoc-gen-validate rules (ValidateAll) on every message, including the
// ones inside Any, and then applies mcpguard's own rules: the settings whose
// wrong value is a security hole or breaks every request (fail-open
// ext_proc, missing body buffering, a 200 ms message timeout, a route host
// that is not the signing host, a gRPC cluster without HTTP/2, jwt_authn
// stripping the token STS needs).
//
// The package may import config and go-control-plane. It must not import
// extproc or any pipeline stage: it describes Envoy, it does not process
// requests.
//
// Specs followed: Envoy v3 API (go-control-plane envoy v1.40.0, field use
// limited to what Envoy 1.36 implements), the ext_proc filter documentation,
// and protobuf's canonical JSON mapping for YAML ↔ proto conversion.
package envoy
