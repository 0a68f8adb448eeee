package authz

import (
	"errors"
	"slices"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

const eraPolicies = `
@id("plumbing")
permit (principal, action in [Action::"server/discover", Action::"subscriptions/listen", Action::"tasks/get"], resource);

@id("run-script")
permit (principal, action == Action::"tools/call", resource == Tool::"aws___run_script");

@id("write-needs-scope")
@requires_scope("aws:write")
forbid (principal, action == Action::"tools/call", resource == Tool::"aws___run_script")
when { resource.arguments has mode && resource.arguments.mode == "write" }
unless { principal.scopes.contains("aws:write") };

@id("admin-needs-group")
@requires_scope("aws:admin")
forbid (principal, action == Action::"tools/call", resource == Tool::"aws___run_script")
when { resource.arguments has mode && resource.arguments.mode == "admin" }
unless { principal in Group::"admins" };

@id("new-era-only-lists-tools-changes")
forbid (principal, action == Action::"subscriptions/listen", resource)
when { context has subscriptions && context.subscriptions has resourceSubscriptions };

@id("no-sampling-answers")
forbid (principal, action == Action::"tools/call", resource)
when { context has input_response_types && context.input_response_types.contains("sampling") };

@id("discover-only-in-2026")
forbid (principal, action == Action::"server/discover", resource)
unless { context has protocol_version && context.protocol_version == "2026-07-28" };

@id("own-tasks")
forbid (principal, action == Action::"tasks/get", resource)
unless { context has task_id && context.task_id like "alice-*" };
`

func TestEraContextAndStepUp(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": eraPolicies}, nil)
	alice := ident("alice")
	scoped := ident("alice")
	scoped.Claims["scope"] = "openid aws:write"
	scp := ident("alice")
	scp.Claims["scp"] = []any{"aws:write"}

	tests := []struct {
		name    string
		id      func() *Identity
		msg     *mcp.Message
		version string
		allow   bool
		stepUp  []string
	}{
		{"read call", nil, toolCall("aws___run_script", `{"mode":"read"}`), "", true, nil},
		{"write call without the scope is a step-up", nil, toolCall("aws___run_script", `{"mode":"write"}`), "", false, []string{"aws:write"}},
		{"write call with scope", func() *Identity { return scoped }, toolCall("aws___run_script", `{"mode":"write"}`), "", true, nil},
		{"write call with scp", func() *Identity { return scp }, toolCall("aws___run_script", `{"mode":"write"}`), "", true, nil},
		{"admin call: no scope lifts a group rule", func() *Identity { return scoped }, toolCall("aws___run_script", `{"mode":"admin"}`), "", false, nil},
		{"other tool: a plain denial", nil, toolCall("aws___call_aws", `{}`), "", false, nil},
		{"discover in 2026", nil, request("server/discover", `{}`), "2026-07-28", true, nil},
		{"discover without a version", nil, request("server/discover", `{}`), "", false, nil},
		{"listen for tool changes", nil, request("subscriptions/listen", `{"notifications":{"toolsListChanged":true}}`), "", true, nil},
		{"listen for resources", nil, request("subscriptions/listen", `{"notifications":{"resourceSubscriptions":["file:///a"]}}`), "", false, nil},
		{"retry with an elicitation answer", nil, toolCall2(`{"name":"aws___run_script","arguments":{},"inputResponses":{"q":{"action":"accept"}}}`), "", true, nil},
		{"retry with a sampling answer", nil, toolCall2(`{"name":"aws___run_script","arguments":{},"inputResponses":{"q":{"role":"assistant","content":{"type":"text","text":"x"}}}}`), "", false, nil},
		{"own task", nil, request("tasks/get", `{"taskId":"alice-1"}`), "", true, nil},
		{"another's task", nil, request("tasks/get", `{"taskId":"bob-1"}`), "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := alice
			if tt.id != nil {
				id = tt.id()
			}
			d, err := a.Authorize(t.Context(), id, Request{Body: &mcp.Body{Messages: []*mcp.Message{tt.msg}}, ProtocolVersion: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v (%+v), want %v", d.Allow, d.Items, tt.allow)
			}
			if tt.stepUp == nil {
				tt.stepUp = []string{}
			}
			got := d.StepUpScopes
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tt.stepUp) {
				t.Errorf("step-up scopes = %v, want %v", got, tt.stepUp)
			}
			var is *InsufficientScope
			if errors.As(d.Err(), &is) != (len(tt.stepUp) > 0) {
				t.Errorf("Err() = %v", d.Err())
			}
			if !tt.allow && mcpguard.KindOf(d.Err()) != mcpguard.KindForbidden {
				t.Errorf("denial kind = %v", mcpguard.KindOf(d.Err()))
			}
		})
	}
}

type Identity = authn.Identity

func toolCall2(params string) *mcp.Message { return request("tools/call", params) }

func TestRequiresScopeMustNameOne(t *testing.T) {
	dir := writeFiles(t, map[string]string{"p.cedar": `@requires_scope("") permit (principal, action, resource);`})
	if _, err := Check(Options{PolicyFiles: []string{dir + "/p.cedar"}}); err == nil {
		t.Error("an empty @requires_scope loaded")
	}
}
