package authz

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// exampleAuthorizer loads every example policy and the example entities.
func exampleAuthorizer(t testing.TB) *Authorizer {
	t.Helper()
	a, err := New(t.Context(), Options{
		PolicyFiles:  []string{filepath.Join(examplesDir, "*.cedar")},
		EntitiesFile: filepath.Join(examplesDir, "entities.json"),
		ServerHost:   testHost,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var listReq = VisibilityRequest{SourceIP: "10.1.2.3:54321", SessionID: "sess-1", RequestID: "req-9"}

// visibleItems returns the items of the given kind that stay visible.
func visibleItems(t testing.TB, a *Authorizer, id *authn.Identity, req VisibilityRequest, kind mcp.ItemKind, names ...string) []string {
	t.Helper()
	visible, err := a.Visible(t.Context(), id, req)
	if err != nil {
		t.Fatalf("Visible: %v", err)
	}
	var out []string
	for _, n := range names {
		it := mcp.ListItem{Kind: kind, Name: n}
		if kind == mcp.ItemResource || kind == mcp.ItemResourceTemplate {
			it.URI = n
		}
		if visible(it) {
			out = append(out, n)
		}
	}
	return out
}

var exampleTools = []string{
	"aws___call_aws",
	"aws___search_documentation",
	"aws___read_documentation",
	"aws___list_regions",
	"aws___suggest_aws_commands",
	"aws___run_script",
	"aws___delete_stack",
}

func TestVisibleExamplePolicies(t *testing.T) {
	a := exampleAuthorizer(t)
	docs := []string{"aws___search_documentation", "aws___read_documentation", "aws___list_regions", "aws___suggest_aws_commands"}
	withCall := append([]string{"aws___call_aws"}, docs...)
	withScript := append([]string{"aws___run_script"}, withCall...)
	tests := []struct {
		name string
		id   *authn.Identity
		want []string
	}{
		{"alice (s3-readers): s3 scripts and commands and the documentation tools", ident("alice", "s3-readers"), withScript},
		{"bob (ec2-viewers)", ident("bob", "ec2-viewers"), withScript},
		{"dana (data-analysts): permit conditioned on arguments", ident("dana", "data-analysts"), withScript},
		{"rita (aws-readers): read-only scripts and commands", ident("rita", "aws-readers"), withScript},
		{"pat (platform-team, through entities.json)", ident("pat", "platform-team"), withScript},
		{"eve (no group): documentation only", ident("eve"), docs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := visibleItems(t, a, tt.id, listReq, mcp.ItemTool, exampleTools...)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("visible %v, want %v", got, want)
			}
		})
	}
}

// TestVisibleSound cross-checks Visible with Authorize: a tool that some
// concrete call may use must be visible.
func TestVisibleSound(t *testing.T) {
	a := exampleAuthorizer(t)
	ids := []*authn.Identity{ident("alice", "s3-readers"), ident("bob", "ec2-viewers"), ident("dana", "data-analysts"), ident("pat", "platform-team"), ident("rita", "aws-readers"), ident("eve")}
	calls := []*mcp.Message{
		awsCall("aws s3 ls"), awsCall("aws s3 cp s3://a/b ."), awsCall("aws ec2 describe-instances"),
		awsCall("aws iam list-users"), toolCall("aws___call_aws", `{}`),
		toolCall("aws___search_documentation", `{"search_phrase":"x"}`), toolCall("aws___run_script", `{"code":"1"}`),
		toolCall("aws___run_script", `{"code":"await call_boto3(service_name='s3', operation_name='ListBuckets')"}`),
		toolCall("aws___delete_stack", `{}`), toolCall("aws___list_regions", `{}`),
	}
	for _, id := range ids {
		visible, err := a.Visible(t.Context(), id, listReq)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range calls {
			d := authorize(t, a, id, post(m))
			tc, _ := m.ToolCall()
			if d.Allow && !visible(mcp.ListItem{Kind: mcp.ItemTool, Name: tc.Name}) {
				t.Errorf("%s may call %s (%s) but does not see it", id.Subject, tc.Name, m.Params)
			}
		}
	}
}

func TestVisibleRules(t *testing.T) {
	alice := ident("alice", "s3-readers")
	const permitT = `permit(principal, action == Action::"tools/call", resource == Tool::"t");` + "\n"
	tests := []struct {
		name     string
		policies string
		id       *authn.Identity
		req      *VisibilityRequest
		kind     mcp.ItemKind
		items    []string
		want     []string
		hiddenBy string // a forbid that must be named for the first hidden item
	}{
		{
			name:     "no permit",
			policies: `permit(principal, action == Action::"tools/call", resource == Tool::"other");`,
			items:    []string{"t"},
		},
		{
			name:     "unconditional forbid removes the tool",
			policies: permitT + `@id("no-t") forbid(principal, action == Action::"tools/call", resource == Tool::"t");`,
			items:    []string{"t"},
			hiddenBy: "no-t",
		},
		{
			name:     "forbid on known data removes the tool",
			policies: `permit(principal, action == Action::"tools/call", resource);` + `@id("no-t") forbid(principal, action, resource) when { resource.tool_name like "t*" };`,
			items:    []string{"t", "u"},
			want:     []string{"u"},
			hiddenBy: "no-t",
		},
		{
			name:     "forbid conditioned on arguments keeps the tool",
			policies: permitT + `forbid(principal, action, resource) when { resource.arguments has force && resource.arguments.force == true };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "forbid conditioned on the parsed command keeps the tool",
			policies: permitT + `forbid(principal, action, resource) when { context has aws_cli && context.aws_cli has operation && context.aws_cli.operation like "delete*" };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "forbid that errors on known data removes the tool",
			policies: permitT + `@id("dept") forbid(principal, action, resource) when { principal.department == "contractors" };`,
			items:    []string{"t"},
			hiddenBy: "dept",
		},
		{
			name:     "forbid that errors only without cli_command keeps the tool",
			policies: permitT + `forbid(principal, action, resource) when { context.aws_cli.service == "iam" };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "forbid with unknown || true is certain",
			policies: permitT + `@id("or") forbid(principal, action, resource) when { resource.arguments has x || resource.tool_name == "t" };`,
			items:    []string{"t"},
			hiddenBy: "or",
		},
		{
			name:     "forbid with unknown && true is not certain",
			policies: permitT + `forbid(principal, action, resource) when { resource.arguments has x && resource.tool_name == "t" };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "forbid unless on a known source address",
			policies: permitT + `@id("vpn") forbid(principal, action, resource) unless { context.source_ip.isInRange(ip("192.168.0.0/16")) };`,
			items:    []string{"t"},
			hiddenBy: "vpn",
		},
		{
			name:     "forbid unless on a known source address that matches",
			policies: permitT + `forbid(principal, action, resource) unless { context.source_ip.isInRange(ip("10.0.0.0/8")) };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "forbid on time is not certain",
			policies: permitT + `forbid(principal, action, resource) when { context.time > 0 };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "permit on arguments keeps the tool",
			policies: `permit(principal, action == Action::"tools/call", resource) when { resource.tool_name == "t" && resource.arguments has bucket && resource.arguments.bucket like "reports-*" };`,
			items:    []string{"t", "u"},
			want:     []string{"t"},
		},
		{
			name:     "permit whose known part is false after an unknown part",
			policies: `permit(principal, action == Action::"tools/call", resource) when { resource.arguments has x && resource.tool_name == "other" };`,
			items:    []string{"t"},
		},
		{
			name:     "permit only without cli_command",
			policies: `permit(principal, action == Action::"tools/call", resource == Tool::"t") unless { context has aws_cli };`,
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "permit on a principal attribute",
			policies: `permit(principal, action == Action::"tools/call", resource == Tool::"t") when { principal has email && principal.email like "*@example.com" };`,
			id:       &authn.Identity{Subject: "carol", Email: "carol@example.com"},
			items:    []string{"t"},
			want:     []string{"t"},
		},
		{
			name:     "permit on a principal attribute that does not hold",
			policies: `permit(principal, action == Action::"tools/call", resource == Tool::"t") when { principal has email && principal.email like "*@example.com" };`,
			id:       &authn.Identity{Subject: "mallory", Email: "mallory@example.org"},
			items:    []string{"t"},
		},
		{
			name:     "permit that errors on known data does not apply",
			policies: `permit(principal, action == Action::"tools/call", resource == Tool::"t") when { principal.department == "x" || resource.arguments has y };`,
			items:    []string{"t"},
		},
		{
			name:     "group scope",
			policies: `permit(principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"t");`,
			id:       ident("eve"),
			items:    []string{"t"},
		},
		{
			name:     "another action does not make a tool visible",
			policies: `permit(principal, action == Action::"tools/list", resource);`,
			items:    []string{"t"},
		},
		{
			name:     "prompts",
			policies: `permit(principal, action == Action::"prompts/get", resource == Prompt::"summarize") when { resource.arguments has text };`,
			kind:     mcp.ItemPrompt,
			items:    []string{"summarize", "exfiltrate"},
			want:     []string{"summarize"},
		},
		{
			name:     "resources by uri",
			policies: `permit(principal, action == Action::"resources/read", resource) when { resource.uri like "s3://public/*" };`,
			kind:     mcp.ItemResource,
			items:    []string{"s3://public/a", "s3://private/b"},
			want:     []string{"s3://public/a"},
		},
		{
			name:     "templates: any resources/read permit may apply",
			policies: `permit(principal, action == Action::"resources/read", resource == Resource::"s3://public/a");` + `forbid(principal, action, resource == Resource::"s3://private/b");`,
			kind:     mcp.ItemResourceTemplate,
			items:    []string{"s3://{bucket}/{key}"},
			want:     []string{"s3://{bucket}/{key}"},
		},
		{
			name:     "templates: no resources/read permit",
			policies: `permit(principal, action == Action::"prompts/get", resource);`,
			kind:     mcp.ItemResourceTemplate,
			items:    []string{"s3://{bucket}/{key}"},
		},
		{
			name:     "templates: forbid on every resources/read",
			policies: `permit(principal, action == Action::"resources/read", resource);` + `@id("no-reads") forbid(principal, action == Action::"resources/read", resource);`,
			kind:     mcp.ItemResourceTemplate,
			items:    []string{"s3://{bucket}/{key}"},
			hiddenBy: "no-reads",
		},
		{
			name:     "unknown item kind",
			policies: `permit(principal, action, resource);`,
			kind:     "widget",
			items:    []string{"t"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, map[string]string{"p.cedar": tt.policies}, nil)
			id := tt.id
			if id == nil {
				id = alice
			}
			req := listReq
			if tt.req != nil {
				req = *tt.req
			}
			kind := tt.kind
			if kind == "" {
				kind = mcp.ItemTool
			}
			got := visibleItems(t, a, id, req, kind, tt.items...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("visible %v, want %v", got, tt.want)
			}
			if tt.hiddenBy != "" {
				v, err := a.newVisibility(t.Context(), id, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range tt.items {
					if slices.Contains(tt.want, n) {
						continue
					}
					iv := v.check(mcp.ListItem{Kind: kind, Name: n, URI: n})
					if !slices.Contains(iv.forbids, tt.hiddenBy) {
						t.Errorf("%s hidden by %v, want %s", n, iv.forbids, tt.hiddenBy)
					}
					break
				}
			}
		})
	}
}

func TestVisibleSourceAddress(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit(principal, action == Action::"tools/call", resource) when { context.source_ip.isInRange(ip("10.0.0.0/8")) };`}, nil)
	for _, tt := range []struct {
		addr string
		want bool
	}{{"10.9.9.9:1", true}, {"192.168.1.1", false}, {"", false}} {
		got := visibleItems(t, a, ident("alice"), VisibilityRequest{SourceIP: tt.addr}, mcp.ItemTool, "t")
		if (len(got) == 1) != tt.want {
			t.Errorf("from %q: visible %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestVisibleGroupClaim(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit(principal in Group::"ops", action == Action::"tools/call", resource);`},
		func(_ string, o *Options) { o.GroupClaim = "roles" })
	id := &authn.Identity{Subject: "u", Groups: []string{"ops"}, Claims: map[string]any{"roles": []any{"dev"}}}
	if got := visibleItems(t, a, id, listReq, mcp.ItemTool, "t"); len(got) != 0 {
		t.Errorf("groups must come from the configured claim: %v", got)
	}
	id.Claims["roles"] = []any{"ops"}
	if got := visibleItems(t, a, id, listReq, mcp.ItemTool, "t"); len(got) != 1 {
		t.Errorf("group from claim ignored: %v", got)
	}
}

