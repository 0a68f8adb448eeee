package extproc

import (
	"errors"
	"slices"
	"sync"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/mcp"
)

// DenialMode is how a policy denial is answered (mcp_protocol.denial_response).
type DenialMode string

// The denial modes. DenialHTTPError is the default (a refusal is a refusal
// at every layer); DenialToolResult lets an agent's model read why a call
// was refused, where most clients show an HTTP 403 as a transport failure.
const (
	DenialToolResult   DenialMode = "tool_result"
	DenialJSONRPCError DenialMode = "jsonrpc_error"
	DenialHTTPError    DenialMode = "http_error"
)

// Protocol configures the MCP protocol checks of both eras.
type Protocol struct {
	// Versions are the revisions the default upstream speaks (an
	// Upstream's own Versions win); empty means mcp.DefaultVersions.
	Versions []string
	// AllowedOrigins are the Origin values a request may carry; a request
	// with any other Origin is refused with 403.
	AllowedOrigins []string
	// Denial is how policy denials are answered; empty means
	// DenialHTTPError, as in the configuration.
	Denial DenialMode
	// Sessions seals upstream session ids to their users; nil means a
	// random key for this process.
	Sessions *SessionKeys
}

// The request headers the era checks read. Envoy sends names lower-cased.
const (
	hdrProtocolVersion = "mcp-protocol-version"
	hdrMethod          = "mcp-method"
	hdrName            = "mcp-name"
	hdrSessionID       = "mcp-session-id"
	hdrOrigin          = "origin"
)

// mirrored holds every value of the headers the era checks read, so that a
// repeated header is seen as repeated rather than as its first or last line.
type mirrored struct {
	values mirrorValues
	// params maps the lower-cased x-mcp-header name (after Mcp-Param-) to
	// its values.
	params map[string][]string
}

// one returns the header's single value; ok is false when it is absent.
// Callers run refuseRepeated first, so a second value never goes unseen.
func (mh mirrored) one(name string) (string, bool) {
	v := mh.values.slot(name)
	if v == nil || v.n == 0 {
		return "", false
	}
	return v.first, true
}

// mirrorValues holds the lines of the five headers parseRequestHeaders
// keeps for the era checks, one slot per name, the first value inline: a
// request that sends each once costs no map and no slice.
type mirrorValues [5]mirrorSlot

// mirrorSlot counts one header's lines and keeps the first.
type mirrorSlot struct {
	first string
	n     int
}

// mirrorSlotOf returns the index of name's slot; ok is false for a name
// the era checks do not read.
func mirrorSlotOf(name string) (uint8, bool) {
	switch name {
	case hdrProtocolVersion:
		return 0, true
	case hdrMethod:
		return 1, true
	case hdrName:
		return 2, true
	case hdrSessionID:
		return 3, true
	case hdrOrigin:
		return 4, true
	}
	return 0, false
}

// slot returns name's slot, nil for a name the era checks do not read.
func (mv *mirrorValues) slot(name string) *mirrorSlot {
	if i, ok := mirrorSlotOf(name); ok {
		return &mv[i]
	}
	return nil
}

// count is the number of lines of name.
func (mv *mirrorValues) count(name string) int {
	if s := mv.slot(name); s != nil {
		return s.n
	}
	return 0
}

// refuseRepeated refuses a request that repeats a header mcpguard decides
// on: an upstream or an Envoy rule may read another line than mcpguard.
// It is kept apart from the checks so the duplicate-header work on
// extproc/headers.go can take it over.
func refuseRepeated(mh mirrored) error {
	for _, name := range []string{hdrProtocolVersion, hdrMethod, hdrName} {
		if mh.values.count(name) > 1 {
			return mcp.HeaderMismatch("repeated " + name + " headers are not accepted")
		}
	}
	for name, v := range mh.params {
		if len(v) > 1 {
			return mcp.HeaderMismatch("repeated mcp-param-" + sanitize(name) + " headers are not accepted")
		}
	}
	if mh.values.count(hdrSessionID) > 1 {
		return mcpguard.E(mcpguard.KindInvalidRequest, "repeated mcp-session-id headers are not accepted", nil)
	}
	if mh.values.count(hdrOrigin) > 1 {
		return mcpguard.E(mcpguard.KindForbidden, "repeated origin headers are not accepted", nil)
	}
	return nil
}

