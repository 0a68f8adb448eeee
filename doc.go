// Package mcpguard holds the vocabulary every stage of the gateway shares:
// the typed error whose Kind decides the HTTP status and JSON-RPC error code a
// client receives. The mapping from Kind to response lives in package extproc
// alone; domain packages only choose the Kind.
//
// This package imports the standard library only, so every other package may
// import it.
package mcpguard
