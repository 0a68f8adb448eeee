package extproc

import (
	"bytes"
	"net/http"
	"strings"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/toolpin"
)

// maxPendingEvent bounds the bytes of one SSE event mcpguard holds back
// while it waits for the rest of the event.
const maxPendingEvent = 4 << 20

// streamExchange is the state of a long-lived SSE response (the GET stream
// of the older era, resumed or not, and subscriptions/listen) whose list
// results are filtered event by event as the chunks arrive.
type streamExchange struct {
	pending  []byte // an event not yet terminated
	visible  authz.VisibleFunc
	lists    int // list results filtered
	removed  int // items removed from them
	dropped  int // events that could not be filtered and were not passed on
	failed   error
	encoding string
	ctype    string
	chunks   int  // body messages seen
	noBody   bool // the response ended with its headers
}

// streamRequest reports whether the request opens a stream whose list
// results must be filtered: GET (the older era's server stream and its
// resumption with Last-Event-ID) and subscriptions/listen.
func (x *exchange) streamRequest() bool {
	if x.list != nil || x.id == nil {
		return false
	}
	if x.hdr.method == http.MethodGet {
		return true
	}
	return x.body != nil && !x.body.Batch && x.body.Messages[0].Method == mcp.MethodSubscriptionsListen
}

// noteResponseHeader records what the stream filter needs from the
// upstream's response headers.
func (x *exchange) noteResponseHeader(key, value string) {
	x.noteIssuedSession(key, value)
	if !x.streamRequest() {
		return
	}
	if x.era.stream == nil {
		x.era.stream = &streamExchange{}
	}
	switch key {
	case "content-type":
		x.era.stream.ctype = value
	case "content-encoding":
		if x.era.stream.encoding != "" {
			x.era.stream.encoding += ", "
		}
		x.era.stream.encoding += value
	}
}

// streamModeOverride asks Envoy for a stream's body chunk by chunk
// (STREAMED), restating every other mode, when the response is an event
// stream. Other answers (JSON errors, 202, 405) carry no list to filter.
func (x *exchange) streamModeOverride(resp *extprocv3.ProcessingResponse) {
	st := x.era.stream
	if st == nil || !strings.Contains(strings.ToLower(st.ctype), "text/event-stream") {
		x.era.stream = nil
		return
	}
	resp.ModeOverride = &extprocfilterv3.ProcessingMode{
		RequestHeaderMode:   extprocfilterv3.ProcessingMode_SEND,
		ResponseHeaderMode:  extprocfilterv3.ProcessingMode_SEND,
		RequestBodyMode:     extprocfilterv3.ProcessingMode_BUFFERED,
		ResponseBodyMode:    extprocfilterv3.ProcessingMode_STREAMED,
		RequestTrailerMode:  extprocfilterv3.ProcessingMode_SKIP,
		ResponseTrailerMode: extprocfilterv3.ProcessingMode_SKIP,
	}
}

// streamRequestMutation makes the upstream answer a stream uncompressed, so
// it can be filtered; accept-encoding is not signed.
func (x *exchange) streamRequestMutation(mut *extprocv3.HeaderMutation) {
	if (x.hdr.method == http.MethodGet || x.body != nil && !x.body.Batch && x.body.Messages[0].Method == mcp.MethodSubscriptionsListen) &&
		containsName(x.hdr.names, "accept-encoding") {
		mut.RemoveHeaders = append(mut.RemoveHeaders, "accept-encoding")
	}
}

func containsName(names []string, n string) bool {
	for _, v := range names {
		if v == n {
			return true
		}
	}
	return false
}

// filterStreamBody passes the complete events of a chunk on, with every
// list result filtered, and holds back an event not yet terminated. What
// cannot be filtered resets the stream: after the headers, a reset is the
// only refusal left, and nothing unfiltered reaches the client.
func (x *exchange) filterStreamBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	st := x.era.stream
	st.chunks++
	chunk := b.GetBody()
	if st.failed != nil {
		return x.streamReset(st.failed)
	}
	if e := st.encoding; e != "" && !strings.EqualFold(e, "identity") {
		return x.streamReset(mcpguard.Ef(mcpguard.KindInternal, "stream response is compressed (%s)", sanitize(e)))
	}
	held := len(st.pending)
	data := append(st.pending, chunk...)
	complete, rest := mcp.SplitSSE(data)
	if b.GetEndOfStream() {
		// An unterminated event is never dispatched by a client.
		rest = nil
	}
	if len(rest) > maxPendingEvent {
		return x.streamReset(mcpguard.E(mcpguard.KindInternal, "stream event too large to filter", nil))
	}
	st.pending = append([]byte(nil), rest...)
	out, err := x.filterEvents(complete)
	if err != nil {
		return x.streamReset(err)
	}
	if held == 0 && len(rest) == 0 && bytes.Equal(out, chunk) {
		return continueResponseBody()
	}
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{
				BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: out}},
			}},
		},
	}
}

