package envoysim

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

type seenRequest struct {
	method, host, uri string
	header            http.Header
	body              []byte
	contentLength     int64
	transferEncoding  []string
}

func recordingUpstream(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []seenRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.Host, r.RequestURI, r.Header.Clone(), b, r.ContentLength, r.TransferEncoding})
		mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenRequest(nil), seen...)
	}
}

func newFront(t *testing.T, cfg FrontConfig) (*Front, chan *Exchange) {
	t.Helper()
	exchanges := make(chan *Exchange, 16)
	cfg.OnExchange = func(e *Exchange) { exchanges <- e }
	fr, err := NewFront(cfg)
	if err != nil {
		t.Fatalf("NewFront: %v", err)
	}
	t.Cleanup(func() { _ = fr.Close() })
	return fr, exchanges
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// The router applies host_rewrite_literal and prefix_rewrite after the
// filters; the connection manager adds x-forwarded-for, x-forwarded-proto and
// a generated x-request-id before them, and strips hop-by-hop headers. The
// body bytes reach the upstream unchanged, with their content-length.
func TestFrontForwardsWithRewrites(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"aws___call_aws"}}`
	p, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		if req.GetRequestBody() != nil {
			return continueWith(req, &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{
				SetHeaders: []*corev3.HeaderValueOption{setRaw("authorization", "AWS4-HMAC-SHA256 Credential=x")},
			}}), nil
		}
		return continueAll(req)
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	fr, exchanges := newFront(t, FrontConfig{Filter: f, Upstream: up.URL, HostRewrite: "aws-mcp.us-east-1.api.aws", PrefixMatch: "/mcp", PrefixRewrite: "/v1/mcp"})

	req, _ := http.NewRequest("POST", fr.URL()+"/mcp/x%3Ay?q=1", strings.NewReader(body))
	req.Host = "gateway.local"
	req.Header.Set("Authorization", "Bearer user-jwt")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "keep-alive, x-drop")
	req.Header.Set("User-Agent", "test-client/1")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != `{"ok":true}` {
		t.Fatalf("response %d %q", resp.StatusCode, got)
	}
	ex := <-exchanges
	wantKinds(t, ex.Log, "send:request_headers", "recv:request_headers", "send:request_body", "recv:request_body", "send:response_headers", "recv:response_headers")

	s := seen()[0]
	if s.host != "aws-mcp.us-east-1.api.aws" || s.uri != "/v1/mcp/x%3Ay?q=1" {
		t.Errorf("upstream saw host %q uri %q", s.host, s.uri)
	}
	if string(s.body) != body || s.contentLength != int64(len(body)) {
		t.Errorf("upstream body %q (content-length %d)", s.body, s.contentLength)
	}
	if s.header.Get("Authorization") != "AWS4-HMAC-SHA256 Credential=x" {
		t.Errorf("authorization %q", s.header.Get("Authorization"))
	}
	if s.header.Get("X-Forwarded-For") != "127.0.0.1" || s.header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("x-forwarded-* = %q %q", s.header.Get("X-Forwarded-For"), s.header.Get("X-Forwarded-Proto"))
	}
	rid := s.header.Get("X-Request-Id")
	if !uuidRE.MatchString(rid) {
		t.Errorf("x-request-id %q is not a generated UUID", rid)
	}
	if s.header.Get("User-Agent") != "test-client/1" || s.header.Get("Accept-Encoding") != "identity" {
		t.Errorf("front changed client headers: %v", s.header)
	}
	// The processor saw the downstream authority and the connection
	// manager's headers, not the rewritten host.
	h := p.messages()[0].GetRequestHeaders().GetHeaders()
	if headerValue(t, h, ":authority") != "gateway.local" || headerValue(t, h, "x-request-id") != rid {
		t.Error("processor did not see the downstream request as Envoy presents it")
	}
	for _, hv := range h.GetHeaders() {
		if hv.GetKey() == "connection" {
			t.Error("hop-by-hop header reached the processor")
		}
	}
}

// An SSE response whose body is not requested (response_body_mode NONE) is
// streamed event by event: the client reads the first event before the
// upstream writes the second.
func TestFrontStreamsSSE(t *testing.T) {
	_, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	second := make(chan struct{})
	up, _ := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "event: message\ndata: 1\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-second:
		case <-time.After(5 * time.Second):
			return
		}
		_, _ = io.WriteString(w, "event: message\ndata: 2\n\n")
	})
	fr, exchanges := newFront(t, FrontConfig{Filter: f, Upstream: up.URL})
	resp, err := http.Get(fr.URL() + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("content-type %q", resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	readEvent := func() string {
		var lines []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read event: %v", err)
			}
			if line == "\n" {
				return strings.Join(lines, "")
			}
			lines = append(lines, line)
		}
	}
	done := make(chan string, 1)
	go func() { done <- readEvent() }()
	select {
	case ev := <-done:
		if ev != "event: message\ndata: 1\n" {
			t.Errorf("first event %q", ev)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("first event not delivered before the stream ended: the front buffered the SSE body")
	}
	close(second)
	if ev := readEvent(); ev != "event: message\ndata: 2\n" {
		t.Errorf("second event %q", ev)
	}
	ex := <-exchanges
	for _, k := range Kinds(ex.Log) {
		if strings.Contains(k, "response_body") {
			t.Errorf("response body processed: %v", Kinds(ex.Log))
		}
	}
}

// A BUFFERED response body requested by mode_override is replaced and the
// client receives the new body with the content-length the processor set.
func TestFrontResponseReplacement(t *testing.T) {
	filtered := `{"tools":[]}`
	_, conn := startProcessor(t, script(func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		switch {
		case req.GetResponseHeaders() != nil:
			r := continueWith(req, nil)
			r.ModeOverride = &extprocfilterv3.ProcessingMode{ResponseBodyMode: buffered}
			return r, nil
		case req.GetResponseBody() != nil:
			return continueWith(req, &extprocv3.CommonResponse{
				HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setRaw("content-length", strconv.Itoa(len(filtered)))}},
				BodyMutation:   &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte(filtered)}},
			}), nil
		}
		return continueAll(req)
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode(), AllowModeOverride: true}})
	up, _ := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"tools":[{"name":"secret"}]}`)
	})
	fr, _ := newFront(t, FrontConfig{Filter: f, Upstream: up.URL})
	resp, err := http.Post(fr.URL()+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != filtered || resp.ContentLength != int64(len(filtered)) {
		t.Fatalf("client got %q (content-length %d)", b, resp.ContentLength)
	}
}

