package mcp

import (
	"bytes"
	"strconv"

	"github.com/mcpguard/mcpguard"
)

// Default limits. 4 MiB matches common MCP server request limits; 64 levels
// is far deeper than any MCP message needs; 100 messages bounds the work one
// batch can cause.
const (
	DefaultMaxBytes = 4 << 20
	DefaultMaxDepth = 64
	DefaultMaxBatch = 100
)

// maxDepthCeiling caps MaxDepth so that the validator's recursion stays a
// few megabytes of stack whatever the configuration says.
const maxDepthCeiling = 10000

// DefaultLimits returns the limits Parse applies for every zero field of
// the Limits it is given, so configuration can show the effective values.
func DefaultLimits() Limits {
	return Limits{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth, MaxBatch: DefaultMaxBatch}
}

// Limits bound the work and memory one body can cost before any policy
// runs. A zero or negative field takes its default.
type Limits struct {
	// MaxBytes is the largest body accepted; larger bodies are KindTooLarge.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays, the outermost
	// value counting as 1 (so a batch leaves one level less to its
	// messages). Values above 10000 are treated as 10000.
	MaxDepth int
	// MaxBatch is the most messages one batch may hold; a larger batch is
	// KindInvalidRequest with reason "batch_too_large".
	MaxBatch int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepthCeiling)
	if l.MaxBatch <= 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	return l
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// Parse validates a whole HTTP body as JSON-RPC 2.0 and returns its
// messages. It is strict on purpose: mcpguard authorizes what it parsed
// while the upstream server acts on what it parses, so every input two
// parsers might read differently (duplicate keys, invalid UTF-8, lone
// surrogates, out-of-range numbers, case variants of member names) is
// rejected instead of interpreted.
//
// Errors are *mcpguard.Error: KindTooLarge for a body over MaxBytes,
// KindParseError when the body is not strict JSON (JSON-RPC -32700), and
// KindInvalidRequest when it is JSON but not a valid message or batch
// (JSON-RPC -32600). A parse error anywhere wins over an invalid message.
// A batch is rejected whole when any element is invalid: mcpguard fails
// closed rather than forwarding part of a batch.
//
// The raw fields of the returned messages alias data, which the caller
// must not modify afterwards.
func Parse(data []byte, lim Limits) (*Body, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		e := mcpguard.Ef(mcpguard.KindTooLarge, "body larger than %d bytes", lim.MaxBytes)
		e.Reason = "too_large"
		return nil, e
	}
	s := scanner{data: data, maxDepth: lim.MaxDepth}
	if bytes.HasPrefix(data, utf8BOM) {
		return nil, s.fail("bom", "byte order mark", 0)
	}
	s.skipWS()
	if s.pos >= len(data) {
		e := mcpguard.E(mcpguard.KindParseError, "parse error: empty body", nil)
		e.Reason = "empty"
		return nil, e
	}

	var (
		one   members
		batch []members
		count int
		body  = &Body{}
	)
	switch data[s.pos] {
	case '{':
		one.object = true
		if err := s.object(&one); err != nil {
			return nil, err
		}
	case '[':
		body.Batch = true
		var err error
		if batch, count, err = s.batch(lim.MaxBatch); err != nil {
			return nil, err
		}
	default:
		if err := s.value(nil); err != nil {
			return nil, err
		}
	}
	s.skipWS()
	if s.pos != len(data) {
		return nil, s.fail("trailing_data", "data after the JSON value", s.pos)
	}

	if !body.Batch {
		m, err := one.message(-1, lim.MaxDepth)
		if err != nil {
			return nil, err
		}
		body.Messages = []*Message{m}
		return body, nil
	}
	switch {
	case count == 0:
		return nil, invalid("empty_batch", "empty batch")
	case count > lim.MaxBatch:
		return nil, invalid("batch_too_large", "batch has more than "+strconv.Itoa(lim.MaxBatch)+" messages")
	}
	msgs := make([]Message, len(batch))
	body.Messages = make([]*Message, len(batch))
	for i := range batch {
		if err := batch[i].build(&msgs[i], i, lim.MaxDepth); err != nil {
			return nil, err
		}
		body.Messages[i] = &msgs[i]
	}
	return body, nil
}

// batch validates a top-level array, capturing the members of its first
// maxBatch elements and counting all of them.
func (s *scanner) batch(maxBatch int) ([]members, int, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	s.pos++ // '['
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil, 0, nil
	}
	var out []members
	count := 0
	for {
		if s.pos >= len(s.data) {
			return nil, 0, s.eof()
		}
		var sink memberSink
		if count < maxBatch {
			out = append(out, members{})
			m := &out[len(out)-1]
			if s.data[s.pos] == '{' {
				m.object = true
				sink = m
			}
		}
		if err := s.value(sink); err != nil {
			return nil, 0, err
		}
		count++
		s.skipWS()
		if s.pos >= len(s.data) {
			return nil, 0, s.eof()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			s.pos++
			s.depth--
			return out, count, nil
		default:
			return nil, 0, s.unexpected("',' or ']'")
		}
	}
}

// members holds the raw values of one message object. A member that is
// absent stays nil; a present value is never empty.
type members struct {
	object  bool
	jsonrpc []byte
	id      []byte
	method  []byte
	params  []byte
	result  []byte
	error   []byte
	unknown []byte
}

