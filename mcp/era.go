package mcp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcpguard/mcpguard"
)

// Protocol revisions mcpguard knows. A revision at or after
// Version20260728 is stateless: no initialize, no Mcp-Session-Id, the
// version travels in every request's _meta and mirrored headers are
// required.
const (
	Version20260728 = "2026-07-28"
	Version20251125 = "2025-11-25"
	Version20250618 = "2025-06-18"
	Version20250326 = "2025-03-26"

	// MetaKeyProtocolVersion is the _meta member that carries the
	// protocol version of a 2026-07-28 request.
	MetaKeyProtocolVersion = "io.modelcontextprotocol/protocolVersion"

	// HeaderParamPrefix starts the name of a header mirrored from a tool
	// argument marked with x-mcp-header.
	HeaderParamPrefix = "mcp-param-"
)

// DefaultVersions are the revisions an upstream is assumed to support when
// its configuration names none, newest first.
func DefaultVersions() []string {
	return []string{Version20260728, Version20251125, Version20250618, Version20250326}
}

// Stateless reports whether version belongs to the stateless era
// (2026-07-28 and later). Revisions are dates, so they order as strings.
func Stateless(version string) bool { return version >= Version20260728 }

// The methods of the 2026-07-28 revision and the tasks extension.
const (
	MethodSubscriptionsListen = "subscriptions/listen"
	MethodTasksGet            = "tasks/get"
	MethodTasksUpdate         = "tasks/update"
	MethodTasksList           = "tasks/list"
	MethodTasksCancel         = "tasks/cancel"
	MethodTasksResult         = "tasks/result"
)

// NameMirrored reports whether method requires Mcp-Name, and names the
// params member it mirrors.
func NameMirrored(method string) (member string, ok bool) {
	switch method {
	case MethodToolsCall, MethodPromptsGet:
		return "name", true
	case MethodResourcesRead:
		return "uri", true
	}
	return "", false
}

// paramMember returns the raw value of one member of m.Params (nil when
// params or the member is absent), with the same strictness as the typed
// accessors: a member differing from name only in case is refused.
func (m *Message) paramMember(name string) ([]byte, error) {
	if len(m.Params) == 0 || m.Params[0] != '{' {
		return nil, nil
	}
	if ix, ok := m.paramIndex(); ok {
		p := oneMember{name: name}
		for _, mb := range ix {
			if err := p.member(mb.key, mb.raw); err != nil {
				return nil, err
			}
		}
		return p.val, nil
	}
	return objectMemberOf(m.Params, name)
}

// oneMember picks one member out of an object, with paramMembers'
// refusal of case variants: the one-name form costs one allocation (the
// sink) rather than three.
type oneMember struct {
	name string
	val  []byte
}

func (p *oneMember) member(key, raw []byte) error {
	if string(key) == p.name {
		p.val = raw
		return nil
	}
	if bytes.EqualFold(key, []byte(p.name)) {
		return invalid("bad_params", "params member "+quoteShort(key)+" differs from "+quoteShort([]byte(p.name))+" only in case")
	}
	return nil
}

// objectMemberOf validates obj, an object, and returns the raw value of
// its member name (nil when absent).
func objectMemberOf(obj []byte, name string) ([]byte, error) {
	p := &oneMember{name: name}
	s := scanner{data: obj, maxDepth: maxDepthCeiling}
	if err := s.object(p); err != nil {
		return nil, err
	}
	return p.val, nil
}

// internVersion returns the known revision b spells without allocating,
// else b as a new string.
func internVersion(b []byte) string {
	for _, v := range [...]string{Version20260728, Version20251125, Version20250618, Version20250326} {
		if string(b) == v {
			return v
		}
	}
	return string(b)
}

// ParamString returns params.<name> when it is a string; ok is false when
// it is absent or of another type.
func (m *Message) ParamString(name string) (string, bool, error) {
	raw, err := m.paramMember(name)
	if err != nil || raw == nil || raw[0] != '"' {
		return "", false, err
	}
	return string(stringValue(raw)), true, nil
}

