package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// SplitSSE splits the bytes of an event stream received so far at the end
// of its last complete event: complete ends with the blank line that
// dispatches an event, rest is the start of the next one. Lines end in
// CRLF, LF or CR; a line that a CR at the very end closes stays in rest
// (its LF may arrive with the next chunk) unless it is the blank line
// itself. A cut at a line end never splits a UTF-8
// sequence.
func SplitSSE(buf []byte) (complete, rest []byte) {
	end, start := 0, 0
	for i := 0; i < len(buf); {
		c := buf[i]
		if c != '\n' && c != '\r' {
			i++
			continue
		}
		blank := i == start
		next := i + 1
		if c == '\r' {
			if next == len(buf) {
				// A line CR ends may yet be a CRLF, unless the line is
				// blank: then the event is complete either way.
				if blank {
					end = next
				}
				break
			}
			if buf[next] == '\n' {
				next++
			}
		}
		if blank {
			end = next
		}
		start, i = next, next
	}
	return buf[:end], buf[end:]
}

// listMembers maps the member that holds a list result's items to its
// method.
var listMembers = map[string]string{
	"tools":             MethodToolsList,
	"prompts":           MethodPromptsList,
	"resources":         MethodResourcesList,
	"resourceTemplates": MethodResourcesTemplatesList,
}

// ErrAmbiguousList is a response whose result could be read as more than
// one kind of list, or names a list member in another case: it cannot be
// filtered for sure, so it must not be passed on.
var ErrAmbiguousList = errors.New("mcp: result is not one unambiguous list")

// ListResultMethod tells whether one JSON-RPC message (an SSE event's data)
// is a response carrying a list result, by the member that holds the
// items: it returns the list method and the response id, or "" for any
// other message. A message that does not parse strictly is an error.
func ListResultMethod(msg []byte) (method string, id json.RawMessage, err error) {
	b, err := Parse(msg, DefaultLimits())
	if err != nil {
		return "", nil, err
	}
	if b.Batch {
		return "", nil, ErrAmbiguousList
	}
	m := b.Messages[0]
	if m.Type != TypeResponse || len(m.Result) == 0 || m.Result[0] != '{' {
		return "", nil, nil
	}
	members, err := objectMembers(m.Result)
	if err != nil {
		return "", nil, err
	}
	for _, mem := range members {
		meth, ok := listMembers[mem.key]
		if !ok {
			for k := range listMembers {
				if strings.EqualFold(k, mem.key) {
					return "", nil, ErrAmbiguousList
				}
			}
			continue
		}
		if method != "" || !bytes.HasPrefix(bytes.TrimSpace(mem.raw), []byte("[")) {
			return "", nil, ErrAmbiguousList
		}
		method = meth
	}
	return method, m.ID, nil
}
