package clients

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestTypeScriptSDK connects the MCP TypeScript SDK to the quickstart with
// its default settings (denials as JSON-RPC errors): it connects, sees
// Alice's filtered tools, makes an allowed call and reads the denial of
// another as an error that says what was refused, through aws___run_script
// and through the legacy aws___call_aws.
func TestTypeScriptSDK(t *testing.T) {
	node, dir := nodeDir(t)
	s := startQuickstart(t, false)
	tok, err := s.LoginToken(stack.Alice)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(dir, "client.mjs"), s.MCPURL(), tok}, aliceCalls...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	var rep struct {
		SessionID string       `json:"sessionId"`
		Tools     []string     `json:"tools"`
		Error     string       `json:"error"`
		Calls     []callReport `json:"calls"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report %s: %v", out, err)
	}
	if rep.Error != "" {
		t.Fatalf("client failed: %s", rep.Error)
	}
	if rep.SessionID == "" {
		t.Error("no session id: the client did not connect through the session binding")
	}
	if !slices.Contains(rep.Tools, fakeaws.ToolRunScript) || !slices.Contains(rep.Tools, fakeaws.ToolCallAWS) || slices.Contains(rep.Tools, fakeaws.ToolGetPresignedURL) {
		t.Errorf("tools = %v, want %s and %s and not %s", rep.Tools, fakeaws.ToolRunScript, fakeaws.ToolCallAWS, fakeaws.ToolGetPresignedURL)
	}
	if len(rep.Calls) != len(aliceCalls) {
		t.Fatalf("calls = %+v", rep.Calls)
	}
	checkAliceCalls(t, s, rep.Calls)
}