// ParamObject decodes params.<name> when it is an object (nil when absent);
// any other type is an invalid request.
func (m *Message) ParamObject(name string) (map[string]any, error) {
	raw, err := m.paramMember(name)
	if err != nil {
		return nil, err
	}
	return objectMember(m.Method, name, raw)
}

// MetaProtocolVersion returns params._meta["io.modelcontextprotocol/
// protocolVersion"], "" when absent. A version that is present but not a
// non-empty string is an invalid request: two readers could disagree on it.
func (m *Message) MetaProtocolVersion() (string, error) {
	raw, err := m.paramMember("_meta")
	if err != nil || raw == nil {
		return "", err
	}
	if raw[0] != '{' {
		return "", invalid("bad_params", "params._meta must be an object")
	}
	v, err := objectMemberOf(raw, MetaKeyProtocolVersion)
	if err != nil || v == nil {
		return "", err
	}
	if v[0] != '"' {
		return "", invalid("bad_meta", "_meta protocol version must be a non-empty string")
	}
	sv := stringValue(v)
	if len(sv) == 0 {
		return "", invalid("bad_meta", "_meta protocol version must be a non-empty string")
	}
	return internVersion(sv), nil
}

// Input response types as policies see them in context.input_responses.
const (
	InputElicitation = "elicitation"
	InputSampling    = "sampling"
	InputRoots       = "roots"
	InputUnknown     = "unknown"
)

// InputResponses classifies params.inputResponses of a Multi Round-Trip
// retry: input request id → type (elicitation, sampling, roots, unknown).
// It returns nil when the member is absent. A member that is not an object
// of objects is an invalid request, so nothing unreadable is passed on.
func (m *Message) InputResponses() (map[string]string, error) {
	obj, err := m.ParamObject("inputResponses")
	if err != nil || obj == nil {
		return nil, err
	}
	out := make(map[string]string, len(obj))
	for id, v := range obj {
		r, ok := v.(map[string]any)
		if !ok {
			return nil, invalid("bad_params", "params.inputResponses members must be objects")
		}
		out[id] = inputResponseType(r)
	}
	return out, nil
}

// inputResponseType tells the result types apart by their required member:
// ElicitResult has action, CreateMessageResult role (with content),
// ListRootsResult roots. Anything else, or a mix, is unknown.
func inputResponseType(r map[string]any) string {
	var kinds []string
	if _, ok := r["action"]; ok {
		kinds = append(kinds, InputElicitation)
	}
	if _, ok := r["role"]; ok {
		if _, ok := r["content"]; ok {
			kinds = append(kinds, InputSampling)
		}
	}
	if _, ok := r["roots"]; ok {
		kinds = append(kinds, InputRoots)
	}
	if len(kinds) != 1 {
		return InputUnknown
	}
	return kinds[0]
}

// The Base64 form of a mirrored header value.
const (
	base64Prefix = "=?base64?"
	base64Suffix = "?="
)

// DecodeHeaderValue decodes a mirrored header value: the =?base64?…?= form
// to its UTF-8 text, any other value as it is. A value holding anything
// but visible ASCII and inner spaces, a sentinel that is not valid Base64
// of UTF-8, or a plain value that looks like the sentinel is refused, so no
// two readers can decode one header differently.
func DecodeHeaderValue(v string) (string, error) {
	if enc, ok := strings.CutPrefix(v, base64Prefix); ok {
		enc, ok = strings.CutSuffix(enc, base64Suffix)
		if !ok {
			return "", invalid("header_value", "header value starts like the Base64 form but is not one")
		}
		// Go's decoder skips CR and LF even in Strict mode; another reader
		// would not, so the encoded text must be the canonical encoding.
		b, err := base64.StdEncoding.Strict().DecodeString(enc)
		if err != nil || !utf8.Valid(b) || base64.StdEncoding.EncodeToString(b) != enc {
			return "", invalid("header_value", "header value is not valid Base64 of UTF-8 text")
		}
		if !NeedsBase64(string(b)) {
			// Readers that decode only what must be encoded would see the
			// sentinel text instead of the value.
			return "", invalid("header_value", "header value uses the Base64 form for text that needs no encoding")
		}
		return string(b), nil
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return "", invalid("header_value", "header value holds characters outside visible ASCII")
		}
	}
	return v, nil
}

