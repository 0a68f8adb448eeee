package envoysim

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func wantKinds(t *testing.T, got []Message, want ...string) {
	t.Helper()
	if k := Kinds(got); !slices.Equal(k, want) {
		t.Fatalf("message log\n got %q\nwant %q", k, want)
	}
}

func headerValue(t *testing.T, hm *corev3.HeaderMap, key string) string {
	t.Helper()
	for _, h := range hm.GetHeaders() {
		if h.GetKey() == key {
			return string(h.GetRawValue())
		}
	}
	t.Fatalf("header %q not sent; have %v", key, hm)
	return ""
}

// external_processor.proto: HttpHeaders carries the header map with
// lower-case keys and pseudo-headers; mutation_utils.cc headersToProto puts
// values in raw_value only; end_of_stream is true when there is no body;
// ext_proc.cc addAttributes sends attributes["envoy.filters.http.ext_proc"]
// with the first message of a direction only; addDynamicMetadata copies the
// forwarding namespaces into metadata_context; encodeProtocolConfig sends
// protocol_config once. Checked against testdata/request_headers.golden.json.
func TestRequestHeadersMessage(t *testing.T) {
	p, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{
		Filter: &extprocfilterv3.ExternalProcessor{
			ProcessingMode:    mcpguardMode(),
			RequestAttributes: []string{"source.address", "request.id", "request.path", "not.provided"},
			MetadataOptions: &extprocfilterv3.MetadataOptions{
				ForwardingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: []string{"envoy.filters.http.jwt_authn"}},
			},
		},
		GRPCInitialMetadata: map[string]string{"X-Route": "mcp"},
		Attributes:          map[string]any{"source.address": "10.0.0.7:5555"},
		Metadata: map[string]map[string]any{
			"envoy.filters.http.jwt_authn": {"jwt_payload": map[string]any{"sub": "alice", "groups": []any{"s3-readers"}}},
			"other.namespace":              {"secret": "not forwarded"},
		},
	})
	req := &Request{Method: "GET", Authority: "gateway.example.com", Path: "/mcp",
		Headers: []Header{{"Accept", "text/event-stream"}, {"X-Request-Id", "req-1"}, {"Host", "ignored.example"}}}
	o := f.ProcessRequest(bg, req)
	if o.Immediate != nil {
		t.Fatalf("immediate reply %+v", o.Immediate)
	}
	ro := o.ProcessResponse(bg, &Response{Status: 200, Headers: []Header{{"Content-Type", "text/event-stream"}}, Body: strings.NewReader("data: x\n\n")})
	if ro.Immediate != nil || ro.Status != 200 {
		t.Fatalf("response outcome %+v", ro)
	}
	wantKinds(t, o.Log(), "send:request_headers", "recv:request_headers", "send:response_headers", "recv:response_headers")

	msgs := p.messages()
	first := msgs[0]
	h := first.GetRequestHeaders()
	if !h.GetEndOfStream() {
		t.Error("end_of_stream false for a bodyless request")
	}
	for _, hv := range h.GetHeaders().GetHeaders() {
		if hv.GetValue() != "" || hv.GetKey() != strings.ToLower(hv.GetKey()) {
			t.Errorf("header %q: value must be empty and key lower-case (raw_value only)", hv.GetKey())
		}
	}
	if got := headerValue(t, h.GetHeaders(), ":authority"); got != "gateway.example.com" {
		t.Errorf(":authority = %q", got)
	}
	golden(t, "request_headers.golden.json", first)

	if msgs[1].GetAttributes() != nil {
		t.Error("attributes sent again on the response_headers message; want only on the first message of the request direction")
	}
	if msgs[1].GetProtocolConfig() != nil {
		t.Error("protocol_config sent again on the second message")
	}
	if msgs[1].GetMetadataContext().GetFilterMetadata()["envoy.filters.http.jwt_authn"] == nil {
		t.Error("metadata_context missing on the second message; Envoy adds it to every message")
	}
	if got := p.md[0].Get("x-route"); len(got) != 1 || got[0] != "mcp" {
		t.Errorf("grpc initial metadata x-route = %v", got)
	}
	if p.streams != 1 {
		t.Errorf("streams = %d, want one bidi stream per HTTP request", p.streams)
	}
}

func golden(t *testing.T, name string, m proto.Message) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		b, err := protojson.MarshalOptions{Multiline: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	want := m.ProtoReflect().New().Interface()
	if err := protojson.Unmarshal(b, want); err != nil {
		t.Fatalf("parse golden: %v", err)
	}
	if !proto.Equal(m, want) {
		got, _ := protojson.Marshal(m)
		t.Fatalf("message differs from %s:\n%s", path, got)
	}
}

