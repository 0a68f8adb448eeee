package authz

import (
	"testing"

	"github.com/mcpguard/mcpguard/authn"
)

// Two providers issuing the same sub are two principals; policies select
// a provider by principal.provider or by its namespaced groups.
func TestProviderPrincipals(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `
permit(principal == User::"okta|alice", action == Action::"tools/call", resource)
when { resource.tool_name == "aws___call_aws" };
permit(principal in Group::"contractors:s3-readers", action == Action::"tools/call", resource)
when { principal has provider && principal.provider == "contractors" && resource.tool_name == "aws___list_regions" };
permit(principal, action == Action::"tools/list", resource)
when { principal has roles && principal.roles.contains("contractors:Reader") };
`}, nil)
	employee := &authn.Identity{Subject: "alice", Issuer: "https://okta.example/oauth2/default", Provider: "okta", UserKey: "okta|alice",
		Claims: map[string]any{"sub": "alice"}, Scopes: []string{}}
	contractor := &authn.Identity{Subject: "alice", Issuer: "https://login.example/t/v2.0", Provider: "contractors", Tenant: "t", UserKey: "contractors/t|alice",
		Groups: []string{"contractors:s3-readers"}, Roles: []string{"contractors:Reader"},
		Claims: map[string]any{"sub": "alice", "groups": []any{"s3-readers"}}}
	legacy := ident("okta|alice") // a single-issuer sub that looks qualified is not a provider
	legacy.Groups = []string{"contractors:s3-readers"}
	call := post(toolCall("aws___call_aws", `{"cli_command":"aws s3 ls"}`))
	regions := post(toolCall("aws___list_regions", `{}`))
	list := post(request("tools/list", ""))
	for _, c := range []struct {
		name string
		id   *authn.Identity
		req  Request
		want bool
	}{
		{"employee call", employee, call, true},
		{"contractor same sub call", contractor, call, false},
		{"contractor regions", contractor, regions, true},
		{"employee regions", employee, regions, false},
		{"contractor list by role", contractor, list, true},
		{"employee list", employee, list, false},
		{"legacy lookalike regions", legacy, regions, false},
	} {
		if got := authorize(t, a, c.id, c.req).Allow; got != c.want {
			t.Errorf("%s: allow = %v, want %v", c.name, got, c.want)
		}
	}
}
