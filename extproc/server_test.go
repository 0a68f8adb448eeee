package extproc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/credential"
	"github.com/mcpguard/mcpguard/envoy"
	"github.com/mcpguard/mcpguard/sigv4"
	"github.com/mcpguard/mcpguard/test/envoysim"
)

// TestErrorTable pins the one mapping from error kind to HTTP status and
// JSON-RPC code that every denial goes through.
func TestErrorTable(t *testing.T) {
	tests := []struct {
		kind   mcpguard.Kind
		status int
		code   int
	}{
		{mcpguard.KindUnauthenticated, 401, -32001},
		{mcpguard.KindForbidden, 403, -32003},
		{mcpguard.KindParseError, 400, -32700},
		{mcpguard.KindInvalidRequest, 400, -32600},
		{mcpguard.KindUnsupportedMediaType, 415, -32600},
		{mcpguard.KindTooLarge, 413, -32600},
		{mcpguard.KindCredentialsUnavailable, 503, -32005},
		{mcpguard.KindUnavailable, 503, -32000},
		{mcpguard.KindInternal, 500, -32603},
		{mcpguard.KindHeaderMismatch, 400, -32020},
		{mcpguard.KindUnsupportedVersion, 400, -32022},
		{mcpguard.KindSessionNotFound, 404, -32000},
		{mcpguard.KindRateLimited, 429, -32006},
		{mcpguard.Kind(99), 500, -32603},
	}
	if len(errorTable) != len(tests)-1 {
		t.Fatalf("errorTable has %d kinds, test covers %d", len(errorTable), len(tests)-1)
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			resp := immediate(denial{
				err:       mcpguard.E(tt.kind, "safe message", errors.New("secret cause")),
				jsonrpcID: json.RawMessage(`7`),
				requestID: "req-1",
				challenge: `Bearer error="invalid_token"`,
			})
			ir := resp.GetImmediateResponse()
			if got := int(ir.GetStatus().GetCode()); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			var body struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Error   struct {
					Code    int            `json:"code"`
					Message string         `json:"message"`
					Data    map[string]any `json:"data"`
				} `json:"error"`
			}
			if err := json.Unmarshal(ir.GetBody(), &body); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, ir.GetBody())
			}
			if body.JSONRPC != "2.0" || string(body.ID) != "7" || body.Error.Code != tt.code {
				t.Errorf("body = %s, want code %d and id 7", ir.GetBody(), tt.code)
			}
			if body.Error.Data["request_id"] != "req-1" {
				t.Errorf("data.request_id = %v", body.Error.Data["request_id"])
			}
			if strings.Contains(string(ir.GetBody()), "secret cause") {
				t.Error("the cause leaked into the client body")
			}
			hdr := map[string]string{}
			for _, h := range ir.GetHeaders().GetSetHeaders() {
				if h.GetHeader().GetValue() != "" {
					t.Errorf("header %s sets value; only raw_value is allowed", h.GetHeader().GetKey())
				}
				hdr[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
			}
			if hdr["content-type"] != "application/json" {
				t.Errorf("content-type = %q", hdr["content-type"])
			}
			if _, ok := hdr["www-authenticate"]; ok != (tt.status == 401) {
				t.Errorf("www-authenticate present = %v for %d", ok, tt.status)
			}
			if _, ok := hdr["retry-after"]; ok != (tt.status == 503 || tt.status == 429) {
				t.Errorf("retry-after present = %v for %d", ok, tt.status)
			}
		})
	}
}

// fakeAuthn accepts "Bearer <user>" for the users it knows.
type fakeAuthn struct{}

func (fakeAuthn) Authenticate(_ context.Context, in authn.Input) (*authn.Identity, error) {
	if in.AuthorizationCount > 1 {
		return nil, &mcpguard.Error{Kind: mcpguard.KindUnauthenticated, Msg: "more than one authorization header", Reason: "malformed"}
	}
	switch in.Authorization {
	case "":
		return nil, &mcpguard.Error{Kind: mcpguard.KindUnauthenticated, Msg: "missing bearer token", Reason: "missing"}
	case "Bearer alice":
		return &authn.Identity{Subject: "alice", Issuer: "https://idp.test", Groups: []string{"s3-readers"}, Token: "alice", ExpiresAt: time.Now().Add(time.Hour)}, nil
	case "Bearer panic":
		panic("stage exploded")
	}
	return nil, &mcpguard.Error{Kind: mcpguard.KindUnauthenticated, Msg: "token signature invalid", Reason: "bad_signature"}
}

