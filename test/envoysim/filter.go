package envoysim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Request is an HTTP request as Envoy's filter chain holds it when ext_proc
// runs. Path is the raw request target (path and query, percent-encoding
// untouched). Headers exclude pseudo-headers and Host (that is Authority).
// An empty Body and no Trailers mean the request ended with its headers.
type Request struct {
	Method    string
	Scheme    string
	Authority string
	Path      string
	Headers   []Header
	Body      []byte
	// Trailers end the request after its body. With request_trailer_mode
	// SKIP (the only mode the simulator plays) they are not sent to the
	// processor, but their presence means the body message does not carry
	// end_of_stream, as in Envoy's Filter::onTrailers.
	Trailers []Header
	// Source is the downstream peer address as Envoy formats
	// source.address: "ip:port", or "[v6]:port" for IPv6. When set, it is
	// the value of the source.address attribute unless Config.Attributes
	// gives one.
	Source string
}

// Response is the upstream response entering the encoder path. A nil Body
// means the response ended with its headers.
type Response struct {
	Status  int
	Headers []Header
	Body    io.Reader
}

// LocalReply is a response Envoy generates itself (sendLocalReply): an
// ImmediateResponse, an ext_proc error, a 413. Details is what Envoy records
// as %RESPONSE_CODE_DETAILS%.
type LocalReply struct {
	Status     int
	Headers    []Header
	Body       []byte
	Details    string
	GRPCStatus *uint32
}

// Outcome is the result of the request phase. Exactly one of Immediate and
// Request is set. When Request is set the caller forwards it and then calls
// ProcessResponse (or Close if it never gets a response to process).
type Outcome struct {
	Immediate *LocalReply
	Request   *Request
	// Details are the response code details so far (for example
	// "ext_proc_error_gRPC_error_13"); empty when nothing went wrong.
	Details string
	s       *session
}

// ResponseOutcome is the result of the response phase: either a local reply
// replaces the response, or Status/Headers/Body go to the client. Body is the
// upstream reader itself when the body was not processed (so an SSE stream
// flows through unbuffered) and a buffered copy when it was (Buffered).
type ResponseOutcome struct {
	Immediate *LocalReply
	Status    int
	Headers   []Header
	Body      io.Reader
	Buffered  bool
	Details   string
}

// Message is one entry of the exchange log: a ProcessingRequest sent, a
// ProcessingResponse received, or a stream event such as a close or timeout.
type Message struct {
	Sent     *extprocv3.ProcessingRequest
	Received *extprocv3.ProcessingResponse
	Event    string
}

// Kind names the entry compactly ("send:request_headers",
// "recv:immediate_response", "event:grpc_close_ok") so tests can assert the
// exact sequence of the exchange.
func (m Message) Kind() string {
	switch {
	case m.Sent != nil:
		return "send:" + requestKind(m.Sent)
	case m.Received != nil:
		return "recv:" + responseKind(m.Received)
	}
	return "event:" + m.Event
}

// Kinds returns Kind for every entry of a log.
func Kinds(log []Message) []string {
	out := make([]string, len(log))
	for i, m := range log {
		out[i] = m.Kind()
	}
	return out
}

func requestKind(r *extprocv3.ProcessingRequest) string {
	switch r.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return kindRequestHeaders
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return kindResponseHeaders
	case *extprocv3.ProcessingRequest_RequestBody:
		return kindRequestBody
	case *extprocv3.ProcessingRequest_ResponseBody:
		return kindResponseBody
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return "request_trailers"
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return "response_trailers"
	}
	return "unknown"
}

func responseKind(r *extprocv3.ProcessingResponse) string {
	switch r.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		return kindRequestHeaders
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		return kindResponseHeaders
	case *extprocv3.ProcessingResponse_RequestBody:
		return kindRequestBody
	case *extprocv3.ProcessingResponse_ResponseBody:
		return kindResponseBody
	case *extprocv3.ProcessingResponse_RequestTrailers:
		return "request_trailers"
	case *extprocv3.ProcessingResponse_ResponseTrailers:
		return "response_trailers"
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		return kindImmediate
	case *extprocv3.ProcessingResponse_StreamedImmediateResponse:
		return "streamed_immediate_response"
	}
	if r.GetOverrideMessageTimeout() != nil {
		return "override_message_timeout"
	}
	return "none"
}

const (
	kindRequestHeaders  = "request_headers"
	kindResponseHeaders = "response_headers"
	kindRequestBody     = "request_body"
	kindResponseBody    = "response_body"
	kindImmediate       = "immediate_response"
)

