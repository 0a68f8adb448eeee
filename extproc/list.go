package extproc

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/toolpin"
)

// Visibility tells which listed items a caller could use, so list responses
// show only those.
type Visibility interface {
	Visible(ctx context.Context, id *authn.Identity, req authz.VisibilityRequest) (authz.VisibleFunc, error)
}

// DenyAll is the Authorizer and Visibility of a gateway with no policy:
// every request is refused with 403 and no listed item is visible, because
// mcpguard never lets through a request it has not authorized. It replaces
// a nil authorizer, so that "no policy" is a value one can see and test.
type DenyAll struct{}

// Authorize refuses every request.
func (DenyAll) Authorize(context.Context, *authn.Identity, authz.Request) (authz.Decision, error) {
	return authz.Decision{}, &mcpguard.Error{Kind: mcpguard.KindForbidden, Reason: "no_policy",
		Msg: "no authorization policy is configured; every request is denied"}
}

// Visible hides every listed item.
func (DenyAll) Visible(context.Context, *authn.Identity, authz.VisibilityRequest) (authz.VisibleFunc, error) {
	return func(mcp.ListItem) bool { return false }, nil
}

// Pins pins tool definitions (toolpin.Guard): List checks each tools/list
// response, CheckCall each tools/call.
type Pins interface {
	List(upstream string) (*toolpin.ListCheck, error)
	CheckCall(upstream, tool string) error
}

// pinUpstream is the key the pins of an upstream are stored under: the
// host requests are signed for, and the path when the upstream fixes one
// (two servers on one host are told apart by their paths).
func pinUpstream(u Upstream) string {
	if u.pinKey != "" {
		return u.pinKey
	}
	return pinKeyOf(u)
}

func pinKeyOf(u Upstream) string {
	if u.Path != "" {
		return u.Host + u.Path
	}
	return u.Host
}

// listExchange is the state of a list request whose response is filtered.
type listExchange struct {
	method      string
	id          json.RawMessage
	contentType string
	encoding    string
	noBody      bool // the response ended with its headers: nothing to filter
	stats       *mcp.ListStats
	pinEvents   map[string][]string // event → tool names
	failed      error
	private     bool // the body was rewritten to cacheScope "private"
}

// noteList remembers a list request so its response can be filtered. A
// list request inside a batch is refused: its answer would be an array
// element mcpguard could not tie to the filtering decision.
func (x *exchange) noteList(b *mcp.Body) error {
	for _, m := range b.Messages {
		if m.Type != mcp.TypeRequest || !mcp.ListMethod(m.Method) {
			continue
		}
		if b.Batch {
			return mcpguard.Ef(mcpguard.KindInvalidRequest, "%s cannot be sent in a batch", m.Method)
		}
		x.list = &listExchange{method: m.Method, id: m.ID}
	}
	return nil
}

// listModeOverride asks Envoy for the whole response body. A mode override
// replaces the processing mode for the rest of the request, so it restates
// every other mode unchanged. Envoy honours it only in answer to a headers
// message, which is why it is sent here, once the method is known.
func listModeOverride() *extprocfilterv3.ProcessingMode {
	return &extprocfilterv3.ProcessingMode{
		RequestHeaderMode:   extprocfilterv3.ProcessingMode_SEND,
		ResponseHeaderMode:  extprocfilterv3.ProcessingMode_SEND,
		RequestBodyMode:     extprocfilterv3.ProcessingMode_BUFFERED,
		ResponseBodyMode:    extprocfilterv3.ProcessingMode_BUFFERED,
		RequestTrailerMode:  extprocfilterv3.ProcessingMode_SKIP,
		ResponseTrailerMode: extprocfilterv3.ProcessingMode_SKIP,
	}
}

// responseHeadersAnswer continues the response, asking for the body when a
// list must be filtered.
func (x *exchange) responseHeadersAnswer() *extprocv3.ProcessingResponse {
	resp := continueResponseHeaders()
	if x.list != nil {
		resp.ModeOverride = listModeOverride()
	}
	return resp
}

