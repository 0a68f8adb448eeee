package adversarial

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/stack"
)

// The hostile cases of the two protocol eras: every way a mirrored header
// can disagree with the body, versions that disagree, session ids replayed
// by another user or forged, resumed streams, foreign origins.

const (
	v2026 = "2026-07-28"
	v2025 = "2025-11-25"
)

// regionTool is a tool whose region argument clients mirror as
// Mcp-Param-Region.
func regionTool(srv *mcp.Server) {
	srv.AddTool(&mcp.Tool{
		Name:        "region_echo",
		Description: "Echo a region.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"note":{"type":"string"}}}`),
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
	})
}

const regionPolicy = `
@id("everyone-region-echo")
permit (principal in Group::"Everyone", action == Action::"tools/call", resource == Tool::"region_echo");
@id("write-needs-scope")
@requires_scope("aws:write")
forbid (principal, action == Action::"tools/call", resource == Tool::"region_echo")
when { resource.arguments has note && resource.arguments.note == "write" }
unless { principal has scopes && principal.scopes.contains("aws:write") };
`

func eraStack(t *testing.T, stateless bool, mutate func(*config.Config)) (*stack.Stack, *stack.Buffer) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "region.cedar"), []byte(regionPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	trail := &stack.Buffer{}
	s, _ := startStack(t, stack.Options{
		AuditWriter:      trail,
		FakeAWSStateless: stateless,
		FakeAWSConfigure: regionTool,
		Mutate: func(c *config.Config) {
			c.Authz.PolicyFiles = append(c.Authz.PolicyFiles, filepath.Join(dir, "region.cedar"))
			// region_echo's "note" argument is not in the embedded schema.
			c.Authz.SchemaValidation = "warn"
			c.Protocol.AllowedOrigins = []string{"https://app.example.com"}
			if mutate != nil {
				mutate(c)
			}
		},
	})
	return s, trail
}

// eraReply is what a client read back.
type eraReply struct {
	status int
	header http.Header
	body   string
	code   int
	data   map[string]any
}