// repeatedKind classifies a repeated single-valued header: a mirrored MCP
// header is a HeaderMismatch (-32020), as the 2026-07-28 revision says.
func repeatedKind(name string) mcpguard.Kind {
	switch name {
	case hdrProtocolVersion, hdrMethod, hdrName:
		return mcpguard.KindHeaderMismatch
	}
	return mcpguard.KindInvalidRequest
}

// eraState is what the era checks learned about one request.
type eraState struct {
	h mirrored
	// version is the request's MCP revision: the header, else the body's
	// _meta, else an initialize request's protocolVersion; "" when none.
	version string
	session sessionState
	stream  *streamExchange // set for a stream whose list results are filtered
}

// detailedError is an error whose JSON-RPC error data carries more than
// the kind and request id (the supported versions of -32022).
type detailedError struct {
	err  *mcpguard.Error
	data map[string]any
}

func (e *detailedError) Error() string { return e.err.Error() }
func (e *detailedError) Unwrap() error { return e.err }

// errorData returns the extra JSON-RPC error data of err, if any.
func errorData(err error) map[string]any {
	var de *detailedError
	if errors.As(err, &de) {
		return de.data
	}
	return nil
}

// versions are the revisions the request's upstream speaks.
func (x *exchange) versions() []string {
	if len(x.upstream.Versions) > 0 {
		return x.upstream.Versions
	}
	if len(x.s.o.Protocol.Versions) > 0 {
		return x.s.o.Protocol.Versions
	}
	return mcp.DefaultVersions()
}

func (x *exchange) unsupportedVersion(v string) error {
	return &detailedError{
		err:  &mcpguard.Error{Kind: mcpguard.KindUnsupportedVersion, Msg: "unsupported protocol version " + sanitize(v), Reason: "unsupported_version"},
		data: map[string]any{"supported": x.versions(), "requested": v},
	}
}

// checkRequestHeaders runs the era checks that need only the headers (mh,
// as parseRequestHeaders read them): repeated headers, Origin, and a
// protocol version the upstream does not speak. It runs before
// authentication: none of it depends on the caller.
func (x *exchange) checkRequestHeaders(mh mirrored) error {
	x.era.h = mh
	if err := refuseRepeated(x.era.h); err != nil {
		return err
	}
	if err := x.checkOrigin(); err != nil {
		return err
	}
	if v, ok := x.era.h.one(hdrProtocolVersion); ok {
		if !slices.Contains(x.versions(), v) {
			return x.unsupportedVersion(v)
		}
		x.era.version = v
	}
	return nil
}

// checkOrigin refuses a browser request from an origin that is not allowed
// (DNS rebinding): MCP servers must validate Origin when it is present.
func (x *exchange) checkOrigin() error {
	o, ok := x.era.h.one(hdrOrigin)
	if !ok || slices.Contains(x.s.o.Protocol.AllowedOrigins, o) {
		return nil
	}
	return &mcpguard.Error{Kind: mcpguard.KindForbidden, Msg: "origin " + sanitize(o) + " is not allowed", Reason: "origin_not_allowed"}
}

