package audit

// The redaction and sanitizing as they were before the fast paths (no copy
// of a clean event, no deep copy of clean arguments, the reflection-free
// encoder): the oracle of TestSanitizeMatchesNaive. Kept verbatim, renamed.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// naive is a redactor with the methods of the original implementation.
type naive struct{ *redactor }

func naiveSanitize(l *Logger, e *Event) *Event {
	// The copy and the sections it replaces are one allocation.
	p := &struct {
		ev    Event
		src   Source
		mcp   MCP
		authz Authz
		err   Error
	}{ev: *e}
	c := &p.ev
	r := naive{l.redact}
	c.RequestID = r.text(e.RequestID)
	c.TraceID = r.text(e.TraceID)
	c.SpanID = r.text(e.SpanID)
	if e.Source != nil {
		p.src = Source{IP: r.text(e.Source.IP), UserAgent: r.text(e.Source.UserAgent)}
		c.Source = &p.src
	}
	if e.MCP != nil {
		p.mcp = naiveMCP(l, e.MCP)
		c.MCP = &p.mcp
	}
	if e.Authz != nil {
		p.authz = *e.Authz
		p.authz.Errors = naiveTexts(r, e.Authz.Errors)
		c.Authz = &p.authz
	}
	if e.Error != nil {
		p.err = Error{Kind: r.text(e.Error.Kind), Reason: r.text(e.Error.Reason), Message: r.text(e.Error.Message)}
		c.Error = &p.err
	}
	if e.Details != nil {
		c.Details = r.arguments(e.Details)
	}
	return c
}

func naiveMCP(l *Logger, in *MCP) MCP {
	r := naive{l.redact}
	m := MCP{
		Method:          r.text(in.Method),
		JSONRPCID:       naiveJSONRPCID(l, in.JSONRPCID),
		Tool:            r.text(in.Tool),
		Prompt:          r.text(in.Prompt),
		ResourceURI:     r.text(in.ResourceURI),
		SessionID:       r.text(in.SessionID),
		ProtocolVersion: r.text(in.ProtocolVersion),
	}
	if l.args {
		m.Arguments = r.arguments(in.Arguments)
		if c := in.CLI; c != nil {
			m.CLI = &CLI{Service: r.text(c.Service), Operation: r.text(c.Operation), ParseError: r.text(c.ParseError),
				Options: r.texts(c.Options, 0), Regions: r.texts(c.Regions, 0)}
			m.CLI.Operands = r.texts(c.Operands, MaxCLIOperands)
			if n := len(c.Operands) - MaxCLIOperands; n > 0 {
				m.CLI.OperandsOmitted = n + c.OperandsOmitted
			}
		}
	}
	if in.Batch != nil {
		m.Batch = make([]MCP, len(in.Batch))
		for i := range in.Batch {
			m.Batch[i] = naiveMCP(l, &in.Batch[i])
		}
	}
	return m
}

func naiveJSONRPCID(l *Logger, id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nil
	}
	switch c := id[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(id, &s); err != nil {
			return nil
		}
		b, err := json.Marshal(naive{l.redact}.text(s))
		if err != nil {
			return nil
		}
		return b
	case (c == '-' || c >= '0' && c <= '9') && len(id) <= 64 && json.Valid(id):
		return id
	}
	return nil
}

func naiveTexts(r naive, in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.text(s)
	}
	return out
}

func (r naive) sensitiveKey(k string) bool {
	if len(r.keys) == 0 {
		return false
	}
	var words []string
	for _, rk := range r.keys {
		if strings.EqualFold(k, rk.raw) {
			return true
		}
		if len(rk.words) == 0 {
			continue
		}
		if words == nil {
			words = keyWords(k)
		}
		if containsRun(words, rk.words) {
			return true
		}
	}
	return false
}