func (fakeAuthn) ResourceFor(scheme, authority, path string) string {
	return "https://" + authority + "/mcp"
}

func (fakeAuthn) ChallengeFor(err error, resource string) string {
	return `Bearer error="invalid_token", resource_metadata="` + resource + `"`
}

func (fakeAuthn) MetadataFor(resource string) []byte {
	return []byte(`{"resource":"` + resource + `"}`)
}

// fakeAuthz denies tools/call of tools named "forbidden".
type fakeAuthz struct{ calls atomic.Int32 }

func (f *fakeAuthz) Authorize(_ context.Context, _ *authn.Identity, req authz.Request) (authz.Decision, error) {
	f.calls.Add(1)
	if req.Body == nil {
		return authz.Decision{Allow: true, Items: []authz.ItemDecision{{Action: "mcp:stream", Allow: true}}}, nil
	}
	d := authz.Decision{Allow: true}
	for _, m := range req.Body.Messages {
		it := authz.ItemDecision{Action: m.Method, Resource: `Server::"x"`, Allow: true}
		if m.Method == "tools/call" {
			tc, err := m.ToolCall()
			if err != nil {
				return authz.Decision{}, err
			}
			it.Resource = `Tool::"` + tc.Name + `"`
			it.Allow = tc.Name != "forbidden"
		}
		d.Allow = d.Allow && it.Allow
		d.Items = append(d.Items, it)
	}
	return d, nil
}

// fakeCreds hands out fixed credentials, or fails with err.
type fakeCreds struct {
	err   error
	calls atomic.Int32
}

func (f *fakeCreds) Credentials(context.Context, *authn.Identity) (*credential.Grant, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return &credential.Grant{
		RoleARN: "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole",
		Credentials: credential.Credentials{
			AccessKeyID: "ASIAEXAMPLEKEY000001", SecretAccessKey: "secret", SessionToken: "session-token",
			Expires: time.Now().Add(time.Hour),
		},
	}, nil
}

type harness struct {
	conn   *grpc.ClientConn
	filter *envoysim.Filter
	authz  *fakeAuthz
	creds  *fakeCreds
}

