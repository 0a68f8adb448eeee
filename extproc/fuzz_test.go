package extproc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/sigv4"
)

// memStream is an in-memory ext_proc stream: Recv hands out the messages
// Envoy would send, in order, then io.EOF (Envoy half-closes); Send records
// every answer. It lets the fuzz target drive Server.Process without gRPC.
type memStream struct {
	ctx  context.Context
	in   []*extprocv3.ProcessingRequest
	out  []*extprocv3.ProcessingResponse
	next int
}

func (m *memStream) Recv() (*extprocv3.ProcessingRequest, error) {
	if m.next >= len(m.in) {
		return nil, io.EOF
	}
	m.next++
	return m.in[m.next-1], nil
}

func (m *memStream) Send(r *extprocv3.ProcessingResponse) error {
	m.out = append(m.out, r)
	return nil
}

func (m *memStream) Context() context.Context            { return m.ctx }
func (m *memStream) SetHeader(metadata.MD) error         { return nil }
func (m *memStream) SendHeader(metadata.MD) error        { return nil }
func (m *memStream) SetTrailer(metadata.MD)              {}
func (m *memStream) SendMsg(any) error                   { return nil }
func (m *memStream) RecvMsg(any) error                   { return nil }
func (m *memStream) answers() int                        { return len(m.out) }
func (m *memStream) last() *extprocv3.ProcessingResponse { return m.out[len(m.out)-1] }

// recordingAuthz wraps fakeAuthz and remembers every decision, so the fuzz
// target can prove that whatever was signed had been allowed.
type recordingAuthz struct {
	inner fakeAuthz
	mu    sync.Mutex
	calls []authzCall
}

type authzCall struct {
	allow bool
	err   error
}

func (r *recordingAuthz) Authorize(ctx context.Context, id *authn.Identity, req authz.Request) (authz.Decision, error) {
	d, err := r.inner.Authorize(ctx, id, req)
	r.mu.Lock()
	r.calls = append(r.calls, authzCall{allow: err == nil && d.Allow && d.Err() == nil, err: err})
	r.mu.Unlock()
	return d, err
}

// fuzzRequest is one HTTP request as Envoy would describe it.
type fuzzRequest struct {
	method, path, contentType, contentEncoding string
	authMode                                   uint8
	auth                                       string
	extraKey, extraValue                       string
	body                                       []byte
}

func (fr fuzzRequest) headers() *corev3.HeaderMap {
	hm := &corev3.HeaderMap{}
	add := func(k, v string) {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	add(":method", fr.method)
	add(":scheme", "https")
	add(":authority", "gateway.example.com")
	add(":path", fr.path)
	add("x-request-id", "fuzz-1")
	if fr.contentType != "" {
		add("content-type", fr.contentType)
	}
	if fr.contentEncoding != "" {
		add("content-encoding", fr.contentEncoding)
	}
	switch fr.authMode % 4 {
	case 0:
		add("authorization", "Bearer alice")
	case 1:
		add("authorization", fr.auth)
	case 2: // no token
	case 3:
		add("authorization", "Bearer alice")
		add("authorization", fr.auth)
	}
	if fr.extraKey != "" {
		add(strings.ToLower(fr.extraKey), fr.extraValue)
	}
	return hm
}

// messages are what Envoy sends for the request with the filter
// configuration docs/extproc-contract.md prescribes: headers (end_of_stream when there is
// no body), the whole buffered body, and, once the request went upstream,
// the response headers.
func (fr fuzzRequest) messages() []*extprocv3.ProcessingRequest {
	attrs := map[string]*structpb.Struct{attributesKey: {Fields: map[string]*structpb.Value{
		"source.address": structpb.NewStringValue("192.0.2.10:5555"),
		"request.id":     structpb.NewStringValue("fuzz-1"),
	}}}
	pc := &extprocv3.ProtocolConfiguration{RequestBodyMode: extprocfilterv3.ProcessingMode_BUFFERED}
	eos := len(fr.body) == 0
	msgs := []*extprocv3.ProcessingRequest{{
		Request:        &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: fr.headers(), EndOfStream: eos}},
		Attributes:     attrs,
		ProtocolConfig: pc,
	}}
	if !eos {
		msgs = append(msgs, &extprocv3.ProcessingRequest{
			Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: fr.body, EndOfStream: true}},
		})
	}
	return append(msgs, &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{
			Headers: []*corev3.HeaderValue{{Key: ":status", RawValue: []byte("200")}},
		}}},
	})
}

// signedBy returns the authorization value a mutation sets, "" when it
// does not sign.
func signedBy(cr *extprocv3.CommonResponse) (string, *extprocv3.HeaderMutation) {
	mut := cr.GetHeaderMutation()
	for _, h := range mut.GetSetHeaders() {
		if h.GetHeader().GetKey() == "authorization" {
			return string(h.GetHeader().GetRawValue()), mut
		}
	}
	return "", mut
}

