package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// appendRecord appends the JSON encoding of a record (schema, time,
// audit_id, then the event's fields) to dst, byte for byte what
// encoding/json's Marshal gives for the same value (TestEncodeMatchesJSON
// and FuzzEncodeRecord hold it to that), without reflection and without
// allocating for the fields a request's record carries. Arguments and
// details, whose values are arbitrary JSON, are written by appendValue.
func appendRecord(dst []byte, at time.Time, auditID string, e *Event) ([]byte, error) {
	dst = append(dst, `{"schema":`...)
	dst = appendString(dst, Schema)
	dst = append(dst, `,"time":`...)
	var err error
	if dst, err = appendTime(dst, at); err != nil {
		return dst, err
	}
	dst = append(dst, `,"audit_id":`...)
	dst = appendString(dst, auditID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(e.Type))
	dst = append(dst, `,"outcome":`...)
	dst = appendString(dst, string(e.Outcome))
	dst = appendField(dst, "request_id", e.RequestID)
	dst = appendField(dst, "trace_id", e.TraceID)
	dst = appendField(dst, "span_id", e.SpanID)
	if u := e.User; u != nil {
		dst = append(dst, `,"user":{`...)
		dst = appendField(dst, "sub", u.Sub)
		dst = appendField(dst, "iss", u.Iss)
		dst = appendField(dst, "provider", u.Provider)
		dst = appendField(dst, "tenant", u.Tenant)
		dst = appendField(dst, "email", u.Email)
		dst = appendStrings(dst, "groups", u.Groups)
		dst = append(dst, '}')
	}
	if s := e.Source; s != nil {
		dst = append(dst, `,"source":{`...)
		dst = appendField(dst, "ip", s.IP)
		dst = appendField(dst, "user_agent", s.UserAgent)
		dst = append(dst, '}')
	}
	if m := e.MCP; m != nil {
		dst = append(dst, `,"mcp":`...)
		if dst, err = appendMCP(dst, m); err != nil {
			return dst, err
		}
	}
	if a := e.Authz; a != nil {
		dst = append(dst, `,"authz":{`...)
		dst = appendField(dst, "decision", a.Decision)
		dst = appendStrings(dst, "policies", a.Policies)
		dst = appendStrings(dst, "errors", a.Errors)
		dst = append(dst, '}')
	}
	if a := e.AWS; a != nil {
		dst = append(dst, `,"aws":{`...)
		dst = appendField(dst, "role_arn", a.RoleARN)
		dst = appendField(dst, "role_session_name", a.RoleSessionName)
		dst = appendField(dst, "assumed_role_arn", a.AssumedRoleARN)
		dst = appendField(dst, "access_key_id", a.AccessKeyID)
		dst = appendField(dst, "sts_request_id", a.STSRequestID)
		if t := a.CredentialsExpiration; t != nil {
			dst = appendKey(dst, "credentials_expiration")
			if dst, err = appendTime(dst, *t); err != nil {
				return dst, err
			}
		}
		if a.CredentialsCached {
			dst = appendKey(dst, "credentials_cached")
			dst = append(dst, "true"...)
		}
		dst = appendField(dst, "region", a.Region)
		dst = appendField(dst, "service", a.Service)
		dst = appendField(dst, "upstream_request_id", a.UpstreamRequestID)
		dst = appendStrings(dst, "actions", a.Actions)
		if c := a.Complete; c != nil {
			dst = appendKey(dst, "complete")
			dst = strconv.AppendBool(dst, *c)
		}
		dst = appendField(dst, "credential_source", a.CredentialSource)
		dst = appendField(dst, "session_policy_digest", a.SessionPolicyDigest)
		dst = appendStrings(dst, "session_actions", a.SessionActions)
		dst = appendField(dst, "aws_account", a.AWSAccount)
		dst = appendField(dst, "permission_set", a.PermissionSet)
		dst = append(dst, '}')
	}
	if h := e.HTTP; h != nil {
		dst = append(dst, `,"http":{`...)
		dst = appendField(dst, "method", h.Method)
		if h.Status != 0 {
			dst = appendKey(dst, "status")
			dst = strconv.AppendInt(dst, int64(h.Status), 10)
		}
		dst = append(dst, '}')
	}
	if e.DurationMS != 0 {
		dst = append(dst, `,"duration_ms":`...)
		if dst, err = appendFloat(dst, e.DurationMS); err != nil {
			return dst, err
		}
	}
	if x := e.Error; x != nil {
		dst = append(dst, `,"error":{`...)
		dst = appendField(dst, "kind", x.Kind)
		dst = appendField(dst, "reason", x.Reason)
		dst = appendField(dst, "message", x.Message)
		dst = append(dst, '}')
	}
	if len(e.Details) > 0 {
		dst = append(dst, `,"details":`...)
		if dst, err = appendObject(dst, e.Details, 0); err != nil {
			return dst, err
		}
	}
	if e.RequestSeq != 0 {
		dst = append(dst, `,"request_seq":`...)
		dst = strconv.AppendUint(dst, e.RequestSeq, 10)
	}
	if len(e.Limits) > 0 {
		dst = append(dst, `,"limits":[`...)
		for i := range e.Limits {
			l := &e.Limits[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = appendString(dst, l.Name)
			dst = append(dst, `,"scope":`...)
			dst = appendString(dst, l.Scope)
			if l.WaitedMS != 0 {
				dst = append(dst, `,"waited_ms":`...)
				if dst, err = appendFloat(dst, l.WaitedMS); err != nil {
					return dst, err
				}
			}
			dst = append(dst, `,"remaining":`...)
			dst = strconv.AppendInt(dst, int64(l.Remaining), 10)
			dst = appendField(dst, "rejected", l.Rejected)
			if l.RetryAfterMS != 0 {
				dst = append(dst, `,"retry_after_ms":`...)
				dst = strconv.AppendInt(dst, l.RetryAfterMS, 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// appendMCP encodes an MCP object (and, recursively, its batch).
func appendMCP(dst []byte, m *MCP) ([]byte, error) {
	dst = append(dst, '{')
	dst = appendField(dst, "method", m.Method)
	if len(m.JSONRPCID) > 0 {
		dst = appendKey(dst, "jsonrpc_id")
		var err error
		if dst, err = appendRaw(dst, m.JSONRPCID); err != nil {
			return dst, err
		}
	}
	dst = appendField(dst, "tool", m.Tool)
	dst = appendField(dst, "prompt", m.Prompt)
	dst = appendField(dst, "resource_uri", m.ResourceURI)
	if len(m.Arguments) > 0 {
		dst = appendKey(dst, "arguments")
		var err error
		if dst, err = appendObject(dst, m.Arguments, 0); err != nil {
			return dst, err
		}
	}
	dst = appendField(dst, "session_id", m.SessionID)
	dst = appendField(dst, "protocol_version", m.ProtocolVersion)
	if c := m.CLI; c != nil {
		dst = appendKey(dst, "cli")
		dst = append(dst, '{')
		dst = appendField(dst, "service", c.Service)
		dst = appendField(dst, "operation", c.Operation)
		dst = appendStrings(dst, "options", c.Options)
		dst = appendStrings(dst, "regions", c.Regions)
		dst = appendStrings(dst, "operands", c.Operands)
		if c.OperandsOmitted != 0 {
			dst = appendKey(dst, "operands_omitted")
			dst = strconv.AppendInt(dst, int64(c.OperandsOmitted), 10)
		}
		dst = appendField(dst, "parse_error", c.ParseError)
		dst = append(dst, '}')
	}
	if len(m.Batch) > 0 {
		dst = appendKey(dst, "batch")
		dst = append(dst, '[')
		for i := range m.Batch {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendMCP(dst, &m.Batch[i]); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// appendKey writes `,"key":`, or `"key":` as an object's first member.
// Keys are constants that need no escaping.
func appendKey(dst []byte, key string) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendField writes a string member, omitted when empty.
func appendField(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	return appendString(appendKey(dst, key), v)
}

// appendStrings writes a string array member, omitted when empty.
func appendStrings(dst []byte, key string, vs []string) []byte {
	if len(vs) == 0 {
		return dst
	}
	dst = appendKey(dst, key)
	dst = append(dst, '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, v)
	}
	return append(dst, ']')
}

// appendTime writes t as encoding/json does: RFC 3339 with nanoseconds,
// refusing years it cannot represent.
func appendTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return dst, fmt.Errorf("encode time: year %d outside of range [0,9999]", y)
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendFloat writes f as encoding/json does: the shortest representation,
// in exponent form only for very large or small magnitudes.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("encode duration: unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(dst) - start; n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst, nil
}

// appendRaw writes a JSON-RPC id, already valid JSON, compacted as
// encoding/json compacts a RawMessage.
func appendRaw(dst []byte, raw json.RawMessage) ([]byte, error) {
	if !bytes.ContainsAny(raw, " \t\r\n<>&") && !bytes.Contains(raw, []byte("\u2028")) && !bytes.Contains(raw, []byte("\u2029")) {
		if !isValidNumber(raw) && !json.Valid(raw) { // a number id, the usual one, is checked without a scanner
			return dst, errors.New("encode jsonrpc_id: invalid JSON")
		}
		return append(dst, raw...), nil
	}
	return appendJSON(dst, raw)
}

// appendJSON writes v through encoding/json, for values of arbitrary
// shape.
func appendJSON(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// maxValueDepth is the nesting appendValue writes itself; deeper values
// (the redactor never passes them) go to encoding/json, whose cycle
// detection then applies.
const maxValueDepth = 2 * maxDepth

// appendValue writes v exactly as encoding/json's Marshal does (keys
// sorted, HTML escaping, its number formats and errors). The types JSON
// decoding gives, and the integers and []string the redactor passes, are
// written without reflection or allocation; any other type, a float or
// number encoding/json refuses, and values nested deeper than
// maxValueDepth go through encoding/json itself.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return appendJSON(dst, x) // its error
		}
		return appendFloat(dst, x)
	case json.Number:
		n := string(x)
		if n == "" {
			n = "0" // encoding/json's zero Number
		}
		if !isValidNumber(n) {
			return appendJSON(dst, x) // its error
		}
		return append(dst, n...), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case map[string]any:
		if depth >= maxValueDepth {
			return appendJSON(dst, x)
		}
		return appendObject(dst, x, depth)
	case []any:
		if x == nil {
			return append(dst, "null"...), nil
		}
		if depth >= maxValueDepth {
			return appendJSON(dst, x)
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case []string:
		if x == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, e)
		}
		return append(dst, ']'), nil
	}
	return appendJSON(dst, v)
}

// member is one key and value of an object being written.
type member struct {
	key string
	val any
}

// appendObject writes m as encoding/json does: null for a nil map, else
// the members in key order.
func appendObject(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	var buf [8]member
	ms := buf[:0]
	for k, v := range m {
		ms = append(ms, member{k, v})
	}
	if len(ms) > 1 {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	}
	dst = append(dst, '{')
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, ms[i].key)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, ms[i].val, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// isValidNumber is encoding/json's check of a Number: the JSON number
// grammar (RFC 8259, section 6), nothing around it. A valid number is
// valid JSON, so it also stands in front of json.Valid for the usual
// number.
func isValidNumber[T ~string | ~[]byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if len(s) == 0 {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if len(s) == 0 {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return len(s) == 0
}

// appendString writes s as a JSON string exactly as encoding/json does:
// HTML-significant <, > and & escaped, U+2028 and U+2029 escaped, invalid
// UTF-8 replaced by U+FFFD, and control characters as \b, \f, \n, \r, \t or
// \u00XX.
// plainJSON marks the ASCII bytes encoding/json writes as they are: not a
// control character, a quote, a backslash or one of its HTML escapes.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	t['"'], t['\\'], t['<'], t['>'], t['&'] = false, false, false, false, false
	return t
}()

func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainJSON[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