// checkBody runs the era checks on a parsed POST body: the body's _meta
// version against the header and the supported list, the rules of the
// stateless era, and every mirrored header against the body.
func (x *exchange) checkBody(b *mcp.Body) error {
	hv, hasHeader := x.era.h.one(hdrProtocolVersion)
	meta := ""
	for _, m := range b.Messages {
		if m.Type == mcp.TypeResponse {
			continue
		}
		mv, err := m.MetaProtocolVersion()
		if err != nil {
			return err
		}
		if mv == "" {
			continue
		}
		if !slices.Contains(x.versions(), mv) {
			return x.unsupportedVersion(mv)
		}
		if hasHeader && mv != hv {
			return mcp.HeaderMismatch("MCP-Protocol-Version header and _meta protocol version differ")
		}
		if meta != "" && mv != meta {
			return mcpguard.E(mcpguard.KindInvalidRequest, "messages of one request name different protocol versions", nil)
		}
		meta = mv
	}
	version := hv
	if version == "" {
		version = meta
	}
	if version == "" && !b.Batch && b.Messages[0].Method == mcp.MethodInitialize {
		version = b.Messages[0].ProtocolVersion()
	}
	x.era.version = version
	stateless := mcp.Stateless(hv) || mcp.Stateless(meta)
	if stateless {
		switch {
		case b.Batch:
			return mcpguard.E(mcpguard.KindInvalidRequest, "JSON-RPC batches are not part of MCP "+mcp.Version20260728, nil)
		case !hasHeader:
			return mcp.HeaderMismatch("MCP-Protocol-Version header is required")
		case b.Messages[0].Type == mcp.TypeRequest && meta == "":
			return mcp.HeaderMismatch("request lacks the _meta protocol version its MCP-Protocol-Version header names")
		}
	}
	return x.checkMirrors(b, stateless)
}

// checkMirrors compares Mcp-Method, Mcp-Name and Mcp-Param-* with the body.
// They are required in the stateless era and, when a client of an older
// revision sends them anyway, must still agree: an Envoy route, rate limit
// or RBAC rule keyed on them must see what Cedar authorized.
func (x *exchange) checkMirrors(b *mcp.Body, stateless bool) error {
	method, hasMethod := x.era.h.one(hdrMethod)
	name, hasName := x.era.h.one(hdrName)
	hasParams := len(x.era.h.params) > 0
	if b.Batch {
		if hasMethod || hasName || hasParams {
			return mcp.HeaderMismatch("mirrored headers cannot describe a batch")
		}
		return nil
	}
	m := b.Messages[0]
	if m.Type == mcp.TypeResponse {
		if hasMethod || hasName || hasParams {
			return mcp.HeaderMismatch("mirrored headers on a JSON-RPC response")
		}
		return nil
	}
	switch {
	case hasMethod && method != m.Method:
		return mcp.HeaderMismatch("Mcp-Method header does not match the body's method")
	case !hasMethod && stateless:
		return mcp.HeaderMismatch("Mcp-Method header is required")
	}
	bodyName, mirroredName, err := mirroredValue(m)
	if err != nil {
		return err
	}
	switch {
	case !mirroredName && hasName:
		return mcp.HeaderMismatch("Mcp-Name header is not defined for " + sanitize(m.Method))
	case mirroredName && hasName:
		dec, err := mcp.DecodeHeaderValue(name)
		if err != nil {
			return mcp.HeaderMismatch("Mcp-Name header: " + mcpguard.SafeMessage(err))
		}
		if dec != bodyName {
			return mcp.HeaderMismatch("Mcp-Name header does not match the body")
		}
	case mirroredName && stateless:
		return mcp.HeaderMismatch("Mcp-Name header is required for " + m.Method)
	}
	if m.Method != mcp.MethodToolsCall {
		if hasParams {
			return mcp.HeaderMismatch("Mcp-Param headers are defined for tools/call only")
		}
		return nil
	}
	tc, err := m.ToolCall()
	if err != nil {
		return err
	}
	return x.checkParamHeaders(tc, stateless)
}

// mirroredValue is the body value Mcp-Name mirrors, read with the same
// accessors authorization uses, so the two can never disagree.
func mirroredValue(m *mcp.Message) (string, bool, error) {
	switch m.Method {
	case mcp.MethodToolsCall:
		tc, err := m.ToolCall()
		if err != nil {
			return "", true, err
		}
		return tc.Name, true, nil
	case mcp.MethodPromptsGet:
		pg, err := m.PromptGet()
		if err != nil {
			return "", true, err
		}
		return pg.Name, true, nil
	case mcp.MethodResourcesRead:
		rr, err := m.ResourceRead()
		if err != nil {
			return "", true, err
		}
		return rr.URI, true, nil
	}
	return "", false, nil
}

