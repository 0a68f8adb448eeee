package authz

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		globs []string // relative to the folder; default *.cedar
		want  []string // substrings of the error
	}{
		{
			name:  "parse error names file line and column",
			files: map[string]string{"bad.cedar": "permit(principal, action, resource);\n\npermit(principal action, resource);"},
			want:  []string{"bad.cedar:3:"},
		},
		{
			name: "startsWith shows the like form",
			files: map[string]string{"seed.cedar": `permit(principal in Group::"data-analysts", action in [Action::"tools/call"], resource)
when {
  resource.tool_name == "aws___call_aws" &&
  resource.arguments.cli_command.startsWith("aws s3 ls")
};`},
			want: []string{"seed.cedar:4:34: `startsWith` is not a method: Cedar has no startsWith, write: resource.arguments.cli_command like \"aws s3 ls*\""},
		},
		{
			name:  "endsWith shows the like form",
			files: map[string]string{"e.cedar": `permit(principal, action, resource) when { principal.email.endsWith("@example.com") };`},
			want:  []string{"e.cedar:1:", `principal.email like "*@example.com"`},
		},
		{
			name:  "like form escapes a star in the prefix",
			files: map[string]string{"s.cedar": `permit(principal, action, resource) when { context.x.startsWith("a*b") };`},
			want:  []string{`context.x like "a\*b*"`},
		},
		{
			name: "every broken file is reported",
			files: map[string]string{
				"a.cedar": "permit(principal, action, resource)",
				"b.cedar": "forbid(principal, action resource);",
			},
			want: []string{"a.cedar:", "b.cedar:"},
		},
		{
			name: "duplicate @id",
			files: map[string]string{
				"a.cedar": `@id("x") permit(principal, action, resource);`,
				"b.cedar": `@id("x") forbid(principal, action, resource);`,
			},
			want: []string{`duplicate policy id "x"`, "b.cedar:1:1", "a.cedar:1"},
		},
		{
			name:  "empty @id",
			files: map[string]string{"a.cedar": `@id("") permit(principal, action, resource);`},
			want:  []string{"@id is empty"},
		},
		{
			name:  "glob matching nothing",
			files: map[string]string{"a.cedar": `permit(principal, action, resource);`},
			globs: []string{"*.cedar", "missing/*.cedar"},
			want:  []string{"matches no file"},
		},
		{
			name:  "bad glob",
			files: map[string]string{"a.cedar": `permit(principal, action, resource);`},
			globs: []string{"[.cedar"},
			want:  []string{"syntax error in pattern"},
		},
		{
			name:  "no policy files",
			files: map[string]string{},
			globs: []string{},
			want:  []string{"no policy files"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			globs := tt.globs
			if globs == nil {
				globs = []string{"*.cedar"}
			}
			var patterns []string
			for _, g := range globs {
				patterns = append(patterns, filepath.Join(dir, g))
			}
			_, err := New(t.Context(), Options{PolicyFiles: patterns, ServerHost: testHost})
			if err == nil {
				t.Fatal("want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEntitiesFileErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.cedar":  `permit(principal, action, resource);`,
		"ent.json": `[{"uid":{"type":"Group","id":"x"}}]`,
	})
	_, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, EntitiesFile: filepath.Join(dir, "ent.json"), ServerHost: testHost})
	if err == nil || !strings.Contains(err.Error(), "entities file") {
		t.Fatalf("err = %v, want an entities file error", err)
	}
	_, err = New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}, EntitiesFile: filepath.Join(dir, "nope.json"), ServerHost: testHost})
	if err == nil {
		t.Fatal("missing entities file: want error")
	}
	if _, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar")}}); err == nil {
		t.Fatal("missing server host: want error")
	}
}

func TestPolicyIDs(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.cedar": "@id(\"named\")\npermit(principal, action, resource);\n\nforbid(principal, action, resource == Tool::\"x\");\n"})
	if err := mkdirWrite(filepath.Join(dir, "sub", "a.cedar"), `permit(principal, action == Action::"ping", resource);`); err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), Options{PolicyFiles: []string{filepath.Join(dir, "*.cedar"), filepath.Join(dir, "sub", "*.cedar")}, ServerHost: testHost})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(a.PolicyIDs(), ",")
	// Two files share the base name a.cedar, so both use their full paths.
	want := strings.Join([]string{filepath.Join(dir, "a.cedar") + ":4", filepath.Join(dir, "sub", "a.cedar") + ":1", "named"}, ",")
	if got != want {
		t.Fatalf("ids = %s, want %s", got, want)
	}
}

