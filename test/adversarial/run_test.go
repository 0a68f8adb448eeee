package adversarial

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

const quickstartConfig = "../../examples/quickstart/config.yaml"

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"adversarial","version":"1"}}}`

// startStack runs the quickstart configuration on ephemeral loopback ports
// with the fake AWS MCP Server answering JSON, so answers can be read.
func startStack(t testing.TB, o stack.Options) (*stack.Stack, *stack.Buffer) {
	t.Helper()
	logs := &stack.Buffer{}
	o.ConfigPath = quickstartConfig
	o.Ephemeral = true
	o.FakeAWSJSON = true
	// The corpus reads a policy denial as 403 with -32003, so it pins
	// denial_response http_error (eras_test.go covers the other modes).
	mutate := o.Mutate
	o.Mutate = func(c *config.Config) {
		c.Protocol.DenialResponse = config.DenialHTTPError
		if mutate != nil {
			mutate(c)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, logs
}

// reply is what the client read back.
type reply struct {
	status int
	header http.Header
	body   []byte
	code   int // JSON-RPC error code, 0 when the body carries none
}

// roundTrip writes raw to the Envoy stand-in's listener and reads one
// response. Writing bytes rather than using an HTTP client keeps repeated
// headers, odd methods and framing exactly as the case states them.
func roundTrip(addr string, raw []byte, method string) (*reply, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	// Write concurrently: a server may answer (413, 431) before it has
	// read a huge request, and then stop reading.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(raw)
		werr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		if werrV := <-werr; werrV != nil {
			return nil, fmt.Errorf("read response: %w (write: %w)", err, werrV)
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := &reply{status: resp.StatusCode, header: resp.Header, body: body}
	var e struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		r.code = e.Error.Code
	}
	return r, nil
}

// runner sends cases through one stack.
type runner struct {
	s        *stack.Stack
	m        *minter
	addr     string
	sessions map[string]string
}

func newRunner(t *testing.T, s *stack.Stack, attacker string) *runner {
	t.Helper()
	u, _ := url.Parse(s.Front.URL())
	return &runner{s: s, m: &minter{s: s, attacker: attacker}, addr: u.Host, sessions: map[string]string{}}
}

// session returns an initialized MCP session of the user, creating it
// once through the gateway as a client would.
func (r *runner) session(t *testing.T, name string) string {
	t.Helper()
	if id, ok := r.sessions[name]; ok {
		return id
	}
	u, err := user(name)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := r.s.Token(u)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body, sid string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, r.s.MCPURL(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := post(initializeBody, "")
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize as %s: %d, session %q", name, resp.StatusCode, sid)
	}
	if resp := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid); resp.StatusCode != 202 {
		t.Fatalf("notifications/initialized as %s: %d", name, resp.StatusCode)
	}
	r.sessions[name] = sid
	return sid
}

// request renders the case as the bytes on the wire.
func (r *runner) request(t *testing.T, c *attackCase) ([]byte, []byte) {
	t.Helper()
	tok, omit, err := r.m.mint(c.Token)
	if err != nil {
		t.Fatalf("mint token: %v", err)
	}
	sid := ""
	if c.Session {
		sid = r.session(t, c.Token.User)
	}
	subst := func(v string) string {
		v = strings.ReplaceAll(v, "$TOKEN", tok)
		v = strings.ReplaceAll(v, "$SESSION", sid)
		if i := strings.Index(v, "$LONG:"); i >= 0 {
			n, _ := strconv.Atoi(v[i+len("$LONG:"):])
			v = v[:i] + strings.Repeat("a", n)
		}
		return v
	}
	body, err := c.body()
	if err != nil {
		t.Fatal(err)
	}
	if c.RawRequest != "" {
		raw := subst(c.RawRequest)
		raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
		return []byte(raw), nil
	}

	var hs [][2]string
	has := func(k string) bool {
		for _, h := range hs {
			if strings.EqualFold(h[0], k) {
				return true
			}
		}
		return false
	}
	usesToken := false
	for _, h := range c.Headers {
		if strings.Contains(h[1], "$TOKEN") {
			usesToken = true
		}
		hs = append(hs, [2]string{h[0], subst(h[1])})
	}
	if !omit && !usesToken && !has("authorization") {
		hs = append(hs, [2]string{"Authorization", "Bearer " + tok})
	}
	if !c.NoDefaultHeaders {
		if !has("content-type") {
			hs = append(hs, [2]string{"Content-Type", "application/json"})
		}
		if !has("accept") {
			hs = append(hs, [2]string{"Accept", "application/json, text/event-stream"})
		}
	}
	if c.Session && !has("mcp-session-id") {
		hs = append(hs, [2]string{"Mcp-Session-Id", sid}, [2]string{"Mcp-Protocol-Version", "2025-06-18"})
	}
	if !has("x-request-id") {
		hs = append(hs, [2]string{"X-Request-Id", "adv-" + c.Name})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gateway.local\r\n", c.Method, c.Path)
	for _, h := range hs {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if !has("content-length") && !has("transfer-encoding") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes(), body
}

// observed is what the upstream side saw during one case.
type observed struct {
	accepted  []fakeaws.Request
	rejected  []fakeaws.Rejection
	exchanges []*envoysim.Exchange
}

func (o observed) forwarded() bool {
	if len(o.accepted)+len(o.rejected) > 0 {
		return true
	}
	for _, ex := range o.exchanges {
		if ex.Upstream != nil {
			return true
		}
	}
	return false
}

// run sends one case and returns the reply and what reached the upstream.
func (r *runner) run(t *testing.T, c *attackCase) (*reply, observed, []byte) {
	t.Helper()
	raw, body := r.request(t, c) // may open a session first: count after it
	a0, r0, e0 := len(r.s.AWS.Requests()), len(r.s.AWS.Rejections()), len(r.s.Exchanges())
	rep, err := roundTrip(r.addr, raw, c.Method)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	var o observed
	// The Envoy stand-in records the exchange after writing the answer;
	// give it a moment before concluding.
	deadline := time.Now().Add(2 * time.Second)
	for {
		o = observed{
			accepted:  r.s.AWS.Requests()[a0:],
			rejected:  r.s.AWS.Rejections()[r0:],
			exchanges: r.s.Exchanges()[e0:],
		}
		if len(o.exchanges) > 0 || time.Now().After(deadline) || rep.header.Get("Server") != "envoy" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rep, o, body
}

// TestCorpus runs every case of cases/ through the Envoy stand-in against a
// real mcpguard and asserts status, JSON-RPC code and whether anything
// reached the AWS MCP Server; every forwarded body must mean the same to
// the MCP Go SDK as to mcpguard.
func TestCorpus(t *testing.T) {
	cases := loadCases(t)
	var attackerHits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attackerHits.Add(1)
		http.Error(w, "attacker", http.StatusTeapot)
	}))
	defer attacker.Close()
	audits := &stack.Buffer{}
	s, logs := startStack(t, stack.Options{AuditWriter: audits})
	r := newRunner(t, s, attacker.URL)

	for _, c := range cases {
		t.Run(c.Category+"/"+c.Name, func(t *testing.T) {
			if c.Expect.Bug != "" {
				t.Skip("BUG: " + c.Expect.Bug)
			}
			rep, o, body := r.run(t, c)
			defer func() {
				if t.Failed() {
					t.Logf("%s: %s\nreply %d %s", c.file, c.Description, rep.status, truncate(rep.body, 400))
					t.Logf("mcpguard log tail:\n%s", tail(logs.String(), 1500))
				}
			}()
			if rep.status != c.Expect.Status {
				t.Errorf("status = %d, want %d", rep.status, c.Expect.Status)
			}
			if c.Expect.JSONRPCCode != 0 && rep.code != c.Expect.JSONRPCCode {
				t.Errorf("JSON-RPC code = %d, want %d", rep.code, c.Expect.JSONRPCCode)
			}
			if got := o.forwarded(); got != c.Expect.Forwarded {
				t.Errorf("forwarded = %v, want %v (accepted %d, rejected %d)", got, c.Expect.Forwarded, len(o.accepted), len(o.rejected))
			}
			if rep.status == 401 && !strings.HasPrefix(rep.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", rep.header.Get("WWW-Authenticate"))
			}
			if rep.status == 503 && rep.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if c.Expect.Audit != nil {
				checkAudit(t, audits, o.requestID(), c.Expect.Audit)
			}
			if !c.Expect.Forwarded {
				return
			}
			if len(o.rejected) > 0 {
				t.Errorf("the AWS MCP Server refused the forwarded request: %s %s", o.rejected[0].ErrorType, o.rejected[0].Message)
			}
			for _, req := range o.accepted {
				for k, vs := range req.Header {
					for _, v := range vs {
						for _, bad := range c.Expect.AbsentUpstream {
							if strings.Contains(v, bad) {
								t.Errorf("client value %q reached the upstream in %s", bad, k)
							}
						}
					}
				}
				if req.Method != http.MethodPost {
					continue
				}
				if c.RawRequest == "" && c.BodyEncoding == "" && !bytes.Equal(req.Body, body) {
					t.Errorf("upstream body differs from the client's:\n got %q\nwant %q", truncate(req.Body, 200), truncate(body, 200))
				}
				if d := differential(req.Body); d.mismatch != "" {
					t.Errorf("parser differential on the forwarded body: %s", d.mismatch)
				}
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("mcpguard fetched %d URLs named by token headers (jku/x5u)", n)
	}
}

// requestID is the x-request-id the connection manager gave the case's
// request: like Envoy 1.36+, the stand-in replaces an external client's own.
func (o observed) requestID() string {
	for i := len(o.exchanges) - 1; i >= 0; i-- {
		if ex := o.exchanges[i]; ex.Downstream != nil {
			if v, ok := envoysim.Get(ex.Downstream.Headers, "x-request-id"); ok {
				return v
			}
		}
	}
	return "(no exchange recorded)"
}

// checkAudit waits for the audit record of requestID and checks it. A
// forwarded request has two: the request's own (written before Envoy
// forwards it, outcome "forwarded") and the mcp_response that completes
// it; the expectations are about the first.
func checkAudit(t *testing.T, audits *stack.Buffer, requestID string, want *auditExpect) {
	t.Helper()
	var line string
	deadline := time.Now().Add(5 * time.Second)
	for line == "" {
		for l := range strings.SplitSeq(audits.String(), "\n") {
			if strings.Contains(l, `"request_id":"`+requestID+`"`) && !strings.Contains(l, `"type":"mcp_response"`) {
				line = l
			}
		}
		if line != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("no audit record with request_id %s", requestID)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	var rec struct {
		Type    string `json:"type"`
		Outcome string `json:"outcome"`
		Error   *struct {
			Kind   string `json:"kind"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("audit record is not JSON: %v\n%s", err, line)
	}
	defer func() {
		if t.Failed() {
			t.Logf("audit record: %s", line)
		}
	}()
	if want.Type != "" && rec.Type != want.Type {
		t.Errorf("audit type = %q, want %q", rec.Type, want.Type)
	}
	if want.Outcome != "" && rec.Outcome != want.Outcome {
		t.Errorf("audit outcome = %q, want %q", rec.Outcome, want.Outcome)
	}
	if want.ErrorKind != "" || want.ErrorReason != "" {
		switch {
		case rec.Error == nil:
			t.Errorf("audit record has no error, want kind %q reason %q", want.ErrorKind, want.ErrorReason)
		case want.ErrorKind != "" && rec.Error.Kind != want.ErrorKind:
			t.Errorf("audit error.kind = %q, want %q", rec.Error.Kind, want.ErrorKind)
		case want.ErrorReason != "" && rec.Error.Reason != want.ErrorReason:
			t.Errorf("audit error.reason = %q, want %q", rec.Error.Reason, want.ErrorReason)
		}
	}
	for _, sub := range want.Contains {
		if !strings.Contains(line, sub) {
			t.Errorf("audit record lacks %q", sub)
		}
	}
	for _, sub := range want.Absent {
		if strings.Contains(line, sub) {
			t.Errorf("audit record contains %q", sub)
		}
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
