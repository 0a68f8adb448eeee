package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

const quickstartConfig = "../../examples/quickstart/config.yaml"

func startStack(t *testing.T, o stack.Options) (*stack.Stack, *stack.Buffer) {
	t.Helper()
	logs := &stack.Buffer{}
	o.ConfigPath = quickstartConfig
	o.Ephemeral = true
	o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.AuditWriter == nil && o.Mutate == nil {
		// Tests that read the trail set a writer or an output file.
		o.AuditWriter = io.Discard
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, logs
}

// connect opens an MCP session as u through the gateway.
func connect(t *testing.T, s *stack.Stack, u stack.User) *mcp.ClientSession {
	t.Helper()
	tok, err := s.Token(u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-" + u.Name, Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             s.MCPURL(),
		HTTPClient:           stack.HTTPClient(tok),
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		t.Fatalf("%s: connect: %v", u.Name, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callAWS(cs *mcp.ClientSession, command string) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: fakeaws.ToolCallAWS, Arguments: map[string]any{"cli_command": command}})
}

// deniedByGateway reports whether a tools/call was refused by mcpguard:
// an error (denial_response http_error or jsonrpc_error) or the tool
// result with isError that denial_response tool_result answers with.
func deniedByGateway(res *mcp.CallToolResult, err error) bool {
	if err != nil {
		return true
	}
	return res != nil && res.IsError && strings.HasPrefix(resultText(res), "mcpguard refused this call: ")
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// forwardedCalls lists the cli_commands of tools/call requests that reached
// the AWS MCP Server, with the role they were signed for.
func forwardedCalls(s *stack.Stack) map[string]string {
	out := map[string]string{}
	for _, r := range s.AWS.Requests() {
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Arguments struct {
					CLI string `json:"cli_command"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if json.Unmarshal(r.Body, &msg) == nil && msg.Method == "tools/call" {
			out[msg.Params.Arguments.CLI] = r.RoleARN
		}
	}
	return out
}

// TestSeedMatrix is the brief's table: Alice (s3-readers) may list S3 but not
// EC2, Bob (ec2-viewers) the reverse, each through their own IAM role and
// neither holding AWS credentials.
func TestSeedMatrix(t *testing.T) {
	for _, mode := range []struct {
		name string
		json bool
	}{{"sse", false}, {"json", true}} {
		t.Run(mode.name, func(t *testing.T) {
			s, _ := startStack(t, stack.Options{FakeAWSJSON: mode.json})
			tests := []struct {
				user    stack.User
				command string
				allowed bool
				role    string
				want    string
			}{
				{stack.Alice, "aws s3 ls", true, stack.S3Role, "mcpguard-demo-reports"},
				{stack.Alice, "aws ec2 describe-instances", false, "", ""},
				{stack.Bob, "aws s3 ls", false, "", ""},
				{stack.Bob, "aws ec2 describe-instances", true, stack.EC2Role, "i-"},
			}
			sessions := map[string]*mcp.ClientSession{}
			for _, tt := range tests {
				cs := sessions[tt.user.Name]
				if cs == nil {
					cs = connect(t, s, tt.user)
					sessions[tt.user.Name] = cs
				}
				before := len(s.AWS.Requests())
				res, err := callAWS(cs, tt.command)
				if tt.allowed {
					if err != nil || res.IsError {
						t.Errorf("%s %q: want allowed, got err=%v result=%+v", tt.user.Name, tt.command, err, res)
						continue
					}
					if !strings.Contains(resultText(res), tt.want) {
						t.Errorf("%s %q: result %q lacks %q", tt.user.Name, tt.command, resultText(res), tt.want)
					}
					last := s.AWS.Requests()[len(s.AWS.Requests())-1]
					if last.RoleARN != tt.role {
						t.Errorf("%s %q: signed as %s, want %s", tt.user.Name, tt.command, last.RoleARN, tt.role)
					}
					continue
				}
				if !deniedByGateway(res, err) {
					t.Errorf("%s %q: want denied by the gateway, got %+v", tt.user.Name, tt.command, res)
				}
				if len(s.AWS.Requests()) != before {
					t.Errorf("%s %q: a denied call reached AWS", tt.user.Name, tt.command)
				}
			}
		})
	}
}

// TestDataAnalystArgumentPolicy is the brief's Cedar policy: data analysts
// may call aws___call_aws only for `aws s3 ls`.
func TestDataAnalystArgumentPolicy(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	cs := connect(t, s, stack.Dana)
	tests := []struct {
		command string
		allowed bool
	}{
		{"aws s3 ls", true},
		{"aws s3 ls s3://mcpguard-demo-reports --region us-east-1", true},
		{"aws s3 rm s3://mcpguard-demo-bucket/report.csv", false},
		{"aws s3 ls; aws iam list-users", false},
		{"aws s3 ls && aws iam list-users", false},
		{"aws s3 ls $(aws iam list-users)", false},
		{"aws ec2 describe-instances", false},
		{"aws s3 ls --endpoint-url https://attacker.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			res, err := callAWS(cs, tt.command)
			if tt.allowed && (err != nil || res.IsError) {
				t.Fatalf("want allowed, got err=%v res=%+v", err, res)
			}
			if !tt.allowed && !deniedByGateway(res, err) {
				t.Fatalf("want denied, got %+v", res)
			}
			_, forwarded := forwardedCalls(s)[tt.command]
			if forwarded != tt.allowed {
				t.Errorf("forwarded = %v, want %v", forwarded, tt.allowed)
			}
		})
	}
}

// TestOneMCPSession runs initialize, tools/list and tools/call in one session
// and ends it with DELETE, all signed, all under the same Mcp-Session-Id:
// the client holds mcpguard's sealed form, the upstream sees its own id.
func TestOneMCPSession(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	cs := connect(t, s, stack.Alice)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) == 0 {
		t.Fatal("tools/list returned nothing")
	}
	if _, err := callAWS(cs, "aws s3 ls"); err != nil {
		t.Fatal(err)
	}
	sealed := cs.ID()
	if !strings.HasPrefix(sealed, "mg1.") {
		t.Fatalf("client session id %q is not sealed by mcpguard", sealed)
	}
	sid := ""
	for _, r := range s.AWS.Requests() {
		if v := r.Header.Get("Mcp-Session-Id"); v != "" {
			sid = v
			break
		}
	}
	if sid == "" || sid == sealed {
		t.Fatalf("upstream session id %q: want the upstream's own id, not the sealed one", sid)
	}
	if err := cs.Close(); err != nil {
		t.Fatalf("close session: %v", err)
	}
	var methods []string
	for _, r := range s.AWS.Requests() {
		if r.Method == http.MethodDelete {
			methods = append(methods, "DELETE")
			if r.Header.Get("Mcp-Session-Id") != sid {
				t.Errorf("DELETE carried session %q, want %q", r.Header.Get("Mcp-Session-Id"), sid)
			}
			continue
		}
		var m struct {
			Method string `json:"method"`
		}
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("upstream request body: %v", err)
		}
		methods = append(methods, m.Method)
		// server/discover (SEP-2575) and initialize come before a session exists.
		if m.Method != "initialize" && m.Method != "server/discover" && r.Header.Get("Mcp-Session-Id") != sid {
			t.Errorf("%s carried session %q, want %q", m.Method, r.Header.Get("Mcp-Session-Id"), sid)
		}
	}
	want := []string{"server/discover", "initialize", "notifications/initialized", "tools/list", "tools/call", "DELETE"}
	if strings.Join(methods, ",") != strings.Join(want, ",") {
		t.Errorf("AWS saw %v, want %v", methods, want)
	}
}

// TestUnmappedUserIsRefusedBeforeSTS: Eve is in no mapped group, so there is
// no role for her; mcpguard answers 403 without calling STS.
func TestUnmappedUserIsRefusedBeforeSTS(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	tok, _ := s.Token(stack.Eve)
	resp := postJSON(t, s, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	if resp.status != 403 {
		t.Fatalf("status = %d, want 403: %s", resp.status, resp.body)
	}
	if !strings.Contains(resp.body, "no IAM role mapped") {
		t.Errorf("body = %s", resp.body)
	}
	if n := len(s.STS.Calls()); n != 0 {
		t.Errorf("STS was called %d times", n)
	}
	if n := len(s.AWS.Requests()); n != 0 {
		t.Errorf("AWS received %d requests", n)
	}
}

// TestSTSOutage: with STS down, a user without cached credentials gets 503
// with Retry-After and nothing is forwarded.
func TestSTSOutage(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	s.STS.SetDown(true)
	tok, _ := s.Token(stack.Alice)
	resp := postJSON(t, s, tok, initializeBody)
	if resp.status != 503 {
		t.Fatalf("status = %d, want 503: %s", resp.status, resp.body)
	}
	if resp.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if n := len(s.AWS.Requests()); n != 0 {
		t.Errorf("AWS received %d requests", n)
	}
}

// TestTamperedBodyIsRejectedByAWS proves the verifier bites: the request
// mcpguard signed is accepted as is and refused once a byte changes.
func TestTamperedBodyIsRejectedByAWS(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	tok, _ := s.Token(stack.Alice)
	req := &envoyRequest{token: tok, body: initializeBody}
	signed := req.process(t, s)

	ok := sendUpstream(t, s, signed, signed.Body)
	if ok.StatusCode != 200 {
		t.Fatalf("the untouched signed request got %d", ok.StatusCode)
	}
	tampered := bytes.Replace(signed.Body, []byte(`"x"`), []byte(`"y"`), 1)
	bad := sendUpstream(t, s, signed, tampered)
	if bad.StatusCode != 403 || bad.Header.Get("x-amzn-ErrorType") != fakeaws.ErrInvalidSignature {
		t.Fatalf("tampered body got %d %s, want 403 %s", bad.StatusCode, bad.Header.Get("x-amzn-ErrorType"), fakeaws.ErrInvalidSignature)
	}
}

// TestProtectedResourceMetadata: MCP clients discover the IdP from mcpguard.
func TestProtectedResourceMetadata(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	resp, err := http.Get(s.Front.URL() + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.HasSuffix(doc.Resource, "/mcp") || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != s.IdP.URL() {
		t.Errorf("document = %+v", doc)
	}
	if len(s.AWS.Requests()) != 0 {
		t.Error("metadata request was forwarded")
	}
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

type httpResult struct {
	status int
	header http.Header
	body   string
}

func postJSON(t *testing.T, s *stack.Stack, token, body string, extra ...string) httpResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.MCPURL(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Add(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
