package authz

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// TestEntityMapping checks every attribute of the model through a policy
// condition that must hold, and one that must not.
func TestEntityMapping(t *testing.T) {
	alice := &authn.Identity{
		Subject: "alice",
		Issuer:  "https://idp.example.com",
		Email:   "alice@example.com",
		Groups:  []string{"s3-readers", "Everyone"},
		Claims: map[string]any{
			"sub": "alice", "department": "eng", "level": float64(3), "mfa": true,
			"org":    map[string]any{"unit": "data", "cost_center": "42"},
			"roles":  []any{"a", "b"},
			"nested": map[string]any{"deep": []any{map[string]any{"x": "y"}}},
		},
	}
	nested := `{"filter":{"region":"us-east-1","tags":["prod","eu"],"limit":5,"ratio":1.5,"precise":1.23456,"big":123456789012345678901,"none":null},"dry_run":false}`
	tests := []struct {
		name  string
		cond  string
		id    *authn.Identity
		req   Request
		allow bool
	}{
		{"principal uid", `principal == User::"alice"`, alice, post(request("ping", "")), true},
		{"principal sub", `principal.sub == "alice"`, alice, post(request("ping", "")), true},
		{"principal iss", `principal.iss == "https://idp.example.com"`, alice, post(request("ping", "")), true},
		{"principal email", `principal.email == "alice@example.com"`, alice, post(request("ping", "")), true},
		{"principal email absent", `principal has email`, ident("bob"), post(request("ping", "")), false},
		{"claim string", `principal.claims.department == "eng"`, alice, post(request("ping", "")), true},
		{"claim float64 whole is Long", `principal.claims.level == 3`, alice, post(request("ping", "")), true},
		{"claim bool", `principal.claims.mfa`, alice, post(request("ping", "")), true},
		{"claim record", `principal.claims.org.unit == "data"`, alice, post(request("ping", "")), true},
		{"claim set", `principal.claims.roles.contains("b")`, alice, post(request("ping", "")), true},
		{"claim nested set of records", `principal.claims.nested.deep.contains({"x": "y"})`, alice, post(request("ping", "")), true},
		{"group parent", `principal in Group::"s3-readers"`, alice, post(request("ping", "")), true},
		{"not in other group", `principal in Group::"admins"`, alice, post(request("ping", "")), false},
		{"action", `action == Action::"ping"`, alice, post(request("ping", "")), true},
		{"notification action", `action == Action::"notifications/initialized"`, alice, post(notification("notifications/initialized")), true},
		{"server resource", `resource == Server::"` + testHost + `"`, alice, post(request("tools/list", "")), true},
		{"tool resource", `resource == Tool::"lookup" && resource.tool_name == "lookup"`, alice, post(toolCall("lookup", `{}`)), true},
		{"nested argument", `resource.arguments.filter.region == "us-east-1"`, alice, post(toolCall("q", nested)), true},
		{"argument set", `resource.arguments.filter.tags.contains("eu")`, alice, post(toolCall("q", nested)), true},
		{"argument long", `resource.arguments.filter.limit == 5 && resource.arguments.filter.limit > 4`, alice, post(toolCall("q", nested)), true},
		{"argument decimal", `resource.arguments.filter.ratio == decimal("1.5") && resource.arguments.filter.ratio.greaterThan(decimal("1.4"))`, alice, post(toolCall("q", nested)), true},
		{"argument inexact decimal is string", `resource.arguments.filter.precise == "1.23456"`, alice, post(toolCall("q", nested)), true},
		{"argument big int is string", `resource.arguments.filter.big == "123456789012345678901"`, alice, post(toolCall("q", nested)), true},
		{"argument null is absent", `!(resource.arguments.filter has none)`, alice, post(toolCall("q", nested)), true},
		{"argument bool", `resource.arguments.dry_run == false`, alice, post(toolCall("q", nested)), true},
		{"arguments absent is empty record", `resource.arguments == {}`, alice, post(request("tools/call", `{"name":"q"}`)), true},
		{"prompt resource", `resource == Prompt::"summary" && resource.prompt_name == "summary" && resource.arguments.lang == "en"`, alice,
			post(request("prompts/get", `{"name":"summary","arguments":{"lang":"en"}}`)), true},
		{"resource resource", `resource == Resource::"s3://bucket/key" && resource.uri == "s3://bucket/key"`, alice,
			post(request("resources/read", `{"uri":"s3://bucket/key"}`)), true},
		{"context source ip", `context.source_ip.isInRange(ip("10.0.0.0/8"))`, alice, post(request("ping", "")), true},
		{"context request id", `context.request_id == "req-1"`, alice, post(request("ping", "")), true},
		{"context session id", `context.mcp_session_id == "sess-1"`, alice, post(request("ping", "")), true},
		{"context time", `context.time == 1767225600`, alice, post(request("ping", "")), true},
		{"context no session id", `context has mcp_session_id`, alice, Request{HTTPMethod: "GET"}, false},
		{"aws_cli service", `context.aws_cli.service == "s3" && context.aws_cli.operation == "ls"`, alice, post(awsCall("aws s3 ls s3://b --region eu-west-1")), true},
		{"aws_cli args and region", `context.aws_cli.args.contains("--region") && context.aws_cli.region == "eu-west-1"`, alice, post(awsCall("aws s3 ls s3://b --region eu-west-1")), true},
		{"aws_cli parse error", `context.aws_cli has parse_error && !(context.aws_cli has service)`, alice, post(awsCall("aws s3 ls; aws iam list-users")), true},
		{"aws_cli non-string", `context.aws_cli.parse_error == "cli_command is not a string"`, alice, post(toolCall("aws___call_aws", `{"cli_command":5}`)), true},
		{"no aws_cli without cli_command", `context has aws_cli`, alice, post(toolCall("x", `{"command":"aws s3 ls"}`)), false},
		{"response message", `action == Action::"mcp:response" && resource is Server`, alice,
			post(&mcp.Message{Type: mcp.TypeResponse, ID: []byte(`7`), Result: []byte(`{}`)}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, map[string]string{
				"p.cedar": `@id("p") permit(principal, action, resource) when { ` + tt.cond + ` };`,
			}, nil)
			d := authorize(t, a, tt.id, tt.req)
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v (items %+v)", d.Allow, tt.allow, d.Items)
			}
		})
	}
}