// NeedsBase64 reports whether a mirrored value must travel in the Base64
// form: it holds a byte outside visible ASCII and space, starts or ends
// with a space or tab, or itself looks like the sentinel.
func NeedsBase64(v string) bool {
	if v == "" {
		return false
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' || strings.HasPrefix(v, base64Prefix) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return true
		}
	}
	return false
}

// HeaderMark is a tool argument that the tool's inputSchema marks with
// x-mcp-header: clients mirror it as Mcp-Param-<Header>.
type HeaderMark struct {
	// Header is the x-mcp-header value, lower-cased (header names are
	// case-insensitive).
	Header string
	// Path is the property path into arguments.
	Path []string
}

// maxMarkDepth bounds the schema walk.
const maxMarkDepth = 16

// HeaderMarks reads the x-mcp-header marks of one tool definition (an item
// of a tools/list result). A definition whose marks are malformed (not a
// token, repeated case-insensitively, on a non-primitive property) is an
// error: its calls' parameter headers cannot be checked.
func HeaderMarks(tool json.RawMessage) ([]HeaderMark, error) {
	v, err := DecodeValue(tool)
	if err != nil {
		return nil, err
	}
	t, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("bad_tool", "tool definition is not an object")
	}
	schema, _ := t["inputSchema"].(map[string]any)
	var marks []HeaderMark
	seen := map[string]bool{}
	if err := collectMarks(schema, nil, seen, &marks); err != nil {
		return nil, err
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i].Header < marks[j].Header })
	return marks, nil
}

func collectMarks(schema map[string]any, path []string, seen map[string]bool, out *[]HeaderMark) error {
	if len(path) > maxMarkDepth {
		return invalid("bad_tool", "tool inputSchema nests too deeply")
	}
	props, _ := schema["properties"].(map[string]any)
	for name, p := range props {
		prop, ok := p.(map[string]any)
		if !ok {
			continue
		}
		sub := append(append([]string(nil), path...), name)
		if h, present := prop["x-mcp-header"]; present {
			hs, ok := h.(string)
			if !ok || !isToken(hs) {
				return invalid("bad_tool", "x-mcp-header must be an HTTP token")
			}
			switch prop["type"] {
			case "string", "integer", "boolean":
			default:
				return invalid("bad_tool", "x-mcp-header marks a property that is not a string, integer or boolean")
			}
			lh := strings.ToLower(hs)
			if seen[lh] {
				return invalid("bad_tool", "x-mcp-header value repeated")
			}
			seen[lh] = true
			*out = append(*out, HeaderMark{Header: lh, Path: sub})
		}
		if err := collectMarks(prop, sub, seen, out); err != nil {
			return err
		}
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 tchar+).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ArgumentAt follows path into decoded tool arguments; ok is false when a
// step is missing or the value is null.
func ArgumentAt(args map[string]any, path []string) (any, bool) {
	var cur any = args
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// maxSafeInteger is the largest integer a JSON reader using doubles keeps
// exactly.
const maxSafeInteger = 1<<53 - 1

// HeaderText is the text a mirrored header must carry for a decoded
// argument value: a string as it is, a boolean as true or false, an
// integer (within the safe range) in decimal. ok is false for any other
// value, which cannot be mirrored.
func HeaderText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
			return "", false
		}
		return strconv.FormatInt(int64(f), 10), true
	}
	return "", false
}

// headerMismatch is the error for a mirrored header that disagrees with the
// body; extproc answers it with HTTP 400 and JSON-RPC -32020.
func headerMismatch(msg string) *mcpguard.Error {
	return &mcpguard.Error{Kind: mcpguard.KindHeaderMismatch, Msg: msg, Reason: "header_mismatch"}
}

// HeaderMismatch builds the error for a mirrored header that disagrees
// with the body, so every checker reports it alike.
func HeaderMismatch(msg string) error { return headerMismatch(msg) }