// checkParamHeaders compares each Mcp-Param-<name> header with the argument
// the tool's inputSchema marks with x-mcp-header: <name>. A header for a
// mark mcpguard has not learned (from tools/list) is refused, because it
// cannot be checked.
func (x *exchange) checkParamHeaders(tc *mcp.ToolCall, stateless bool) error {
	marks, known := x.s.marks.get(x.upstream.Host, tc.Name)
	if !known {
		if len(x.era.h.params) > 0 {
			return mcp.HeaderMismatch("Mcp-Param headers for a tool whose x-mcp-header marks are unknown (list the tools first)")
		}
		return nil
	}
	for name := range x.era.h.params {
		if !slices.ContainsFunc(marks, func(m mcp.HeaderMark) bool { return m.Header == name }) {
			return mcp.HeaderMismatch("Mcp-Param-" + sanitize(name) + " names no x-mcp-header of tool " + sanitize(tc.Name))
		}
	}
	for _, mark := range marks {
		hv, hasHeader := "", false
		if v := x.era.h.params[mark.Header]; len(v) > 0 {
			hv, hasHeader = v[0], true
		}
		arg, present := mcp.ArgumentAt(tc.Arguments, mark.Path)
		text, mirrorable := mcp.HeaderText(arg)
		switch {
		case !present || !mirrorable:
			if hasHeader {
				return mcp.HeaderMismatch("Mcp-Param-" + sanitize(mark.Header) + " header for an argument that is absent or not mirrorable")
			}
		case !hasHeader:
			if stateless {
				return mcp.HeaderMismatch("Mcp-Param-" + sanitize(mark.Header) + " header is required")
			}
		default:
			dec, err := mcp.DecodeHeaderValue(hv)
			if err != nil {
				return mcp.HeaderMismatch("Mcp-Param-" + sanitize(mark.Header) + " header: " + mcpguard.SafeMessage(err))
			}
			if dec != text {
				return mcp.HeaderMismatch("Mcp-Param-" + sanitize(mark.Header) + " header does not match the body")
			}
		}
	}
	return nil
}

// maxMarkedTools bounds the x-mcp-header marks kept per upstream.
const maxMarkedTools = 4096

// markStore holds the x-mcp-header marks of each upstream's tools, learned
// from the tools/list responses mcpguard filters. A tool whose definition
// had malformed marks is stored with bad set: none of its parameter
// headers can be checked.
type markStore struct {
	mu sync.RWMutex
	m  map[string]map[string]toolMarks // upstream host → tool → marks
}

type toolMarks struct {
	marks []mcp.HeaderMark
	bad   bool
}

func (s *markStore) get(upstream, tool string) ([]mcp.HeaderMark, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.m[upstream][tool]
	if !ok || t.bad {
		return nil, false
	}
	return t.marks, true
}

// learn records one listed tool's marks.
func (s *markStore) learn(upstream string, it mcp.ListItem) {
	marks, err := mcp.HeaderMarks(it.Raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[string]toolMarks{}
	}
	tools := s.m[upstream]
	if tools == nil {
		tools = map[string]toolMarks{}
		s.m[upstream] = tools
	}
	if _, ok := tools[it.Name]; !ok && len(tools) >= maxMarkedTools {
		return
	}
	tools[it.Name] = toolMarks{marks: marks, bad: err != nil}
}

// learnMarks wraps a tools/list keep function so every listed tool's
// x-mcp-header marks are learned, hidden tools included.
func (x *exchange) learnMarks(method string, keep func(mcp.ListItem) bool) func(mcp.ListItem) bool {
	if method != mcp.MethodToolsList {
		return keep
	}
	host := x.upstream.Host
	return func(it mcp.ListItem) bool {
		x.s.marks.learn(host, it)
		return keep(it)
	}
}

// markPrivate sets cacheScope "private" on a filtered list: what one user
// sees is not what another may see. Results of older revisions, which lack
// the member, get it only when the request was in the stateless era.
func (x *exchange) markPrivate(l *listExchange, body []byte) ([]byte, error) {
	out, changed, err := mcp.MarkPrivate(body, l.contentType, l.id, mcp.Stateless(x.era.version))
	if err != nil {
		return nil, err
	}
	l.private = changed
	return out, nil
}
