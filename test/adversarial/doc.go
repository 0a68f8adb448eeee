// Package adversarial is the standing attack suite: a corpus of small case
// files (cases/*.yaml), each a hostile request — JSON ambiguities, HTTP
// framing and media-type tricks, forged or bent tokens, policy evasions —
// with the outcome mcpguard must produce. The tests run every case through
// envoysim's Envoy stand-in against a real mcpguard (test/stack) and assert
// the status, the JSON-RPC error code, and that the fake AWS MCP Server
// received nothing unless the case expects it. They also check that every
// forwarded body means to the MCP Go SDK exactly what it meant to
// mcpguard's parser (a parser differential would be an authorization
// bypass), and inject faults (IdP, STS, policy files, Envoy streams,
// restarts, clock skew) that must all fail closed.
//
// It is test infrastructure: nothing in the product imports it, and it
// imports mcpguard's packages only to compare their view of a request with
// the upstream's.
package adversarial
