package extproc

import (
	"encoding/json"
	"strconv"
	"time"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/mcp"
)

// errorMapping is what a client receives for one kind of failure.
type errorMapping struct {
	status int
	code   int // JSON-RPC error code
}

// errorTable is the single mapping from error kind to HTTP status and
// JSON-RPC error code. JSON-RPC reserves -32768..-32000; -32700 and -32600
// are the standard parse and invalid-request codes, the others are in the
// implementation-defined server range.
var errorTable = map[mcpguard.Kind]errorMapping{
	mcpguard.KindUnauthenticated:        {401, -32001},
	mcpguard.KindForbidden:              {403, -32003},
	mcpguard.KindParseError:             {400, -32700},
	mcpguard.KindInvalidRequest:         {400, -32600},
	mcpguard.KindUnsupportedMediaType:   {415, -32600},
	mcpguard.KindTooLarge:               {413, -32600},
	mcpguard.KindCredentialsUnavailable: {503, -32005},
	mcpguard.KindUnavailable:            {503, -32000},
	mcpguard.KindInternal:               {500, -32603},
	// The 2026-07-28 revision's codes (-32020..-32099 is the spec's range).
	mcpguard.KindHeaderMismatch:     {400, -32020},
	mcpguard.KindUnsupportedVersion: {400, -32022},
	mcpguard.KindSessionNotFound:    {404, -32000},
	mcpguard.KindRateLimited:        {429, -32006},
}

// mappingFor returns the table entry for kind, falling back to internal so an
// unknown kind can never produce a success status.
func mappingFor(kind mcpguard.Kind) errorMapping {
	if m, ok := errorTable[kind]; ok {
		return m
	}
	return errorTable[mcpguard.KindInternal]
}

// defaultRetryAfter is sent with 503 when the failing stage gave no hint.
const defaultRetryAfter = 5 * time.Second

// denial describes an ImmediateResponse that ends a request.
type denial struct {
	err       error
	jsonrpcID json.RawMessage
	requestID string
	challenge string // WWW-Authenticate value for 401
	stepUp    string // WWW-Authenticate insufficient_scope value for a 403
}

// immediate builds the ImmediateResponse for a failed request: explicit
// status (Envoy would default an unset status to 200), a JSON-RPC error body
// carrying the request's id and data.request_id, and content-type JSON.
func immediate(d denial) *extprocv3.ProcessingResponse {
	kind := mcpguard.KindOf(d.err)
	m := mappingFor(kind)
	data := map[string]any{"kind": kind.String()}
	if d.requestID != "" {
		data["request_id"] = d.requestID
	}
	for k, v := range errorData(d.err) {
		data[k] = v
	}
	body := mcp.ErrorBody(d.jsonrpcID, m.code, mcpguard.SafeMessage(d.err), data)

	headers := []*corev3.HeaderValueOption{
		setHeader("content-type", "application/json"),
		setHeader("cache-control", "no-store"),
	}
	if m.status == 401 && d.challenge != "" {
		headers = append(headers, setHeader("www-authenticate", d.challenge))
	}
	if m.status == 403 && d.stepUp != "" {
		headers = append(headers, setHeader("www-authenticate", d.stepUp))
	}
	if m.status == 503 || m.status == 429 {
		ra := mcpguard.RetryAfterOf(d.err)
		if ra <= 0 {
			ra = defaultRetryAfter
		}
		secs := int((ra + time.Second - 1) / time.Second)
		headers = append(headers, setHeader("retry-after", strconv.Itoa(secs)))
	}
	return immediateResponse(m.status, headers, body, "mcpguard_"+kind.String())
}

// immediateResponse wraps a local reply for Envoy.
func immediateResponse(status int, headers []*corev3.HeaderValueOption, body []byte, details string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ImmediateResponse{
			ImmediateResponse: &extprocv3.ImmediateResponse{
				Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)}, //nolint:gosec // an HTTP status, 100–599
				Headers: &extprocv3.HeaderMutation{SetHeaders: headers},
				Body:    body,
				Details: details,
			},
		},
	}
}

// setHeader is a header mutation that replaces any existing value. Only
// raw_value is set: Envoy reads raw_value and rejects a HeaderValue that sets
// both fields.
func setHeader(key, value string) *corev3.HeaderValueOption {
	p := &struct {
		o corev3.HeaderValueOption
		h corev3.HeaderValue
	}{}
	p.h.Key, p.h.RawValue = key, []byte(value)
	p.o.Header, p.o.AppendAction = &p.h, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	return &p.o
}

// setHeaders builds the set_headers of one mutation with two allocations
// however many headers it holds: the options and the header values. Each
// raw value aliases the bytes of its string instead of copying them: the
// strings are immutable, and the response is only marshalled, which reads
// them.
type setHeaders struct {
	opts []*corev3.HeaderValueOption
	vals []corev3.HeaderValueOption
	hdrs []corev3.HeaderValue
}

// newSetHeaders makes room for n headers.
func newSetHeaders(n int) *setHeaders {
	return &setHeaders{
		opts: make([]*corev3.HeaderValueOption, 0, n),
		vals: make([]corev3.HeaderValueOption, n),
		hdrs: make([]corev3.HeaderValue, n),
	}
}

// add appends key: value, as setHeader would build it.
func (s *setHeaders) add(key, value string) {
	i := len(s.opts)
	s.hdrs[i].Key, s.hdrs[i].RawValue = key, unsafe.Slice(unsafe.StringData(value), len(value)) //nolint:gosec // read-only alias: only the marshaller reads RawValue
	s.vals[i].Header, s.vals[i].AppendAction = &s.hdrs[i], corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	s.opts = append(s.opts, &s.vals[i])
}

// continueHeaders answers a headers message without changes.
func continueRequestHeaders(mut *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	// The answer's four messages are one allocation.
	p := &struct {
		r extprocv3.ProcessingResponse
		o extprocv3.ProcessingResponse_RequestHeaders
		h extprocv3.HeadersResponse
		c extprocv3.CommonResponse
	}{}
	p.c.HeaderMutation = mut
	p.h.Response = &p.c
	p.o.RequestHeaders = &p.h
	p.r.Response = &p.o
	return &p.r
}

func continueRequestBody(mut *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	// The answer's four messages are one allocation.
	p := &struct {
		r extprocv3.ProcessingResponse
		o extprocv3.ProcessingResponse_RequestBody
		h extprocv3.BodyResponse
		c extprocv3.CommonResponse
	}{}
	p.c.HeaderMutation = mut
	p.h.Response = &p.c
	p.o.RequestBody = &p.h
	p.r.Response = &p.o
	return &p.r
}

func continueResponseHeaders() *extprocv3.ProcessingResponse {
	p := &struct {
		r extprocv3.ProcessingResponse
		o extprocv3.ProcessingResponse_ResponseHeaders
		h extprocv3.HeadersResponse
		c extprocv3.CommonResponse
	}{}
	p.h.Response = &p.c
	p.o.ResponseHeaders = &p.h
	p.r.Response = &p.o
	return &p.r
}

func continueResponseBody() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{}},
		},
	}
}

func continueRequestTrailers() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}},
	}
}

func continueResponseTrailers() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}},
	}
}
