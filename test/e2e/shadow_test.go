package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/stack"
)

// shadowNoS3 is the candidate change: the shipped policies plus a forbid on
// S3 commands, which the set in force allows to s3-readers.
const shadowNoS3 = `@id("shadow-no-s3")
forbid (principal, action == Action::"tools/call", resource == Tool::"aws___call_aws")
when { context has aws_cli && context.aws_cli has service && context.aws_cli.service == "s3" };
`

// TestShadowPolicySet: through Envoy and mcpguard, a shadow set that would
// deny what the set in force allows changes nothing for the client, and
// each such request yields exactly one authz_shadow_mismatch record and one
// would_deny count.
func TestShadowPolicySet(t *testing.T) {
	dir := t.TempDir()
	shadowFile := filepath.Join(dir, "shadow-no-s3.cedar")
	if err := os.WriteFile(shadowFile, []byte(shadowNoS3), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.log")
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) {
		c.Audit.Output = path
		c.Authz.ShadowPolicyFiles = append(slices.Clone(c.Authz.PolicyFiles), shadowFile)
	}})
	alice := connect(t, s, stack.Alice)
	for range 2 {
		if _, err := callAWS(alice, "aws s3 ls"); err != nil {
			t.Fatalf("the shadow set changed a decision: %v", err)
		}
	}
	// A denial is a tool error (denial_response: tool_result) or, where
	// configured, a JSON-RPC error; either way not a result.
	if res, err := callAWS(alice, "aws ec2 describe-instances"); err == nil && !res.IsError {
		t.Fatal("Alice's EC2 call was allowed")
	}

	body := scrape(t, s)
	if !strings.Contains(body, `mcpguard_authz_shadow_decisions_total{result="would_deny"} 2`+"\n") {
		t.Errorf("/metrics lacks two would_deny shadow decisions:\n%s", grepLines(body, "shadow"))
	}
	if strings.Contains(string(body), `result="would_allow"`) {
		t.Errorf("/metrics counts would_allow:\n%s", grepLines(body, "shadow"))
	}
	if !strings.Contains(string(body), `mcpguard_authz_shadow_decisions_total{result="agree"}`) {
		t.Error("/metrics counts no agreeing shadow decision")
	}

	alice.Close()
	s.Close() // flush and close the trail
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(bytes.NewReader(raw)); err != nil || rep.BrokenAt != 0 {
		t.Fatalf("chain: %+v %v", rep, err)
	}
	var mismatches []audit.Entry
	calls := map[string]bool{}
	for _, e := range readAudit(t, raw) {
		switch e.Type {
		case audit.TypeAuthzShadowMismatch:
			mismatches = append(mismatches, e)
		case audit.TypeMCPToolCall:
			calls[e.RequestID] = true
		}
	}
	if len(mismatches) != 2 {
		t.Fatalf("%d mismatch records, want 2", len(mismatches))
	}
	seen := map[string]bool{}
	for _, m := range mismatches {
		if m.Authz == nil || m.Authz.Decision != "allow" || !slices.Equal(m.Authz.Policies, []string{"s3-readers-use-s3"}) {
			t.Errorf("decision in force: %+v", m.Authz)
		}
		d := m.Details
		if d["result"] != "would_deny" || d["shadow_decision"] != "deny" || d["action"] != "tools/call" ||
			d["resource"] != `Tool::"aws___call_aws"` {
			t.Errorf("details: %v", d)
		}
		if sp, _ := d["shadow_policies"].([]any); len(sp) != 1 || sp[0] != "shadow-no-s3" {
			t.Errorf("shadow policies: %v", d["shadow_policies"])
		}
		if m.User == nil || m.User.Sub == "" || !calls[m.RequestID] || seen[m.RequestID] {
			t.Errorf("mismatch %s is not one per allowed tool call (user %+v)", m.RequestID, m.User)
		}
		seen[m.RequestID] = true
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
