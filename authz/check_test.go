package authz

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	plumbing := `permit(principal, action in [Action::"initialize", Action::"server/discover", Action::"notifications/initialized", Action::"tools/list"], resource);`
	tests := []struct {
		name     string
		policies string
		allow    bool     // AllowGuardrailRemoval
		want     []string // substrings, one warning each, in order
	}{
		{
			name:     "complete set has no warnings",
			policies: plumbing + `permit(principal in Group::"g", action == Action::"tools/call", resource == Tool::"t");`,
		},
		{
			name:     "nothing permits initialize",
			policies: `permit(principal, action == Action::"tools/call", resource); forbid(principal, action == Action::"initialize", resource);`,
			want: []string{`no policy permits "initialize"`, `no policy permits "server/discover"`,
				`no policy permits "notifications/initialized"`, `no policy permits "tools/list"`},
		},
		{
			name:     "action of another model",
			policies: plumbing + `permit(principal, action == Action::"call_tool", resource);`,
			want:     []string{`no policy permits "tools/call"`, `Action::"call_tool" is not an MCP method`},
		},
		{
			name:     "unknown principal and resource types",
			policies: plumbing + `permit(principal in THVGroup::"g", action == Action::"tools/call", resource == Client::"x");`,
			want:     []string{"principal type THVGroup is unknown", "resource type Client is unknown"},
		},
		{
			name:     "empty set, allowed by the operator",
			policies: "// nothing yet\n",
			allow:    true,
			want:     []string{"policy file p.cedar holds no policy", "no policies loaded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"p.cedar": tt.policies})
			got, err := Check(Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, AllowGuardrailRemoval: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
	dir := writeFiles(t, map[string]string{"p.cedar": "permit(principal, action, resource)"})
	if _, err := Check(Options{PolicyFiles: []string{filepath.Join(dir, "p.cedar")}}); err == nil || !strings.Contains(err.Error(), "p.cedar:") {
		t.Fatalf("Check err = %v, want a parse error naming the file", err)
	}
}

func TestWarningsOfAuthorizer(t *testing.T) {
	a := newTestAuthorizer(t, map[string]string{"p.cedar": `permit(principal, action == Action::"tools/call", resource);`}, nil)
	w := a.Warnings()
	if !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, `"initialize"`) }) {
		t.Fatalf("warnings = %q", w)
	}
}

// TestCheckRefusesEmptyPolicyFile: validate flags a configured policy file
// that holds no policy (an emptied guardrails file parses without error).
func TestCheckRefusesEmptyPolicyFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.cedar":          `permit(principal, action, resource);`,
		"guardrails.cedar": "// emptied by mistake\n",
	})
	_, err := Check(Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}})
	if !errors.Is(err, ErrGuardrailRemoved) || !strings.Contains(err.Error(), "guardrails.cedar holds no policy") {
		t.Fatalf("err = %v, want ErrGuardrailRemoved naming guardrails.cedar", err)
	}
	if _, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, ServerHost: testHost}); !errors.Is(err, ErrGuardrailRemoved) {
		t.Fatalf("New err = %v, want ErrGuardrailRemoved", err)
	}
}
