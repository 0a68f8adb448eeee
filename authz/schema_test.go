package authz

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// checkPolicies loads policy text as x.cedar under mode and returns the
// error lines and the schema warnings.
func checkPolicies(t *testing.T, mode SchemaMode, policy string) (errs, warns []string) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"x.cedar": policy})
	src, err := readSources(&Options{PolicyFiles: []string{filepath.Join(dir, "x.cedar")}, SchemaValidation: mode})
	if err != nil {
		t.Fatal(err)
	}
	s, err := buildSnapshot(src)
	if err != nil {
		errs = strings.Split(err.Error(), "\n")
		return errs, nil
	}
	return nil, s.schemaWarnings
}

// TestSchemaDiagnostics pins the message of each class of schema error.
func TestSchemaDiagnostics(t *testing.T) {
	call := "@id(\"p\")\npermit (principal, action == Action::\"tools/call\", resource)\n"
	tests := []struct {
		name   string
		policy string
		want   []string
	}{
		{
			name:   "unknown entity type",
			policy: "@id(\"p\")\npermit (principal, action == Action::\"tools/call\", resource is Tol);",
			want:   []string{`x.cedar:2:61: policy "p": unknown entity type Tol (did you mean Tool?)`},
		},
		{
			name:   "unknown principal type without a near name",
			policy: "@id(\"p\")\npermit (principal == Customer::\"x\", action, resource);",
			want:   []string{`x.cedar:2:22: policy "p": unknown entity type Customer`},
		},
		{
			name:   "unknown action",
			policy: "@id(\"p\")\npermit (principal, action == Action::\"tools/cal\", resource);",
			want:   []string{`x.cedar:2:30: policy "p": unknown action Action::"tools/cal" (did you mean Action::"tools/call"?)`},
		},
		{
			name:   "unknown attribute on the resource",
			policy: call + "when { resource.argumnets.cli_command == \"x\" };",
			want:   []string{`x.cedar:3:8: policy "p": unknown attribute resource.argumnets (did you mean resource.arguments?)`},
		},
		{
			name:   "unknown attribute behind a has guard that is always false",
			policy: "@id(\"p\")\nforbid (principal, action == Action::\"tools/call\", resource)\nwhen { context has aws && context.aws has action && context.aws.action.contains(\"s3:DeleteBucket\") };",
			want:   []string{`x.cedar:3:27: policy "p": unknown attribute context.aws.action (did you mean context.aws.actions?)`},
		},
		{
			name:   "unknown claim lists what the schema declares",
			policy: call + "when { principal.claims has department };",
			want: []string{`x.cedar:3:8: policy "p": unknown attribute principal.claims.department (principal.claims declares ` +
				`azp, client_id, email, email_verified, exp, groups, iat, iss, jti, name, nbf, preferred_username, scope, sub)`},
		},
		{
			name:   "attribute of another action's context",
			policy: "@id(\"p\")\npermit (principal, action in [Action::\"ping\", Action::\"tools/call\"], resource)\nwhen { context.aws_cli has service };",
			want: []string{
				`x.cedar:3:8: policy "p": attribute context.aws_cli is not declared for Action::"ping": narrow the action scope, or test ` + "`context has aws_cli`" + ` first`,
				`x.cedar:3:8: policy "p": attribute context.aws_cli is optional: guard the read with ` + "`context has aws_cli &&`",
			},
		},
		{
			name:   "wrong type",
			policy: call + "when { resource.tool_name > 3 };",
			want:   []string{`x.cedar:1:1: policy "p": wrong type: expected Long, found String`},
		},
		{
			name:   "optional attribute without has",
			policy: call + "when { context has aws_cli && context.aws_cli.service == \"s3\" };",
			want:   []string{`x.cedar:3:31: policy "p": attribute context.aws_cli.service is optional: guard the read with ` + "`context.aws_cli has service &&`"},
		},
		{
			name:   "guarded reads pass",
			policy: call + "when { context has aws_cli && context.aws_cli has service && context.aws_cli.service == \"s3\" && resource.arguments has cli_command };",
		},
		{
			name:   "policy without an id is named by its position",
			policy: "permit (principal, action, resource) when { context.sourc_ip.isInRange(ip(\"10.0.0.0/8\")) };",
			want:   []string{`x.cedar:1:45: policy "x.cedar:1": unknown attribute context.sourc_ip (did you mean context.source_ip?)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, warns := checkPolicies(t, SchemaStrict, tt.policy)
			if len(warns) > 0 {
				t.Errorf("strict mode warned: %q", warns)
			}
			if !slices.Equal(errs, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.want)
			}
		})
	}
}

// TestSchemaModes: warn downgrades attribute errors only; off checks
// nothing.
func TestSchemaModes(t *testing.T) {
	attr := "@id(\"p\")\npermit (principal, action == Action::\"tools/call\", resource)\nwhen { resource.argumnets has x };"
	errs, warns := checkPolicies(t, SchemaWarn, attr)
	if len(errs) != 0 || len(warns) != 1 || !strings.Contains(warns[0], "did you mean resource.arguments?") {
		t.Errorf("warn mode: errs %q warns %q, want one warning", errs, warns)
	}
	action := "@id(\"p\")\npermit (principal, action == Action::\"tools/cal\", resource);"
	if errs, _ := checkPolicies(t, SchemaWarn, action); len(errs) != 1 {
		t.Errorf("warn mode let an unknown action through: %q", errs)
	}
	for _, p := range []string{attr, action} {
		if errs, warns := checkPolicies(t, SchemaOff, p); len(errs)+len(warns) != 0 {
			t.Errorf("off mode reported %q %q", errs, warns)
		}
	}
	if _, err := ParseSchemaMode("lenient"); err == nil {
		t.Error("ParseSchemaMode accepted lenient")
	}
	dir := writeFiles(t, map[string]string{"x.cedar": attr})
	if _, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "x.cedar")}, ServerHost: testHost, SchemaValidation: "lenient"}); err == nil {
		t.Error("New accepted schema validation mode lenient")
	}
	// Check reports warn-mode problems as warnings.
	w, err := Check(Options{PolicyFiles: []string{filepath.Join(dir, "x.cedar")}, SchemaValidation: SchemaWarn})
	if err != nil || !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, "resource.argumnets") }) {
		t.Errorf("Check in warn mode: %v %q", err, w)
	}
}

// TestBrokenExamplePolicy: the documented broken policy fails strict
// validation with the documented messages.
func TestBrokenExamplePolicy(t *testing.T) {
	golden, err := os.ReadFile("testdata/schema/broken.golden")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check(Options{PolicyFiles: []string{"testdata/schema/broken.cedar"}, SchemaValidation: SchemaStrict})
	if err == nil {
		t.Fatal("broken.cedar passed validation")
	}
	if got := err.Error() + "\n"; got != string(golden) {
		t.Errorf("messages:\n%s\nwant (testdata/schema/broken.golden):\n%s", got, golden)
	}
	doc, err := os.ReadFile("../docs/policy-testing.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
		if !strings.Contains(string(doc), line) {
			t.Errorf("docs/policy-testing.md does not quote %q", line)
		}
	}
}

// TestExamplesPassStrictValidation: the shipped examples type-check.
func TestExamplesPassStrictValidation(t *testing.T) {
	w, err := Check(Options{PolicyFiles: []string{filepath.Join(examplesDir, "*.cedar")},
		EntitiesFile: filepath.Join(examplesDir, "entities.json"), SchemaValidation: SchemaStrict})
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

// TestDocsSchemaIsTheEmbeddedOne keeps docs/schema.cedarschema a copy.
func TestDocsSchemaIsTheEmbeddedOne(t *testing.T) {
	doc, err := os.ReadFile("../docs/schema.cedarschema")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != string(DefaultSchema()) {
		t.Error("docs/schema.cedarschema differs from authz/schema.cedarschema; copy it")
	}
}

// TestSchemaActionsMatchCode: the schema declares exactly the actions the
// code knows, so a new method cannot go undeclared.
func TestSchemaActionsMatchCode(t *testing.T) {
	sch, err := builtinSchema()
	if err != nil {
		t.Fatal(err)
	}
	// Methods of the 2026-07-28 era that the eras branch teaches the mcp
	// package; declared ahead so policies for them validate.
	pending := []string{"tasks/update", "subscriptions/listen"}
	for uid := range sch.resolved.Actions {
		if !knownAction(string(uid.ID)) && !slices.Contains(pending, string(uid.ID)) {
			t.Errorf("schema declares %s, which the code does not know", uid)
		}
	}
	var known []string
	for a := range extraActions {
		known = append(known, a)
	}
	known = append(known, mcp.MethodInitialize, mcp.MethodPing, mcp.MethodToolsList, mcp.MethodToolsCall,
		mcp.MethodResourcesList, mcp.MethodResourcesTemplatesList, mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe,
		mcp.MethodResourcesUnsubscribe, mcp.MethodPromptsList, mcp.MethodPromptsGet, mcp.MethodCompletionComplete,
		mcp.MethodLoggingSetLevel, mcp.MethodSamplingCreateMessage, mcp.MethodElicitationCreate, mcp.MethodRootsList,
		mcp.MethodServerDiscover, mcp.MethodNotificationInitialized, mcp.MethodNotificationCancelled,
		mcp.MethodNotificationProgress, mcp.MethodNotificationRootsListChanged)
	for _, a := range known {
		if _, ok := sch.resolved.Actions[types.NewEntityUID(typeAction, types.String(a))]; !ok {
			t.Errorf("the code knows action %q but the schema does not declare it", a)
		}
	}
}

// TestSchemaMatchesRequests decides real requests and validates every Cedar
// request, principal and resource the authorizer built against the schema.
func TestSchemaMatchesRequests(t *testing.T) {
	sch, err := builtinSchema()
	if err != nil {
		t.Fatal(err)
	}
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit (principal, action, resource);`}, nil)
	var mu sync.Mutex
	type seen struct {
		req                 cedar.Request
		principal, resource types.Entity
	}
	var got []seen
	a.observe = func(req cedar.Request, p, r types.Entity) {
		mu.Lock()
		got = append(got, seen{req, p, r})
		mu.Unlock()
	}
	full := &authn.Identity{
		Subject: "alice", Issuer: "https://idp.example.com", Email: "alice@example.com",
		Groups: []string{"s3-readers"},
		Claims: map[string]any{
			"sub": "alice", "iss": "https://idp.example.com", "exp": 1767229200.0, "iat": 1767225600.0,
			"nbf": 1767225600.0, "jti": "j1", "azp": "client", "client_id": "client", "scope": "openid aws:read",
			"email": "alice@example.com", "email_verified": true, "name": "Alice", "preferred_username": "alice",
			"groups": []any{"s3-readers"},
		},
	}
	bare := &authn.Identity{Subject: "bob"}
	reqs := []Request{
		post(request("initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}`)),
		post(notification("notifications/initialized"), request("ping", ""), request("tools/list", "")),
		post(awsCall("aws s3 ls --region eu-west-1")),
		post(awsCall("aws s3 ls; rm -rf /")),
		// A cli_command that is not a string gives aws_cli.parse_error;
		// the argument itself is then a Long where the schema says String,
		// which makes a policy reading it error (and a forbid deny).
		post(toolCall("aws___call_aws", `{"cli_command":"5"}`)),
		post(toolCall("aws___run_script", `{"code":"print(1)"}`)),
		post(toolCall("aws___list_regions", `{}`)),
		post(request("prompts/get", `{"name":"summary"}`)),
		post(request("resources/read", `{"uri":"file:///etc/hosts"}`)),
		post(request("resources/subscribe", `{"uri":"file:///etc/hosts"}`)),
		post(request("resources/unsubscribe", `{"uri":"File://Example.COM/a"}`)),
		post(request("completion/complete", `{"ref":{"type":"ref/prompt","name":"summary"},"argument":{"name":"topic","value":"s"},"context":{"arguments":{"lang":"en"}}}`)),
		post(request("completion/complete", `{"ref":{"type":"ref/resource","uri":"s3://{bucket}/{key}"},"argument":{"name":"bucket","value":"b"}}`)),
		post(&mcp.Message{Type: mcp.TypeResponse, ID: []byte(`7`)}),
		{HTTPMethod: "GET"},
		{HTTPMethod: "DELETE", SourceIP: "[2001:db8::1]:443", SessionID: "s"},
	}
	for _, m := range []string{"server/discover", "resources/list", "resources/templates/list", "prompts/list", "logging/setLevel", "tasks/get", "tasks/list"} {
		reqs = append(reqs, post(request(m, `{}`)))
	}
	for _, id := range []*authn.Identity{full, bare} {
		for _, r := range reqs {
			if _, err := a.Authorize(t.Context(), id, r); err != nil {
				t.Fatalf("Authorize %+v: %v", r, err)
			}
		}
	}
	if len(got) < 2*len(reqs) {
		t.Fatalf("observed %d decisions, want at least %d", len(got), 2*len(reqs))
	}
	for _, s := range got {
		if err := sch.validator.Request(types.Request{Principal: s.req.Principal, Action: s.req.Action,
			Resource: s.req.Resource, Context: s.req.Context}); err != nil {
			t.Errorf("%s on %s: request does not conform: %v", s.req.Action, s.req.Resource, err)
		}
		for _, e := range []types.Entity{s.principal, s.resource} {
			if err := sch.validator.Entity(e); err != nil {
				t.Errorf("%s: entity %s does not conform: %v (%v)", s.req.Action, e.UID, err, e.Attributes)
			}
		}
	}
	// The check can fail: a context attribute the schema lacks is refused.
	bad := got[0].req
	bad.Context = types.NewRecord(types.RecordMap{"time": types.Long(1), "undeclared": types.True})
	if err := sch.validator.Request(types.Request(bad)); err == nil {
		t.Error("validator accepted an undeclared context attribute")
	}
}

// TestSchemaValidationOnReload: a reload whose policies do not type-check is
// rejected and the set in force stays; a changed schema file is picked up.
func TestSchemaValidationOnReload(t *testing.T) {
	rec := &reloadRecorder{}
	good := `@id("p") permit (principal, action == Action::"tools/call", resource) when { resource.arguments has region };`
	dir := writeFiles(t, map[string]string{"p.cedar": `@id("ping") permit (principal, action == Action::"ping", resource);`})
	schemaPath := filepath.Join(dir, "schema.cedarschema")
	if err := os.WriteFile(schemaPath, DefaultSchema(), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost,
		SchemaValidation: SchemaStrict, SchemaFile: schemaPath, OnReload: rec.hook})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.cedar"), []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), `p.cedar:1:78: policy "p": unknown attribute resource.arguments.region (resource.arguments declares cli_command, code)`) {
		t.Fatalf("reload: %v", err)
	}
	if ids := a.PolicyIDs(); !slices.Equal(ids, []string{"ping"}) {
		t.Fatalf("policies in force %v", ids)
	}
	// The operator declares the argument in their schema: the same
	// policies now load, and polling notices the schema file.
	extended := strings.Replace(string(DefaultSchema()), "  code?: String,\n", "  code?: String,\n  region?: String,\n", 1)
	if extended == string(DefaultSchema()) {
		t.Fatal("could not extend the schema")
	}
	if err := os.WriteFile(schemaPath, []byte(extended), 0o600); err != nil {
		t.Fatal(err)
	}
	a.poll()
	a.poll()
	if ids := a.PolicyIDs(); !slices.Equal(ids, []string{"p"}) {
		t.Fatalf("after the schema changed: policies %v (reloads %v)", ids, rec.snapshot())
	}
	// A schema that does not parse is a load error naming the file.
	if err := os.WriteFile(schemaPath, []byte("entity User {"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "schema "+schemaPath) {
		t.Fatalf("broken schema: %v", err)
	}
}

// FuzzSchemaDiagnostics: any policy text that parses gets diagnostics
// (never a panic), each pointing inside the file.
func FuzzSchemaDiagnostics(f *testing.F) {
	for _, s := range []string{
		`permit (principal, action == Action::"tools/call", resource) when { resource.argumnets.cli_command == "x" };`,
		`forbid (principal, action, resource) when { context has aws && context.aws has action };`,
		`permit (principal is Usr, action in [Action::"pin", Action::"ping"], resource is Tol) unless { principal.claims.x.y };`,
		`permit (principal, action, resource) when { context["aws_cli"]["service"] == 1 && resource.tool_name > 2 };`,
		"@id(\"a\")\npermit(principal,action,resource);\n@id(\"b\")\nforbid(principal,action,resource) when { context.sourc_ip };",
	} {
		f.Add(s)
	}
	sch, err := builtinSchema()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		list, err := cedar.NewPolicyListFromBytes("f.cedar", []byte(text))
		if err != nil {
			return
		}
		starts := make([]int, len(list))
		for j, p := range list {
			starts[j] = p.Position().Offset
		}
		lines := strings.Count(text, "\n") + 1
		for j, p := range list {
			e := &policyEntry{id: types.PolicyID(fmt.Sprint(j)), policy: p}
			for _, d := range sch.checkPolicy(e, newPolicyText("f.cedar", []byte(text), starts, j)) {
				if d.line < 1 || d.line > lines || d.col < 1 || d.msg == "" {
					t.Fatalf("diagnostic out of the file: %+v", d)
				}
			}
		}
	})
}

// BenchmarkLoadPoliciesValidated is BenchmarkLoadPolicies with schema
// validation (warn: a third of the generated policies read an argument the
// schema does not declare), for the cost validation adds at start and on
// every reload.
func BenchmarkLoadPoliciesValidated(b *testing.B) {
	dir := writeFiles(b, map[string]string{"p.cedar": policySet(1000)})
	opts := Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost, SchemaValidation: SchemaWarn}
	b.ReportAllocs()
	for b.Loop() {
		a, err := New(b.Context(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(a.snap.Load().schemaWarnings); n == 0 {
			b.Fatal("no schema warnings")
		}
	}
}
