package authz

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpguard/mcpguard/mcp"
)

// shadowRecorder is a hand-written OnShadow hook.
type shadowRecorder struct {
	mu  sync.Mutex
	got []ShadowResult
}

func (r *shadowRecorder) hook(s ShadowResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
}

func (r *shadowRecorder) results() []ShadowResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

const (
	realSet = `@id("docs") permit(principal, action == Action::"tools/call", resource == Tool::"aws___read_documentation");
@id("s3") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___call_aws");`
	// The candidate set: S3 only from the office network, and docs for
	// everyone.
	shadowSet = `@id("docs") permit(principal, action == Action::"tools/call", resource == Tool::"aws___read_documentation");
@id("s3-office") permit(principal in Group::"s3-readers", action == Action::"tools/call", resource == Tool::"aws___call_aws")
when { context has source_ip && context.source_ip.isInRange(ip("192.168.0.0/16")) };
@id("run-script") permit(principal, action == Action::"tools/call", resource == Tool::"aws___run_script");`
)

func newShadowAuthorizer(t *testing.T, rec *shadowRecorder) (*Authorizer, string) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"real.cedar": realSet, "shadow.cedar": shadowSet})
	a, err := New(t.Context(), Options{
		PolicyFiles:       []string{filepath.Join(dir, "real.cedar")},
		ShadowPolicyFiles: []string{filepath.Join(dir, "shadow.cedar")},
		ServerHost:        testHost,
		SchemaValidation:  SchemaStrict,
		OnShadow:          rec.hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, dir
}

func TestShadowNeverChangesTheDecision(t *testing.T) {
	rec := &shadowRecorder{}
	a, _ := newShadowAuthorizer(t, rec)
	alice := ident("alice", "s3-readers")
	tests := []struct {
		name     string
		msg      *mcp.Message
		allow    bool
		result   string
		policies []string
		shadow   []string
		resource string
	}{
		{"agree allow", toolCall("aws___read_documentation", `{}`), true, ShadowAgree, []string{"docs"}, []string{"docs"}, ""},
		{"would deny", awsCall("aws s3 ls"), true, ShadowWouldDeny, []string{"s3"}, nil, `Tool::"aws___call_aws"`},
		{"would allow", toolCall("aws___run_script", `{"code":"1"}`), false, ShadowWouldAllow, nil, []string{"run-script"}, `Tool::"aws___run_script"`},
		{"agree deny", toolCall("aws___get_tasks", `{}`), false, ShadowAgree, nil, nil, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := post(tt.msg) // source 10.1.2.3: outside the shadow's office range
			req.RequestID = fmt.Sprintf("req-%d", i)
			d := authorize(t, a, alice, req)
			if d.Allow != tt.allow || !slices.Equal(d.Policies, tt.policies) {
				t.Fatalf("decision %v %v, want %v %v", d.Allow, d.Policies, tt.allow, tt.policies)
			}
			got := rec.results()
			if len(got) != i+1 {
				t.Fatalf("%d shadow results, want %d", len(got), i+1)
			}
			r := got[i]
			wantShadow := tt.allow
			if tt.result != ShadowAgree {
				wantShadow = !tt.allow
			}
			if r.Result != tt.result || r.Allow != tt.allow || r.ShadowAllow != wantShadow {
				t.Errorf("result %+v, want %s", r, tt.result)
			}
			if !slices.Equal(r.Policies, tt.policies) || !slices.Equal(r.ShadowPolicies, tt.shadow) {
				t.Errorf("policies %v / shadow %v, want %v / %v", r.Policies, r.ShadowPolicies, tt.policies, tt.shadow)
			}
			if r.Resource != tt.resource || r.RequestID != req.RequestID || r.Identity != alice {
				t.Errorf("result names %q %q %v", r.Resource, r.RequestID, r.Identity)
			}
		})
	}
	// A request that cannot be decided produces no comparison.
	n := len(rec.results())
	bad := &mcp.Message{Type: mcp.TypeRequest, ID: json.RawMessage(`1`), Method: "tools/call", Params: json.RawMessage(`{"name":5}`)}
	if _, err := a.Authorize(t.Context(), alice, post(bad)); err == nil {
		t.Fatal("malformed tools/call decided")
	}
	if len(rec.results()) != n {
		t.Error("a refused request was compared")
	}
}