// processor_state.cc handleHeadersResponse: in BUFFERED mode the headers are
// held ("we're not ready to continue processing because then we won't be able
// to modify the headers any more"); handleBufferedBodyCallback applies the
// body response's header_mutation. external_processor.proto CommonResponse:
// "header mutations will only take effect if the current processing mode for
// the body is BUFFERED". Body sent whole, once, with end_of_stream.
func TestBufferedBodyHeaderMutationFromBodyResponse(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	p, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		if req.GetRequestBody() != nil {
			return continueWith(req, &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{
				SetHeaders:    []*corev3.HeaderValueOption{setRaw("authorization", "AWS4-HMAC-SHA256 sig"), setRaw("x-amz-date", "20260101T000000Z")},
				RemoveHeaders: []string{"x-custom"},
			}}), nil
		}
		return continueAll(req)
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, skip, none), RequestAttributes: []string{"request.method"}}})
	o := f.ProcessRequest(bg, postRequest(body))
	if o.Immediate != nil {
		t.Fatalf("immediate %+v", o.Immediate)
	}
	wantKinds(t, o.Log(), "send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body")
	msgs := p.messages()
	if msgs[0].GetRequestHeaders().GetEndOfStream() {
		t.Error("end_of_stream true on headers of a request with a body")
	}
	rb := msgs[1].GetRequestBody()
	if string(rb.GetBody()) != body || !rb.GetEndOfStream() {
		t.Errorf("request_body = %q eos=%v, want whole body with end_of_stream", rb.GetBody(), rb.GetEndOfStream())
	}
	if msgs[1].GetAttributes() != nil || msgs[1].GetProtocolConfig() != nil {
		t.Error("attributes/protocol_config repeated on the body message")
	}
	if v, _ := Get(o.Request.Headers, "authorization"); v != "AWS4-HMAC-SHA256 sig" {
		t.Errorf("authorization = %q, want the body response's mutation applied", v)
	}
	if _, ok := Get(o.Request.Headers, "x-custom"); ok {
		t.Error("x-custom not removed")
	}
	if string(o.Request.Body) != body {
		t.Errorf("body changed: %q", o.Request.Body)
	}
	if v, _ := Get(o.Request.Headers, "content-length"); v != strconv.Itoa(len(body)) {
		t.Errorf("content-length = %q; BUFFERED + header SEND keeps it", v)
	}
}

// ext_proc.cc decodeHeaders: a request without a body (end_stream on the
// headers) sends no request_body message even in BUFFERED mode; the headers
// response's mutation is the last chance to change the request.
func TestBodylessRequestSendsNoBodyMessage(t *testing.T) {
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		return continueWith(req, &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("x-signed", "yes")}}}), nil
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, skip, none)}})
	o := f.ProcessRequest(bg, &Request{Method: "DELETE", Authority: "a", Path: "/mcp"})
	wantKinds(t, o.Log(), "send:request_headers", "recv:request_headers")
	if v, _ := Get(o.Request.Headers, "x-signed"); v != "yes" {
		t.Errorf("x-signed = %q", v)
	}
	o.Close()
}

// mutation_rules.cc Checker::isAllowed and mutation_utils.cc
// applyHeaderMutations, default rules: host, :authority, :scheme, :method are
// routing headers and x-envoy-* is protected, so such mutations are ignored
// (rejected_header_mutations); ':' headers and host can never be removed;
// :path is mutable; removals apply before sets; only the deprecated append
// (default false) is honoured, append_action is ignored (envoy issue #36982);
// only raw_value is read (send_header_raw_value).
func TestHeaderMutationRules(t *testing.T) {
	tests := []struct {
		name     string
		mutation *extprocv3.HeaderMutation
		check    func(t *testing.T, r *Request)
		rejected int
	}{
		{
			name: "routing and x-envoy headers ignored",
			mutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
				setRaw("host", "evil.example"), setRaw(":authority", "evil.example"), setRaw(":scheme", "http"),
				setRaw(":method", "DELETE"), setRaw("x-envoy-original-path", "/x"), setRaw("X-Envoy-Foo", "1"),
			}},
			rejected: 6,
			check: func(t *testing.T, r *Request) {
				t.Helper()
				if r.Authority != "gateway.example.com" || r.Scheme != "https" || r.Method != "POST" {
					t.Errorf("routing header changed: %+v", r)
				}
				for _, h := range r.Headers {
					if strings.HasPrefix(h.Key, "x-envoy") || h.Key == "host" {
						t.Errorf("header %q was set", h.Key)
					}
				}
			},
		},
		{
			name:     "system headers and host cannot be removed",
			mutation: &extprocv3.HeaderMutation{RemoveHeaders: []string{":path", ":authority", "host", ":method"}},
			rejected: 4,
			check: func(t *testing.T, r *Request) {
				t.Helper()
				if r.Path != "/mcp?x=1" || r.Authority == "" || r.Method != "POST" {
					t.Errorf("system header removed: %+v", r)
				}
			},
		},
		{
			name:     ":path is mutable",
			mutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw(":path", "/runtimes/arn%3Aaws/invocations")}},
			check: func(t *testing.T, r *Request) {
				t.Helper()
				if r.Path != "/runtimes/arn%3Aaws/invocations" {
					t.Errorf("path = %q", r.Path)
				}
			},
		},
		{
			name: "remove applies before set",
			mutation: &extprocv3.HeaderMutation{
				SetHeaders:    []*corev3.HeaderValueOption{setRaw("x-amz-date", "new")},
				RemoveHeaders: []string{"x-amz-date"},
			},
			check: func(t *testing.T, r *Request) {
				t.Helper()
				if got := Values(r.Headers, "x-amz-date"); !slices.Equal(got, []string{"new"}) {
					t.Errorf("x-amz-date = %q, want the set to survive the remove", got)
				}
			},
		},
		{
			name: "append unset replaces all values, append true adds, append_action ignored",
			mutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
				setRaw("x-custom", "replaced"),
				{Header: &corev3.HeaderValue{Key: "authorization", RawValue: []byte("second")}, Append: wrapperspb.Bool(true)},
				{Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("text/plain")}, AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT},
			}},
			check: func(t *testing.T, r *Request) {
				t.Helper()
				if got := Values(r.Headers, "x-custom"); !slices.Equal(got, []string{"replaced"}) {
					t.Errorf("x-custom = %q", got)
				}
				if got := Values(r.Headers, "authorization"); !slices.Equal(got, []string{"Bearer user-token", "second"}) {
					t.Errorf("authorization = %q", got)
				}
				if got := Values(r.Headers, "content-type"); !slices.Equal(got, []string{"text/plain"}) {
					t.Errorf("content-type = %q, want overwritten (ADD_IF_ABSENT ignored)", got)
				}
			},
		},
		{
			name:     "value without raw_value sets an empty header",
			mutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-amz-security-token", Value: "tok"}}}},
			check: func(t *testing.T, r *Request) {
				t.Helper()
				if got := Values(r.Headers, "x-amz-security-token"); !slices.Equal(got, []string{""}) {
					t.Errorf("x-amz-security-token = %q, want one empty value", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
				if req.GetRequestBody() != nil {
					return continueWith(req, &extprocv3.CommonResponse{HeaderMutation: tt.mutation}), nil
				}
				return continueAll(req)
			}))
			f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, skip, none)}})
			o := f.ProcessRequest(bg, postRequest("{}"))
			defer o.Close()
			if o.Immediate != nil {
				t.Fatalf("immediate %+v", o.Immediate)
			}
			tt.check(t, o.Request)
			if got := o.RejectedMutations(); got != tt.rejected {
				t.Errorf("rejected mutations = %d, want %d", got, tt.rejected)
			}
		})
	}
}

