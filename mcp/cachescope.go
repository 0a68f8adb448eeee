package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
)

// CacheScopePrivate is the cacheScope of a result that differs per user.
const CacheScopePrivate = "private"

// MarkPrivate sets cacheScope to "private" on the result of the response
// with requestID in a JSON or SSE list response body, keeping ttlMs and
// every other member. A list mcpguard filters differs per user, so no
// shared cache may hand one user's list to another. With force false only
// a result that already has cacheScope (2026-07-28 and later) is changed;
// older revisions do not know the member. changed is false when the body
// is returned as it was.
func MarkPrivate(body []byte, contentType string, requestID json.RawMessage, force bool) (out []byte, changed bool, err error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, false, unfilterable("content_type", fmt.Errorf("parse content type: %w", err))
	}
	want, err := compactJSON(requestID)
	if err != nil {
		return nil, false, unfilterable("bad_id", err)
	}
	switch mt {
	case "application/json":
		return markMessage(body, want, force)
	case "text/event-stream":
		events, err := ParseSSE(body)
		if err != nil {
			return nil, false, unfilterable("sse", err)
		}
		for i := range events {
			ev := &events[i]
			if !ev.HasData || ev.Data == "" {
				continue
			}
			o, c, err := markMessage([]byte(ev.Data), want, force)
			if err != nil {
				return nil, false, err
			}
			if c {
				ev.Data, ev.Raw, changed = string(o), nil, true
			}
		}
		if !changed {
			return body, false, nil
		}
		out, err := WriteSSE(events)
		if err != nil {
			return nil, false, unfilterable("sse", err)
		}
		return out, true, nil
	}
	return nil, false, unfilterable("content_type", fmt.Errorf("content type %q", mt))
}

// markMessage edits one JSON-RPC message; messages that are not the
// response with id want, or have no result object, stay as they are.
func markMessage(msg, want []byte, force bool) ([]byte, bool, error) {
	members, err := objectMembers(msg)
	if err != nil {
		return nil, false, unfilterable("bad_json", err)
	}
	ri := -1
	matches := false
	for i, m := range members {
		switch m.key {
		case "id":
			id, err := compactJSON(m.raw)
			if err != nil {
				return nil, false, unfilterable("bad_json", err)
			}
			matches = bytes.Equal(id, want)
		case "result":
			ri = i
		}
	}
	if !matches || ri < 0 || len(members[ri].raw) == 0 || members[ri].raw[0] != '{' {
		return msg, false, nil
	}
	result, err := objectMembers(members[ri].raw)
	if err != nil {
		return nil, false, unfilterable("bad_result", err)
	}
	private := json.RawMessage(`"` + CacheScopePrivate + `"`)
	found := false
	for i := range result {
		if result[i].key == "cacheScope" {
			result[i].raw, found = private, true
		}
	}
	if !found {
		if !force {
			return msg, false, nil
		}
		result = append(result, member{key: "cacheScope", raw: private})
	}
	members[ri].raw = joinMembers(result)
	return joinMembers(members), true, nil
}

type member struct {
	key string
	raw json.RawMessage
}

// objectMembers lists the members of a JSON object in order.
func objectMembers(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, ok := kt.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{key: k, raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

func joinMembers(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key) // a string always marshals
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func compactJSON(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