func naiveScrub(s string) string {
	if !naiveMayMatch(s) {
		return scrubSecretKeys(s)
	}
	var b strings.Builder
	last, changed := 0, false
	// The boundary groups consume one character on each side, so matches
	// are searched from each end position again, one at a time.
	for pos := 0; pos < len(s); {
		m := secretRE.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			break
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += pos
			}
		}
		start, end, keep := -1, -1, ""
		switch {
		case m[2] >= 0: // JOSE
			if isCompactJOSE(s[m[2]:m[3]]) {
				start, end = m[2], m[3]
			}
		case m[4] >= 0: // bearer credential
			start, end = m[4], m[5]
			word, _, _ := strings.Cut(s[start:end], " ")
			word, _, _ = strings.Cut(word, "\t")
			keep = word + " "
		case m[6] >= 0: // session token
			start, end = m[6], m[7]
		case m[8] >= 0: // signature parameter
			start, end, keep = m[8], m[11], s[m[8]:m[9]]
		}
		if start >= 0 {
			b.WriteString(s[last:start])
			b.WriteString(keep)
			b.WriteString(Redacted)
			last, changed = end, true
			pos = end
		} else {
			// Not a token after all: go on after the candidate's first
			// byte, so a later token in it is still found.
			pos = m[0] + 1
			if m[2] >= 0 {
				pos = m[2] + 1
			}
		}
	}
	if changed {
		b.WriteString(s[last:])
		s = b.String()
	}
	return scrubSecretKeys(s)
}

func naiveMayMatch(s string) bool {
	if strings.Contains(s, "eyJ") || strings.IndexByte(s, '=') >= 0 ||
		strings.Contains(s, "IQoJ") || strings.Contains(s, "FwoG") || strings.Contains(s, "AQoD") {
		return true
	}
	for i := 0; i+6 <= len(s); i++ {
		if (s[i] == 'b' || s[i] == 'B') && strings.EqualFold(s[i:i+6], "bearer") {
			return true
		}
	}
	return false
}

func (r naive) texts(ss []string, limit int) []string {
	if len(ss) == 0 {
		return nil
	}
	if limit > 0 && len(ss) > limit {
		ss = ss[:limit]
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.text(s)
	}
	return out
}

func (r naive) text(s string) string { return truncate(naiveScrub(s), r.max) }

func (r naive) arguments(args map[string]any) map[string]any {
	if args == nil {
		return nil
	}
	out := r.object(args, 0)
	if r.max <= 0 {
		return out
	}
	for k, v := range out {
		switch v.(type) {
		case map[string]any, []any:
			b, err := json.Marshal(v)
			if err != nil {
				out[k] = Redacted
			} else if len(b) > r.max {
				out[k] = truncate(string(b), r.max)
			}
		}
	}
	return out
}

func (r naive) object(m map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		key := r.text(k)
		for n := 2; ; n++ {
			if _, dup := out[key]; !dup {
				break
			}
			key = fmt.Sprintf("%s#%d", r.text(k), n)
		}
		if r.sensitiveKey(k) {
			out[key] = Redacted
			continue
		}
		out[key] = r.value(v, depth+1)
	}
	return out
}

func (r naive) value(v any, depth int) any {
	if depth > maxDepth {
		return "[TOO DEEP]"
	}
	switch x := v.(type) {
	case nil, bool, int, int64, int32, uint, uint64, uint32:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case json.Number:
		if x == "" || !(x[0] == '-' || x[0] >= '0' && x[0] <= '9') || !json.Valid([]byte(x)) {
			return r.text(string(x))
		}
		return x
	case string:
		return r.text(x)
	case map[string]any:
		return r.object(x, depth)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e, depth+1)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.text(e)
		}
		return out
	default:
		// Any other Go value is normalised through its JSON form so the
		// same rules apply to what it would have encoded as.
		b, err := json.Marshal(x)
		if err != nil {
			return Redacted
		}
		var g any
		if err := json.Unmarshal(b, &g); err != nil {
			return Redacted
		}
		return r.value(g, depth)
	}
}