// Errors in applyHeaderMutations become a local reply with status_on_error
// (default 500) and the error text as details (ext_proc.cc
// handleErrorResponse, StringUtil::replaceAllEmptySpace).
func TestHeaderMutationErrors(t *testing.T) {
	both := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "authorization", Value: "a", RawValue: []byte("b")}}
	tests := []struct {
		name     string
		rules    *extprocfilterv3.ExternalProcessor
		mutation *extprocv3.HeaderMutation
		status   int
		details  string
	}{
		{"value and raw_value both set", &extprocfilterv3.ExternalProcessor{}, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{both}},
			500, "Only_one_of_value_or_raw_value_in_the_HeaderValue_message_should_be_set."},
		{"disallow_is_error on host", &extprocfilterv3.ExternalProcessor{MutationRules: mutationRules(true)},
			&extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("host", "evil")}}, 500, "Invalid_attempt_to_modify_host"},
		{"disallow_is_error on remove :path", &extprocfilterv3.ExternalProcessor{MutationRules: mutationRules(true)},
			&extprocv3.HeaderMutation{RemoveHeaders: []string{":path"}}, 500, "Invalid_attempt_to_remove_:path"},
		{"invalid header value", &extprocfilterv3.ExternalProcessor{},
			&extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("x-a", "line\nbreak")}}, 500, "Invalid_character_in_set_headers_mutation."},
		{"status_on_error", &extprocfilterv3.ExternalProcessor{StatusOnError: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable}},
			&extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{both}}, 503, "Only_one_of_value_or_raw_value_in_the_HeaderValue_message_should_be_set."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
				return continueWith(req, &extprocv3.CommonResponse{HeaderMutation: tt.mutation}), nil
			}))
			tt.rules.ProcessingMode = mode(send, none, send, none)
			f := newFilter(t, conn, Config{Filter: tt.rules})
			o := f.ProcessRequest(bg, postRequest("{}"))
			if o.Immediate == nil {
				t.Fatalf("request forwarded: %+v", o.Request)
			}
			if o.Immediate.Status != tt.status || o.Immediate.Details != tt.details {
				t.Errorf("reply %d %q, want %d %q", o.Immediate.Status, o.Immediate.Details, tt.status, tt.details)
			}
		})
	}
}

func mutationRules(isError bool) *mutationrulesv3.HeaderMutationRules {
	return &mutationrulesv3.HeaderMutationRules{DisallowIsError: wrapperspb.Bool(isError)}
}

