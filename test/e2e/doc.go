// Package e2e runs mcpguard end to end: the official MCP Go SDK client talks
// to envoysim's Envoy stand-in, which consults a real mcpguard over ext_proc
// and forwards signed requests to the fake AWS MCP Server, which verifies
// every signature against the credentials the fake STS issued.
package e2e
