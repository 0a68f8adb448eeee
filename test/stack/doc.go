// Package stack starts the whole mcpguard flow on loopback: the fake OIDC
// identity provider, the fake STS, the fake AWS MCP Server, a real mcpguard
// (through package gateway) and envoysim's Envoy stand-in in front. The
// end-to-end tests and the local quickstart both use it, so the quickstart
// shows exactly what the tests prove. With Options.Process mcpguard runs
// instead as its own `mcpguard serve` process from the configuration the
// stack writes, for the load and soak runs that measure it (test/load,
// test/soak).
//
// It is test infrastructure: nothing in the product imports it.
package stack