// dirState is one direction's ProcessorState: what to send and whether the
// headers are still held for mutation.
type dirState struct {
	sendHeaders  bool
	bodyMode     extprocfilterv3.ProcessingMode_BodySendMode
	headersHeld  bool
	bodyReplaced bool
	attrsSent    bool
}

// shouldRemoveContentLength is ProcessorState::shouldRemoveContentLength for
// the simulated modes: BUFFERED with the headers not sent.
func (d *dirState) shouldRemoveContentLength() bool {
	return d.bodyMode == extprocfilterv3.ProcessingMode_BUFFERED && !d.sendHeaders
}

func (d *dirState) setMode(send extprocfilterv3.ProcessingMode_HeaderSendMode, body extprocfilterv3.ProcessingMode_BodySendMode) {
	// "headers are sent by default": only SKIP turns them off.
	d.sendHeaders = send != extprocfilterv3.ProcessingMode_SKIP
	d.bodyMode = body
}

type recvResult struct {
	resp *extprocv3.ProcessingResponse
	err  error
}

// session is one Filter instance: one HTTP request, at most one gRPC stream.
type session struct {
	f            *Filter
	mu           sync.Mutex
	log          []Message
	details      string
	rejected     int
	complete     bool // Envoy's processing_complete_
	protocolSent bool
	isHead       bool
	req, resp    dirState
	dyn          map[string]*structpb.Struct
	reqHeaders   *headerMap
	respStatus   int
	source       string // Request.Source
	streaming    bool   // a STREAMED response body owns the stream until it ends

	cs     extprocv3.ExternalProcessor_ProcessClient
	cancel context.CancelFunc
	recv   chan recvResult
	done   chan struct{}
	opened bool
}

func (f *Filter) newSession() *session {
	s := &session{f: f, dyn: make(map[string]*structpb.Struct, len(f.metadata))}
	for ns, st := range f.metadata {
		s.dyn[ns] = st
	}
	s.req.setMode(f.mode.GetRequestHeaderMode(), f.mode.GetRequestBodyMode())
	s.resp.setMode(f.mode.GetResponseHeaderMode(), f.mode.GetResponseBodyMode())
	return s
}

func (s *session) record(m Message) {
	s.mu.Lock()
	s.log = append(s.log, m)
	s.mu.Unlock()
}

// Log returns a copy of every message exchanged so far on this request's
// stream, in order, including the response phase.
func (o *Outcome) Log() []Message {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	return append([]Message(nil), o.s.log...)
}

// RejectedMutations counts header mutations Envoy would have ignored (stat
// rejected_header_mutations), so tests can prove a mutation was dropped.
func (o *Outcome) RejectedMutations() int {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	return o.s.rejected
}

// DynamicMetadata returns the request's dynamic metadata after the exchange:
// the configured namespaces plus what the processor wrote into namespaces
// listed in metadata_options.receiving_namespaces.
func (o *Outcome) DynamicMetadata() map[string]*structpb.Struct {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	out := make(map[string]*structpb.Struct, len(o.s.dyn))
	for k, v := range o.s.dyn {
		out[k] = v
	}
	return out
}

// Close ends the gRPC stream as Envoy does when the filter is destroyed. It
// is idempotent and called by ProcessResponse.
func (o *Outcome) Close() { o.s.closeStream() }

