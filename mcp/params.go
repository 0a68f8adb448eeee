package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcpguard/mcpguard"
)

// ToolCall is the part of tools/call params that policy decides on.
type ToolCall struct {
	// Name is the tool name, never empty.
	Name string
	// Arguments are the tool arguments with numbers as json.Number, so
	// Cedar sees the exact values the client sent; nil when absent.
	Arguments map[string]any
	// RawArguments is params.arguments exactly as sent (it decodes to
	// Arguments), nil when absent. It aliases the message body.
	RawArguments []byte
	// Meta is params._meta, nil when absent.
	Meta map[string]any
}

// PromptGet is the part of prompts/get params that policy decides on.
type PromptGet struct {
	Name string
	// Arguments should hold strings per MCP, but any JSON value is kept so
	// that policy sees what the server will see; nil when absent.
	Arguments map[string]any
	Meta      map[string]any
}

// ResourceRead is the part of resources/read params that policy decides on.
type ResourceRead struct {
	URI  string
	Meta map[string]any
}

// Completion is the part of completion/complete params that policy decides
// on: what the completion is about. A completion of a prompt's argument
// reveals values of that prompt, one of a resource template's variable
// values under that template, so it is authorized on that prompt or
// resource rather than on the server.
type Completion struct {
	// RefType is params.ref.type: RefPrompt or RefResource.
	RefType string
	// Name is the prompt name of a RefPrompt reference.
	Name string
	// URI is the resource URI or URI template of a RefResource reference.
	URI string
	// Argument is params.argument.name, the argument being completed.
	Argument string
}

// The reference types of completion/complete (MCP 2025-06-18 and later;
// 2025-03-26 called the resource reference "ref/resource" too).
const (
	RefPrompt   = "ref/prompt"
	RefResource = "ref/resource"
)

// paramMembers picks named members out of a params object. It rejects a
// member whose name equals a wanted one only under case folding: Go's
// encoding/json, among others, matches struct fields case-insensitively and
// keeps the last match, so {"name":"a","NAME":"b"} would show policy one
// tool and the server another.
type paramMembers struct {
	names []string
	vals  [][]byte
}

func (p *paramMembers) member(key, raw []byte) error {
	for i, n := range p.names {
		if string(key) == n {
			p.vals[i] = raw
			return nil
		}
		if bytes.EqualFold(key, []byte(n)) {
			return invalid("bad_params", "params member "+quoteShort(key)+" differs from "+quoteShort([]byte(n))+" only in case")
		}
	}
	return nil
}

// rawMember is one member of an object as the scanner hands it to a sink.
type rawMember struct{ key, raw []byte }

// memberList is a sink that keeps every member, in order; params of up to
// four members (every MCP method's) fit in the one allocation of the list.
type memberList struct {
	members []rawMember
	small   [4]rawMember
}

func (l *memberList) member(key, raw []byte) error {
	l.members = append(l.members, rawMember{key, raw})
	return nil
}

// paramIndex returns the top-level members of m.Params, an object, in
// order, scanning it on the first call only: the era checks, the tool
// call's decoding and the audit each read params. ok is false when params
// did not scan whole (only a Message that Parse did not build can hold
// such params); callers then scan as before, so that every error, and
// which one comes first, stays exactly what a scan with their own sink
// gives. Reading the index with a sink makes the very calls the scan
// would: the same members, in the same order, after the same validation.
func (m *Message) paramIndex() ([]rawMember, bool) {
	if !m.indexDone {
		m.indexDone = true
		l := &memberList{}
		l.members = l.small[:0]
		s := scanner{data: m.Params, maxDepth: maxDepthCeiling}
		if err := s.object(l); err == nil && s.pos == len(m.Params) {
			m.index, m.indexOK = l.members, true
		}
	}
	return m.index, m.indexOK
}

