// Package stack starts the whole mcpguard flow on loopback: the fake OIDC
// identity provider, the fake STS, the fake AWS MCP Server, a real mcpguard
// (through package gateway) and envoysim's Envoy stand-in in front. The
// end-to-end tests and the local quickstart both use it, so the quickstart
// shows exactly what the tests prove.
//
// It is test infrastructure: nothing in the product imports it.
package stack