func TestVisibleErrors(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit(principal, action, resource);`}, nil)
	if _, err := a.Visible(t.Context(), nil, listReq); mcpguard.KindOf(err) != mcpguard.KindInternal {
		t.Errorf("nil identity: %v", err)
	}
	if _, err := a.Visible(t.Context(), &authn.Identity{}, listReq); mcpguard.KindOf(err) != mcpguard.KindUnauthenticated {
		t.Errorf("no subject: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	visible, err := a.Visible(ctx, ident("alice"), listReq)
	if err != nil {
		t.Fatal(err)
	}
	if !visible(mcp.ListItem{Kind: mcp.ItemTool, Name: "t"}) {
		t.Fatal("permit-all hides a tool")
	}
	cancel()
	if visible(mcp.ListItem{Kind: mcp.ItemTool, Name: "t"}) {
		t.Error("visible after the context ended")
	}
	if _, err := a.Visible(ctx, ident("alice"), listReq); err == nil {
		t.Error("Visible with an ended context")
	}
}

// TestVisibleConcurrent runs one VisibleFunc from many goroutines, as the
// pipeline may not, but a reused one must survive.
func TestVisibleConcurrent(t *testing.T) {
	a := exampleAuthorizer(t)
	visible, err := a.Visible(t.Context(), ident("alice", "s3-readers"), listReq)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, n := range exampleTools {
				want := n != "aws___delete_stack"
				if got := visible(mcp.ListItem{Kind: mcp.ItemTool, Name: n}); got != want {
					t.Errorf("%s: %v", n, got)
				}
			}
		})
	}
	wg.Wait()
}

func TestOutcomes(t *testing.T) {
	all := []outcomes{canTrue, canFalse, canError, canTrue | canFalse, canAny}
	for _, l := range all {
		for _, r := range all {
			got := and(l, r)
			// Enumerate concrete operand results.
			var want outcomes
			for _, a := range []outcomes{canTrue, canFalse, canError} {
				if l&a == 0 {
					continue
				}
				if a != canTrue {
					want |= a
					continue
				}
				want |= r
			}
			if got != want {
				t.Errorf("and(%v, %v) = %v, want %v", l, r, got, want)
			}
		}
		if n := negate(negate(l)); n != l {
			t.Errorf("negate twice %v = %v", l, n)
		}
	}
	if s := canAny.String(); !strings.Contains(s, "error:true") {
		t.Error(s)
	}
}

// BenchmarkVisible200Tools decides a 200-tool list for one user against
// the example policies.
func BenchmarkVisible200Tools(b *testing.B) {
	a := exampleAuthorizer(b)
	items := make([]mcp.ListItem, 0, 200)
	for _, n := range exampleTools {
		items = append(items, mcp.ListItem{Kind: mcp.ItemTool, Name: n})
	}
	for i := len(items); i < 200; i++ {
		items = append(items, mcp.ListItem{Kind: mcp.ItemTool, Name: fmt.Sprintf("aws___tool_%03d", i)})
	}
	id := ident("alice", "s3-readers")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		visible, err := a.Visible(ctx, id, listReq)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, it := range items {
			if visible(it) {
				n++
			}
		}
		// aws___call_aws, aws___run_script and four documentation tools.
		if n != 6 {
			b.Fatalf("%d visible", n)
		}
	}
}

// TestVisibleGuardrails adds an administrators' permit-all to the example
// policies: the guard rail on destructive tool names removes such tools,
// while the guard rails on CLI operations and flags (which read the
// arguments) leave aws___call_aws listed.
func TestVisibleGuardrails(t *testing.T) {
	files := map[string]string{"admins.cedar": `@id("admins-all-tools") permit(principal in Group::"admins", action == Action::"tools/call", resource is Tool);`}
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.cedar"))
	if err != nil || len(paths) == 0 {
		t.Fatal(paths, err)
	}
	for _, p := range paths {
		files[filepath.Base(p)] = string(readFile(t, p))
	}
	a := newTestAuthorizer(t, files, nil)
	admin := ident("root", "admins")
	got := visibleItems(t, a, admin, listReq, mcp.ItemTool, exampleTools...)
	want := slices.DeleteFunc(slices.Clone(exampleTools), func(n string) bool { return n == "aws___delete_stack" })
	if !slices.Equal(got, want) {
		t.Errorf("visible %v, want %v", got, want)
	}
	vis, err := a.newVisibility(t.Context(), admin, listReq)
	if err != nil {
		t.Fatal(err)
	}
	iv := vis.check(mcp.ListItem{Kind: mcp.ItemTool, Name: "aws___delete_stack"})
	if !slices.Equal(iv.forbids, []string{"guardrail-destructive-tool-names"}) || !slices.Contains(iv.permits, "admins-all-tools") {
		t.Errorf("delete_stack: permits %v, forbids %v", iv.permits, iv.forbids)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