// ProcessRequest runs the decoder path of the filter for one request.
func (f *Filter) ProcessRequest(ctx context.Context, r *Request) *Outcome {
	s := f.newSession()
	o := &Outcome{s: s}
	s.isHead = r.Method == "HEAD"
	hm := requestHeaderMap(r)
	s.reqHeaders = hm
	body := append([]byte(nil), r.Body...)
	hasBody := len(body) > 0
	hasTrailers := len(r.Trailers) > 0
	s.source = r.Source

	finish := func(lr *LocalReply) *Outcome {
		o.Immediate = lr
		o.Details = s.details
		if lr == nil {
			o.Request = requestFromMap(hm, body)
			o.Request.Trailers = append([]Header(nil), r.Trailers...)
			o.Request.Source = r.Source
		}
		return o
	}

	// decodeHeaders → onHeaders: the headers message, then (after it has been
	// sent) content-length removal for the modes that strip it.
	sentHeaders := false
	if s.req.sendHeaders {
		if lr := s.send(ctx, s.headersMessage(hm, !hasBody && !hasTrailers, true)); lr != nil {
			return finish(lr)
		}
		sentHeaders = !s.complete
		s.req.headersHeld = sentHeaders
	}
	if !s.complete && s.req.shouldRemoveContentLength() {
		hm.remove("content-length")
	}
	if sentHeaders {
		resp, lr := s.wait(ctx, kindRequestHeaders)
		if lr != nil {
			return finish(lr)
		}
		if resp != nil {
			if lr := s.applyHeadersResponse(resp.GetRequestHeaders().GetResponse(), hm, &s.req, &body); lr != nil {
				return finish(lr)
			}
		}
	}

	if !s.complete && hasBody && !s.req.bodyReplaced {
		switch s.req.bodyMode {
		case extprocfilterv3.ProcessingMode_NONE:
		case extprocfilterv3.ProcessingMode_BUFFERED:
			if len(body) > f.bufferLimit {
				// The filter manager's buffer overflows: local reply 413
				// (FilterManager, ResponseCodeDetails RequestPayloadTooLarge).
				// The reply still runs through this filter's encoder path.
				lr := &LocalReply{Status: 413, Body: []byte("Payload Too Large"), Details: "request_payload_too_large"}
				s.details = lr.Details
				return finish(s.localReplyThroughEncoder(ctx, lr))
			}
			// With trailers the complete body is known only when they
			// arrive, and Envoy sends it then without end_of_stream
			// (Filter::onTrailers, setupBodyChunk(..., false)).
			if lr := s.send(ctx, s.bodyMessage(body, !hasTrailers, true)); lr != nil {
				return finish(lr)
			}
			if !s.complete {
				resp, lr := s.wait(ctx, kindRequestBody)
				if lr != nil {
					return finish(lr)
				}
				if resp != nil {
					if lr := s.applyBodyResponse(resp.GetRequestBody().GetResponse(), hm, &s.req, &body); lr != nil {
						return finish(lr)
					}
				}
			}
		default:
			return finish(s.errorReply(500, "envoysim unsupported request body mode "+s.req.bodyMode.String()))
		}
	}
	s.req.headersHeld = false
	return finish(nil)
}

// ProcessResponse runs the encoder path for the upstream response and closes
// the stream. When the response body mode is NONE the returned Body is
// resp.Body itself; when it is BUFFERED the body is read whole, sent to the
// processor in one response_body message and the (possibly replaced) bytes
// returned. The caller owns resp.Body and closes it.
func (o *Outcome) ProcessResponse(ctx context.Context, resp *Response) *ResponseOutcome {
	s := o.s
	defer func() {
		if !s.streaming {
			s.closeStream()
		}
	}()
	if o.Immediate != nil {
		return &ResponseOutcome{Immediate: o.Immediate, Details: o.Immediate.Details}
	}
	// Anything the processor sent while no call was outstanding is handled
	// now, as Envoy handles it on arrival.
	if lr := s.drain(ctx); lr != nil {
		return &ResponseOutcome{Immediate: lr, Details: s.details}
	}
	return s.encode(ctx, resp)
}

// localReplyThroughEncoder sends a filter-manager local reply through this
// filter's encoder path, as Envoy's sendLocalReply does.
func (s *session) localReplyThroughEncoder(ctx context.Context, lr *LocalReply) *LocalReply {
	defer s.closeStream()
	lr = finishLocalReply(lr, nil, permissiveChecker(), s.isHead)
	var body io.Reader
	if len(lr.Body) > 0 {
		body = bytes.NewReader(lr.Body)
	}
	ro := s.encode(ctx, &Response{Status: lr.Status, Headers: lr.Headers, Body: body})
	if ro.Immediate != nil {
		return ro.Immediate
	}
	b := lr.Body
	if ro.Buffered || s.streaming {
		b, _ = io.ReadAll(ro.Body)
	}
	return &LocalReply{Status: ro.Status, Headers: ro.Headers, Body: b, Details: lr.Details, GRPCStatus: lr.GRPCStatus}
}

