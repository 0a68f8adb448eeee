package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestSourceIPPolicy: the Envoy stand-in sends source.address as Envoy
// does, so a policy on context.source_ip decides a real request end to
// end. The client connects over loopback: the forbid on loopback callers
// denies the listing that the example policies otherwise allow, and the
// forbid on another network leaves a second command alone. Without the
// attribute, context has no source_ip and the first forbid would not apply.
func TestSourceIPPolicy(t *testing.T) {
	dir, files := copyExamplePolicies(t)
	network := filepath.Join(dir, "network.cedar")
	if err := os.WriteFile(network, []byte(`
@id("no-listing-from-loopback")
forbid (principal, action == Action::"tools/call", resource)
when { context has source_ip && context.source_ip.isLoopback() &&
       resource has arguments && resource.arguments has cli_command &&
       resource.arguments.cli_command like "aws s3 ls s3://*" };

@id("no-listing-from-elsewhere")
forbid (principal, action == Action::"tools/call", resource)
when { context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8")) &&
       resource has arguments && resource.arguments has cli_command &&
       resource.arguments.cli_command == "aws s3 ls" };
`), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, network)
	trail := &stack.Buffer{}
	s, _ := startStack(t, stack.Options{AuditWriter: trail, Mutate: func(c *config.Config) { c.Authz.PolicyFiles = files }})
	cs := connect(t, s, stack.Alice)

	const listing = "aws s3 ls s3://mcpguard-demo-bucket"
	if res, err := callAWS(cs, listing); !deniedByGateway(res, err) {
		t.Fatalf("a loopback caller listed the bucket despite the source_ip forbid: %v", err)
	}
	if _, forwarded := forwardedCalls(s)[listing]; forwarded {
		t.Error("the denied listing reached AWS")
	}
	if !strings.Contains(trail.String(), `"policies":["no-listing-from-loopback"]`) {
		t.Error("the denial was not decided by the source_ip policy")
	}
	if res, err := callAWS(cs, "aws s3 ls"); err != nil || deniedByGateway(res, err) {
		t.Fatalf("a forbid for another network denied a loopback caller: %v", err)
	}
}
