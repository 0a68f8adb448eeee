package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestTypeScriptSDKClient drives mcpguard with the MCP TypeScript SDK
// (2025-11-25, the newest revision it speaks): it connects through the
// session binding, sees its filtered tools, and reads a policy denial as a
// tool error rather than a transport failure. It runs where node is
// installed and test/tsclient has its packages (npm ci in test/tsclient).
func TestTypeScriptSDKClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir, _ := filepath.Abs("../tsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Skip("test/tsclient has no node_modules: run npm ci in test/tsclient")
	}
	// The deployment choice for agent clients: a denial the model can read.
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) { c.Protocol.DenialResponse = config.DenialToolResult }})
	tok, err := s.Token(stack.Alice)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "client.mjs"), s.MCPURL(), tok,
		fakeaws.ToolCallAWS+"=aws s3 ls", fakeaws.ToolCallAWS+"=aws ec2 describe-instances")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	var rep struct {
		ProtocolVersion string   `json:"protocolVersion"`
		SessionID       string   `json:"sessionId"`
		Tools           []string `json:"tools"`
		Error           string   `json:"error"`
		Calls           []struct {
			Command string `json:"command"`
			IsError bool   `json:"isError"`
			Text    string `json:"text"`
			Thrown  string `json:"thrown"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report %s: %v", out, err)
	}
	if rep.Error != "" {
		t.Fatalf("client failed: %s", rep.Error)
	}
	if !strings.HasPrefix(rep.SessionID, "mg1.") {
		t.Errorf("session id %q is not mcpguard's sealed form", rep.SessionID)
	}
	if !slices.Contains(rep.Tools, fakeaws.ToolCallAWS) {
		t.Errorf("tools = %v", rep.Tools)
	}
	if len(rep.Calls) != 2 {
		t.Fatalf("calls = %+v", rep.Calls)
	}
	if c := rep.Calls[0]; c.Thrown != "" || c.IsError || !strings.Contains(c.Text, "mcpguard-demo-reports") {
		t.Errorf("allowed call = %+v", c)
	}
	if c := rep.Calls[1]; c.Thrown != "" || !c.IsError || !strings.HasPrefix(c.Text, "mcpguard refused this call: ") {
		t.Errorf("denied call = %+v, want a tool result with isError naming the refusal", c)
	}
	if _, forwarded := forwardedCalls(s)["aws ec2 describe-instances"]; forwarded {
		t.Error("the denied call reached AWS")
	}
}