// checkRequestPath runs one request through Server.Process and checks the
// invariants of the whole request path: no panic escapes, every request
// ends in an explicit answer (an ImmediateResponse with a real status, or
// a signed continuation) or a failed stream — never a clean close — and
// nothing is signed that was not authenticated, parsed and allowed.
func checkRequestPath(t *testing.T, srv *Server, az *recordingAuthz, fr fuzzRequest) {
	t.Helper()
	st := &memStream{ctx: context.Background(), in: fr.messages()}
	err := srv.Process(st)

	if st.answers() == 0 {
		if err == nil {
			t.Fatalf("stream closed cleanly without an answer: Envoy would forward the request untouched")
		}
		return
	}
	signed := ""
	var mut *extprocv3.HeaderMutation
	for i, resp := range st.out {
		switch r := resp.GetResponse().(type) {
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			code := int(r.ImmediateResponse.GetStatus().GetCode())
			metadataDoc := fr.method == "GET" && authn.IsMetadataPath(fr.path)
			if code < 400 && !(code == 200 && metadataDoc) {
				t.Fatalf("immediate response with status %d", code)
			}
			if code >= 400 && !json.Valid(r.ImmediateResponse.GetBody()) {
				t.Fatalf("error body is not JSON: %q", r.ImmediateResponse.GetBody())
			}
			if i != len(st.out)-1 {
				t.Fatalf("messages after an immediate response")
			}
		case *extprocv3.ProcessingResponse_RequestHeaders:
			if s, m := signedBy(r.RequestHeaders.GetResponse()); s != "" {
				signed, mut = s, m
			}
		case *extprocv3.ProcessingResponse_RequestBody:
			s, m := signedBy(r.RequestBody.GetResponse())
			if s == "" {
				t.Fatalf("body answered CONTINUE without a signature: the request would go upstream unsigned")
			}
			signed, mut = s, m
			if r.RequestBody.GetResponse().GetBodyMutation() != nil {
				t.Fatalf("the body was mutated; the signature must cover the client's bytes")
			}
		case *extprocv3.ProcessingResponse_ResponseHeaders:
			if signed == "" {
				t.Fatalf("response phase reached without a signed request")
			}
		default:
			t.Fatalf("unexpected response %T", r)
		}
	}
	last := st.last()
	if last.GetImmediateResponse() == nil && signed == "" {
		t.Fatalf("the request was neither answered nor signed (last answer %T); stream error %v", last.GetResponse(), err)
	}
	if signed == "" {
		return
	}

	// Whatever was signed was authenticated, of an allowed method, parsed
	// strictly and allowed by the authorizer.
	if !strings.HasPrefix(signed, "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY000001/") {
		t.Fatalf("authorization set to %q", signed)
	}
	if fr.authMode%4 == 2 || fr.authMode%4 == 3 || (fr.authMode%4 == 1 && fr.auth != "Bearer alice") {
		t.Fatalf("signed a request without exactly one valid token (mode %d, %q)", fr.authMode%4, fr.auth)
	}
	switch fr.method {
	case "POST":
		b, perr := mcp.Parse(fr.body, mcp.Limits{MaxBytes: 1 << 20})
		if perr != nil {
			t.Fatalf("signed a body the parser refuses: %v", perr)
		}
		for _, m := range b.Messages {
			if m.Method == mcp.MethodToolsCall {
				if tc, err := m.ToolCall(); err != nil || tc.Name == "forbidden" {
					t.Fatalf("signed a tools/call the policy denies or cannot read: %v", err)
				}
			}
		}
	case "GET", "DELETE":
		if len(fr.body) != 0 {
			t.Fatalf("signed a %s with a body", fr.method)
		}
	default:
		t.Fatalf("signed HTTP method %q", fr.method)
	}
	az.mu.Lock()
	calls := append([]authzCall(nil), az.calls...)
	az.mu.Unlock()
	if len(calls) == 0 || !calls[len(calls)-1].allow {
		t.Fatalf("signed without an allowing decision: %+v", calls)
	}
	if k := strings.ToLower(fr.extraKey); removableHeader(k) {
		removed := false
		for _, n := range mut.GetRemoveHeaders() {
			removed = removed || n == k
		}
		for _, h := range mut.GetSetHeaders() {
			removed = removed || h.GetHeader().GetKey() == k
		}
		if !removed {
			t.Fatalf("client-sent %s survives the signing mutation", k)
		}
	}
}