func (s *session) encode(ctx context.Context, resp *Response) *ResponseOutcome {
	hm := &headerMap{}
	hm.add(":status", strconv.Itoa(resp.Status))
	for _, h := range resp.Headers {
		hm.add(strings.ToLower(h.Key), h.Value)
	}
	s.respStatus = resp.Status
	hasBody := resp.Body != nil
	var body []byte
	var reader = resp.Body

	out := func(lr *LocalReply) *ResponseOutcome {
		if lr != nil {
			return &ResponseOutcome{Immediate: lr, Details: s.details}
		}
		status, _ := hm.first(":status")
		code, _ := strconv.Atoi(status)
		ro := &ResponseOutcome{Status: code, Headers: hm.regular(), Body: reader, Details: s.details}
		if s.resp.bodyReplaced || body != nil {
			ro.Body, ro.Buffered = bytes.NewReader(body), true
		}
		return ro
	}

	sentHeaders := false
	if !s.complete && s.resp.sendHeaders {
		if lr := s.send(ctx, s.headersMessage(hm, !hasBody, false)); lr != nil {
			return out(lr)
		}
		sentHeaders = !s.complete
		s.resp.headersHeld = sentHeaders
	}
	if !s.complete && s.resp.shouldRemoveContentLength() {
		hm.remove("content-length")
	}
	if sentHeaders {
		r, lr := s.wait(ctx, kindResponseHeaders)
		if lr != nil {
			return out(lr)
		}
		if r != nil {
			if lr := s.applyHeadersResponse(r.GetResponseHeaders().GetResponse(), hm, &s.resp, &body); lr != nil {
				return out(lr)
			}
			if s.resp.bodyReplaced && body == nil {
				body = []byte{}
			}
		}
	}
	if s.complete || !hasBody || s.resp.bodyReplaced {
		return out(nil)
	}
	switch s.resp.bodyMode {
	case extprocfilterv3.ProcessingMode_NONE:
		return out(nil)
	case extprocfilterv3.ProcessingMode_BUFFERED:
		b, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.f.bufferLimit)+1))
		if err != nil {
			s.details = "upstream_reset_after_response_started"
			s.complete = true
			return out(finishLocalReply(&LocalReply{Status: 502, Details: s.details}, nil, permissiveChecker(), s.isHead))
		}
		if len(b) > s.f.bufferLimit {
			// ActiveStreamEncoderFilter::responseDataTooLarge: local reply 500.
			s.details = "response_payload_too_large"
			s.complete = true
			return out(finishLocalReply(&LocalReply{Status: 500, Body: []byte("Internal Server Error"), Details: s.details}, nil, permissiveChecker(), s.isHead))
		}
		body = b
		if lr := s.send(ctx, s.bodyMessage(body, true, false)); lr != nil {
			return out(lr)
		}
		if s.complete {
			return out(nil)
		}
		r, lr := s.wait(ctx, kindResponseBody)
		if lr != nil {
			return out(lr)
		}
		if r != nil {
			if lr := s.applyBodyResponse(r.GetResponseBody().GetResponse(), hm, &s.resp, &body); lr != nil {
				return out(lr)
			}
		}
		if body == nil {
			body = []byte{}
		}
		return out(nil)
	case extprocfilterv3.ProcessingMode_STREAMED:
		// The processor may change every chunk, so the length is unknown.
		hm.remove("content-length")
		s.streaming = true
		ro := out(nil)
		ro.Body = &streamedBody{s: s, ctx: ctx, src: resp.Body, hm: hm}
		return ro
	}
	return out(s.errorReply(500, "envoysim unsupported response body mode "+s.resp.bodyMode.String()))
}

func requestHeaderMap(r *Request) *headerMap {
	hm := &headerMap{}
	hm.add(":authority", r.Authority)
	hm.add(":path", r.Path)
	hm.add(":method", r.Method)
	scheme := r.Scheme
	if scheme == "" {
		scheme = "http"
	}
	hm.add(":scheme", scheme)
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		if k == "host" {
			continue
		}
		hm.add(k, h.Value)
	}
	return hm
}

func requestFromMap(hm *headerMap, body []byte) *Request {
	r := &Request{Headers: hm.regular(), Body: body}
	r.Method, _ = hm.first(":method")
	r.Scheme, _ = hm.first(":scheme")
	r.Authority, _ = hm.first(":authority")
	r.Path, _ = hm.first(":path")
	return r
}

// headersMessage is Filter::buildHeaderRequest.
func (s *session) headersMessage(hm *headerMap, endOfStream, request bool) *extprocv3.ProcessingRequest {
	h := &extprocv3.HttpHeaders{Headers: s.f.headersToProto(hm), EndOfStream: endOfStream}
	req := &extprocv3.ProcessingRequest{}
	if request {
		req.Request = &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: h}
	} else {
		req.Request = &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: h}
	}
	s.decorate(req, request)
	return req
}

// bodyMessage is Filter::setupBodyChunk.
func (s *session) bodyMessage(body []byte, endOfStream, request bool) *extprocv3.ProcessingRequest {
	b := &extprocv3.HttpBody{Body: body, EndOfStream: endOfStream}
	req := &extprocv3.ProcessingRequest{}
	if request {
		req.Request = &extprocv3.ProcessingRequest_RequestBody{RequestBody: b}
	} else {
		req.Request = &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b}
	}
	s.decorate(req, request)
	return req
}

