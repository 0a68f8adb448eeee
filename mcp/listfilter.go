package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/mcpguard/mcpguard"
)

// ItemKind names what a list result holds; authorization maps each kind to
// the action that would use the item.
type ItemKind string

// The kinds of listed items.
const (
	ItemTool             ItemKind = "tool"             // tools/list → tools/call on Tool::"<name>"
	ItemPrompt           ItemKind = "prompt"           // prompts/list → prompts/get on Prompt::"<name>"
	ItemResource         ItemKind = "resource"         // resources/list → resources/read on Resource::"<uri>"
	ItemResourceTemplate ItemKind = "resourceTemplate" // resources/templates/list
)

// ListItem is one entry of a list result, as the keep callback of
// FilterListResponse sees it.
type ListItem struct {
	Kind ItemKind
	// Name is the item's name member (for every kind).
	Name string
	// URI is the uri of a resource or the uriTemplate of a resource
	// template; "" for tools and prompts.
	URI string
	// Raw is the item's JSON exactly as the upstream sent it. It aliases
	// the response body and must not be modified.
	Raw json.RawMessage
}

// ListStats counts what filtering did, for the audit event of the list.
type ListStats struct {
	// Returned is how many items the client receives; Removed how many
	// were taken out.
	Returned, Removed int
}

// ErrUnfilterable is wrapped by every error of FilterListResponse: the
// upstream response could not be read exactly, so it must not reach the
// client. The caller replaces the body (ListErrorBody) instead.
var ErrUnfilterable = errors.New("list response cannot be filtered")

// ListMethod reports whether m is one of the list methods whose results
// FilterListResponse filters.
func ListMethod(m string) bool {
	member, _ := listMember(m)
	return member != ""
}

// listMember returns the result member that holds the items of method m
// and the kind of its items.
func listMember(m string) (string, ItemKind) {
	switch m {
	case MethodToolsList:
		return "tools", ItemTool
	case MethodPromptsList:
		return "prompts", ItemPrompt
	case MethodResourcesList:
		return "resources", ItemResource
	case MethodResourcesTemplatesList:
		return "resourceTemplates", ItemResourceTemplate
	}
	return "", ""
}

// FilterListResponse removes from a list response every item keep rejects.
// body is the whole upstream response body, contentType its Content-Type
// (application/json or text/event-stream), requestID the raw id of the list
// request and method its method (see ListMethod).
//
// For JSON the body is one JSON-RPC response or a batch; for SSE every
// event with non-empty data must hold a JSON-RPC message or batch. Every
// response in the body must carry exactly requestID: the same JSON type and
// the same bytes, so 7, "7", 07, 7.0, -0 for 0 and "\u0037" for "7" are
// all refused. Clients match ids loosely (the TypeScript SDK compares them
// as numbers), so a response whose id only resembles the request's could be
// taken for the answer and must not pass unfiltered; and a list request is
// never part of a batch, so its answer has no business carrying any other
// response. Each response is filtered; requests and notifications the
// server sends in the stream pass unchanged, and so does an error
// response. Filtering splices
// the new items array into the original bytes: every other member of the
// result (nextCursor, _meta, …) and every kept item stays byte for byte, and
// when nothing is removed body itself is returned. In a stream only the
// rewritten event is re-serialised.
//
// Any doubt fails closed with a KindInternal *mcpguard.Error that wraps
// ErrUnfilterable: an unsupported content type, a body Parse rejects
// (invalid or ambiguous JSON, duplicate keys), an event that is not
// JSON-RPC, an unterminated event, no response with the id, a response
// with any other id (reason list_id_mismatch), a result
// without its items array, an item that is not an object or lacks its name
// (or uri), or a member name that differs from one of these only in case.
// The body size is bounded by the caller (Envoy's buffer limit).
func FilterListResponse(body []byte, contentType string, requestID json.RawMessage, method string, keep func(item ListItem) bool) ([]byte, ListStats, error) {
	f := listFilter{keep: keep}
	f.member, f.kind = listMember(method)
	if f.member == "" {
		return nil, ListStats{}, unfilterable("not_list", fmt.Errorf("method %q is not a list method", method))
	}
	if _, ok := idKey(requestID); !ok {
		return nil, ListStats{}, unfilterable("bad_id", errors.New("request id is not a string or an integer"))
	}
	f.rawID = requestID
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, ListStats{}, unfilterable("content_type", fmt.Errorf("parse content type: %w", err))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, ListStats{}, unfilterable("content_type", fmt.Errorf("charset %q", cs))
	}
	var (
		out   []byte
		found bool
	)
	switch mt {
	case "application/json":
		out, found, _, err = f.json(body)
	case "text/event-stream":
		out, found, err = f.sse(body)
	default:
		return nil, ListStats{}, unfilterable("content_type", fmt.Errorf("content type %q", mt))
	}
	if err != nil {
		return nil, ListStats{}, err
	}
	if !found {
		return nil, ListStats{}, unfilterable("no_response", errors.New("no response with the request's id"))
	}
	return out, f.stats, nil
}

