// Package extproc is mcpguard's Envoy external processor: the gRPC
// ExternalProcessor service that Envoy's ext_proc HTTP filter calls once per
// HTTP request. It runs a short per-stream state machine (request headers →
// request body → response headers) that calls narrow stage interfaces
// (Authenticate, Authorize, Credentials, Sign) and turns their outcomes into
// ProcessingResponses.
//
// It holds the one table that maps an mcpguard.Kind to an HTTP status and a
// JSON-RPC error code, and it is the only package that speaks go-control-plane
// types. Domain packages never import it.
//
// Envoy contract followed (envoy.service.ext_proc.v3, Envoy ≥ 1.36; the
// whole of it, with the state machine and the error table, is
// docs/extproc-contract.md):
//   - exactly one ProcessingResponse per ProcessingRequest, of the matching type;
//   - a stream closed with status OK lets the request through untouched, so
//     every denial is an ImmediateResponse with an explicit status and every
//     internal failure is an ImmediateResponse 5xx or a non-OK gRPC status;
//   - header values are set in raw_value only, with OVERWRITE_IF_EXISTS_OR_ADD;
//   - request headers are held by Envoy until the BUFFERED body response, so the
//     SigV4 header mutation is returned in the body response;
//   - host and :authority cannot be mutated: the route's host_rewrite_literal
//     sets them, and mcpguard signs that configured host.
package extproc