// params validates m.Params as an object and returns the raw values of
// names, nil for each one absent.
func (m *Message) params(method string, names ...string) ([][]byte, error) {
	if m.Method != method {
		return nil, mcpguard.E(mcpguard.KindInternal, "internal error", fmt.Errorf("decode %s params of a %q message", method, m.Method))
	}
	if len(m.Params) == 0 {
		return nil, invalid("bad_params", method+" requires params")
	}
	if m.Params[0] != '{' {
		return nil, invalid("bad_params", method+" params must be an object")
	}
	if ix, ok := m.paramIndex(); ok {
		p := paramMembers{names: names, vals: make([][]byte, len(names))}
		for _, mb := range ix {
			if err := p.member(mb.key, mb.raw); err != nil {
				return nil, err
			}
		}
		return p.vals, nil
	}
	return scanParams(m.Params, names)
}

// scanParams is params without an index: a scan of params with the sink.
func scanParams(params []byte, names []string) ([][]byte, error) {
	p := paramMembers{names: names, vals: make([][]byte, len(names))}
	s := scanner{data: params, maxDepth: maxDepthCeiling}
	if err := s.object(&p); err != nil {
		return nil, err
	}
	if s.pos != len(params) {
		return nil, s.fail("trailing_data", "data after params", s.pos)
	}
	return p.vals, nil
}

// name decodes a required, non-empty string member without control
// characters.
func nameMember(method, member string, raw []byte) (string, error) {
	if raw == nil || raw[0] != '"' {
		return "", invalid("bad_params", method+" params."+member+" must be a string")
	}
	v := stringValue(raw)
	if len(v) == 0 {
		return "", invalid("bad_params", method+" params."+member+" must not be empty")
	}
	if hasControl(v) {
		return "", invalid("bad_params", method+" params."+member+" must not contain control characters")
	}
	return string(v), nil
}

// objectMember decodes an optional object member; nil when absent.
func objectMember(method, member string, raw []byte) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid("bad_params", method+" params."+member+" must be an object")
	}
	v := buildValue(raw)
	if err := checkFoldedKeys(v); err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// ToolCall decodes the params of a tools/call message. Calling it on any
// other method is a programming error and yields KindInternal.
//
// The result is decoded once per message and shared by every caller
// (policy, pinning, audit, tracing), so callers must not modify it. A
// Message belongs to one request and is not used concurrently.
func (m *Message) ToolCall() (*ToolCall, error) {
	if !m.toolCallDone {
		m.toolCall, m.toolCallErr = m.decodeToolCall()
		m.toolCallDone = true
	}
	return m.toolCall, m.toolCallErr
}

func (m *Message) decodeToolCall() (*ToolCall, error) {
	v, err := m.params(MethodToolsCall, "name", "arguments", "_meta")
	if err != nil {
		return nil, err
	}
	tc := &ToolCall{}
	if tc.Name, err = nameMember(MethodToolsCall, "name", v[0]); err != nil {
		return nil, err
	}
	if tc.Arguments, err = objectMember(MethodToolsCall, "arguments", v[1]); err != nil {
		return nil, err
	}
	tc.RawArguments = v[1]
	if tc.Meta, err = objectMember(MethodToolsCall, "_meta", v[2]); err != nil {
		return nil, err
	}
	return tc, nil
}

// PromptGet decodes the params of a prompts/get message.
func (m *Message) PromptGet() (*PromptGet, error) {
	v, err := m.params(MethodPromptsGet, "name", "arguments", "_meta")
	if err != nil {
		return nil, err
	}
	pg := &PromptGet{}
	if pg.Name, err = nameMember(MethodPromptsGet, "name", v[0]); err != nil {
		return nil, err
	}
	if pg.Arguments, err = objectMember(MethodPromptsGet, "arguments", v[1]); err != nil {
		return nil, err
	}
	if pg.Meta, err = objectMember(MethodPromptsGet, "_meta", v[2]); err != nil {
		return nil, err
	}
	return pg, nil
}

// ResourceRead decodes the params of a resources/read message.
func (m *Message) ResourceRead() (*ResourceRead, error) {
	v, err := m.params(MethodResourcesRead, "uri", "_meta")
	if err != nil {
		return nil, err
	}
	rr := &ResourceRead{}
	if rr.URI, err = nameMember(MethodResourcesRead, "uri", v[0]); err != nil {
		return nil, err
	}
	if rr.Meta, err = objectMember(MethodResourcesRead, "_meta", v[1]); err != nil {
		return nil, err
	}
	return rr, nil
}

