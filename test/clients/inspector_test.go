package clients

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// inspector runs one MCP Inspector CLI command against url as the holder
// of token and returns its stdout, stderr and whether it exited 0.
func inspector(t *testing.T, url, token string, args ...string) (stdout, stderr string, ok bool) {
	t.Helper()
	node, dir := nodeDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	build := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "inspector-cli", "build")
	argv := append([]string{filepath.Join(build, "index.js"), url, "--transport", "http", "--header", "Authorization: Bearer " + token}, args...)
	cmd := exec.CommandContext(ctx, node, argv...)
	// The CLI finds its own package.json (its client name and version)
	// by a path relative to the working directory: its build directory.
	cmd.Dir = build
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("inspector %v: timed out\n%s\n%s", args, out.String(), errb.String())
	}
	return out.String(), errb.String(), err == nil
}

// TestInspectorCLI is the acceptance test of the MCP Inspector through the
// quickstart: it connects (the Inspector sets a logging level right after
// initialize, which the baseline policy must permit), lists the tools
// Alice may see, and through aws___run_script and the legacy
// aws___call_aws makes an allowed call and shows a denial as text.
func TestInspectorCLI(t *testing.T) {
	nodeDir(t)
	s := startQuickstart(t, false)
	alice, err := s.LoginToken(stack.Alice)
	if err != nil {
		t.Fatal(err)
	}

	out, errOut, ok := inspector(t, s.MCPURL(), alice, "--method", "tools/list")
	if !ok {
		t.Fatalf("tools/list failed:\n%s\n%s", out, errOut)
	}
	// It set a log level because the server advertises logging, and
	// mcpguard let that through to the server.
	var setLevel bool
	for _, r := range s.AWS.Requests() {
		setLevel = setLevel || strings.Contains(string(r.Body), `"logging/setLevel"`)
	}
	if !setLevel {
		t.Error("the Inspector's logging/setLevel never reached the server")
	}
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tools/list output is not JSON: %v\n%s", err, out)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, fakeaws.ToolRunScript) || !slices.Contains(names, fakeaws.ToolCallAWS) {
		t.Errorf("tools = %v, want %s and %s", names, fakeaws.ToolRunScript, fakeaws.ToolCallAWS)
	}
	// The fake server offers more: presigned URLs are no one's in the
	// example policies, so the list Alice sees is filtered.
	if slices.Contains(names, fakeaws.ToolGetPresignedURL) {
		t.Errorf("tools = %v: %s is listed though no policy permits it", names, fakeaws.ToolGetPresignedURL)
	}

	for _, c := range []struct{ tool, arg, allowed, denied string }{
		{fakeaws.ToolRunScript, "code", s3Script, ec2Script},
		{fakeaws.ToolCallAWS, "cli_command", s3Cmd, ec2Cmd},
	} {
		out, errOut, ok = inspector(t, s.MCPURL(), alice, "--method", "tools/call", "--tool-name", c.tool, "--tool-arg", c.arg+"="+c.allowed)
		if !ok || !strings.Contains(out, "mcpguard-demo-reports") || strings.Contains(out, `"isError": true`) || !forwarded(s)[c.allowed] {
			t.Errorf("%s allowed call (reached AWS %v):\n%s\n%s", c.tool, forwarded(s)[c.allowed], out, errOut)
		}

		out, errOut, ok = inspector(t, s.MCPURL(), alice, "--method", "tools/call", "--tool-name", c.tool, "--tool-arg", c.arg+"="+c.denied)
		if ok {
			t.Errorf("%s denied call exited 0:\n%s\n%s", c.tool, out, errOut)
		}
		t.Logf("the Inspector reports the denial as:\n%s", errOut)
		if both := out + errOut; !strings.Contains(both, "not permitted") {
			t.Errorf("the denial is not readable:\n%s\n%s", out, errOut)
		}
		if forwarded(s)[c.denied] {
			t.Errorf("the denied %s call reached AWS", c.tool)
		}
	}
}