// decorate adds what every message carries: attributes on the first message
// of a direction (addAttributes), metadata_context on every message
// (addDynamicMetadata) and protocol_config on the first message of the
// stream (encodeProtocolConfig).
func (s *session) decorate(req *extprocv3.ProcessingRequest, request bool) {
	d, exprs := &s.resp, s.f.cfg.GetResponseAttributes()
	if request {
		d, exprs = &s.req, s.f.cfg.GetRequestAttributes()
	}
	if !d.attrsSent && len(exprs) > 0 {
		st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for _, e := range exprs {
			if v := s.attribute(e); v != nil {
				st.Fields[e] = v
			}
		}
		req.Attributes = map[string]*structpb.Struct{FilterName: st}
		d.attrsSent = true
	}
	md := &corev3.Metadata{}
	for _, ns := range s.f.forwarding {
		if st, ok := s.dyn[ns]; ok {
			if md.FilterMetadata == nil {
				md.FilterMetadata = map[string]*structpb.Struct{}
			}
			md.FilterMetadata[ns] = st
		}
	}
	req.MetadataContext = md
	if !s.protocolSent {
		req.ProtocolConfig = &extprocv3.ProtocolConfiguration{
			RequestBodyMode:                         s.req.bodyMode,
			ResponseBodyMode:                        s.resp.bodyMode,
			SendBodyWithoutWaitingForHeaderResponse: s.f.cfg.GetSendBodyWithoutWaitingForHeaderResponse(),
		}
		s.protocolSent = true
	}
}

func (s *session) attribute(expr string) *structpb.Value {
	if v, ok := s.f.attrs[expr]; ok {
		return v
	}
	hm := s.reqHeaders
	str := func(key string) *structpb.Value {
		if v, ok := hm.first(key); ok {
			return structpb.NewStringValue(v)
		}
		return nil
	}
	switch expr {
	case "request.path":
		return str(":path")
	case "request.url_path":
		p, _ := hm.first(":path")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return structpb.NewStringValue(p)
	case "request.host":
		return str(":authority")
	case "request.scheme":
		return str(":scheme")
	case "request.method":
		return str(":method")
	case "request.id":
		return str("x-request-id")
	case "source.address":
		if s.source != "" {
			return structpb.NewStringValue(s.source)
		}
	case "response.code":
		if s.respStatus != 0 {
			return structpb.NewNumberValue(float64(s.respStatus))
		}
	}
	return nil
}