func (m *members) member(key, raw []byte) error {
	switch string(key) {
	case "jsonrpc":
		m.jsonrpc = raw
	case "id":
		m.id = raw
	case "method":
		m.method = raw
	case "params":
		m.params = raw
	case "result":
		m.result = raw
	case "error":
		m.error = raw
	default:
		if m.unknown == nil {
			m.unknown = key
		}
	}
	return nil
}

func invalid(reason, msg string) *mcpguard.Error {
	e := mcpguard.E(mcpguard.KindInvalidRequest, "invalid request: "+msg, nil)
	e.Reason = reason
	return e
}

func (m *members) message(index, maxDepth int) (*Message, error) {
	msg := &Message{}
	if err := m.build(msg, index, maxDepth); err != nil {
		return nil, err
	}
	return msg, nil
}

// build checks the JSON-RPC 2.0 and MCP rules for one message. index is
// the position in a batch, or -1.
func (m *members) build(msg *Message, index, maxDepth int) error {
	fail := func(reason, msg string) error {
		if index >= 0 {
			msg = "batch element " + strconv.Itoa(index) + ": " + msg
		}
		return invalid(reason, msg)
	}
	if !m.object {
		if index >= 0 {
			return fail("not_object", "not a JSON object")
		}
		return fail("not_object", "body must be a JSON object or an array of objects")
	}
	if m.unknown != nil {
		return fail("unknown_member", "unknown member "+quoteShort(m.unknown))
	}
	switch {
	case m.jsonrpc == nil:
		return fail("bad_jsonrpc", `missing member "jsonrpc"`)
	case m.jsonrpc[0] != '"' || string(stringValue(m.jsonrpc)) != "2.0":
		return fail("bad_jsonrpc", `member "jsonrpc" must be "2.0"`)
	}
	idKind := classifyID(m.id)
	switch idKind {
	case idBadNumber, idBad:
		return fail("bad_id", `member "id" must be a string or an integer`)
	}

	if m.method != nil {
		if m.method[0] != '"' {
			return fail("bad_method", `member "method" must be a string`)
		}
		name := stringValue(m.method)
		if len(name) == 0 {
			return fail("bad_method", `member "method" must not be empty`)
		}
		if hasControl(name) {
			return fail("bad_method", `member "method" must not contain control characters`)
		}
		if m.result != nil || m.error != nil {
			return fail("bad_request", `a request must not carry "result" or "error"`)
		}
		if m.params != nil && m.params[0] != '{' && m.params[0] != '[' {
			return fail("bad_params", `member "params" must be an object or an array`)
		}
		if idKind == idNull {
			return fail("bad_id", `member "id" must not be null in a request`)
		}
		msg.Type = TypeNotification
		if m.id != nil {
			msg.Type = TypeRequest
			msg.ID = m.id
		}
		msg.Method = internMethod(name)
		msg.Params = m.params
		return nil
	}

	if m.id == nil && m.result == nil && m.error == nil {
		return fail("bad_method", `missing member "method"`)
	}
	switch {
	case m.params != nil:
		return fail("bad_response", `a response must not carry "params"`)
	case m.id == nil:
		return fail("bad_response", `a response must carry "id"`)
	case (m.result == nil) == (m.error == nil):
		return fail("bad_response", `a response must carry exactly one of "result" and "error"`)
	case idKind == idNull && m.result != nil:
		return fail("bad_id", `member "id" may be null only in an error response`)
	}
	if m.error != nil {
		if err := checkErrorObject(m.error, maxDepth); err != nil {
			return fail("bad_response", err.Error())
		}
	}
	msg.Type = TypeResponse
	msg.ID = m.id
	msg.Result = m.result
	msg.Error = m.error
	return nil
}

type idKind int

const (
	idAbsent idKind = iota
	idString
	idInteger
	idNull
	idBadNumber
	idBad
)

// classifyID sorts a validated id value. MCP requires a string or an
// integer; fractions and exponents are rejected because servers disagree
// on whether 1, 1.0 and 1e0 are the same id.
func classifyID(raw []byte) idKind {
	if raw == nil {
		return idAbsent
	}
	switch c := raw[0]; {
	case c == '"':
		return idString
	case c == 'n':
		return idNull
	case c == '-' || (c >= '0' && c <= '9'):
		if bytes.ContainsAny(raw, ".eE") {
			return idBadNumber
		}
		return idInteger
	}
	return idBad
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// errorMembers collects the members of a JSON-RPC error object.
type errorMembers struct {
	code, message []byte
}

func (e *errorMembers) member(key, raw []byte) error {
	switch string(key) {
	case "code":
		e.code = raw
	case "message":
		e.message = raw
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// checkErrorObject requires the JSON-RPC error object shape: an integer
// code and a string message. Other members (data, and any an upstream adds)
// are kept as they are.
func checkErrorObject(raw []byte, maxDepth int) error {
	if raw[0] != '{' {
		return errString(`member "error" must be an object`)
	}
	var em errorMembers
	s := scanner{data: raw, maxDepth: maxDepth}
	if err := s.object(&em); err != nil {
		return err
	}
	if em.code == nil || classifyID(em.code) != idInteger {
		return errString(`member "error.code" must be an integer`)
	}
	if em.message == nil || em.message[0] != '"' {
		return errString(`member "error.message" must be a string`)
	}
	return nil
}