// filterListBody rewrites a buffered list response to what the caller may
// use. Anything that cannot be filtered (a compressed or unparseable body,
// a missing response) is replaced by a JSON-RPC error: an unfiltered list
// never reaches the client.
func (x *exchange) filterListBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	l := x.list
	body := b.GetBody()
	out, err := x.filteredList(l, body, b.GetEndOfStream())
	if err != nil {
		l.failed = err
		x.outcome = audit.OutcomeError
		x.log.Error("list response refused", "method", l.method, "error", err)
		ct := l.contentType
		if !strings.Contains(strings.ToLower(ct), "text/event-stream") {
			ct = "application/json"
		}
		out = mcp.ListErrorBody(ct, l.id, -32603, "the server's list response could not be filtered", map[string]any{"request_id": x.hdr.requestID})
		return replaceResponseBody(out, true, ct)
	}
	if l.stats.Removed == 0 && !l.private {
		return continueResponseBody() // FilterListResponse returned the body as it was
	}
	return replaceResponseBody(out, false, "")
}

func (x *exchange) filteredList(l *listExchange, body []byte, end bool) ([]byte, error) {
	switch {
	case !end:
		return nil, mcpguard.E(mcpguard.KindInternal, "list response was not buffered whole", nil)
	case l.encoding != "" && !strings.EqualFold(l.encoding, "identity"):
		return nil, mcpguard.Ef(mcpguard.KindInternal, "list response is compressed (%s)", sanitize(l.encoding))
	case len(body) == 0:
		return nil, mcpguard.E(mcpguard.KindInternal, "list response is empty", nil)
	}
	visible, err := x.s.o.Visibility.Visible(x.ctx, x.id, authz.VisibilityRequest{SourceIP: x.sourceIP, SessionID: x.hdr.sessionID, RequestID: x.hdr.requestID, ProtocolVersion: x.era.version})
	if err != nil {
		return nil, err
	}
	keep := visible
	var check *toolpin.ListCheck
	if p := x.s.o.Pins; p != nil && l.method == mcp.MethodToolsList {
		if check, err = p.List(pinUpstream(x.upstream)); err != nil {
			return nil, err
		}
		keep = func(it mcp.ListItem) bool {
			// Every tool goes through the pin check, visible or not, so
			// a duplicate name fails the list whoever asks.
			return check.Keep(it.Name, it.Raw) && visible(it)
		}
	}
	keep = x.learnMarks(l.method, keep)
	out, stats, err := mcp.FilterListResponse(body, l.contentType, l.id, l.method, keep)
	if err != nil {
		return nil, err
	}
	if out, err = x.markPrivate(l, out); err != nil {
		return nil, err
	}
	if check != nil {
		res, err := check.Done()
		if err != nil {
			return nil, err
		}
		l.pinEvents = res.Events
		for event, names := range res.Events {
			x.log.Warn("tool definitions", "event", event, "tools", names)
		}
	}
	l.stats = &stats
	return out, nil
}

// replaceResponseBody answers a buffered response body with new bytes and
// the content-length that matches them (Envoy refuses a mismatch).
func replaceResponseBody(body []byte, asError bool, contentType string) *extprocv3.ProcessingResponse {
	mut := &extprocv3.HeaderMutation{
		SetHeaders:    []*corev3.HeaderValueOption{setHeader("content-length", strconv.Itoa(len(body)))},
		RemoveHeaders: []string{"content-encoding"},
	}
	if asError {
		mut.SetHeaders = append(mut.SetHeaders, setHeader("content-type", contentType))
	}
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{
				HeaderMutation: mut,
				BodyMutation:   &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}},
			}},
		},
	}
}

// checkPinnedCalls refuses calls the tool pins do not allow (in enforce
// mode: a changed tool awaiting approval, or one never listed).
func (x *exchange) checkPinnedCalls(b *mcp.Body) error {
	if x.s.o.Pins == nil || b == nil {
		return nil
	}
	for _, m := range b.Messages {
		if m.Method != mcp.MethodToolsCall {
			continue
		}
		tc, err := m.ToolCall()
		if err != nil {
			return err
		}
		if err := x.s.o.Pins.CheckCall(pinUpstream(x.upstream), tc.Name); err != nil {
			return err
		}
	}
	return nil
}
