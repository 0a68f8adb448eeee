// Package envoysim plays Envoy's ext_proc HTTP filter
// (envoy.filters.http.ext_proc, Envoy 1.36 semantics) and a minimal HTTP front
// end around it, so that tests and the local quickstart can drive a real
// mcpguard gRPC server without an Envoy binary.
//
// It is test infrastructure that must be exact: every behaviour follows a
// proto comment or a line of Envoy source, and each has a test that cites
// it (docs/extproc-contract.md says which of them mcpguard relies on). The
// sources are
// api/envoy/service/ext_proc/v3/external_processor.proto,
// api/envoy/extensions/filters/http/ext_proc/v3/{ext_proc,processing_mode}.proto,
// api/envoy/config/core/v3/base.proto and, in envoyproxy/envoy,
// source/extensions/filters/http/ext_proc/{ext_proc.cc,processor_state.cc,mutation_utils.cc}
// and source/extensions/filters/common/mutation_rules/mutation_rules.cc.
//
// Simulated: request_header_mode/response_header_mode SEND and SKIP;
// request_body_mode/response_body_mode NONE and BUFFERED; mode_override
// (allow_mode_override, allowed_override_modes, DEFAULT header modes keep the
// configured value); message_timeout (default 200 ms), max_message_timeout with
// override_message_timeout; failure_mode_allow; status_on_error;
// mutation_rules; forward_rules; request_attributes/response_attributes;
// metadata_options forwarding and receiving namespaces (untyped);
// disable_immediate_response; CONTINUE_AND_REPLACE; ImmediateResponse;
// per_connection_buffer_limit_bytes (413/500); ImmediateResponse headers
// checked against mutation_rules (Envoy 1.36+); request trailers with
// request_trailer_mode SKIP (the body sent without end_of_stream); the
// connection manager's x-request-id, x-envoy-internal and source.address
// (FrontConfig.InternalAddresses, PreserveExternalRequestID); a response body mode
// override to STREAMED (each upstream chunk in its own response_body
// message, body mutations replace it, header mutations are ignored, a local
// reply resets the stream). New rejects STREAMED as the configured mode, and
// BUFFERED_PARTIAL, FULL_DUPLEX_STREAMED and GRPC body modes, trailer SEND,
// observability_mode, http_service and the extension hooks, rather than
// silently doing something Envoy would not. Dial opens the channel of the
// ext_proc cluster, plaintext or with an UpstreamTlsContext's client
// certificate and server verification.
//
// Envoy is event driven; the simulator is sequential. A message the processor
// sends while no answer is outstanding is handled at the next point where the
// filter talks to the processor (before the next message or the response
// phase), which gives the client the same reply Envoy would.
//
// The package must not import mcpguard's own packages: it is a stand-in for
// Envoy and knows only Envoy's API (go-control-plane) and gRPC.
package envoysim