// An ImmediateResponse answers the client; the upstream is never called.
func TestFrontImmediateResponse(t *testing.T) {
	_, conn := startProcessor(t, script(func(*extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		r := immediate(typev3.StatusCode_Unauthorized, `{"error":"unauthenticated"}`)
		r.GetImmediateResponse().Headers = &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			setRaw("www-authenticate", `Bearer resource_metadata="x"`), setRaw("content-type", "application/json")}}
		return r, nil
	}))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
	fr, exchanges := newFront(t, FrontConfig{Filter: f, Upstream: up.URL})
	resp, err := http.Post(fr.URL()+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || string(b) != `{"error":"unauthenticated"}` || resp.Header.Get("Www-Authenticate") == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("client got %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if n := len(seen()); n != 0 {
		t.Fatalf("upstream called %d times", n)
	}
	if ex := <-exchanges; ex.Status != 401 || ex.Upstream != nil {
		t.Errorf("exchange %+v", ex)
	}
}

// A connection failure to the upstream is Envoy's 503 local reply, and, as
// every local reply, it runs through ext_proc's encoder path.
func TestFrontUpstreamUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	_, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{Filter: &extprocfilterv3.ExternalProcessor{ProcessingMode: mcpguardMode()}})
	for _, direct := range []bool{false, true} {
		t.Run("direct="+strconv.FormatBool(direct), func(t *testing.T) {
			cfg := FrontConfig{Filter: f, Upstream: deadURL, Direct: direct}
			fr, exchanges := newFront(t, cfg)
			resp, err := http.Get(fr.URL() + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.HasPrefix(string(b), "upstream connect error") {
				t.Fatalf("client got %d %q", resp.StatusCode, b)
			}
			ex := <-exchanges
			if ex.Details != "upstream_reset_before_response_started{connection_failure}" {
				t.Errorf("details %q", ex.Details)
			}
			if !direct && !slices.Contains(Kinds(ex.Log), "send:response_headers") {
				t.Errorf("503 local reply did not pass the encoder path: %v", Kinds(ex.Log))
			}
		})
	}
}

// Direct mode is a plain proxy: the processor is never contacted.
func TestFrontDirect(t *testing.T) {
	p, conn := startProcessor(t, script(continueAll))
	f := newFilter(t, conn, Config{})
	up, seen := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	fr, _ := newFront(t, FrontConfig{Filter: f, Direct: true, Upstream: up.URL})
	resp, err := http.Post(fr.URL()+"/x", "text/plain", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || string(seen()[0].body) != "abc" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if p.streams != 0 {
		t.Fatalf("processor contacted %d times in direct mode", p.streams)
	}
	if _, err := NewFront(FrontConfig{Upstream: up.URL}); err == nil {
		t.Error("NewFront accepted neither a filter nor direct mode")
	}
	if _, err := NewFront(FrontConfig{Direct: true, Upstream: "https://example.com"}); err == nil {
		t.Error("NewFront accepted a non-http upstream")
	}
}
