package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestEmptiedGuardrailsAreNotReloaded: emptying the guardrails policy file
// is a reload that would silently drop its forbids. It is rejected (the
// audit trail records policy_reload_failed), and the forbid still denies
// the destructive command afterwards.
func TestEmptiedGuardrailsAreNotReloaded(t *testing.T) {
	dir, files := copyExamplePolicies(t)
	trail := &stack.Buffer{}
	s, _ := startStack(t, stack.Options{
		AuditWriter: trail,
		Mutate:      func(c *config.Config) { c.Authz.PolicyFiles = files },
	})
	cs := connect(t, s, stack.Alice)
	const destructive = "aws s3 rm s3://mcpguard-demo-bucket/report.csv"
	if res, err := callAWS(cs, destructive); !deniedByGateway(res, err) {
		t.Fatal("the guardrail did not deny the destructive command")
	}
	if _, err := callAWS(cs, "aws s3 ls"); err != nil {
		t.Fatalf("allowed command: %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, "guardrails.cedar"), []byte("// emptied\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Gateway.Reload()
	if err == nil || !strings.Contains(err.Error(), "guardrails.cedar holds no policy") {
		t.Fatalf("reload err = %v, want the emptied file refused", err)
	}
	if !strings.Contains(trail.String(), `"type":"policy_reload_failed"`) || !strings.Contains(trail.String(), `"kind":"guardrail_removed"`) {
		t.Error("no policy_reload_failed audit record of kind guardrail_removed")
	}
	if res, err := callAWS(cs, destructive); !deniedByGateway(res, err) {
		t.Fatal("the forbid disappeared with the rejected reload")
	}
	if _, forwarded := forwardedCalls(s)[destructive]; forwarded {
		t.Error("the destructive command reached AWS")
	}
}

// copyExamplePolicies copies the example policy files a test may change
// into a temporary directory and returns it with the copies' paths.
func copyExamplePolicies(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, f := range []string{"baseline.cedar", "alice-bob.cedar", "data-analysts.cedar", "guardrails.cedar"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "policies", f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	return dir, files
}
