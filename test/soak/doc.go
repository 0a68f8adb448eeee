// Package soak runs mcpguard under steady mixed traffic for a long time and
// fails if it leaks goroutines or memory or answers anything unexpectedly.
// A real `mcpguard serve` process sits behind envoysim's Envoy stand-in on
// loopback, with the fake IdP, STS and AWS MCP Server of the other tests,
// all started by test/stack (Options.Process);
// 50 simulated users send allowed and denied requests at a fixed rate.
// mcpguard's goroutines and heap are read from its own /metrics, so the
// test process's bookkeeping does not blur them.
//
// It runs only when SOAK_DURATION is set (make soak; SOAK_DURATION=30s for
// a smoke run), never as part of make test. It is test infrastructure:
// nothing in the product imports it.
package soak