// TestIndexMatchesFullEvaluation proves the scope index is only an
// optimisation: for every request, the indexed decision equals Cedar's
// decision over the whole policy set.
func TestIndexMatchesFullEvaluation(t *testing.T) {
	policies := `
		permit(principal, action, resource);
		permit(principal, action == Action::"tools/call", resource == Tool::"a");
		forbid(principal, action == Action::"tools/call", resource is Tool) when { resource.tool_name == "b" };
		permit(principal, action in [Action::"tools/call", Action::"ping"], resource is Tool in ToolSet::"s");
		forbid(principal, action in Action::"writes", resource);
		permit(principal in Group::"g", action, resource == Server::"h");
		forbid(principal, action, resource in ToolSet::"danger");
		permit(principal, action == Action::"prompts/get", resource == Prompt::"p") when { resource.arguments.x == 1 };
	`
	ents := `[
		{"uid":{"type":"Tool","id":"c"},"parents":[{"type":"ToolSet","id":"s"}],"attrs":{}},
		{"uid":{"type":"Tool","id":"d"},"parents":[{"type":"ToolSet","id":"danger"}],"attrs":{}},
		{"uid":{"type":"Action","id":"tools/call"},"parents":[{"type":"Action","id":"mutating"}],"attrs":{}},
		{"uid":{"type":"Action","id":"mutating"},"parents":[{"type":"Action","id":"writes"}],"attrs":{}}
	]`
	var em types.EntityMap
	if err := em.UnmarshalJSON([]byte(ents)); err != nil {
		t.Fatal(err)
	}
	list, err := cedar.NewPolicyListFromBytes("p.cedar", []byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshot{byID: map[types.PolicyID]*policyEntry{}, entities: em}
	full := cedar.PolicyMap{}
	for i, p := range list {
		id := types.PolicyID("p" + string(rune('a'+i)))
		e := &policyEntry{id: id, policy: p, forbid: p.Effect() == cedar.Forbid}
		s.byID[id], full[id] = e, p
		s.sorted = append(s.sorted, e)
	}
	s.index = buildIndex(s.sorted, em)
	actions := []string{"tools/call", "ping", "prompts/get", "tools/list", "mutating"}
	resources := []types.Entity{
		{UID: types.NewEntityUID("Tool", "a")}, {UID: types.NewEntityUID("Tool", "b"), Attributes: types.NewRecord(types.RecordMap{"tool_name": types.String("b")})},
		{UID: types.NewEntityUID("Tool", "c")}, {UID: types.NewEntityUID("Tool", "d")},
		{UID: types.NewEntityUID("Server", "h")}, {UID: types.NewEntityUID("Prompt", "p"), Attributes: types.NewRecord(types.RecordMap{"arguments": types.NewRecord(types.RecordMap{"x": types.Long(1)})})},
	}
	principals := []types.Entity{
		{UID: types.NewEntityUID("User", "u")},
		{UID: types.NewEntityUID("User", "v"), Parents: types.NewEntityUIDSet(types.NewEntityUID("Group", "g"))},
	}
	for _, act := range actions {
		for _, res := range resources {
			for _, pr := range principals {
				ents := &requestEntities{base: em, principal: pr, resource: mergeBase(em, res)}
				req := cedar.Request{Principal: pr.UID, Action: types.NewEntityUID("Action", types.String(act)), Resource: res.UID}
				want, wantDiag := cedar.Authorize(full, ents, req)
				c := s.index.candidates(req.Action, req.Resource)
				got, gotDiag := cedar.Authorize(&c, ents, req)
				if got != want || len(gotDiag.Reasons) != len(wantDiag.Reasons) || len(gotDiag.Errors) != len(wantDiag.Errors) {
					t.Errorf("%s %s %s: indexed %v %+v, full %v %+v", pr.UID, act, res.UID, got, gotDiag, want, wantDiag)
				}
			}
		}
	}
}
