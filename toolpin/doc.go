// Package toolpin pins the tool definitions an upstream MCP server lists,
// so a definition that changes after it was first seen (a rug pull: new
// instructions in a description, a wider input schema, a new output
// schema) is noticed, and in enforce mode kept from the model until an
// operator approves it.
//
// A pin covers the whole tool object as the upstream sent it: every member
// (name, title, description, inputSchema, outputSchema, annotations, _meta,
// icons and any member a later revision adds), in a canonical JSON form
// (object keys sorted at every depth, no insignificant whitespace, numbers
// exactly as written), hashed with SHA-256. Pins are keyed by upstream and
// tool name, so two upstreams that both offer a tool of one name never
// share a pin. Two tools of one name in one list make the whole list fail:
// a client could not know which definition it runs.
//
// The Store is a JSON file shared by the gateway (which records what lists
// show) and `mcpguard tools approve` (which approves changes); it keeps the
// canonical definitions themselves, so the operator sees what they approve.
// A Guard applies a mode to a store; extproc calls Guard.List for each
// tools/list response and Guard.CheckCall for each tools/call.
//
// toolpin imports the standard library, the root mcpguard package (errors)
// and mcp (strict JSON decoding) only; it must not import extproc.
package toolpin
