package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestServerCapabilities(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"initialize response", `{"jsonrpc":"2.0","id":1,"result":{"capabilities":{"logging":{},"tools":{"listChanged":true}},"protocolVersion":"2025-11-25"}}`, []string{"logging", "tools"}, ""},
		{"result object", `{"capabilities":{"prompts":{},"completions":{}}}`, []string{"completions", "prompts"}, ""},
		{"sse as curl prints it", "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"resultType\":\"complete\",\"capabilities\":{\"resources\":{\"subscribe\":true}}}}\r\n\r\n", []string{"resources"}, ""},
		{"empty capabilities", `{"result":{"capabilities":{}}}`, []string{}, ""},
		{"error response", `{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"no"}}`, nil, "JSON-RPC error"},
		{"no capabilities", `{"result":{"protocolVersion":"2025-11-25"}}`, nil, "no capabilities object"},
		{"capabilities not an object", `{"capabilities":["tools"]}`, nil, "no capabilities object"},
		{"null capabilities", `{"capabilities":null}`, nil, "no capabilities object"},
		{"not json", `HTTP/1.1 200 OK`, nil, "parse server answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := serverCapabilities([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func FuzzServerCapabilities(f *testing.F) {
	f.Add([]byte(`{"result":{"capabilities":{"logging":{}}}}`))
	f.Add([]byte("data: {\"capabilities\":{\"tools\":{}}}\n"))
	f.Add([]byte(`{"capabilities":{"a":1,"a":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		caps, err := serverCapabilities(b)
		if err != nil {
			return
		}
		if !slices.IsSorted(caps) || len(slices.Compact(slices.Clone(caps))) != len(caps) {
			t.Fatalf("capabilities %q are not sorted and unique", caps)
		}
	})
}

// TestValidateWarnsAboutAdvertisedCapabilities: a policy set without the
// baseline's plumbing draws a warning for each advertised capability with
// unpermitted methods, learned from config or from a saved answer; the
// quickstart's baseline draws none.
func TestValidateWarnsAboutAdvertisedCapabilities(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("p.cedar", `permit(principal, action in [Action::"initialize", Action::"server/discover", Action::"notifications/initialized", Action::"tools/list", Action::"tools/call", Action::"prompts/list"], resource);`)
	conf := write("c.yaml", "upstream: {capabilities: [tools, prompts]}\n"+
		"upstreams: [{name: docs, host: docs.example.com, region: us-east-1, service: aws-mcp}]\n"+
		"oidc_config: {issuer: https://idp.example.com, audience: aws-mcp, resource_metadata: {resource: https://mcp.example.com/mcp}}\n"+
		"aws_sts_config: {region: us-east-1, role_arn: 'arn:aws:iam::123456789012:role/R'}\n"+
		"authz_config: {policy_files: [p.cedar]}\n")
	info := write("init.txt", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"capabilities\":{\"logging\":{},\"tools\":{},\"experimental\":{}}}}\n")

	code, _, stderr := runCLI("validate", "--config", conf, "--server-info", info, "--server-info", "docs="+info)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`warning: upstream aws-mcp.us-east-1.api.aws advertises "logging" (` + info + `), but no policy permits "logging/setLevel"`,
		`warning: upstream aws-mcp.us-east-1.api.aws advertises "prompts" (upstream.capabilities), but no policy permits "prompts/get"`,
		`warning: upstream "docs" (docs.example.com) advertises "logging" (` + info + `), but no policy permits "logging/setLevel"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, `advertises "tools"`) || strings.Contains(stderr, "experimental") {
		t.Errorf("warned about a permitted or unknown capability:\n%s", stderr)
	}

	for _, bad := range []string{"nope=" + info, filepath.Join(dir, "missing.json"), conf} {
		if code, _, stderr := runCLI("validate", "--config", conf, "--server-info", bad); code != exitInvalid || !strings.Contains(stderr, "--server-info") {
			t.Errorf("--server-info %s: exit %d, %s", bad, code, stderr)
		}
	}

	// The example baseline permits every method of what the fake AWS MCP
	// Server advertises.
	if code, _, stderr := runCLI("validate", "--config", quickstart, "--server-info", info); code != exitOK || strings.Contains(stderr, "warning") {
		t.Errorf("quickstart: exit %d, %s", code, stderr)
	}
}