// ListErrorBody is the body that replaces a list response that could not
// be filtered: a JSON-RPC error response with the request's id, as JSON or,
// when the upstream answered with a stream, as one SSE message event (the
// client already expects that encoding).
func ListErrorBody(contentType string, requestID json.RawMessage, code int, message string, data map[string]any) []byte {
	b := ErrorBody(requestID, code, message, data)
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "text/event-stream" {
		out, err := WriteSSE([]SSEEvent{{Type: "message", Data: string(b), HasData: true}})
		if err == nil {
			return out
		}
	}
	return b
}

func unfilterable(reason string, cause error) *mcpguard.Error {
	return &mcpguard.Error{
		Kind:   mcpguard.KindInternal,
		Msg:    "upstream list response could not be filtered",
		Err:    fmt.Errorf("%w: %w", ErrUnfilterable, cause),
		Reason: "list_" + reason,
	}
}

// listFilter carries one FilterListResponse call.
type listFilter struct {
	member string
	kind   ItemKind
	rawID  []byte // the request's id exactly as the client sent it
	keep   func(ListItem) bool
	stats  ListStats
}

// edit replaces body[start:end] with repl.
type edit struct {
	start, end int
	repl       []byte
}

// json filters one JSON body and reports whether it held the response and
// whether anything was removed (otherwise out is body).
func (f *listFilter) json(body []byte) (out []byte, found, changed bool, err error) {
	b, err := Parse(body, Limits{MaxBytes: max(len(body), 1)})
	if err != nil {
		return nil, false, false, unfilterable("parse", err)
	}
	var edits []edit
	for _, m := range b.Messages {
		if m.Type != TypeResponse {
			continue
		}
		if !bytes.Equal(m.ID, f.rawID) {
			return nil, false, false, unfilterable("id_mismatch", fmt.Errorf("response id %s is not the request's id %s", quoteShort(m.ID), quoteShort(f.rawID)))
		}
		found = true
		if m.Error != nil {
			continue
		}
		e, removed, err := f.result(body, m.Result)
		if err != nil {
			return nil, false, false, err
		}
		if removed {
			edits = append(edits, e)
		}
	}
	if len(edits) == 0 {
		return body, found, false, nil
	}
	n := len(body)
	for _, e := range edits {
		n += len(e.repl) - (e.end - e.start)
	}
	out = make([]byte, 0, n)
	prev := 0
	for _, e := range edits {
		out = append(out, body[prev:e.start]...)
		out = append(out, e.repl...)
		prev = e.end
	}
	return append(out, body[prev:]...), true, true, nil
}

// sse filters a stream: every event with data is parsed, and the events
// that hold the response are rewritten.
func (f *listFilter) sse(body []byte) ([]byte, bool, error) {
	events, err := ParseSSE(body)
	if err != nil {
		return nil, false, unfilterable("sse", err)
	}
	found, changed := false, false
	for i := range events {
		ev := &events[i]
		if !ev.HasData || ev.Data == "" {
			// Not dispatched, or an empty priming event: no message.
			continue
		}
		out, ok, removed, err := f.json([]byte(ev.Data))
		if err != nil {
			return nil, false, err
		}
		found = found || ok
		if removed {
			ev.Data, ev.Raw = string(out), nil
			changed = true
		}
	}
	if !changed {
		return body, found, nil
	}
	out, err := WriteSSE(events)
	if err != nil {
		return nil, false, unfilterable("sse", err)
	}
	return out, found, nil
}

// result filters the items array of one result object. result aliases
// body; the returned edit is in body offsets.
func (f *listFilter) result(body, result []byte) (edit, bool, error) {
	if result[0] != '{' {
		return edit{}, false, unfilterable("bad_result", errors.New("result is not an object"))
	}
	rm := resultMembers{want: f.member}
	s := scanner{data: result, maxDepth: maxDepthCeiling}
	if err := s.object(&rm); err != nil {
		return edit{}, false, unfilterable("bad_result", err)
	}
	if rm.items == nil || rm.items[0] != '[' {
		return edit{}, false, unfilterable("bad_result", fmt.Errorf("result.%s is missing or not an array", f.member))
	}
	kept, removed, err := f.items(rm.items)
	if err != nil {
		return edit{}, false, err
	}
	f.stats.Returned += len(kept)
	f.stats.Removed += removed
	if removed == 0 {
		return edit{}, false, nil
	}
	start, ok := offsetIn(body, rm.items)
	if !ok {
		return edit{}, false, mcpguard.E(mcpguard.KindInternal, "internal error", errors.New("filter list: items do not alias the body"))
	}
	repl := make([]byte, 0, len(rm.items))
	repl = append(repl, '[')
	for i, it := range kept {
		if i > 0 {
			repl = append(repl, ',')
		}
		repl = append(repl, it...)
	}
	repl = append(repl, ']')
	return edit{start: start, end: start + len(rm.items), repl: repl}, true, nil
}

// offsetIn returns where sub starts in body. sub must be a subslice of
// body: slicing keeps the end of the backing array, so the difference of
// the capacities is the offset; the pointer check proves it.
func offsetIn(body, sub []byte) (int, bool) {
	off := cap(body) - cap(sub)
	if len(sub) == 0 || off < 0 || off+len(sub) > len(body) || &body[off] != &sub[0] {
		return 0, false
	}
	return off, true
}

