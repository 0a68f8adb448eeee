// Package mcp parses MCP messages strictly: JSON-RPC 2.0 requests,
// notifications, responses and batches, and the params policy decides on
// (tools/call, prompts/get, resources/read, initialize).
//
// Strictness is the point. mcpguard authorizes the message it parsed, and
// the upstream server executes the message it parses from the same bytes;
// any input two JSON parsers may read differently is a way to show policy
// one request and run another. So Parse rejects, beyond RFC 8259 grammar,
// duplicate object names at any depth (RFC 8259 §4 leaves their meaning
// undefined; names compare after unescaping), invalid UTF-8 and escapes of
// lone UTF-16 surrogates (RFC 8259 §8.1–8.2), numbers outside float64
// (RFC 8259 §6), a byte order mark, and trailing data; the params decoders
// also reject member names that differ only in case, which
// case-insensitive decoders would merge.
//
// Specifications followed: JSON-RPC 2.0 (https://www.jsonrpc.org/specification),
// RFC 8259, and the MCP basic protocol, revision 2025-06-18
// (https://modelcontextprotocol.io/specification/2025-06-18/basic): ids are
// strings or integers and never null in requests; params is an object (an
// array is accepted as JSON-RPC allows). That revision removed JSON-RPC
// batching; Parse still accepts batches, as 2025-03-26 clients send them,
// and marks them in Body.Batch so the caller may refuse them.
//
// The scanner is single-pass and linear in the input; nesting is bounded
// by Limits.MaxDepth before it can exhaust the stack. Raw members of a
// parsed message alias the input bytes, which are forwarded unchanged.
//
// Responses are read as strictly. FilterListResponse removes the items a
// caller rejects from a tools/list, prompts/list, resources/list or
// resources/templates/list result, in application/json or in a
// text/event-stream body (ParseSSE and WriteSSE follow the WHATWG HTML
// "server-sent events" interpretation,
// https://html.spec.whatwg.org/multipage/server-sent-events.html), and fails
// closed on anything it cannot read exactly. Tool pinning lives in
// package toolpin.
//
// This package imports the standard library and the root mcpguard package
// (for the error type) only; it must not import extproc, authz or any
// package that imports it.
package mcp