// envoyFilter is the ext_proc filter configuration the bootstrap generator
// emits, so these tests run Envoy's filter as production does.
func envoyFilter() *extprocfilterv3.ExternalProcessor {
	return envoy.ExtProcFilter(nil)
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{authz: &fakeAuthz{}, creds: &fakeCreds{}}
	o := Options{
		Authn:      fakeAuthn{},
		Authz:      h.authz,
		Visibility: h.authz,
		Creds:      h.creds,
		Signer:     sigv4.New(sigv4.Options{}),
		Upstream:   Upstream{Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp"},
	}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	conn := serve(t, srv)
	h.conn = conn
	h.filter, err = envoysim.New(conn, envoysim.Config{
		Filter:     envoyFilter(),
		Attributes: map[string]any{"source.address": "192.0.2.10:5555"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(t *testing.T, srv extprocv3.ExternalProcessorServer) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func post(body string, headers ...string) *envoysim.Request {
	r := &envoysim.Request{
		Method: "POST", Scheme: "https", Authority: "gateway.example.com", Path: "/mcp",
		Headers: []envoysim.Header{
			{Key: "content-type", Value: "application/json"},
			{Key: "x-request-id", Value: "req-42"},
		},
		Body: []byte(body),
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, envoysim.Header{Key: headers[i], Value: headers[i+1]})
	}
	return r
}

const toolCall = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`

func TestAllowedRequestIsSignedAndBodyUntouched(t *testing.T) {
	h := newHarness(t, nil)
	out := h.filter.ProcessRequest(context.Background(), post(toolCall,
		"authorization", "Bearer alice",
		"x-amz-security-token", "client-supplied",
		"x-amz-date", "20000101T000000Z",
		"x-mcpguard-upstream", "evil",
	))
	defer out.Close()
	if out.Immediate != nil {
		t.Fatalf("request answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	fwd := out.Request
	if string(fwd.Body) != toolCall {
		t.Errorf("body changed: %s", fwd.Body)
	}
	auth, _ := envoysim.Get(fwd.Headers, "authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY000001/") {
		t.Errorf("authorization = %q, want a SigV4 signature replacing the JWT", auth)
	}
	if v := envoysim.Values(fwd.Headers, "x-amz-security-token"); len(v) != 1 || v[0] != "session-token" {
		t.Errorf("x-amz-security-token = %q, want only the STS session token", v)
	}
	if v := envoysim.Values(fwd.Headers, "x-amz-date"); len(v) != 1 || v[0] == "20000101T000000Z" {
		t.Errorf("x-amz-date = %q, want mcpguard's date only", v)
	}
	if _, ok := envoysim.Get(fwd.Headers, "x-mcpguard-upstream"); ok {
		t.Error("client-sent x-mcpguard-* header was forwarded")
	}
	if fwd.Authority != "gateway.example.com" {
		t.Errorf("authority = %q: ext_proc must not touch it (the route rewrites it)", fwd.Authority)
	}
	want := []string{"send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body"}
	if got := envoysim.Kinds(out.Log()); !slices.Equal(got[:min(len(got), 4)], want) {
		t.Errorf("exchange = %v, want prefix %v", got, want)
	}
	// Response phase: headers pass, nothing else is requested.
	ro := out.ProcessResponse(context.Background(), &envoysim.Response{Status: 200, Headers: []envoysim.Header{{Key: "x-amzn-requestid", Value: "r-1"}}})
	if ro.Immediate != nil || ro.Status != 200 {
		t.Errorf("response phase changed the response: %+v", ro)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name     string
		mod      func(*Options)
		req      *envoysim.Request
		status   int
		code     int
		id       string
		noCreds  bool
		checkHdr string
	}{
		{name: "missing token", req: post(toolCall), status: 401, code: -32001, id: "null", checkHdr: "www-authenticate"},
		{name: "bad token", req: post(toolCall, "authorization", "Bearer mallory"), status: 401, code: -32001, id: "null", checkHdr: "www-authenticate"},
		{name: "two authorization headers", req: post(toolCall, "authorization", "Bearer alice", "authorization", "Bearer alice"), status: 400, code: -32600, id: "null"},
		{name: "no policy denies", mod: func(o *Options) { o.Authz, o.Visibility = DenyAll{}, DenyAll{} }, req: post(toolCall, "authorization", "Bearer alice"), status: 403, code: -32003, id: "3", noCreds: true},
		{name: "policy denies", req: post(`{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"forbidden"}}`, "authorization", "Bearer alice"), status: 403, code: -32003, id: `"a"`, noCreds: true},
		{name: "batch with one denied", req: post(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"forbidden"}}]`, "authorization", "Bearer alice"), status: 403, code: -32003, id: "null", noCreds: true},
		{name: "parse error", req: post(`{"jsonrpc":"2.0","id":1,"method":"ping"`, "authorization", "Bearer alice"), status: 400, code: -32700, id: "null", noCreds: true},
		{name: "duplicate key", req: post(`{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`, "authorization", "Bearer alice"), status: 400, code: -32700, id: "null", noCreds: true},
		{name: "text/plain", req: func() *envoysim.Request {
			r := post(toolCall, "authorization", "Bearer alice")
			r.Headers[0].Value = "text/plain"
			return r
		}(), status: 415, code: -32600, id: "null", noCreds: true},
		{name: "utf-16 charset", req: func() *envoysim.Request {
			r := post(toolCall, "authorization", "Bearer alice")
			r.Headers[0].Value = "application/json; charset=utf-16"
			return r
		}(), status: 415, code: -32600, id: "null", noCreds: true},
		{name: "gzip body", req: post(toolCall, "authorization", "Bearer alice", "content-encoding", "gzip"), status: 415, code: -32600, id: "null", noCreds: true},
		{name: "body over the limit", mod: func(o *Options) { o.MaxBodyBytes = 16 }, req: post(toolCall, "authorization", "Bearer alice"), status: 413, code: -32600, id: "null", noCreds: true},
		{name: "PUT", req: func() *envoysim.Request {
			r := post(toolCall, "authorization", "Bearer alice")
			r.Method = "PUT"
			return r
		}(), status: 400, code: -32600, id: "null", noCreds: true},
		{name: "credentials unavailable", mod: func(o *Options) {
			o.Creds = &fakeCreds{err: mcpguard.E(mcpguard.KindCredentialsUnavailable, "AWS credentials are temporarily unavailable", nil)}
		}, req: post(toolCall, "authorization", "Bearer alice"), status: 503, code: -32005, id: "3", checkHdr: "retry-after"},
		{name: "panic in a stage", req: post(toolCall, "authorization", "Bearer panic"), status: 500, code: -32603, id: "null", noCreds: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.mod)
			out := h.filter.ProcessRequest(context.Background(), tt.req)
			defer out.Close()
			if out.Immediate == nil {
				t.Fatalf("request was forwarded, want %d", tt.status)
			}
			lr := out.Immediate
			if lr.Status != tt.status {
				t.Errorf("status = %d, want %d (%s)", lr.Status, tt.status, lr.Body)
			}
			var body struct {
				ID    json.RawMessage `json:"id"`
				Error struct {
					Code int            `json:"code"`
					Data map[string]any `json:"data"`
				} `json:"error"`
			}
			if err := json.Unmarshal(lr.Body, &body); err != nil {
				t.Fatalf("body %q: %v", lr.Body, err)
			}
			if body.Error.Code != tt.code || string(body.ID) != tt.id {
				t.Errorf("body = %s, want code %d id %s", lr.Body, tt.code, tt.id)
			}
			if body.Error.Data["request_id"] != "req-42" {
				t.Errorf("data.request_id = %v", body.Error.Data["request_id"])
			}
			if tt.checkHdr != "" {
				if _, ok := envoysim.Get(lr.Headers, tt.checkHdr); !ok {
					t.Errorf("missing %s header in %v", tt.checkHdr, lr.Headers)
				}
			}
			if tt.noCreds && h.creds.calls.Load() != 0 {
				t.Error("credentials were requested for a refused request")
			}
		})
	}
}