// Completion decodes the params of a completion/complete message. A
// reference of another type, or one without the member its type names, is
// refused: the gateway cannot tell what it would complete.
func (m *Message) Completion() (*Completion, error) {
	const method = MethodCompletionComplete
	v, err := m.params(method, "ref", "argument", "context", "_meta")
	if err != nil {
		return nil, err
	}
	if v[0] == nil {
		return nil, invalid("bad_params", method+" requires params.ref")
	}
	ref, err := objectMember(method, "ref", v[0])
	if err != nil {
		return nil, err
	}
	arg, err := objectMember(method, "argument", v[1])
	if err != nil {
		return nil, err
	}
	if arg == nil {
		return nil, invalid("bad_params", method+" requires params.argument")
	}
	for i, member := range []string{"context", "_meta"} {
		if _, err := objectMember(method, member, v[2+i]); err != nil {
			return nil, err
		}
	}
	c := &Completion{}
	str := func(obj map[string]any, where, key string) (string, error) {
		s, ok := obj[key].(string)
		switch {
		case !ok:
			return "", invalid("bad_params", method+" params."+where+"."+key+" must be a string")
		case s == "":
			return "", invalid("bad_params", method+" params."+where+"."+key+" must not be empty")
		case hasControl([]byte(s)):
			return "", invalid("bad_params", method+" params."+where+"."+key+" must not contain control characters")
		}
		return s, nil
	}
	if c.RefType, err = str(ref, "ref", "type"); err != nil {
		return nil, err
	}
	switch c.RefType {
	case RefPrompt:
		if _, has := ref["uri"]; has {
			return nil, invalid("bad_params", method+" params.ref of type ref/prompt must not carry a uri")
		}
		c.Name, err = str(ref, "ref", "name")
	case RefResource:
		if _, has := ref["name"]; has {
			return nil, invalid("bad_params", method+" params.ref of type ref/resource must not carry a name")
		}
		c.URI, err = str(ref, "ref", "uri")
	default:
		return nil, invalid("bad_params", method+" params.ref.type "+quoteShort([]byte(c.RefType))+" is neither ref/prompt nor ref/resource")
	}
	if err != nil {
		return nil, err
	}
	if c.Argument, err = str(arg, "argument", "name"); err != nil {
		return nil, err
	}
	return c, nil
}

// ResourceURI decodes params.uri of any method that names one resource by
// URI (resources/read, resources/subscribe, resources/unsubscribe), so
// every such method is authorized on the resource it names.
func (m *Message) ResourceURI() (string, error) {
	switch m.Method {
	case MethodResourcesRead, MethodResourcesSubscribe, MethodResourcesUnsubscribe:
	default:
		return "", mcpguard.E(mcpguard.KindInternal, "internal error", fmt.Errorf("decode uri params of a %q message", m.Method))
	}
	v, err := m.params(m.Method, "uri", "_meta")
	if err != nil {
		return "", err
	}
	uri, err := nameMember(m.Method, "uri", v[0])
	if err != nil {
		return "", err
	}
	if _, err := objectMember(m.Method, "_meta", v[1]); err != nil {
		return "", err
	}
	return uri, nil
}

// ProtocolVersion returns params.protocolVersion of an initialize request,
// for the audit record and version checks; "" for any other message or
// when the member is missing or not a string.
func (m *Message) ProtocolVersion() string {
	if m.Method != MethodInitialize {
		return ""
	}
	v, err := m.params(MethodInitialize, "protocolVersion")
	if err != nil || v[0] == nil || v[0][0] != '"' {
		return ""
	}
	return string(stringValue(v[0]))
}

// maxIDString bounds IDString so a huge client-chosen id cannot bloat logs.
const maxIDString = 64