func TestShadowReload(t *testing.T) {
	rec := &shadowRecorder{}
	a, dir := newShadowAuthorizer(t, rec)
	last := func() ShadowResult {
		authorize(t, a, ident("alice", "s3-readers"), post(awsCall("aws s3 ls")))
		got := rec.results()
		return got[len(got)-1]
	}
	if r := last(); r.Result != ShadowWouldDeny {
		t.Fatalf("before reload: %s", r.Result)
	}
	shadowFile := filepath.Join(dir, "shadow.cedar")
	if err := os.WriteFile(shadowFile, []byte(realSet), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := last(); r.Result != ShadowAgree {
		t.Fatalf("after Reload: %s", r.Result)
	}
	// A broken shadow set (schema error; loaded, it would deny everything)
	// is rejected; the previous shadow set and the set in force stay.
	if err := os.WriteFile(shadowFile, []byte(`forbid (principal, action, resource) when { resource.argumnets has x };`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatalf("a broken shadow set failed the real reload: %v", err)
	}
	if r := last(); r.Result != ShadowAgree || !r.Allow {
		t.Fatalf("after a broken shadow: %+v", r)
	}
	// Polling: a change is applied once the files held still for a tick.
	if err := os.WriteFile(shadowFile, []byte(shadowSet), 0o600); err != nil {
		t.Fatal(err)
	}
	a.pollShadow()
	if r := last(); r.Result != ShadowAgree {
		t.Fatalf("applied before the files held still: %s", r.Result)
	}
	a.pollShadow()
	if r := last(); r.Result != ShadowWouldDeny {
		t.Fatalf("after polling: %s", r.Result)
	}
	if ids := a.ShadowPolicyIDs(); !slices.Equal(ids, []string{"docs", "run-script", "s3-office"}) {
		t.Errorf("shadow ids %v", ids)
	}
}

func TestShadowMustLoadAtStart(t *testing.T) {
	dir := writeFiles(t, map[string]string{"real.cedar": realSet, "shadow.cedar": "permit ("})
	_, err := New(t.Context(), Options{
		PolicyFiles: []string{filepath.Join(dir, "real.cedar")}, ServerHost: testHost,
		ShadowPolicyFiles: []string{filepath.Join(dir, "shadow.cedar")},
	})
	if err == nil || !strings.Contains(err.Error(), "load shadow policies: shadow.cedar:1:") {
		t.Fatalf("err = %v", err)
	}
	a := newTestAuthorizer(t, map[string]string{"p.cedar": realSet}, nil)
	if a.ShadowPolicyIDs() != nil {
		t.Error("shadow ids without a shadow set")
	}
}

// BenchmarkDecisionShadow is BenchmarkDecision's tools/call with a shadow
// set of the same size (every request is decided twice); compare with
// BenchmarkDecision for the cost of shadow mode.
func BenchmarkDecisionShadow(b *testing.B) {
	params := json.RawMessage(`{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls s3://reports --region eu-west-1"}}`)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			var compared int
			a := newTestAuthorizer(b, map[string]string{"p.cedar": policySet(n), "s.shadow": policySet(n)}, func(dir string, o *Options) {
				o.ShadowPolicyFiles = []string{filepath.Join(dir, "s.shadow")}
				o.OnShadow = func(r ShadowResult) {
					if r.Result == ShadowAgree {
						compared++
					}
				}
			})
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
			if compared == 0 {
				b.Fatal("no shadow comparison")
			}
		})
	}
}