func TestDecisionSemantics(t *testing.T) {
	tests := []struct {
		name       string
		policies   string
		req        Request
		allow      bool
		policyIDs  []string
		errPolicys []string
	}{
		{
			name:     "default deny",
			policies: `@id("other") permit(principal, action == Action::"ping", resource);`,
			req:      post(toolCall("t", `{}`)),
			allow:    false,
		},
		{
			name: "permit allows",
			policies: `@id("p1") permit(principal, action, resource);
				@id("p2") permit(principal, action == Action::"tools/call", resource);`,
			req:       post(toolCall("t", `{}`)),
			allow:     true,
			policyIDs: []string{"p1", "p2"},
		},
		{
			name: "forbid overrides permit",
			policies: `@id("p") permit(principal, action, resource);
				@id("f") forbid(principal, action, resource == Tool::"t");`,
			req:       post(toolCall("t", `{}`)),
			allow:     false,
			policyIDs: []string{"f"},
		},
		{
			name: "erroring forbid denies",
			policies: `@id("p") permit(principal, action, resource);
				@id("f") forbid(principal, action, resource) when { resource.arguments.missing == 1 };`,
			req:        post(toolCall("t", `{}`)),
			allow:      false,
			policyIDs:  []string{"f"},
			errPolicys: []string{"f"},
		},
		{
			name: "erroring permit does not poison other permits",
			policies: `@id("bad") permit(principal, action, resource) when { resource.arguments.missing == 1 };
				@id("good") permit(principal, action, resource);`,
			req:        post(toolCall("t", `{}`)),
			allow:      true,
			policyIDs:  []string{"good"},
			errPolicys: []string{"bad"},
		},
		{
			name:       "erroring permit alone does not apply",
			policies:   `@id("bad") permit(principal, action, resource) when { principal.email like "*@example.com" };`,
			req:        post(toolCall("t", `{}`)),
			allow:      false,
			errPolicys: []string{"bad"},
		},
		{
			name: "type error in forbid denies",
			policies: `@id("p") permit(principal, action, resource);
				@id("f") forbid(principal, action, resource) when { resource.arguments.n > 1 };`,
			req:        post(toolCall("t", `{"n":"text"}`)),
			allow:      false,
			policyIDs:  []string{"f"},
			errPolicys: []string{"f"},
		},
		{
			name: "forbid guarded with has does not error",
			policies: `@id("p") permit(principal, action, resource);
				@id("f") forbid(principal, action, resource) when { resource has arguments && resource.arguments has n && resource.arguments.n > 1 };`,
			req:       post(request("tools/list", "")),
			allow:     true,
			policyIDs: []string{"p"},
		},
		{
			name:      "policy id from file and line",
			policies:  "\n\npermit(principal, action, resource);",
			req:       post(request("ping", "")),
			allow:     true,
			policyIDs: []string{"p.cedar:3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, map[string]string{"p.cedar": tt.policies}, nil)
			d := authorize(t, a, ident("alice"), tt.req)
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v (%+v)", d.Allow, tt.allow, d)
			}
			if !slices.Equal(d.Policies, tt.policyIDs) {
				t.Fatalf("policies = %q, want %q", d.Policies, tt.policyIDs)
			}
			var errIDs []string
			for _, e := range d.Errors {
				if e.Message == "" {
					t.Fatalf("error without message: %+v", e)
				}
				errIDs = append(errIDs, e.PolicyID)
			}
			if !slices.Equal(errIDs, tt.errPolicys) {
				t.Fatalf("errors = %+v, want policies %q", d.Errors, tt.errPolicys)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `
		@id("plumbing") permit(principal, action in [Action::"ping", Action::"tools/list", Action::"notifications/initialized"], resource);
		@id("lookup") permit(principal, action == Action::"tools/call", resource == Tool::"lookup");`}, nil)
	tests := []struct {
		name   string
		msgs   []*mcp.Message
		allow  bool
		items  []bool
		reason string
	}{
		{"all allowed", []*mcp.Message{request("ping", ""), toolCall("lookup", `{}`), notification("notifications/initialized")}, true, []bool{true, true, true}, ""},
		{"one denied", []*mcp.Message{request("ping", ""), toolCall("delete_all", `{}`), request("tools/list", "")}, false, []bool{true, false, true},
			`action "tools/call" on Tool::"delete_all" is not permitted (batch element 1)`},
		{"single denied", []*mcp.Message{toolCall("aws___call_aws", `{}`)}, false, []bool{false},
			`action "tools/call" on Tool::"aws___call_aws" is not permitted`},
		{"long tool name is cut", []*mcp.Message{toolCall(strings.Repeat("x", 500), `{}`)}, false, []bool{false},
			`action "tools/call" on Tool::"` + strings.Repeat("x", 193) + `… is not permitted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authorize(t, a, ident("alice"), post(tt.msgs...))
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v", d.Allow, tt.allow)
			}
			var got []bool
			for _, it := range d.Items {
				got = append(got, it.Allow)
			}
			if !slices.Equal(got, tt.items) {
				t.Fatalf("items = %v, want %v", got, tt.items)
			}
			if d.Reason() != tt.reason {
				t.Fatalf("reason = %q, want %q", d.Reason(), tt.reason)
			}
			err := d.Err()
			if tt.allow != (err == nil) {
				t.Fatalf("Err() = %v with allow %v", err, tt.allow)
			}
			if err != nil && (mcpguard.KindOf(err) != mcpguard.KindForbidden || mcpguard.SafeMessage(err) != tt.reason) {
				t.Fatalf("Err() = %v (kind %v)", err, mcpguard.KindOf(err))
			}
		})
	}
}

func TestBodyless(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `
		@id("stream") permit(principal, action == Action::"mcp:stream", resource == Server::"` + testHost + `");`}, nil)
	tests := []struct {
		method   string
		allow    bool
		action   string
		wantKind mcpguard.Kind
		wantErr  bool
	}{
		{method: "GET", allow: true, action: "mcp:stream"},
		{method: "DELETE", allow: false, action: "mcp:terminate"},
		{method: "POST", wantErr: true, wantKind: mcpguard.KindInvalidRequest},
		{method: "", wantErr: true, wantKind: mcpguard.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			d, err := a.Authorize(t.Context(), ident("alice"), Request{HTTPMethod: tt.method, SourceIP: "192.0.2.1"})
			if tt.wantErr {
				if err == nil || mcpguard.KindOf(err) != tt.wantKind {
					t.Fatalf("err = %v, want kind %v", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || len(d.Items) != 1 || d.Items[0].Action != tt.action ||
				d.Items[0].Resource != `Server::"`+testHost+`"` {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit(principal, action, resource);`}, nil)
	deep := strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)
	tests := []struct {
		name string
		id   *authn.Identity
		req  Request
		kind mcpguard.Kind
		msg  string
	}{
		{"tools/call without name", ident("a"), post(request("tools/call", `{"arguments":{}}`)), mcpguard.KindInvalidRequest, "params.name must be a string"},
		{"tools/call without params", ident("a"), post(request("tools/call", "")), mcpguard.KindInvalidRequest, "requires params"},
		{"tools/call name not a string", ident("a"), post(request("tools/call", `{"name":5}`)), mcpguard.KindInvalidRequest, "params.name must be a string"},
		{"tools/call empty name", ident("a"), post(request("tools/call", `{"name":""}`)), mcpguard.KindInvalidRequest, "must not be empty"},
		{"tools/call arguments not an object", ident("a"), post(request("tools/call", `{"name":"x","arguments":[1]}`)), mcpguard.KindInvalidRequest, "params.arguments must be an object"},
		{"tools/call params not an object", ident("a"), post(request("tools/call", `["x"]`)), mcpguard.KindInvalidRequest, "params must be an object"},
		{"tools/call params malformed", ident("a"), post(request("tools/call", `{"name":`)), mcpguard.KindParseError, "parse error"},
		{"tools/call name differing in case", ident("a"), post(request("tools/call", `{"name":"a","NAME":"b"}`)), mcpguard.KindInvalidRequest, "only in case"},
		{"tools/call arguments too deep", ident("a"), post(request("tools/call", `{"name":"x","arguments":`+deep+`}`)), mcpguard.KindInvalidRequest, "too deeply"},
		{"prompts/get without name", ident("a"), post(request("prompts/get", `{}`)), mcpguard.KindInvalidRequest, "params.name"},
		{"resources/read without uri", ident("a"), post(request("resources/read", `{"name":"x"}`)), mcpguard.KindInvalidRequest, "params.uri"},
		{"batch element named", ident("a"), post(request("ping", ""), request("tools/call", `{}`)), mcpguard.KindInvalidRequest, "batch element 1"},
		{"empty batch", ident("a"), Request{HTTPMethod: "POST", Body: &mcp.Body{Batch: true}}, mcpguard.KindInvalidRequest, "empty"},
		{"message without type", ident("a"), post(&mcp.Message{Method: "ping"}), mcpguard.KindInvalidRequest, "neither"},
		{"no subject", &authn.Identity{}, post(request("ping", "")), mcpguard.KindUnauthenticated, "subject"},
		{"no identity", nil, post(request("ping", "")), mcpguard.KindInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authorize(t.Context(), tt.id, tt.req)
			if err == nil {
				t.Fatal("want error")
			}
			var me *mcpguard.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not *mcpguard.Error", err)
			}
			if me.Kind != tt.kind || !strings.Contains(me.Msg, tt.msg) {
				t.Fatalf("err = %v (kind %v), want kind %v with %q", err, me.Kind, tt.kind, tt.msg)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := a.Authorize(ctx, ident("a"), post(request("ping", ""))); err == nil {
		t.Fatal("cancelled context: want error")
	}
}

func TestGroupClaim(t *testing.T) {
	policies := map[string]string{"p.cedar": `permit(principal in Group::"s3-readers", action, resource);`}
	tests := []struct {
		name  string
		claim string
		id    *authn.Identity
		allow bool
	}{
		{"identity groups by default", "", ident("a", "s3-readers"), true},
		{"override ignores identity groups", "grp", ident("a", "s3-readers"), false},
		{"colon separated tag claim", "https://aws.amazon.com/tags/principal_tags/Groups", &authn.Identity{Subject: "a",
			Claims: map[string]any{"https://aws.amazon.com/tags/principal_tags/Groups": "s3-readers:Everyone"}}, true},
		{"array claim", "groups", &authn.Identity{Subject: "a", Claims: map[string]any{"groups": []any{"x", "s3-readers"}}}, true},
		{"colon outside the aws tag claim is one name", "groups", &authn.Identity{Subject: "a", Claims: map[string]any{"groups": "evil:s3-readers"}}, false},
		{"trailing space is another name", "groups", &authn.Identity{Subject: "a", Claims: map[string]any{"groups": []any{"s3-readers "}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, policies, func(_ string, o *Options) { o.GroupClaim = tt.claim })
			if d := authorize(t, a, tt.id, post(request("ping", ""))); d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v", d.Allow, tt.allow)
			}
		})
	}
	// A claim that does not read whole is a denial, never "no groups".
	for _, claims := range []map[string]any{{"groups": 5.0}, {"groups": []any{"s3-readers", 1.0}}} {
		a := newTestAuthorizer(t, policies, func(_ string, o *Options) { o.GroupClaim = "groups" })
		_, err := a.Authorize(t.Context(), &authn.Identity{Subject: "a", Claims: claims}, post(request("ping", "")))
		if mcpguard.KindOf(err) != mcpguard.KindForbidden || mcpguard.ReasonOf(err) != authn.ReasonBadGroups {
			t.Errorf("claims %v: err = %v, want forbidden %s", claims, err, authn.ReasonBadGroups)
		}
	}
}

func TestEntitiesFile(t *testing.T) {
	files := map[string]string{
		"p.cedar": `
			@id("readers") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource in ToolSet::"read-only");
			@id("read-actions") permit(principal, action in Action::"read", resource);
			@id("users-attr") permit(principal, action == Action::"ping", resource) when { principal has team && principal.team == "data" };`,
		"entities.json": `[
			{"uid":{"type":"Group","id":"s3-admins"},"parents":[{"type":"Group","id":"s3-readers"}],"attrs":{}},
			{"uid":{"type":"Tool","id":"lookup"},"parents":[{"type":"ToolSet","id":"read-only"}],"attrs":{}},
			{"uid":{"type":"Action","id":"tools/list"},"parents":[{"type":"Action","id":"read"}],"attrs":{}},
			{"uid":{"type":"User","id":"carol"},"parents":[],"attrs":{"team":"data"}}
		]`,
	}
	a := newTestAuthorizer(t, files, func(dir string, o *Options) { o.EntitiesFile = dir + "/entities.json" })
	tests := []struct {
		name  string
		id    *authn.Identity
		msg   *mcp.Message
		allow bool
	}{
		{"group hierarchy and tool set", ident("a", "s3-admins"), toolCall("lookup", `{}`), true},
		{"tool outside the set", ident("a", "s3-admins"), toolCall("delete", `{}`), false},
		{"not in the group", ident("a", "ec2"), toolCall("lookup", `{}`), false},
		{"action hierarchy", ident("a"), request("tools/list", ""), true},
		{"action outside hierarchy", ident("a"), request("prompts/list", ""), false},
		{"principal attributes from file", ident("carol"), request("ping", ""), true},
		{"other principal", ident("dave"), request("ping", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := authorize(t, a, tt.id, post(tt.msg)); d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v (%+v)", d.Allow, tt.allow, d)
			}
		})
	}
}

// TestServerHostPerRequest: a gateway with several upstreams names the one
// a request goes to, so policies on Server::"<host>" see the right host.
func TestServerHostPerRequest(t *testing.T) {
	dir := t.TempDir()
	policy := `permit (principal, action == Action::"initialize", resource == Server::"aws-mcp.eu-central-1.api.aws");`
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "p.cedar")}, ServerHost: "aws-mcp.us-east-1.api.aws"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := mcp.Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`), mcp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	id := &authn.Identity{Subject: "alice"}
	for _, tt := range []struct {
		host  string
		allow bool
	}{{"", false}, {"aws-mcp.us-east-1.api.aws", false}, {"aws-mcp.eu-central-1.api.aws", true}} {
		d, err := a.Authorize(t.Context(), id, Request{HTTPMethod: "POST", Body: body, ServerHost: tt.host})
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != tt.allow {
			t.Errorf("host %q: allow = %v, want %v", tt.host, d.Allow, tt.allow)
		}
	}
}