// IDString renders the id for logs and audit records: the text of a string
// id or the digits of a number, at most 64 bytes (longer ids end in
// "..."), with control and invalid characters replaced by '?'. It returns
// "" when there is no id and "null" for a null id. A string id and a number
// id with the same text print alike; ID holds the exact value.
func (m *Message) IDString() string {
	text := []byte(m.ID)
	if len(text) == 0 {
		return ""
	}
	if text[0] == '"' {
		s := scanner{data: text}
		content, escaped, err := s.str()
		if err != nil {
			return "?"
		}
		text = content
		if escaped {
			text = unescapePrefix(content, maxIDString+utf8.UTFMax)
		}
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if (r == utf8.RuneError && size == 1) || !unicode.IsPrint(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > maxIDString {
			b.WriteString("...")
			break
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// unescapePrefix decodes validated string content until the output exceeds
// limit bytes, so a huge escaped id costs no more than a short one.
func unescapePrefix(src []byte, limit int) []byte {
	var dst []byte
	for i := 0; i < len(src) && len(dst) <= limit; {
		if src[i] != '\\' {
			dst = append(dst, src[i])
			i++
			continue
		}
		n := 2
		if src[i+1] == 'u' {
			n = 6
			if r, _ := hex4(src, i+2); r >= 0xd800 && r < 0xdc00 {
				n = 12
			}
		}
		dst = appendUnescaped(dst, src[i:i+n])
		i += n
	}
	return dst
}

// DecodeValue decodes one strict JSON value (as Parse defines strict) with
// numbers as json.Number, so integers and decimals keep their exact text.
// Packages that hold raw JSON from a parsed message use it to get values
// for policy.
func DecodeValue(raw json.RawMessage) (any, error) {
	s := scanner{data: raw, maxDepth: maxDepthCeiling}
	s.skipWS()
	if s.pos >= len(raw) {
		e := mcpguard.E(mcpguard.KindParseError, "parse error: empty value", nil)
		e.Reason = "empty"
		return nil, e
	}
	if err := s.value(nil); err != nil {
		return nil, err
	}
	s.skipWS()
	if s.pos != len(raw) {
		return nil, s.fail("trailing_data", "data after the JSON value", s.pos)
	}
	return buildValue(raw), nil
}

// checkFoldedKeys rejects objects, at any depth, with two keys equal under
// Unicode case folding, for the reason given on paramMembers: a server that
// binds arguments to struct fields could read the other one.
func checkFoldedKeys(v any) error {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 1 {
			if k, ok := foldCollision(x); ok {
				return invalid("bad_params", "keys differing only in case: "+quoteShort([]byte(k)))
			}
		}
		for _, e := range x {
			if err := checkFoldedKeys(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := checkFoldedKeys(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func foldCollision(m map[string]any) (string, bool) {
	if len(m) <= smallObject {
		var keys [smallObject]string
		n := 0
		for k := range m {
			for _, o := range keys[:n] {
				if strings.EqualFold(k, o) {
					return k, true
				}
			}
			keys[n] = k
			n++
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(m))
	for k := range m {
		f := foldKey(k)
		if _, dup := seen[f]; dup {
			return k, true
		}
		seen[f] = struct{}{}
	}
	return "", false
}

// foldKey maps every rune to the smallest rune of its case-folding orbit,
// so two strings are strings.EqualFold exactly when their foldKeys match.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// ErrorBody renders a JSON-RPC 2.0 error response. id is the raw id of the
// request, echoed so the client can match the answer; when it is nil or
// not valid JSON the id is null. data may be nil; if it cannot be encoded
// it is left out rather than failing the denial.
func ErrorBody(id json.RawMessage, code int, message string, data map[string]any) []byte {
	if len(id) == 0 || !json.Valid(id) {
		id = json.RawMessage("null")
	}
	type errorObject struct {
		Code    int            `json:"code"`
		Message string         `json:"message"`
		Data    map[string]any `json:"data,omitempty"`
	}
	resp := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   errorObject     `json:"error"`
	}{"2.0", id, errorObject{code, message, data}}
	b, err := json.Marshal(resp)
	if err != nil {
		resp.Error.Data = nil
		b, err = json.Marshal(resp)
		if err != nil {
			// Only the id can still fail; null always encodes.
			resp.ID = json.RawMessage("null")
			b, _ = json.Marshal(resp)
		}
	}
	return b
}