func TestBodylessRequestsAreSignedInTheHeadersPhase(t *testing.T) {
	for _, method := range []string{"GET", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			keys := RandomSessionKeys()
			h := newHarness(t, func(o *Options) { o.Protocol.Sessions = keys })
			sealed := keys.seal("s-1", ownerOf(&authn.Identity{Subject: "alice", Issuer: "https://idp.test"}, "aws-mcp.us-east-1.api.aws"))
			out := h.filter.ProcessRequest(context.Background(), &envoysim.Request{
				Method: method, Scheme: "https", Authority: "gw", Path: "/mcp",
				Headers: []envoysim.Header{{Key: "authorization", Value: "Bearer alice"}, {Key: "mcp-session-id", Value: sealed}},
			})
			defer out.Close()
			if out.Immediate != nil {
				t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
			}
			if got, _ := envoysim.Get(out.Request.Headers, "mcp-session-id"); got != "s-1" {
				t.Errorf("forwarded mcp-session-id = %q, want the upstream's s-1", got)
			}
			if got, _ := envoysim.Get(out.Request.Headers, "x-amz-content-sha256"); got != sigv4.EmptyPayloadHash {
				t.Errorf("x-amz-content-sha256 = %q, want the empty payload hash", got)
			}
			for _, k := range envoysim.Kinds(out.Log()) {
				if k == "send:request_body" {
					t.Error("a bodyless request produced a body message")
				}
			}
		})
	}
}

func TestUpstreamPathRewriteIsSigned(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Upstream.Path = "/mcp/v2" })
	req := post(toolCall, "authorization", "Bearer alice")
	req.Path = "/mcp/v2?session=1"
	out := h.filter.ProcessRequest(context.Background(), req)
	defer out.Close()
	if out.Immediate != nil {
		t.Fatalf("answered locally: %d", out.Immediate.Status)
	}
	if out.Request.Path != "/mcp/v2" {
		t.Errorf("path = %q, want /mcp/v2", out.Request.Path)
	}
}

func TestProtectedResourceMetadataIsPublic(t *testing.T) {
	h := newHarness(t, nil)
	// Without a configured resource the identifier comes from the
	// upstream's configuration, whatever :authority and path the client
	// sends, and the answer is not for shared caches.
	for _, req := range []*envoysim.Request{
		{Method: "GET", Scheme: "https", Authority: "gw.example.com", Path: "/.well-known/oauth-protected-resource/mcp"},
		{Method: "GET", Scheme: "http", Authority: "attacker.example", Path: "/.well-known/oauth-protected-resource/evil"},
	} {
		out := h.filter.ProcessRequest(context.Background(), req)
		if out.Immediate == nil || out.Immediate.Status != 200 {
			t.Fatalf("want a 200 local reply, got %+v", out)
		}
		if !strings.Contains(string(out.Immediate.Body), `"resource":"https://aws-mcp.us-east-1.api.aws/mcp"`) {
			t.Errorf("body = %s", out.Immediate.Body)
		}
		if cc, _ := envoysim.Get(out.Immediate.Headers, "cache-control"); cc != "no-store" {
			t.Errorf("cache-control = %q, want no-store for a derived document", cc)
		}
		out.Close()
	}
}

