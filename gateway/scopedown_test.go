package gateway

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/mcp"
)

func TestScopeFromDecision(t *testing.T) {
	cfg := config.Default()
	cfg.STS.ScopeDownConfig.Tools = []config.ToolScope{{Name: "custom___lookup", Scope: config.ToolScopeNoActions}, {Name: "custom___proxy", Scope: config.ToolScopeMapping}}
	s, err := newScopedSource(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	call := func(tool string, args string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
	}
	complete := func(calls ...authz.AWSCall) *authz.AWSContext {
		return &authz.AWSContext{Calls: calls, Complete: true}
	}
	tests := []struct {
		name       string
		body       string
		aws        *authz.AWSContext
		actions    []string
		useMapping bool
		refusal    string
	}{
		{"tools/list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, nil, false, ""},
		{"knowledge tool", call("aws___search_documentation", `{"search_phrase":"s3"}`), nil, nil, false, ""},
		{"run_script operations to actions", call(authz.ToolRunScript, `{"code":"x"}`),
			complete(authz.AWSCall{Service: "s3", Operation: "ListBuckets"}, authz.AWSCall{Service: "s3", Operation: "HeadObject"}, authz.AWSCall{Service: "s3", Operation: "CopyObject"}),
			[]string{"s3:GetObject", "s3:ListAllMyBuckets", "s3:PutObject"}, false, ""},
		{"unmapped operation", call(authz.ToolRunScript, `{"code":"x"}`), complete(authz.AWSCall{Service: "s3", Operation: "Frobnicate"}), nil, false, "s3:Frobnicate"},
		{"incomplete analysis", call(authz.ToolRunScript, `{"code":"x"}`), &authz.AWSContext{}, nil, false, "could not all be determined"},
		{"presign default get", call("aws___get_presigned_url", `{"bucket_name":"b","object_key":"k"}`), nil, []string{"s3:GetObject"}, false, ""},
		{"presign put", call("aws___get_presigned_url", `{"bucket_name":"b","object_key":"k","operation":"put_object"}`), nil, []string{"s3:PutObject"}, false, ""},
		{"presign unknown op", call("aws___get_presigned_url", `{"bucket_name":"b","object_key":"k","operation":"delete_object"}`), nil, nil, false, "delete_object"},
		{"unknown tool refused", call("custom___deploy", `{}`), nil, nil, false, "custom___deploy"},
		{"tool set to no_actions", call("custom___lookup", `{}`), nil, nil, false, ""},
		{"tool set to mapping", call("custom___proxy", `{}`), nil, nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := mcp.Parse([]byte(tt.body), mcp.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			dec := &authz.Decision{Allow: true, Items: []authz.ItemDecision{{Allow: true, AWS: tt.aws}}}
			sc := s.scope(dec, body)
			if tt.refusal != "" {
				if sc.Refusal == nil || !strings.Contains(sc.Refusal.Error(), tt.refusal) {
					t.Fatalf("refusal %v, want %q", sc.Refusal, tt.refusal)
				}
				return
			}
			if sc.Refusal != nil {
				t.Fatalf("refused: %v", sc.Refusal)
			}
			got := slices.Clone(sc.Actions)
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, tt.actions) || sc.UseMapping != tt.useMapping {
				t.Fatalf("actions %v mapping %v, want %v %v", got, sc.UseMapping, tt.actions, tt.useMapping)
			}
		})
	}
	t.Run("denied decision", func(t *testing.T) {
		if sc := s.scope(&authz.Decision{}, nil); sc.Refusal == nil {
			t.Fatal("a denied decision was scoped")
		}
	})
}

// TestCheckCredentialsRefusesUnsafeComposition: validate (through
// CheckCredentials) refuses what serve would refuse.
func TestCheckCredentialsRefusesUnsafeComposition(t *testing.T) {
	cfg := config.Default()
	cfg.STS.Region = "us-east-1"
	cfg.STS.ScopeDown = config.ScopeDownRequest
	cfg.STS.RoleMappings = []config.RoleMapping{{Claim: "a", RoleARN: "arn:aws:iam::123456789012:role/A",
		SessionPolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}}}
	err := CheckCredentials(cfg)
	if err == nil || !strings.Contains(err.Error(), "session_policy_arns") {
		t.Fatalf("err = %v", err)
	}
	cfg.STS.RoleMappings[0].SessionPolicyARNs = nil
	cfg.STS.RoleMappings[0].SessionPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	if err := CheckCredentials(cfg); err != nil {
		t.Fatalf("composable static policy refused: %v", err)
	}
}