// external_processor.proto: "if the server closes the gRPC stream cleanly,
// then the data plane proceeds without consulting the server"; ext_proc.cc
// onGrpcClose marks processing complete, so mutations not yet received are
// never applied and the response is not sent either.
func TestCleanCloseProceedsUntouched(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`
	tests := []struct {
		name  string
		reply func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error)
		kinds []string
	}{
		{"closed instead of answering headers", func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) { return nil, nil },
			[]string{"send:request_headers", "event:grpc_close_ok"}},
		{"closed instead of answering body", func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
			if req.GetRequestBody() != nil {
				return nil, nil
			}
			return continueAll(req)
		}, []string{"send:request_headers", "recv:request_headers", "send:request_body", "event:grpc_close_ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, conn := startProcessor(t, script(tt.reply))
			f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
			in := postRequest(body)
			o := f.ProcessRequest(bg, in)
			if o.Immediate != nil {
				t.Fatalf("immediate %+v", o.Immediate)
			}
			if o.Request.Authority != in.Authority || string(o.Request.Body) != body || len(o.Request.Headers) != len(in.Headers) {
				t.Errorf("request changed: %+v", o.Request)
			}
			ro := o.ProcessResponse(bg, &Response{Status: 201, Body: strings.NewReader("ok")})
			if ro.Status != 201 || ro.Buffered {
				t.Errorf("response %+v", ro)
			}
			wantKinds(t, o.Log(), tt.kinds...)
			for _, m := range p.messages() {
				if m.GetResponseHeaders() != nil {
					t.Error("response_headers sent after a clean close")
				}
			}
		})
	}
}

// ext_proc.cc onGrpcError: a non-OK close is a local reply with
// status_on_error (default 500) and details ext_proc_error_gRPC_error_<code>,
// unless failure_mode_allow, which proceeds as on a clean close.
func TestGrpcErrorStatus(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *extprocfilterv3.ExternalProcessor
		status  int
		details string
	}{
		{"default 500", &extprocfilterv3.ExternalProcessor{}, 500, "ext_proc_error_gRPC_error_13"},
		{"status_on_error", &extprocfilterv3.ExternalProcessor{StatusOnError: &typev3.HttpStatus{Code: typev3.StatusCode_BadGateway}}, 502, "ext_proc_error_gRPC_error_13"},
		{"failure_mode_allow", &extprocfilterv3.ExternalProcessor{FailureModeAllow: true}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn := startProcessor(t, script(func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
				return nil, status.Error(codes.Internal, "boom")
			}))
			tt.cfg.ProcessingMode = mcpguardMode()
			f := newFilter(t, conn, Config{Filter: tt.cfg})
			o := f.ProcessRequest(bg, postRequest("{}"))
			defer o.Close()
			if tt.status == 0 {
				if o.Immediate != nil || o.Request == nil {
					t.Fatalf("failure_mode_allow did not proceed: %+v", o.Immediate)
				}
				return
			}
			if o.Immediate == nil || o.Immediate.Status != tt.status || o.Immediate.Details != tt.details {
				t.Fatalf("reply %+v, want %d %s", o.Immediate, tt.status, tt.details)
			}
			if len(o.Immediate.Body) != 0 {
				t.Errorf("error reply body %q, want empty", o.Immediate.Body)
			}
		})
	}
}

// An ext_proc cluster that cannot be reached is a stream error (UNAVAILABLE,
// code 14) → 500 (ext_proc.proto failure_mode_allow: "if the stream can't be
// established ... 500").
func TestCannotConnect(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode(), MessageTimeout: durationpb.New(5 * time.Second)}})
	o := f.ProcessRequest(bg, postRequest("{}"))
	if o.Immediate == nil || o.Immediate.Status != 500 || o.Immediate.Details != "ext_proc_error_gRPC_error_14" {
		t.Fatalf("reply %+v", o.Immediate)
	}
}

// ext_proc.cc onMessageTimeout: no answer within message_timeout → 504 with
// details ext_proc_error_per-message_timeout_exceeded (fail-open with
// failure_mode_allow). override_message_timeout restarts the timer once,
// within max_message_timeout (Filter::onNewTimeout).
func TestMessageTimeout(t *testing.T) {
	slow := func(delay time.Duration, override *durationpb.Duration) func(extprocv3.ExternalProcessor_ProcessServer) error {
		return func(stream extprocv3.ExternalProcessor_ProcessServer) error {
			req, err := stream.Recv()
			if err != nil {
				return err
			}
			if override != nil {
				if err := stream.Send(&extprocv3.ProcessingResponse{OverrideMessageTimeout: override}); err != nil {
					return err
				}
			}
			select {
			case <-time.After(delay):
			case <-stream.Context().Done():
				return nil
			}
			_ = stream.Send(continueWith(req, nil))
			<-stream.Context().Done()
			return nil
		}
	}
	tests := []struct {
		name     string
		cfg      *extprocfilterv3.ExternalProcessor
		handler  func(extprocv3.ExternalProcessor_ProcessServer) error
		wantCode int
	}{
		{"timeout 504", &extprocfilterv3.ExternalProcessor{MessageTimeout: durationpb.New(50 * time.Millisecond)}, slow(2*time.Second, nil), 504},
		{"zero timeout fires at once", &extprocfilterv3.ExternalProcessor{MessageTimeout: durationpb.New(0)}, slow(0, nil), 504},
		{"failure_mode_allow proceeds", &extprocfilterv3.ExternalProcessor{MessageTimeout: durationpb.New(50 * time.Millisecond), FailureModeAllow: true}, slow(2*time.Second, nil), 0},
		{"override_message_timeout extends", &extprocfilterv3.ExternalProcessor{MessageTimeout: durationpb.New(50 * time.Millisecond), MaxMessageTimeout: durationpb.New(5 * time.Second)},
			slow(200*time.Millisecond, durationpb.New(3*time.Second)), 0},
		{"override above max_message_timeout ignored", &extprocfilterv3.ExternalProcessor{MessageTimeout: durationpb.New(50 * time.Millisecond), MaxMessageTimeout: durationpb.New(time.Second)},
			slow(2*time.Second, durationpb.New(3*time.Second)), 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn := startProcessor(t, tt.handler)
			tt.cfg.ProcessingMode = mode(send, none, skip, none)
			f := newFilter(t, conn, Config{Filter: tt.cfg})
			o := f.ProcessRequest(bg, postRequest("{}"))
			defer o.Close()
			if tt.wantCode == 0 {
				if o.Immediate != nil {
					t.Fatalf("reply %+v, want the request to proceed", o.Immediate)
				}
				return
			}
			if o.Immediate == nil || o.Immediate.Status != tt.wantCode || o.Immediate.Details != "ext_proc_error_per-message_timeout_exceeded" {
				t.Fatalf("reply %+v", o.Immediate)
			}
		})
	}
}

// ext_proc.proto message_timeout: "If not specified, the default value is
// 200 milliseconds."
func TestDefaultMessageTimeout(t *testing.T) {
	_, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{})
	if f.messageTimeout != 200*time.Millisecond {
		t.Fatalf("default message timeout %v", f.messageTimeout)
	}
}

// "the server must send back exactly one ProcessingResponse per
// ProcessingRequest" of the matching type; a mismatched one is spurious
// (processor_state.cc returns FailedPrecondition "spurious message"), which
// fails closed with status_on_error unless failure_mode_allow (runtime guard
// ext_proc_fail_close_spurious_resp). disable_immediate_response turns an
// ImmediateResponse into a spurious message.
func TestSpuriousResponse(t *testing.T) {
	wrongType := func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}, nil
	}
	tests := []struct {
		name    string
		cfg     *extprocfilterv3.ExternalProcessor
		reply   func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error)
		status  int
		details string
	}{
		{"body response to headers", &extprocfilterv3.ExternalProcessor{}, wrongType, 500, "spurious_message"},
		{"empty response", &extprocfilterv3.ExternalProcessor{}, func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
			return &extprocv3.ProcessingResponse{}, nil
		}, 500, "unhandled_message"},
		{"failure_mode_allow proceeds", &extprocfilterv3.ExternalProcessor{FailureModeAllow: true}, wrongType, 0, ""},
		{"disable_immediate_response", &extprocfilterv3.ExternalProcessor{DisableImmediateResponse: true}, func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
			return immediate(typev3.StatusCode_Forbidden, "no"), nil
		}, 500, "unhandled_immediate_response_due_to_config_disabled_it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn := startProcessor(t, script(tt.reply))
			tt.cfg.ProcessingMode = mcpguardMode()
			f := newFilter(t, conn, Config{Filter: tt.cfg})
			o := f.ProcessRequest(bg, postRequest("{}"))
			defer o.Close()
			if tt.status == 0 {
				if o.Immediate != nil {
					t.Fatalf("reply %+v", o.Immediate)
				}
				return
			}
			if o.Immediate == nil || o.Immediate.Status != tt.status || o.Immediate.Details != tt.details {
				t.Fatalf("reply %+v, want %d %s", o.Immediate, tt.status, tt.details)
			}
		})
	}
}

// A second answer to one message arrives while Envoy waits for nothing; it is
// spurious and the client gets 500 instead of the upstream response.
func TestExtraResponseIsSpurious(t *testing.T) {
	_, conn := startProcessor(t, func(stream extprocv3.ExternalProcessor_ProcessServer) error {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		_ = stream.Send(continueWith(req, nil))
		_ = stream.Send(continueWith(req, nil))
		<-stream.Context().Done()
		return nil
	})
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, none, send, none)}})
	o := f.ProcessRequest(bg, &Request{Method: "GET", Authority: "a", Path: "/"})
	if o.Immediate != nil {
		t.Fatalf("reply %+v", o.Immediate)
	}
	time.Sleep(50 * time.Millisecond) // the upstream round trip
	ro := o.ProcessResponse(bg, &Response{Status: 200})
	if ro.Immediate == nil || ro.Immediate.Status != 500 || ro.Immediate.Details != "spurious_message" {
		t.Fatalf("response outcome %+v", ro)
	}
}

// ext_proc.cc sendImmediateResponse: "status missing or < 200 → 200"
// (DefaultImmediateStatus, MutationUtils::isValidHttpStatus); headers applied
// with the filter's mutation_rules (TestImmediateResponseMutationRules); the body is sent as given with
// a text/plain content type unless one was set (Utility::sendLocalReply);
// details come from ImmediateResponse.details.
func TestImmediateResponse(t *testing.T) {
	tests := []struct {
		name   string
		resp   *extprocv3.ProcessingResponse
		status int
		ctype  string
	}{
		{"status unset defaults to 200", immediate(0, "hello"), 200, "text/plain"},
		{"status below 200 becomes 200", immediate(typev3.StatusCode_Continue, "x"), 200, "text/plain"},
		{"explicit 403 with headers", func() *extprocv3.ProcessingResponse {
			r := immediate(typev3.StatusCode_Forbidden, `{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"forbidden"}}`)
			r.GetImmediateResponse().Headers = &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
				setRaw("content-type", "application/json"), setRaw("x-envoy-ratelimited", "true"), setRaw("www-authenticate", `Bearer error="insufficient_scope"`),
			}}
			r.GetImmediateResponse().Details = "mcpguard denied"
			return r
		}(), 403, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, conn := startProcessor(t, script(func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) { return tt.resp, nil }))
			f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
			o := f.ProcessRequest(bg, postRequest("{}"))
			lr := o.Immediate
			if lr == nil || lr.Status != tt.status {
				t.Fatalf("reply %+v, want status %d", lr, tt.status)
			}
			ir := tt.resp.GetImmediateResponse()
			if string(lr.Body) != string(ir.GetBody()) {
				t.Errorf("body %q", lr.Body)
			}
			if v, _ := Get(lr.Headers, "content-type"); v != tt.ctype {
				t.Errorf("content-type %q, want %q", v, tt.ctype)
			}
			if v, _ := Get(lr.Headers, "content-length"); v != strconv.Itoa(len(ir.GetBody())) {
				t.Errorf("content-length %q", v)
			}
			if tt.status == 403 {
				if _, ok := Get(lr.Headers, "x-envoy-ratelimited"); ok || o.RejectedMutations() != 1 {
					t.Errorf("x-envoy-* on the immediate response not rejected by the default rules (rejected %d)", o.RejectedMutations())
				}
				if v, _ := Get(lr.Headers, "www-authenticate"); v == "" {
					t.Error("an allowed header after a rejected one was dropped without disallow_is_error")
				}
				if lr.Details != "mcpguard_denied" {
					t.Errorf("details %q", lr.Details)
				}
			}
			wantKinds(t, o.Log(), "send:request_headers", "recv:immediate_response")
			if n := len(p.messages()); n != 1 {
				t.Errorf("processor received %d messages; the stream must close after an immediate response", n)
			}
		})
	}
}

// ext_proc.cc sendImmediateResponse (Envoy 1.36+, runtime guard
// immediate_response_use_filter_mutation_rule on by default) applies the
// headers with the filter's own checker; MutationUtils::applyHeaderMutations
// skips an IGNOREd header and stops at a FAILed one, so under
// disallow_is_error the disallowed header and every header after it are
// missing, while the reply itself keeps its status and body.
func TestImmediateResponseMutationRules(t *testing.T) {
	headers := []*corev3.HeaderValueOption{
		setRaw("content-type", "application/json"), setRaw("x-envoy-upstream", "1"), setRaw("www-authenticate", "Bearer"),
	}
	tests := []struct {
		name     string
		rules    *mutationrulesv3.HeaderMutationRules
		want     []string // present headers
		missing  []string
		rejected int
	}{
		{"defaults ignore the x-envoy header", nil, []string{"content-type", "www-authenticate"}, []string{"x-envoy-upstream"}, 1},
		{"allow_envoy keeps it", &mutationrulesv3.HeaderMutationRules{AllowEnvoy: wrapperspb.Bool(true)},
			[]string{"content-type", "x-envoy-upstream", "www-authenticate"}, nil, 0},
		{"disallow_is_error drops it and what follows", &mutationrulesv3.HeaderMutationRules{DisallowIsError: wrapperspb.Bool(true)},
			[]string{"content-type"}, []string{"x-envoy-upstream", "www-authenticate"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := immediate(typev3.StatusCode_Unauthorized, `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"x"}}`)
			r.GetImmediateResponse().Headers = &extprocv3.HeaderMutation{SetHeaders: headers}
			_, conn := startProcessor(t, script(func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) { return r, nil }))
			f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode(), MutationRules: tt.rules}})
			o := f.ProcessRequest(t.Context(), postRequest("{}"))
			lr := o.Immediate
			if lr == nil || lr.Status != 401 || string(lr.Body) != string(r.GetImmediateResponse().GetBody()) {
				t.Fatalf("reply %+v", lr)
			}
			for _, k := range tt.want {
				if _, ok := Get(lr.Headers, k); !ok {
					t.Errorf("%s missing", k)
				}
			}
			for _, k := range tt.missing {
				if _, ok := Get(lr.Headers, k); ok {
					t.Errorf("%s present", k)
				}
			}
			if o.RejectedMutations() != tt.rejected {
				t.Errorf("rejected %d, want %d", o.RejectedMutations(), tt.rejected)
			}
		})
	}
}

// external_processor.proto mode_override: honoured only in response to header
// messages and only with allow_mode_override; ext_proc.cc
// effectiveModeOverride; processor_state.cc validateContentLength: with
// BUFFERED + header SEND content-length is kept, and a replaced body whose
// length differs from it is rejected with "mismatch between content length
// and the length of the mutated body" unless the same response fixes it.
func TestResponseModeOverride(t *testing.T) {
	upstream := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"}]}}`
	filtered := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}`
	override := &extprocfilterv3.ProcessingMode{ResponseBodyMode: buffered}
	restated := &extprocfilterv3.ProcessingMode{RequestBodyMode: buffered, ResponseBodyMode: buffered}
	tests := []struct {
		name       string
		override   *extprocfilterv3.ProcessingMode
		allow      bool
		overrideOn string // which response carries mode_override
		fixCL      bool
		kinds      []string
		wantBody   string
		wantStatus int
		details    string
	}{
		{"honoured on response_headers", override, true, kindResponseHeaders, true,
			[]string{"send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers", "send:response_body", "recv:response_body"},
			filtered, 200, ""},
		// Body modes in an override are always explicit: NONE for the
		// request body unless restated, so the request body is not sent.
		{"on request_headers the request body mode is replaced too", override, true, kindRequestHeaders, true,
			[]string{"send:request_headers", "recv:request_headers", "send:response_headers", "recv:response_headers", "send:response_body", "recv:response_body"},
			filtered, 200, ""},
		{"on request_headers restating BUFFERED", restated, true, kindRequestHeaders, true,
			[]string{"send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers", "send:response_body", "recv:response_body"},
			filtered, 200, ""},
		{"content-length not fixed", override, true, kindResponseHeaders, false,
			[]string{"send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers", "send:response_body", "recv:response_body"},
			"", 500, "mismatch_between_content_length_and_the_length_of_the_mutated_body"},
		{"ignored without allow_mode_override", override, false, kindResponseHeaders, true,
			[]string{"send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers"},
			upstream, 200, ""},
		{"ignored on a body response", override, true, kindRequestBody, true,
			[]string{"send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers"},
			upstream, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
				var resp *extprocv3.ProcessingResponse
				if req.GetResponseBody() != nil {
					cr := &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte(filtered)}}}
					if tt.fixCL {
						cr.HeaderMutation = &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("content-length", strconv.Itoa(len(filtered)))}}
					}
					resp = continueWith(req, cr)
				} else {
					resp = continueWith(req, nil)
				}
				if responseKind(resp) == tt.overrideOn {
					resp.ModeOverride = tt.override
				}
				return resp, nil
			}))
			f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode(), AllowModeOverride: tt.allow}})
			o := f.ProcessRequest(bg, postRequest(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			if o.Immediate != nil {
				t.Fatalf("immediate %+v", o.Immediate)
			}
			ro := o.ProcessResponse(bg, &Response{Status: 200,
				Headers: []Header{{"content-type", "application/json"}, {"content-length", strconv.Itoa(len(upstream))}},
				Body:    strings.NewReader(upstream)})
			wantKinds(t, o.Log(), tt.kinds...)
			if tt.wantStatus != 200 {
				if ro.Immediate == nil || ro.Immediate.Status != tt.wantStatus || ro.Immediate.Details != tt.details {
					t.Fatalf("outcome %+v", ro)
				}
				return
			}
			if ro.Immediate != nil {
				t.Fatalf("immediate %+v", ro.Immediate)
			}
			b, _ := io.ReadAll(ro.Body)
			if string(b) != tt.wantBody {
				t.Errorf("body %q, want %q", b, tt.wantBody)
			}
			if v, _ := Get(ro.Headers, "content-length"); v != strconv.Itoa(len(tt.wantBody)) {
				t.Errorf("content-length %q for body of %d bytes", v, len(tt.wantBody))
			}
		})
	}
}

// When the response body is not requested it is not read: the reader handed
// in is the reader handed back, so an SSE stream flows through.
func TestResponseBodyNotRequestedStreams(t *testing.T) {
	_, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	o := f.ProcessRequest(bg, &Request{Method: "GET", Authority: "a", Path: "/mcp"})
	pr, pw := io.Pipe()
	defer pw.Close()
	ro := o.ProcessResponse(bg, &Response{Status: 200, Headers: []Header{{"content-type", "text/event-stream"}}, Body: pr})
	if ro.Body != io.Reader(pr) || ro.Buffered {
		t.Fatal("response body was not passed through")
	}
	if m := o.Log(); m[len(m)-1].Sent != nil && m[len(m)-1].Sent.GetResponseBody() != nil {
		t.Fatal("response_body sent")
	}
}

// FilterManager: a BUFFERED body over the buffer limit is answered 413
// (details request_payload_too_large) without the body reaching the
// processor (processing_mode.proto BUFFERED: "If the body exceeds the
// buffer limit, an error will be returned to the client").
func TestBodyOverBufferLimit(t *testing.T) {
	p, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, skip, none)}, BufferLimit: 16})
	o := f.ProcessRequest(bg, postRequest(strings.Repeat("x", 17)))
	if o.Immediate == nil || o.Immediate.Status != 413 || o.Immediate.Details != "request_payload_too_large" {
		t.Fatalf("reply %+v", o.Immediate)
	}
	wantKinds(t, o.Log(), "send:request_headers", "recv:request_headers")
	for _, m := range p.messages() {
		if m.GetRequestBody() != nil {
			t.Fatal("body sent to the processor")
		}
	}
	// Exactly at the limit is fine.
	o = f.ProcessRequest(bg, postRequest(strings.Repeat("x", 16)))
	defer o.Close()
	if o.Immediate != nil {
		t.Fatalf("body at the limit rejected: %+v", o.Immediate)
	}
	// The 413 is a filter-manager local reply: it runs through the encoder
	// path, so with response_header_mode SEND the processor sees it.
	f = newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, send, none)}, BufferLimit: 16})
	o = f.ProcessRequest(bg, postRequest(strings.Repeat("x", 17)))
	if o.Immediate == nil || o.Immediate.Status != 413 || string(o.Immediate.Body) != "Payload Too Large" {
		t.Fatalf("reply %+v", o.Immediate)
	}
	wantKinds(t, o.Log(), "send:request_headers", "recv:request_headers", "send:response_headers", "recv:response_headers")
}

// CommonResponse CONTINUE_AND_REPLACE: "apply the header mutation, replace
// the body with body_mutation, send no more messages for this direction";
// processor_state.cc removes content-length in that case.
func TestContinueAndReplace(t *testing.T) {
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		return continueWith(req, &extprocv3.CommonResponse{
			Status:         extprocv3.CommonResponse_CONTINUE_AND_REPLACE,
			HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw(":method", "PUT")}},
			BodyMutation:   &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte("replaced")}},
		}), nil
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, skip, none)}})
	o := f.ProcessRequest(bg, postRequest("original"))
	defer o.Close()
	wantKinds(t, o.Log(), "send:request_headers", "recv:request_headers")
	if string(o.Request.Body) != "replaced" || o.Request.Method != "PUT" {
		t.Errorf("request %+v", o.Request)
	}
	if _, ok := Get(o.Request.Headers, "content-length"); ok {
		t.Error("content-length kept")
	}
}

// BodyMutation.clear_body empties the body; validateContentLength compares
// against the (empty) replacement, so content-length must be set to 0.
func TestClearBody(t *testing.T) {
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		if req.GetRequestBody() != nil {
			return continueWith(req, &extprocv3.CommonResponse{
				HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("content-length", "0")}},
				BodyMutation:   &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_ClearBody{ClearBody: true}},
			}), nil
		}
		return continueAll(req)
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mode(send, buffered, skip, none)}})
	o := f.ProcessRequest(bg, postRequest("abc"))
	defer o.Close()
	if o.Immediate != nil || len(o.Request.Body) != 0 {
		t.Fatalf("outcome %+v %+v", o.Immediate, o.Request)
	}
}

// ProcessingResponse.dynamic_metadata is kept only for namespaces in
// metadata_options.receiving_namespaces (ext_proc.cc setDynamicMetadata).
func TestReceivingNamespaces(t *testing.T) {
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		r := continueWith(req, nil)
		r.DynamicMetadata, _ = structpb.NewStruct(map[string]any{
			"mcp.authz": map[string]any{"decision": "allow"},
			"other":     map[string]any{"x": "y"},
		})
		return r, nil
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{
		ProcessingMode:  mode(send, none, skip, none),
		MetadataOptions: &extprocfilterv3.MetadataOptions{ReceivingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: []string{"mcp.authz"}}},
	}})
	o := f.ProcessRequest(bg, &Request{Method: "GET", Authority: "a", Path: "/"})
	defer o.Close()
	md := o.DynamicMetadata()
	if md["mcp.authz"].GetFields()["decision"].GetStringValue() != "allow" {
		t.Errorf("mcp.authz not received: %v", md)
	}
	if _, ok := md["other"]; ok {
		t.Error("namespace not in receiving_namespaces was kept")
	}
}

// New refuses what the simulator does not play.
func TestNewRejectsUnsimulatedConfig(t *testing.T) {
	_, conn := startProcessor(t, script(continueAll))
	for _, cfg := range []*extprocfilterv3.ExternalProcessor{
		{ProcessingMode: mode(send, extprocfilterv3.ProcessingMode_STREAMED, send, none)},
		{ProcessingMode: mode(send, none, send, extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED)},
		{ObservabilityMode: true},
		{ProcessingMode: &extprocfilterv3.ProcessingMode{RequestTrailerMode: send}},
	} {
		if _, err := New(conn, Config{Filter: cfg}); err == nil {
			t.Errorf("New accepted %v", cfg)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New accepted a nil connection")
	}
	if _, err := New(conn, Config{Attributes: map[string]any{"x": struct{}{}}}); err == nil {
		t.Error("New accepted an unconvertible attribute")
	}
}