// open starts the stream lazily, as Filter::openStream does on the first
// message. A failure to start is reported like a stream error.
func (s *session) open(ctx context.Context) *LocalReply {
	if s.opened {
		return nil
	}
	s.opened = true
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if len(s.f.grpcMD) > 0 {
		sctx = metadata.AppendToOutgoingContext(sctx, s.f.grpcMD...)
	}
	cs, err := s.f.client.Process(sctx)
	if err != nil {
		cancel()
		return s.onGrpcError(err)
	}
	s.cs, s.cancel = cs, cancel
	s.recv = make(chan recvResult)
	s.done = make(chan struct{})
	go func(cs extprocv3.ExternalProcessor_ProcessClient, ch chan<- recvResult, done <-chan struct{}) {
		for {
			r, err := cs.Recv()
			select {
			case ch <- recvResult{resp: r, err: err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}(cs, s.recv, s.done)
	return nil
}

func (s *session) closeStream() {
	if s.cs == nil {
		return
	}
	_ = s.cs.CloseSend()
	close(s.done)
	s.cancel()
	s.cs = nil
}

// send opens the stream if needed and sends one message. A stream that is
// already gone reports its final status through the receive side.
func (s *session) send(ctx context.Context, req *extprocv3.ProcessingRequest) *LocalReply {
	if s.complete {
		return nil
	}
	if lr := s.open(ctx); lr != nil || s.complete {
		return lr
	}
	s.record(Message{Sent: req})
	if err := s.cs.Send(req); err != nil {
		// The RPC has ended; its status arrives on the receive side.
		for {
			select {
			case r := <-s.recv:
				if r.err != nil {
					return s.onStreamEnd(r.err)
				}
				s.record(Message{Received: r.resp})
			case <-ctx.Done():
				return s.aborted()
			}
		}
	}
	return nil
}

// wait is the per-message timer plus Filter::onReceiveMessage for the one
// response Envoy expects. It returns the response to apply, or a local reply,
// or neither when processing completed (clean close, failure_mode_allow).
func (s *session) wait(ctx context.Context, expect string) (*extprocv3.ProcessingResponse, *LocalReply) {
	if s.complete {
		return nil, nil
	}
	timeout := s.f.messageTimeout
	// "0 means the timer fires immediately": no answer can beat it.
	if timeout <= 0 {
		return nil, s.onMessageTimeout()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	overridden := false
	for {
		select {
		case r := <-s.recv:
			if r.err != nil {
				return nil, s.onStreamEnd(r.err)
			}
			s.record(Message{Received: r.resp})
			if d := r.resp.GetOverrideMessageTimeout(); d != nil {
				// Filter::onNewTimeout: honoured once per call, within
				// [1ms, max_message_timeout]; the message is otherwise ignored.
				nd := d.AsDuration()
				if !overridden && nd >= time.Millisecond && nd <= s.f.maxMessageTimeout {
					overridden = true
					timer.Reset(nd)
				}
				continue
			}
			resp, lr, done := s.handle(r.resp, expect)
			if done {
				return resp, lr
			}
		case <-timer.C:
			return nil, s.onMessageTimeout()
		case <-ctx.Done():
			return nil, s.aborted()
		}
	}
}

// drain handles messages that arrived while no call was outstanding.
func (s *session) drain(ctx context.Context) *LocalReply {
	for !s.complete && s.cs != nil {
		select {
		case r := <-s.recv:
			if r.err != nil {
				return s.onStreamEnd(r.err)
			}
			s.record(Message{Received: r.resp})
			if r.resp.GetOverrideMessageTimeout() != nil {
				continue // no timer running: override_message_timeout_ignored
			}
			if _, lr, _ := s.handle(r.resp, ""); lr != nil {
				return lr
			}
		case <-ctx.Done():
			return s.aborted()
		default:
			return nil
		}
	}
	return nil
}

// handle is Filter::onReceiveMessage minus the timer. done is false only
// when the message must be ignored and waiting continues.
func (s *session) handle(r *extprocv3.ProcessingResponse, expect string) (*extprocv3.ProcessingResponse, *LocalReply, bool) {
	inHeaders := expect == kindRequestHeaders || expect == kindResponseHeaders
	cfg := s.f.cfg
	if cfg.GetAllowModeOverride() && !cfg.GetSendBodyWithoutWaitingForHeaderResponse() && inHeaders && r.GetModeOverride() != nil {
		s.modeOverride(r.GetModeOverride())
	}
	kind := responseKind(r)
	switch {
	case kind == expect && expect != "":
		s.receiveMetadata(r.GetDynamicMetadata())
		return r, nil, true
	case kind == kindImmediate:
		if cfg.GetDisableImmediateResponse() {
			return nil, s.spurious("unhandled immediate response due to config disabled it"), true
		}
		s.receiveMetadata(r.GetDynamicMetadata())
		s.complete = true
		s.closeStream()
		ir := r.GetImmediateResponse()
		status := 0
		if ir.GetStatus() != nil {
			status = int(ir.GetStatus().GetCode())
		}
		lr := &LocalReply{Status: status, Body: ir.GetBody(), Details: replaceAllEmptySpace(ir.GetDetails())}
		if g := ir.GetGrpcStatus(); g != nil {
			v := g.GetStatus()
			lr.GRPCStatus = &v
		}
		s.details = lr.Details
		// Envoy 1.36+ applies ImmediateResponse headers with the filter's
		// own mutation_rules (runtime guard
		// immediate_response_use_filter_mutation_rule, on by default): a
		// disallowed header is dropped and counted, and under
		// disallow_is_error it and every header after it are dropped; the
		// local reply is sent either way.
		lr, rej := applyLocalReply(lr, ir.GetHeaders(), s.f.checker, s.isHead)
		s.addRejected(rej)
		return nil, lr, true
	case kind == kindRequestHeaders || kind == kindResponseHeaders || kind == kindRequestBody || kind == kindResponseBody ||
		kind == "request_trailers" || kind == "response_trailers":
		// ProcessorState::handle*Response: wrong callback state.
		return nil, s.spurious("spurious message"), true
	}
	return nil, s.spurious("unhandled message"), true
}

// modeOverride applies effectiveModeOverride and allowed_override_modes
// (ext_proc.cc): DEFAULT header/trailer modes keep the configured value,
// body modes are always taken; both directions get the new mode.
func (s *session) modeOverride(mo *extprocfilterv3.ProcessingMode) {
	base := s.f.mode
	eff := &extprocfilterv3.ProcessingMode{
		RequestHeaderMode:   base.GetRequestHeaderMode(),
		ResponseHeaderMode:  base.GetResponseHeaderMode(),
		RequestTrailerMode:  base.GetRequestTrailerMode(),
		ResponseTrailerMode: base.GetResponseTrailerMode(),
		RequestBodyMode:     mo.GetRequestBodyMode(),
		ResponseBodyMode:    mo.GetResponseBodyMode(),
	}
	if mo.GetRequestHeaderMode() != extprocfilterv3.ProcessingMode_DEFAULT {
		eff.RequestHeaderMode = mo.GetRequestHeaderMode()
	}
	if mo.GetResponseHeaderMode() != extprocfilterv3.ProcessingMode_DEFAULT {
		eff.ResponseHeaderMode = mo.GetResponseHeaderMode()
	}
	if mo.GetRequestTrailerMode() != extprocfilterv3.ProcessingMode_DEFAULT {
		eff.RequestTrailerMode = mo.GetRequestTrailerMode()
	}
	if mo.GetResponseTrailerMode() != extprocfilterv3.ProcessingMode_DEFAULT {
		eff.ResponseTrailerMode = mo.GetResponseTrailerMode()
	}
	if allowed := s.f.cfg.GetAllowedOverrideModes(); len(allowed) > 0 {
		ok := false
		for _, a := range allowed {
			// request_header_mode is not compared: it cannot change any more.
			if a.GetRequestBodyMode() == eff.GetRequestBodyMode() && a.GetRequestTrailerMode() == eff.GetRequestTrailerMode() &&
				a.GetResponseHeaderMode() == eff.GetResponseHeaderMode() && a.GetResponseBodyMode() == eff.GetResponseBodyMode() &&
				a.GetResponseTrailerMode() == eff.GetResponseTrailerMode() {
				ok = true
				break
			}
		}
		if !ok {
			s.f.log.Debug("mode override disallowed")
			return
		}
	}
	s.req.setMode(eff.GetRequestHeaderMode(), eff.GetRequestBodyMode())
	s.resp.setMode(eff.GetResponseHeaderMode(), eff.GetResponseBodyMode())
}

// receiveMetadata is Filter::setDynamicMetadata: only namespaces listed in
// receiving_namespaces are kept; each must hold a Struct.
func (s *session) receiveMetadata(st *structpb.Struct) {
	if st == nil || len(s.f.receiving) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns, v := range st.GetFields() {
		if !s.f.receiving[ns] {
			continue
		}
		merged := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for k, fv := range s.dyn[ns].GetFields() {
			merged.Fields[k] = fv
		}
		for k, fv := range v.GetStructValue().GetFields() {
			merged.Fields[k] = fv
		}
		s.dyn[ns] = merged
	}
}

// applyHeadersResponse is ProcessorState::handleHeadersResponse.
func (s *session) applyHeadersResponse(cr *extprocv3.CommonResponse, hm *headerMap, d *dirState, body *[]byte) *LocalReply {
	replacing := cr.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
	if cr.GetHeaderMutation() != nil {
		rej, err := applyHeaderMutation(cr.GetHeaderMutation(), hm, replacing, s.f.checker, d.shouldRemoveContentLength())
		s.addRejected(rej)
		if err != nil {
			return s.errorReply(s.f.statusOnError, err.Error())
		}
	}
	if replacing {
		if cr.GetBodyMutation() != nil {
			// "Remove the content length here because in this case external
			// processor probably won't properly set the content-length".
			hm.remove("content-length")
			d.bodyReplaced = true
			*body = applyBodyMutation(cr.GetBodyMutation(), *body)
		}
		// No more messages in this direction.
		d.bodyMode = extprocfilterv3.ProcessingMode_NONE
		d.headersHeld = false
		return nil
	}
	// Headers stay held only while a BUFFERED body is still to be processed.
	if d.bodyMode != extprocfilterv3.ProcessingMode_BUFFERED {
		d.headersHeld = false
	}
	return nil
}

// applyBodyResponse is handleBufferedBodyCallback: the header mutation
// applies while the headers are held, then the body mutation, checked against
// content-length when the header is present.
func (s *session) applyBodyResponse(cr *extprocv3.CommonResponse, hm *headerMap, d *dirState, body *[]byte) *LocalReply {
	defer func() { d.headersHeld = false }()
	if cr.GetHeaderMutation() != nil && d.headersHeld {
		replacing := cr.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
		rej, err := applyHeaderMutation(cr.GetHeaderMutation(), hm, replacing, s.f.checker, d.shouldRemoveContentLength())
		s.addRejected(rej)
		if err != nil {
			return s.errorReply(s.f.statusOnError, err.Error())
		}
	}
	if bm := cr.GetBodyMutation(); bm != nil {
		if d.headersHeld {
			if cl, ok := hm.first("content-length"); ok {
				if n, err := strconv.ParseUint(cl, 10, 64); err == nil && n != uint64(len(bm.GetBody())) {
					return s.errorReply(s.f.statusOnError, "mismatch between content length and the length of the mutated body")
				}
			}
		}
		*body = applyBodyMutation(bm, *body)
		if *body == nil {
			*body = []byte{}
		}
	}
	return nil
}

func (s *session) addRejected(n int) {
	s.mu.Lock()
	s.rejected += n
	s.mu.Unlock()
}

// spurious: fail closed unless failure_mode_allow (runtime guard
// envoy.reloadable_features.ext_proc_fail_close_spurious_resp).
func (s *session) spurious(msg string) *LocalReply {
	s.record(Message{Event: "spurious_message"})
	if s.f.cfg.GetFailureModeAllow() {
		s.complete = true
		s.closeStream()
		return nil
	}
	return s.errorReply(s.f.statusOnError, msg)
}

// errorReply is Filter::handleErrorResponse.
func (s *session) errorReply(status int, msg string) *LocalReply {
	s.complete = true
	s.closeStream()
	s.details = replaceAllEmptySpace(msg)
	return finishLocalReply(&LocalReply{Status: status, Details: s.details}, nil, permissiveChecker(), s.isHead)
}

// onStreamEnd handles the end of the RPC: OK → onGrpcClose, else onGrpcError.
func (s *session) onStreamEnd(err error) *LocalReply {
	if errors.Is(err, io.EOF) {
		// "if the server closes the gRPC stream cleanly, then the data plane
		// proceeds without consulting the server" — pending mutations are lost.
		s.record(Message{Event: "grpc_close_ok"})
		s.complete = true
		s.closeStream()
		return nil
	}
	return s.onGrpcError(err)
}

func (s *session) onGrpcError(err error) *LocalReply {
	code := status.Code(err)
	s.record(Message{Event: fmt.Sprintf("grpc_error_%d", code)})
	s.complete = true
	s.closeStream()
	if s.f.cfg.GetFailureModeAllow() {
		return nil
	}
	s.details = fmt.Sprintf("ext_proc_error_gRPC_error_%d", code)
	return finishLocalReply(&LocalReply{Status: s.f.statusOnError, Details: s.details}, nil, permissiveChecker(), s.isHead)
}

func (s *session) onMessageTimeout() *LocalReply {
	s.record(Message{Event: "message_timeout"})
	s.complete = true
	s.closeStream()
	if s.f.cfg.GetFailureModeAllow() {
		return nil
	}
	s.details = "ext_proc_error_per-message_timeout_exceeded"
	return finishLocalReply(&LocalReply{Status: 504, Details: s.details}, nil, permissiveChecker(), s.isHead)
}

// aborted: the downstream went away; Envoy resets the stream and sends
// nothing. The reply is status 0 so a front end knows to write nothing.
func (s *session) aborted() *LocalReply {
	s.record(Message{Event: "downstream_reset"})
	s.complete = true
	s.closeStream()
	s.details = "downstream_remote_disconnect"
	return &LocalReply{Details: s.details}
}

// finishLocalReply is Filter::sendImmediateResponse plus the header
// preparation of Utility::sendLocalReply: status < 200 or unset → 200
// (DefaultImmediateStatus), header mutations applied (errors only logged),
// content-length and a text/plain content-type for a non-empty body unless
// the mutation set one, neither header for an empty body.
func finishLocalReply(lr *LocalReply, m *extprocv3.HeaderMutation, c *checker, head bool) *LocalReply {
	lr, _ = applyLocalReply(lr, m, c, head)
	return lr
}

// applyLocalReply is finishLocalReply that also reports how many header
// mutations the checker rejected.
func applyLocalReply(lr *LocalReply, m *extprocv3.HeaderMutation, c *checker, head bool) (*LocalReply, int) {
	rejected := 0
	if lr.Status < 200 {
		lr.Status = 200
	}
	hm := &headerMap{}
	hm.add(":status", strconv.Itoa(lr.Status))
	for _, h := range lr.Headers {
		hm.add(strings.ToLower(h.Key), h.Value)
	}
	if m != nil {
		rejected, _ = applyHeaderMutation(m, hm, false, c, false)
	}
	if len(lr.Body) > 0 && !head {
		hm.set("content-length", strconv.Itoa(len(lr.Body)))
		if !hm.has("content-type") {
			hm.set("content-type", "text/plain")
		}
	} else {
		hm.remove("content-length")
		hm.remove("content-type")
		lr.Body = nil
	}
	if st, ok := hm.first(":status"); ok {
		if n, err := strconv.Atoi(st); err == nil {
			lr.Status = n
		}
	}
	lr.Headers = hm.regular()
	return lr, rejected
}

// replaceAllEmptySpace is StringUtil::replaceAllEmptySpace, applied by Envoy
// to local reply details.
func replaceAllEmptySpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\f', '\v', '\n', '\r':
			return '_'
		}
		return r
	}, s)
}
