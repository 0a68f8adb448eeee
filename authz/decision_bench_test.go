package authz

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// benchIdentity is shaped like a real verified token: standard claims and
// the AWS principal-tags claim, with a token digest as authn sets it.
func benchIdentity() *authn.Identity {
	id := ident("00u1a2b3c4d5e6f7g8h9", "s3-readers", "Everyone")
	id.Email = "alice@example.com"
	id.Claims = map[string]any{
		"sub": id.Subject, "iss": id.Issuer, "aud": "aws-mcp", "email": id.Email,
		"iat": float64(1767225600), "nbf": float64(1767225600), "exp": float64(1767229200),
		"https://aws.amazon.com/tags": map[string]any{
			"principal_tags":      map[string]any{"Groups": []any{"s3-readers:Everyone"}},
			"transitive_tag_keys": []any{"Groups"},
		},
	}
	id.TokenDigest = sha256.Sum256([]byte("bench-token"))
	return id
}

// policySet writes n policies: one that permits the benchmark's call and
// n-1 scoped to other tools, prompts or forbidden tools.
func policySet(n int) string {
	var sb strings.Builder
	for i := range n - 1 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&sb, "@id(\"t%d\") permit(principal in Group::\"g%d\", action == Action::\"tools/call\", resource == Tool::\"tool%d\") when { resource.arguments.x == %d };\n", i, i, i, i)
		case 1:
			fmt.Fprintf(&sb, "@id(\"p%d\") permit(principal in Group::\"g%d\", action == Action::\"prompts/get\", resource == Prompt::\"prompt%d\");\n", i, i, i)
		default:
			fmt.Fprintf(&sb, "@id(\"f%d\") forbid(principal, action == Action::\"tools/call\", resource == Tool::\"danger%d\") unless { principal in Group::\"admins%d\" };\n", i, i, i)
		}
	}
	sb.WriteString(`@id("hit") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___call_aws") when { context.aws_cli.service == "s3" };` + "\n")
	return sb.String()
}

// BenchmarkLoadPolicies is the policy part of startup: reading, parsing and
// indexing 1 000 policies.
func BenchmarkLoadPolicies(b *testing.B) {
	dir := writeFiles(b, map[string]string{"p.cedar": policySet(1000)})
	opts := Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost}
	b.ReportAllocs()
	for b.Loop() {
		a, err := New(b.Context(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(a.PolicyIDs()); n != 1000 {
			b.Fatalf("%d policies", n)
		}
	}
}

// BenchmarkDecision is one tools/call decision as the pipeline makes it: a
// message fresh from the parser (its params not yet decoded), a repeat
// caller whose token was seen before, and N policies of which all but one
// are scoped to other tools or actions. The index keeps the cost flat in N.
func BenchmarkDecision(b *testing.B) {
	params := json.RawMessage(`{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls s3://reports --region eu-west-1"}}`)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			a := newTestAuthorizer(b, map[string]string{"p.cedar": policySet(n)}, nil)
			id := benchIdentity()
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				m := &mcp.Message{Type: mcp.TypeRequest, ID: json.RawMessage(`7`), Method: mcp.MethodToolsCall, Params: params}
				d, err := a.Authorize(ctx, id, post(m))
				if err != nil || !d.Allow {
					b.Fatalf("decision %+v, %v", d, err)
				}
			}
		})
	}
}

// BenchmarkDecisionNewCall is BenchmarkDecision with 1 000 policies and
// arguments never seen before in every iteration: the call cache misses,
// so the cli_command parse and the context records are built each time.
func BenchmarkDecisionNewCall(b *testing.B) {
	a := newTestAuthorizer(b, map[string]string{"p.cedar": policySet(1000)}, nil)
	id := benchIdentity()
	ctx := b.Context()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		params := json.RawMessage(`{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls s3://reports-` + strconv.Itoa(i) + ` --region eu-west-1"}}`)
		m := &mcp.Message{Type: mcp.TypeRequest, ID: json.RawMessage(`7`), Method: mcp.MethodToolsCall, Params: params}
		d, err := a.Authorize(ctx, id, post(m))
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
	}
}
