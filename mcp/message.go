package mcp

import "encoding/json"

// Type tells the three kinds of JSON-RPC 2.0 message apart.
type Type int

// The JSON-RPC 2.0 message types.
const (
	// TypeRequest has a method and an id and expects a response.
	TypeRequest Type = iota + 1
	// TypeNotification has a method and no id.
	TypeNotification
	// TypeResponse has an id and exactly one of result or error.
	TypeResponse
)

// String names the type for logs and audit records.
func (t Type) String() string {
	switch t {
	case TypeRequest:
		return "request"
	case TypeNotification:
		return "notification"
	case TypeResponse:
		return "response"
	}
	return "unknown"
}

// Message is one JSON-RPC 2.0 message as it was received. Raw fields keep
// the exact bytes so nothing is re-encoded between the decision and what is
// forwarded.
type Message struct {
	Type Type
	// ID is the raw JSON of the id member (a string or number), nil for
	// notifications. It is echoed verbatim in error responses.
	ID json.RawMessage
	// Method is the method name of a request or notification.
	Method string
	// Params is the raw JSON of params, nil when absent.
	Params json.RawMessage
	// Result and Error are the raw members of a response.
	Result json.RawMessage
	Error  json.RawMessage

	// The decoded tools/call params, computed on first use.
	toolCall     *ToolCall
	toolCallErr  error
	toolCallDone bool

	// The top-level members of Params, scanned on first use
	// (paramIndex): every accessor of params reads them.
	index     []rawMember
	indexOK   bool
	indexDone bool
}

// Body is a whole HTTP request or response body: one message, or a batch.
type Body struct {
	Messages []*Message
	// Batch is true when the body was a JSON array, even of one element.
	Batch bool
}