// send posts body (or a bodyless method) with headers given as name,
// value pairs; names are sent exactly as written, repeats included.
func send(t *testing.T, s *stack.Stack, method, token, body string, headers ...string) eraReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.MCPURL(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := eraReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	var e struct {
		Error *struct {
			Code int            `json:"code"`
			Data map[string]any `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil {
		r.code, r.data = e.Error.Code, e.Error.Data
	}
	return r
}

func userToken(t *testing.T, s *stack.Stack, u stack.User) string {
	t.Helper()
	tok, err := s.Token(u)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// body2026 is a 2026-07-28 request: the version in _meta, as the spec
// requires of every request.
func body2026(method, params string) string {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + v2026 + `","io.modelcontextprotocol/clientCapabilities":{}}`
	if params == "" {
		params = "{" + meta + "}"
	} else {
		params = "{" + meta + "," + params + "}"
	}
	return `{"jsonrpc":"2.0","id":7,"method":"` + method + `","params":` + params + `}`
}

func b64(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }

func TestHeaderBodyMismatch2026(t *testing.T) {
	s, _ := eraStack(t, true, nil)
	alice := userToken(t, s, stack.Alice)
	pv := []string{"MCP-Protocol-Version", v2026}
	call := body2026("tools/call", `"name":"region_echo","arguments":{"region":"eu-central-1"}`)
	callAccent := body2026("tools/call", `"name":"region_echo","arguments":{"region":"région"}`)
	callAWS := body2026("tools/call", `"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}`)
	read := body2026("resources/read", `"uri":"file:///a.txt"`)
	list := body2026("tools/list", "")
	std := func(m, n string, extra ...string) []string {
		h := append([]string{}, pv...)
		h = append(h, "Mcp-Method", m)
		if n != "" {
			h = append(h, "Mcp-Name", n)
		}
		return append(h, extra...)
	}

	// A param header before mcpguard has seen the tool's marks cannot be
	// checked, so it is refused.
	if r := send(t, s, "POST", alice, call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1")...); r.status != 400 || r.code != -32020 {
		t.Fatalf("param header before tools/list: %d %s", r.status, r.body)
	}
	if r := send(t, s, "POST", alice, list, std("tools/list", "")...); r.status != 200 {
		t.Fatalf("tools/list: %d %s", r.status, r.body)
	}

	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
		code    int
	}{
		{"matching call", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1"), 200, 0},
		{"header names in any case", call, append(append([]string{}, pv...), "MCP-METHOD", "tools/call", "mcp-name", "region_echo", "MCP-PARAM-REGION", "eu-central-1"), 200, 0},
		{"base64 param that needs it", callAccent, std("tools/call", "region_echo", "Mcp-Param-Region", b64("région")), 200, 0},
		{"plain param that needs base64", callAccent, std("tools/call", "region_echo", "Mcp-Param-Region", "r\xc3\xa9gion"), 400, -32020},
		{"base64 of a plain name", call, std("tools/call", b64("region_echo"), "Mcp-Param-Region", "eu-central-1"), 400, -32020},
		{"base64 of a plain param", call, std("tools/call", "region_echo", "Mcp-Param-Region", b64("eu-central-1")), 400, -32020},
		{"method differs", call, std("tools/list", "region_echo", "Mcp-Param-Region", "eu-central-1"), 400, -32020},
		{"method differs in case", call, std("Tools/Call", "region_echo", "Mcp-Param-Region", "eu-central-1"), 400, -32020},
		{"method missing", call, append(append([]string{}, pv...), "Mcp-Name", "region_echo", "Mcp-Param-Region", "eu-central-1"), 400, -32020},
		{"name differs", callAWS, std("tools/call", "aws___read_documentation"), 400, -32020},
		{"name differs in case", callAWS, std("tools/call", "AWS___CALL_AWS"), 400, -32020},
		{"name missing", callAWS, std("tools/call", ""), 400, -32020},
		{"name on a method without one", list, std("tools/list", "aws___call_aws"), 400, -32020},
		{"uri differs", read, std("resources/read", "file:///b.txt"), 400, -32020},
		{"base64 name of another tool", callAWS, std("tools/call", b64("aws___read_documentation")), 400, -32020},
		{"base64 malformed", callAWS, std("tools/call", "=?base64?not*base64?="), 400, -32020},
		{"base64 sentinel unterminated", callAWS, std("tools/call", "=?base64?YXdzX19fY2FsbF9hd3M="), 400, -32020},
		{"param differs", call, std("tools/call", "region_echo", "Mcp-Param-Region", "us-east-1"), 400, -32020},
		{"param missing", call, std("tools/call", "region_echo"), 400, -32020},
		{"param of no mark", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1", "Mcp-Param-Note", "x"), 400, -32020},
		{"param on another method", list, std("tools/list", "", "Mcp-Param-Region", "eu-central-1"), 400, -32020},
		{"repeated method", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1", "Mcp-Method", "tools/call"), 400, -32020},
		{"repeated method, other case", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1", "MCP-METHOD", "tools/list"), 400, -32020},
		{"repeated name", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1", "Mcp-Name", "aws___call_aws"), 400, -32020},
		{"repeated param", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1", "Mcp-Param-Region", "us-east-1"), 400, -32020},
		{"repeated protocol version", call, std("tools/call", "region_echo", "Mcp-Param-Region", "eu-central-1", "MCP-Protocol-Version", v2026), 400, -32020},
		{"version header and _meta disagree", call, []string{"MCP-Protocol-Version", v2025, "Mcp-Method", "tools/call", "Mcp-Name", "region_echo", "Mcp-Param-Region", "eu-central-1"}, 400, -32020},
		{"2026 _meta without the header", call, []string{"Mcp-Method", "tools/call", "Mcp-Name", "region_echo", "Mcp-Param-Region", "eu-central-1"}, 400, -32020},
		{"2026 header without _meta", `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`, std("tools/list", ""), 400, -32020},
		{"unknown version", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, []string{"MCP-Protocol-Version", "2024-01-01", "Mcp-Method", "tools/list"}, 400, -32022},
		{"unknown _meta version", strings.Replace(list, v2026, "2030-01-01", 1), []string{"Mcp-Method", "tools/list"}, 400, -32022},
		{"batch in 2026", "[" + list + "]", std("tools/list", ""), 400, -32600},
		{"repeated session id", list, std("tools/list", "", "Mcp-Session-Id", "a", "Mcp-Session-Id", "b"), 400, -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.AWS.Requests())
			r := send(t, s, "POST", alice, tt.body, tt.headers...)
			if r.status != tt.status || (tt.code != 0 && r.code != tt.code) {
				t.Fatalf("got %d (code %d) %s, want %d (code %d)", r.status, r.code, r.body, tt.status, tt.code)
			}
			forwarded := len(s.AWS.Requests()) > before
			if forwarded != (tt.status == 200) {
				t.Errorf("forwarded = %v", forwarded)
			}
		})
	}

	r := send(t, s, "POST", alice, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, "MCP-Protocol-Version", "2024-01-01", "Mcp-Method", "tools/list")
	supported, _ := r.data["supported"].([]any)
	if len(supported) == 0 || supported[0] != v2026 || r.data["requested"] != "2024-01-01" {
		t.Errorf("-32022 data = %v, want the supported versions and the requested one", r.data)
	}
}

func TestOlderEraMirroredHeadersMustAgree(t *testing.T) {
	s, _ := eraStack(t, false, nil)
	alice := userToken(t, s, stack.Alice)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`
	// A route or rate limit keyed on Mcp-Name must see the tool Cedar
	// authorized, whatever revision the client claims.
	if r := send(t, s, "POST", alice, body, "Mcp-Name", "aws___read_documentation"); r.status != 400 || r.code != -32020 {
		t.Errorf("older-era Mcp-Name mismatch: %d %s", r.status, r.body)
	}
	if r := send(t, s, "POST", alice, body, "Mcp-Method", "tools/list"); r.status != 400 || r.code != -32020 {
		t.Errorf("older-era Mcp-Method mismatch: %d %s", r.status, r.body)
	}
}

func TestForeignOrigin(t *testing.T) {
	s, _ := eraStack(t, false, nil)
	alice := userToken(t, s, stack.Alice)
	for _, tt := range []struct {
		origins []string
		status  int
	}{
		{[]string{"https://evil.example"}, 403},
		{[]string{"null"}, 403},
		{[]string{"https://APP.example.com"}, 403},
		{[]string{"https://app.example.com", "https://evil.example"}, 403},
		{[]string{"https://app.example.com"}, 200},
		{nil, 200},
	} {
		var h []string
		for _, o := range tt.origins {
			h = append(h, "Origin", o)
		}
		before := len(s.AWS.Requests())
		r := send(t, s, "POST", alice, initializeBody, h...)
		if r.status != tt.status {
			t.Errorf("origin %v: %d %s, want %d", tt.origins, r.status, r.body, tt.status)
		}
		if forwarded := len(s.AWS.Requests()) > before; forwarded != (tt.status == 200) {
			t.Errorf("origin %v: forwarded = %v", tt.origins, forwarded)
		}
	}
}

// initialize opens a 2025-11-25 session and returns the id the client
// holds.
func initialize(t *testing.T, s *stack.Stack, tok string) string {
	t.Helper()
	r := send(t, s, "POST", tok, initializeBody)
	sid := r.header.Get("Mcp-Session-Id")
	if r.status != 200 || sid == "" {
		t.Fatalf("initialize: %d %q", r.status, sid)
	}
	return sid
}

func TestSessionReplayedByAnotherUser(t *testing.T) {
	s, _ := eraStack(t, false, nil)
	alice, bob := userToken(t, s, stack.Alice), userToken(t, s, stack.Bob)
	sid := initialize(t, s, alice)
	if !strings.HasPrefix(sid, "mg1.") {
		t.Fatalf("session id %q is not sealed", sid)
	}
	upstream := ""
	for _, r := range s.AWS.Requests() {
		if v := r.Header.Get("Mcp-Session-Id"); v != "" {
			upstream = v
		}
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	pv := []string{"Mcp-Protocol-Version", v2025}

	// Alice's own id works (the initialized notification needs none).
	if r := send(t, s, "POST", alice, list, append([]string{"Mcp-Session-Id", sid}, pv...)...); r.status != 200 {
		t.Fatalf("alice with her session: %d %s", r.status, r.body)
	}
	forged := "mg1." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64))
	for _, tt := range []struct {
		name, method, tok, sid, body string
	}{
		{"bob POST with alice's id", "POST", bob, sid, list},
		{"bob GET with alice's id", "GET", bob, sid, ""},
		{"bob DELETE with alice's id", "DELETE", bob, sid, ""},
		{"alice with the upstream's raw id", "POST", alice, upstream, list},
		{"alice with a forged wrapper", "POST", alice, forged, list},
		{"alice with a truncated wrapper", "GET", alice, sid[:len(sid)-4], ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.AWS.Requests())
			r := send(t, s, tt.method, tt.tok, tt.body, append([]string{"Mcp-Session-Id", tt.sid}, pv...)...)
			if r.status != 404 || r.code != -32000 {
				t.Errorf("got %d %s, want 404 -32000", r.status, r.body)
			}
			if len(s.AWS.Requests()) != before {
				t.Error("the request reached the upstream")
			}
		})
	}
	// Alice can still end her own session.
	if r := send(t, s, "DELETE", alice, "", append([]string{"Mcp-Session-Id", sid}, pv...)...); r.status >= 300 {
		t.Errorf("alice DELETE: %d %s", r.status, r.body)
	}
}

func TestSessionRefusalIsAudited(t *testing.T) {
	s, trail := eraStack(t, false, nil)
	alice, bob := userToken(t, s, stack.Alice), userToken(t, s, stack.Bob)
	sid := initialize(t, s, alice)
	send(t, s, "POST", bob, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", v2025)
	s.Close() // flush the trail
	raw := []byte(trail.String())
	found := false
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		var e audit.Event
		if json.Unmarshal(line, &e) != nil || e.Error == nil {
			continue
		}
		if e.Error.Reason == "session_other_user" {
			found = true
			if e.Type != audit.TypeMCPSessionRefused || e.User == nil || e.User.Sub != "bob" || e.HTTP.Status != 404 {
				t.Errorf("session refusal record = %+v", e)
			}
		}
	}
	if !found {
		t.Error("no audit record of bob replaying alice's session")
	}
}

func TestRekeyedSessionWrapper(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for f, c := range map[string]string{oldKey: "o", newKey: "n"} {
		if err := os.WriteFile(f, bytes.Repeat([]byte(c), 40), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := eraStack(t, false, func(c *config.Config) { c.Protocol.SessionBinding.SecretFile = oldKey })
	alice := userToken(t, s, stack.Alice)
	sid := initialize(t, s, alice)
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	restart := func(current, previous string) {
		t.Helper()
		s.Config.Protocol.SessionBinding = config.SessionBinding{SecretFile: current, PreviousSecretFile: previous}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := s.Restart(ctx, stack.RestartOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// After a rotation that dropped the old key, its wrappers are refused.
	restart(newKey, "")
	before := len(s.AWS.Requests())
	if r := send(t, s, "POST", alice, list, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", v2025); r.status != 404 || r.code != -32000 {
		t.Errorf("wrapper under a retired key: %d %s", r.status, r.body)
	}
	if len(s.AWS.Requests()) != before {
		t.Error("a wrapper under a retired key reached the upstream")
	}
	// Keeping the old key as previous_secret_file keeps the session.
	restart(newKey, oldKey)
	if r := send(t, s, "POST", alice, list, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", v2025); r.status != 200 {
		t.Errorf("wrapper under the previous key: %d %s", r.status, r.body)
	}
}

// hostileStreams is an upstream that replays an unfiltered tools/list result
// on the streams mcpguard cannot buffer: a resumed GET stream and a
// subscriptions/listen stream. Each list event is split across two writes.
func hostileStreams(t *testing.T) *httptest.Server {
	t.Helper()
	list := `{"jsonrpc":"2.0","id":5,"result":{"tools":[` +
		`{"name":"aws___call_aws","inputSchema":{"type":"object"}},` +
		`{"name":"aws___admin_console","inputSchema":{"type":"object"}}],"ttlMs":60000,"cacheScope":"public"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		write := func(s string) {
			_, _ = io.WriteString(w, s)
			fl.Flush()
		}
		if r.Method == http.MethodPost {
			write("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/subscriptions/acknowledged\",\"params\":{\"notifications\":{}}}\n\n")
		}
		ev := "id: 7\nevent: message\ndata: " + list + "\n\n"
		write(ev[:len(ev)/2])
		write(ev[len(ev)/2:] + "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\r\n\r")
		write("\nevent: message\ndata: {not json\n\n")
		write("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"tools\":[],\"Tools\":[{\"name\":\"aws___admin_console\"}]}}\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStreamsNeverCarryAnUnfilteredList(t *testing.T) {
	s, trail := eraStack(t, false, nil)
	alice := userToken(t, s, stack.Alice)
	sid := initialize(t, s, alice)
	up := hostileStreams(t)
	front, err := s.AddRoute(stack.Route{Upstream: up.URL, HostRewrite: s.Config.Upstream.Host})
	if err != nil {
		t.Fatal(err)
	}
	get := func(headers ...string) string {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", front.URL()+"/mcp", nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Accept", "text/event-stream")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		return string(b)
	}
	post := func(body string, headers ...string) string {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", front.URL()+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		return string(b)
	}
	for _, tt := range []struct {
		name   string
		stream func() string
	}{
		{"resumed GET", func() string {
			return get("Mcp-Session-Id", sid, "Mcp-Protocol-Version", v2025, "Last-Event-ID", "3")
		}},
		{"GET", func() string { return get("Mcp-Session-Id", sid, "Mcp-Protocol-Version", v2025) }},
		{"subscriptions/listen", func() string {
			return post(body2026("subscriptions/listen", `"notifications":{"toolsListChanged":true}`),
				"MCP-Protocol-Version", v2026, "Mcp-Method", "subscriptions/listen")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.stream()
			if strings.Contains(got, "aws___admin_console") {
				t.Fatalf("an unfiltered list reached the client:\n%s", got)
			}
			for _, want := range []string{`"aws___call_aws"`, "notifications/tools/list_changed", "id: 7", `"ttlMs":60000`} {
				if !strings.Contains(got, want) {
					t.Errorf("stream lacks %s:\n%s", want, got)
				}
			}
			if strings.Contains(got, "{not json") {
				t.Errorf("an unreadable event was passed on:\n%s", got)
			}
			// The upstream called the list public; filtered, it is private.
			if !strings.Contains(got, `"cacheScope":"private"`) {
				t.Errorf("filtered list not marked private:\n%s", got)
			}
		})
	}
	s.Close()
	if !strings.Contains(trail.String(), `"stream_items_removed":1`) || !strings.Contains(trail.String(), `"stream_events_dropped":2`) {
		t.Errorf("the trail does not record the stream filtering")
	}
}

func TestDenialResponsesAndStepUp(t *testing.T) {
	call := func(note string) string {
		return `{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"region_echo","arguments":{"region":"eu-central-1","note":"` + note + `"}}}`
	}
	denied := `{"jsonrpc":"2.0","id":"c2","method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws ec2 describe-instances"}}}`
	for _, tt := range []struct {
		mode   string
		status int
		want   string
	}{
		{config.DenialToolResult, 200, `"isError":true`},
		{config.DenialJSONRPCError, 200, `"code":-32003`},
		{config.DenialHTTPError, 403, `"code":-32003`},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			s, _ := eraStack(t, false, func(c *config.Config) { c.Protocol.DenialResponse = tt.mode })
			alice := userToken(t, s, stack.Alice)
			r := send(t, s, "POST", alice, denied)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) || !strings.Contains(r.body, `"id":"c2"`) {
				t.Errorf("denial: %d %s, want %d with %s", r.status, r.body, tt.status, tt.want)
			}

			// Step-up is 403 with the challenge in every mode.
			r = send(t, s, "POST", alice, call("write"))
			ch := r.header.Get("WWW-Authenticate")
			if r.status != 403 || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="aws:write"`) ||
				!strings.Contains(ch, `resource_metadata="`) {
				t.Errorf("step-up: %d %q %s", r.status, ch, r.body)
			}
			claims := s.Claims(stack.Alice)
			claims["scope"] = "openid aws:write"
			scoped, err := s.IdP.Mint(claims)
			if err != nil {
				t.Fatal(err)
			}
			if r := send(t, s, "POST", scoped, call("write")); r.status != 200 || strings.Contains(r.body, "isError\":true") {
				t.Errorf("with the scope: %d %s", r.status, r.body)
			}
			// A denial no scope would lift is not a step-up.
			if r := send(t, s, "POST", scoped, denied); r.header.Get("WWW-Authenticate") != "" {
				t.Errorf("plain denial carried a challenge: %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}