// rawStream drives the server directly, to send what Envoy never would.
func rawStream(t *testing.T) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	srv, err := New(Options{Authn: fakeAuthn{}, Authz: &fakeAuthz{}, Visibility: &fakeAuthz{}, Creds: &fakeCreds{}, Signer: sigv4.New(sigv4.Options{}),
		Upstream: Upstream{Host: "h", Region: "us-east-1", Service: "aws-mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	conn := serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func TestStreamEndingEarlyIsNotACleanClose(t *testing.T) {
	stream := rawStream(t)
	hdrs := post(toolCall, "authorization", "Bearer alice")
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: headerMap(hdrs)},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("headers response: %v", err)
	}
	_ = stream.CloseSend()
	_, err := stream.Recv()
	if status.Code(err) == codes.OK {
		t.Fatalf("stream ended with %v, want a non-OK status", err)
	}
}

func TestOutOfOrderMessageFailsTheStream(t *testing.T) {
	stream := rawStream(t)
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(toolCall), EndOfStream: true},
	}}); err != nil {
		t.Fatal(err)
	}
	_, err := stream.Recv()
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("got %v, want FailedPrecondition", err)
	}
}

func TestStreamedBodyModeFailsClosed(t *testing.T) {
	stream := rawStream(t)
	hdrs := post(toolCall, "authorization", "Bearer alice")
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: headerMap(hdrs)},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(toolCall[:10]), EndOfStream: false},
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetImmediateResponse().GetStatus().GetCode(); got != 500 {
		t.Fatalf("a partial body got %v, want an immediate 500", resp)
	}
}

func TestNamedUpstreams(t *testing.T) {
	ups := map[string]Upstream{
		"us": {Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp"},
		"eu": {Host: "aws-mcp.eu-central-1.api.aws", Region: "eu-central-1", Service: "aws-mcp", Path: "/mcp"},
	}
	tests := []struct {
		name       string
		upstreams  map[string]Upstream
		metadata   map[string]string
		status     int
		wantRegion string
	}{
		{"chosen by the route", ups, map[string]string{"x-mcpguard-upstream": "eu"}, 0, "eu-central-1"},
		{"other route", ups, map[string]string{"x-mcpguard-upstream": "us"}, 0, "us-east-1"},
		{"missing name", ups, nil, 500, ""},
		{"unknown name", ups, map[string]string{"x-mcpguard-upstream": "ap"}, 500, ""},
		{"name without a list", nil, map[string]string{"x-mcpguard-upstream": "us"}, 500, ""},
		{"single upstream", nil, nil, 0, "us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(Options{Authn: fakeAuthn{}, Authz: &fakeAuthz{}, Visibility: &fakeAuthz{}, Creds: &fakeCreds{}, Signer: sigv4.New(sigv4.Options{}),
				Upstream:  Upstream{Host: "aws-mcp.us-east-1.api.aws", Region: "us-east-1", Service: "aws-mcp"},
				Upstreams: tt.upstreams})
			if err != nil {
				t.Fatal(err)
			}
			f, err := envoysim.New(serve(t, srv), envoysim.Config{Filter: envoyFilter(), GRPCInitialMetadata: tt.metadata})
			if err != nil {
				t.Fatal(err)
			}
			out := f.ProcessRequest(context.Background(), post(toolCall, "authorization", "Bearer alice"))
			defer out.Close()
			if tt.status != 0 {
				if out.Immediate == nil || out.Immediate.Status != tt.status {
					t.Fatalf("want %d, got %+v", tt.status, out)
				}
				return
			}
			if out.Immediate != nil {
				t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
			}
			auth, _ := envoysim.Get(out.Request.Headers, "authorization")
			if !strings.Contains(auth, "/"+tt.wantRegion+"/aws-mcp/aws4_request") {
				t.Errorf("authorization %q not scoped to %s", auth, tt.wantRegion)
			}
		})
	}
}