// filterEvents filters the list results among complete events. An event
// whose data is not one strict JSON-RPC message, or an ambiguous list, is
// dropped.
func (x *exchange) filterEvents(complete []byte) ([]byte, error) {
	if len(complete) == 0 {
		return nil, nil
	}
	events, err := mcp.ParseSSE(complete)
	if err != nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "stream events cannot be parsed", err)
	}
	st := x.era.stream
	kept := events[:0]
	changed := false
	for _, ev := range events {
		if !ev.HasData || ev.Data == "" {
			kept = append(kept, ev)
			continue
		}
		method, id, err := mcp.ListResultMethod([]byte(ev.Data))
		if err != nil {
			st.dropped++
			changed = true
			x.log.Warn("stream event dropped: not a JSON-RPC message mcpguard can filter", "error", err)
			continue
		}
		if method == "" {
			kept = append(kept, ev)
			continue
		}
		out, err := x.filterStreamList([]byte(ev.Data), method, id)
		if err != nil {
			st.dropped++
			changed = true
			x.log.Warn("stream list result dropped: it could not be filtered", "method", method, "error", err)
			continue
		}
		ev.Data, ev.Raw = string(out), nil
		kept = append(kept, ev)
		changed = true
	}
	if !changed {
		return complete, nil
	}
	out, err := mcp.WriteSSE(kept)
	if err != nil {
		return nil, mcpguard.E(mcpguard.KindInternal, "stream events cannot be written", err)
	}
	return out, nil
}

// filterStreamList applies the list rules of tools/list responses (policy
// visibility, tool pinning) to one list result on a stream and marks it
// private.
func (x *exchange) filterStreamList(msg []byte, method string, id []byte) ([]byte, error) {
	st := x.era.stream
	if st.visible == nil {
		v, err := x.s.o.Visibility.Visible(x.ctx, x.id, authz.VisibilityRequest{SourceIP: x.sourceIP, SessionID: x.hdr.sessionID,
			RequestID: x.hdr.requestID, ProtocolVersion: x.era.version})
		if err != nil {
			return nil, err
		}
		st.visible = v
	}
	keep := st.visible
	var check *toolpin.ListCheck
	if p := x.s.o.Pins; p != nil && method == mcp.MethodToolsList {
		var err error
		if check, err = p.List(pinUpstream(x.upstream)); err != nil {
			return nil, err
		}
		keep = func(it mcp.ListItem) bool {
			return check.Keep(it.Name, it.Raw) && st.visible(it)
		}
	}
	keep = x.learnMarks(method, keep)
	out, stats, err := mcp.FilterListResponse(msg, "application/json", id, method, keep)
	if err != nil {
		return nil, err
	}
	if check != nil {
		res, err := check.Done()
		if err != nil {
			return nil, err
		}
		for event, names := range res.Events {
			x.log.Warn("tool definitions on a stream", "event", event, "tools", names)
		}
	}
	if out, _, err = mcp.MarkPrivate(out, "application/json", id, mcp.Stateless(x.era.version)); err != nil {
		return nil, err
	}
	st.lists++
	st.removed += stats.Removed
	return out, nil
}

// checkStreamSeen makes a stream whose body never reached mcpguard loud:
// Envoy ignored the STREAMED mode override (allow_mode_override is off),
// so its list results went by unfiltered.
func (x *exchange) checkStreamSeen() {
	st := x.era.stream
	if st == nil || st.noBody || st.chunks > 0 || st.failed != nil || x.status == 0 {
		return
	}
	st.failed = mcpguard.E(mcpguard.KindInternal, "stream passed unfiltered: Envoy did not send its body (allow_mode_override must be true)", nil)
	x.outcome = audit.OutcomeError
	x.log.Error("stream passed unfiltered; set allow_mode_override: true on the ext_proc filter")
}

// streamReset ends a stream that cannot be filtered: Envoy resets a
// response whose headers went out when the processor answers with a local
// reply.
func (x *exchange) streamReset(err error) *extprocv3.ProcessingResponse {
	st := x.era.stream
	if st.failed == nil {
		st.failed = err
		x.log.Error("stream refused mid-response", "error", err)
	}
	x.outcome = audit.OutcomeError
	x.answered = true
	return immediate(denial{err: err, jsonrpcID: x.jsonrpcID, requestID: x.hdr.requestID})
}