// items validates the array and returns the raw items keep accepted and
// how many it rejected.
func (f *listFilter) items(arr []byte) ([][]byte, int, error) {
	s := scanner{data: arr, maxDepth: maxDepthCeiling}
	s.pos = 1
	s.skipWS()
	var kept [][]byte
	removed := 0
	im := &itemMembers{}
	if s.pos < len(arr) && arr[s.pos] == ']' {
		return nil, 0, nil
	}
	for i := 0; ; i++ {
		if s.pos >= len(arr) || arr[s.pos] != '{' {
			return nil, 0, unfilterable("bad_item", fmt.Errorf("%s[%d] is not an object", f.member, i))
		}
		start := s.pos
		*im = itemMembers{kind: f.kind}
		if err := s.object(im); err != nil {
			return nil, 0, unfilterable("bad_item", err)
		}
		raw := arr[start:s.pos:s.pos]
		it, err := f.item(im, raw, i)
		if err != nil {
			return nil, 0, err
		}
		if f.keep(it) {
			kept = append(kept, raw)
		} else {
			removed++
		}
		s.skipWS()
		if s.pos >= len(arr) {
			return nil, 0, unfilterable("bad_item", errors.New("unterminated items array"))
		}
		switch arr[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			return kept, removed, nil
		default:
			return nil, 0, unfilterable("bad_item", errors.New("malformed items array"))
		}
	}
}

// item builds the ListItem of one validated item object.
func (f *listFilter) item(im *itemMembers, raw []byte, i int) (ListItem, error) {
	if im.err != nil {
		return ListItem{}, unfilterable("bad_item", fmt.Errorf("%s[%d]: %w", f.member, i, im.err))
	}
	it := ListItem{Kind: f.kind, Raw: raw}
	var err error
	if it.Name, err = itemString(im.name, "name"); err != nil {
		return ListItem{}, unfilterable("bad_item", fmt.Errorf("%s[%d]: %w", f.member, i, err))
	}
	switch f.kind {
	case ItemResource:
		it.URI, err = itemString(im.uri, "uri")
	case ItemResourceTemplate:
		it.URI, err = itemString(im.uriTemplate, "uriTemplate")
	}
	if err != nil {
		return ListItem{}, unfilterable("bad_item", fmt.Errorf("%s[%d]: %w", f.member, i, err))
	}
	return it, nil
}

func itemString(raw []byte, member string) (string, error) {
	if raw == nil || raw[0] != '"' {
		return "", fmt.Errorf("member %q is missing or not a string", member)
	}
	v := stringValue(raw)
	if len(v) == 0 {
		return "", fmt.Errorf("member %q is empty", member)
	}
	return string(v), nil
}

// resultMembers captures the items member of a result object and rejects
// a member that differs from it only in case, which a case-insensitive
// client decoder could read instead.
type resultMembers struct {
	want  string
	items []byte
}

func (r *resultMembers) member(key, raw []byte) error {
	switch {
	case string(key) == r.want:
		r.items = raw
	case bytes.EqualFold(key, []byte(r.want)):
		return errString("result member " + quoteShort(key) + " differs from " + quoteShort([]byte(r.want)) + " only in case")
	}
	return nil
}

// itemMembers captures the identifying members of one item; err records a
// member that differs from one of them only in case (a case-insensitive
// client decoder could read it instead), reported once the object is
// validated.
type itemMembers struct {
	kind                   ItemKind
	name, uri, uriTemplate []byte
	err                    error
}

func (m *itemMembers) member(key, raw []byte) error {
	m.match(key, raw, "name", &m.name)
	switch m.kind {
	case ItemResource:
		m.match(key, raw, "uri", &m.uri)
	case ItemResourceTemplate:
		m.match(key, raw, "uriTemplate", &m.uriTemplate)
	}
	return nil
}

func (m *itemMembers) match(key, raw []byte, name string, dst *[]byte) {
	if string(key) == name {
		*dst = raw
		return
	}
	if m.err == nil && bytes.EqualFold(key, []byte(name)) {
		m.err = errString("member " + quoteShort(key) + " differs from " + quoteShort([]byte(name)) + " only in case")
	}
}

// idKey renders a JSON-RPC id so that ids a client would match compare
// equal: a string by its unescaped text, an integer by its digits (-0 is
// 0). Anything else is not an id.
func idKey(raw []byte) (string, bool) {
	switch classifyID(raw) {
	case idString:
		s := scanner{data: raw}
		content, escaped, err := s.str()
		if err != nil || s.pos != len(raw) {
			return "", false
		}
		if escaped {
			content = appendUnescaped(nil, content)
		}
		return "s" + string(content), true
	case idInteger:
		s := scanner{data: raw}
		if s.number() != nil || s.pos != len(raw) {
			return "", false
		}
		if string(raw) == "-0" {
			return "n0", true
		}
		return "n" + string(raw), true
	}
	return "", false
}
