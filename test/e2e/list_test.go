package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// serviceToolsPolicy lets each group call its own service-specific tool.
const serviceToolsPolicy = `
@id("s3-readers-s3-tool")
permit (principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___s3_list_buckets");
@id("ec2-viewers-ec2-tool")
permit (principal in Group::"ec2-viewers", action == Action::"tools/call", resource == Tool::"aws___ec2_describe_instances");
`

func listStack(t *testing.T, jsonMode bool) *stack.Stack {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "service-tools.cedar"), []byte(serviceToolsPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := startStack(t, stack.Options{
		FakeAWSJSON: jsonMode,
		AuditWriter: &stack.Buffer{},
		ExtraTools: []fakeaws.ExtraTool{
			{Name: "aws___s3_list_buckets", Description: "List S3 buckets."},
			{Name: "aws___ec2_describe_instances", Description: "Describe EC2 instances."},
		},
		Mutate: func(c *config.Config) {
			c.Authz.PolicyFiles = append(c.Authz.PolicyFiles, filepath.Join(dir, "service-tools.cedar"))
		},
	})
	return s
}

func toolNames(t *testing.T, s *stack.Stack, u stack.User) []string {
	t.Helper()
	cs := connect(t, s, u)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("%s: tools/list: %v", u.Name, err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// TestToolsListShowsOnlyUsableTools: each user sees the tools some call of
// theirs could be permitted for, in both response encodings.
func TestToolsListShowsOnlyUsableTools(t *testing.T) {
	docs := []string{"aws___list_regions", "aws___search_documentation", "aws___suggest_aws_commands",
		"aws___read_documentation", "aws___retrieve_skill", "aws___get_regional_availability"}
	for _, mode := range []struct {
		name string
		json bool
	}{{"sse", false}, {"json", true}} {
		t.Run(mode.name, func(t *testing.T) {
			s := listStack(t, mode.json)
			tests := []struct {
				user stack.User
				want []string
			}{
				// aws___call_aws and aws___run_script stay for the
				// groups with an argument- or context.aws-conditioned
				// permit on them; aws___get_presigned_url and
				// aws___get_tasks are for nobody.
				{stack.Alice, append([]string{"aws___call_aws", "aws___run_script", "aws___s3_list_buckets"}, docs...)},
				{stack.Bob, append([]string{"aws___call_aws", "aws___run_script", "aws___ec2_describe_instances"}, docs...)},
				{stack.Dana, append([]string{"aws___call_aws", "aws___run_script"}, docs...)},
			}
			for _, tt := range tests {
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if got := toolNames(t, s, tt.user); !slices.Equal(got, want) {
					t.Errorf("%s sees %v, want %v", tt.user.Name, got, want)
				}
			}
		})
	}
}

// TestOnlyListsAreBuffered: the response body round trip happens for list
// requests only; a tool call streams through untouched.
func TestOnlyListsAreBuffered(t *testing.T) {
	s := listStack(t, false)
	cs := connect(t, s, stack.Alice)
	if _, err := callAWS(cs, "aws s3 ls"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var sawListBody bool
	for _, ex := range s.Exchanges() {
		method := jsonrpcMethod(ex.Downstream.Body)
		bodyRoundTrip := slices.Contains(envoysim.Kinds(ex.Log), "send:response_body")
		switch {
		case method == "tools/list":
			sawListBody = bodyRoundTrip
		case bodyRoundTrip:
			t.Errorf("%s (%s) had a response body round trip", method, ex.Downstream.Method)
		}
	}
	if !sawListBody {
		t.Error("tools/list had no response body round trip")
	}
}

// TestUnfilterableListsFailClosed: an upstream answering a list with a
// compressed or malformed body gets its answer replaced by a JSON-RPC
// error, never passed through.
func TestUnfilterableListsFailClosed(t *testing.T) {
	s, _ := startStack(t, stack.Options{AuditWriter: &stack.Buffer{}})
	list := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"secret_internal_tool","inputSchema":{"type":"object"}}]}}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(list))
	zw.Close()
	tests := []struct {
		name    string
		headers map[string]string
		body    []byte
	}{
		{"gzip", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz.Bytes()},
		{"malformed", map[string]string{"Content-Type": "application/json"}, []byte(`{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"secret_internal_tool"`)},
		{"duplicate keys", map[string]string{"Content-Type": "application/json"}, []byte(`{"jsonrpc":"2.0","id":7,"result":{"tools":[],"tools":[{"name":"secret_internal_tool","inputSchema":{}}]}}`)},
		{"wrong id", map[string]string{"Content-Type": "application/json"}, []byte(strings.Replace(list, `"id":7`, `"id":8`, 1))},
		{"sse without the response", map[string]string{"Content-Type": "text/event-stream"}, []byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1,\"tools\":[{\"name\":\"secret_internal_tool\"}]}}\n\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				_, _ = w.Write(tt.body)
			}))
			defer up.Close()
			front, err := s.AddRoute(stack.Route{Upstream: up.URL, HostRewrite: s.Config.Upstream.Host})
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := s.Token(stack.Alice)
			req, _ := http.NewRequest(http.MethodPost, front.URL()+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept-Encoding", "gzip")
			req.Header.Set("Authorization", "Bearer "+tok)
			tr := &http.Transport{DisableCompression: true}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			if strings.Contains(b.String(), "secret_internal_tool") || bytes.Contains(b.Bytes(), gz.Bytes()[:10]) {
				t.Fatalf("the unfiltered list reached the client: %q", b.String())
			}
			if !strings.Contains(b.String(), `"error"`) || !strings.Contains(b.String(), `"id":7`) {
				t.Errorf("body = %q, want a JSON-RPC error for id 7", b.String())
			}
			if resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("content-encoding %q on a replaced body", resp.Header.Get("Content-Encoding"))
			}
		})
	}
}

func jsonrpcMethod(body []byte) string {
	i := bytes.Index(body, []byte(`"method":"`))
	if i < 0 {
		return ""
	}
	rest := body[i+len(`"method":"`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