func newFuzzServer(t testing.TB) (*Server, *recordingAuthz) {
	t.Helper()
	az := &recordingAuthz{}
	srv, err := New(Options{
		Authn:        fakeAuthn{},
		Authz:        az,
		Visibility:   &az.inner,
		Creds:        &fakeCreds{},
		Signer:       sigv4.New(sigv4.Options{}),
		Upstream:     Upstream{Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp", Path: "/mcp"},
		MaxBodyBytes: 1 << 20,
		// A fixed clock: a saved crasher must reproduce forever.
		Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, az
}

// FuzzRequestPath fuzzes headers and body of whole requests through the
// ext_proc handler with in-memory fakes for every stage but the parser and
// the signer, which are the real ones.
func FuzzRequestPath(f *testing.F) {
	const ct = "application/json"
	seeds := []fuzzRequest{
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forbidden"}}`)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"forbidden"}}]`)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall","params":{"name":"forbidd\u0065n"}}`)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","Name":"forbidden"}}`)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte("\xef\xbb\xbf{}")},
		{method: "POST", path: "/mcp", contentType: "text/plain", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: "application/json; charset=utf-16", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, contentEncoding: "gzip", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct},
		{method: "PUT", path: "/mcp", contentType: ct, body: []byte(toolCall)},
		{method: "GET", path: "/mcp"},
		{method: "DELETE", path: "/mcp", extraKey: "mcp-session-id", extraValue: "s-1"},
		{method: "GET", path: "/.well-known/oauth-protected-resource/mcp", authMode: 2},
		{method: "POST", path: "/mcp", contentType: ct, authMode: 1, auth: "Bearer panic", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, authMode: 3, auth: "Bearer alice", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, extraKey: "X-Amz-Security-Token", extraValue: "client", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, extraKey: "x-mcpguard-upstream", extraValue: "evil", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, extraKey: "content-length", extraValue: "99999999999", body: []byte(toolCall)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`[]`)},
		{method: "POST", path: "/mcp", contentType: ct, body: []byte(`{"jsonrpc":"2.0","id":1e999,"method":"ping"}`)},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.contentType, s.contentEncoding, s.authMode, s.auth, s.extraKey, s.extraValue, s.body)
	}
	srv, az := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, method, path, contentType, contentEncoding string, authMode uint8, auth, extraKey, extraValue string, body []byte) {
		checkRequestPath(t, srv, az, fuzzRequest{
			method: method, path: path, contentType: contentType, contentEncoding: contentEncoding,
			authMode: authMode, auth: auth, extraKey: extraKey, extraValue: extraValue, body: body,
		})
	})
}

// TestHugeBodiesAtTheHandler sends the bodies Envoy's buffer limit stops in
// front of mcpguard straight to the handler, so mcpguard's own limits are
// proven too: each is refused with an explicit answer and nothing signed.
func TestHugeBodiesAtTheHandler(t *testing.T) {
	call := func(arg string) []byte {
		return []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls","x":` + arg + `}}}`)
	}
	var batch bytes.Buffer
	batch.WriteByte('[')
	for i := range 10000 {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.WriteString(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	}
	batch.WriteByte(']')
	tests := []struct {
		name   string
		body   []byte
		status int
	}{
		{"10000-deep nesting", call(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)), 400},
		{"10 MB string", call(`"` + strings.Repeat("A", 10<<20) + `"`), 413},
		{"batch of 10000", batch.Bytes(), 400},
		{"100 000 duplicate keys", call(`{` + strings.Repeat(`"k":1,`, 100000) + `"z":1}`), 400},
	}
	srv, az := newFuzzServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := fuzzRequest{method: "POST", path: "/mcp", contentType: "application/json", body: tt.body}
			checkRequestPath(t, srv, az, fr)
			st := &memStream{ctx: context.Background(), in: fr.messages()}
			if err := srv.Process(st); err != nil {
				t.Fatalf("Process: %v", err)
			}
			if got := int(st.last().GetImmediateResponse().GetStatus().GetCode()); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
		})
	}
}

// TestRepeatedContentHeaders: with two content-type or content-encoding
// headers the upstream reads the first while mcpguard must not decide on
// another; anything but exactly one acceptable value is refused with 415.
func TestRepeatedContentHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		status  int
	}{
		{"content-type json last", []string{"content-type", "text/plain", "content-type", "application/json"}, 400},
		{"content-type utf-16 first", []string{"content-type", "application/json; charset=utf-16", "content-type", "application/json"}, 400},
		{"content-encoding gzip first", []string{"content-type", "application/json", "content-encoding", "gzip", "content-encoding", "identity"}, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			r := post(toolCall, append([]string{"authorization", "Bearer alice"}, tt.headers...)...)
			r.Headers = r.Headers[1:] // drop post's own content-type; the case gives them
			out := h.filter.ProcessRequest(context.Background(), r)
			defer out.Close()
			if out.Immediate == nil || out.Immediate.Status != tt.status {
				t.Fatalf("want %d, got %+v", tt.status, out.Immediate)
			}
		})
	}
}
