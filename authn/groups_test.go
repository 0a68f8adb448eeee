package authn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const tagClaim = "https://aws.amazon.com/tags/principal_tags/Groups"

func TestGroupsFromClaims(t *testing.T) {
	big := make([]any, 10000)
	for i := range big {
		big[i] = fmt.Sprintf("g%d", i)
	}
	cases := []struct {
		name   string
		claims map[string]any
		claim  string
		want   []string
	}{
		{"list", map[string]any{"groups": []any{"a", "b"}}, "groups", []string{"a", "b"}},
		{"string list type", map[string]any{"groups": []string{"a", " b "}}, "groups", []string{"a", "b"}},
		{"colon string", map[string]any{"groups": "s3-readers:Everyone"}, "groups", []string{"s3-readers", "Everyone"}},
		{"single string", map[string]any{"groups": "admins"}, "groups", []string{"admins"}},
		{"list elements not split", map[string]any{"groups": []any{"a:b"}}, "groups", []string{"a:b"}},
		{"flat aws tag", map[string]any{tagClaim: "s3-readers:Everyone"}, tagClaim, []string{"s3-readers", "Everyone"}},
		{"nested aws tag", map[string]any{"https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"Groups": []any{"s3-readers", "Everyone"}}}}, tagClaim, []string{"s3-readers", "Everyone"}},
		{"nested aws tag colon", map[string]any{"https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"Groups": []any{"s3-readers:Everyone"}}}}, tagClaim, []string{"s3-readers", "Everyone"}},
		{"flat wins over nested", map[string]any{tagClaim: []any{"flat"}, "https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"Groups": []any{"nested"}}}}, tagClaim, []string{"flat"}},
		{"nested other tag", map[string]any{"https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"Team": []any{"x"}}}}, tagClaim, nil},
		{"nested wrong shape", map[string]any{"https://aws.amazon.com/tags": "x"}, tagClaim, nil},
		{"nested only for aws claim", map[string]any{"https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"groups": []any{"x"}}}}, "groups", nil},
		{"number", map[string]any{"groups": 42.0}, "groups", nil},
		{"object", map[string]any{"groups": map[string]any{"a": "b"}}, "groups", nil},
		{"null", map[string]any{"groups": nil}, "groups", nil},
		{"bool", map[string]any{"groups": true}, "groups", nil},
		{"mixed list", map[string]any{"groups": []any{"a", 1.0, nil, map[string]any{}, []any{"x"}, "b"}}, "groups", []string{"a", "b"}},
		{"duplicates and empties", map[string]any{"groups": []any{"a", " a", "", "  ", "b", "a"}}, "groups", []string{"a", "b"}},
		{"colon empties", map[string]any{"groups": "::a::b:a:"}, "groups", []string{"a", "b"}},
		{"absent", map[string]any{"other": []any{"a"}}, "groups", nil},
		{"nil claims", nil, "groups", nil},
		{"empty claim name", map[string]any{"": []any{"a"}}, "", nil},
		{"bounded", map[string]any{"groups": big}, "groups", func() []string {
			out := make([]string, MaxGroups)
			for i := range out {
				out[i] = fmt.Sprintf("g%d", i)
			}
			return out
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := GroupsFromClaims(c.claims, c.claim); !slices.Equal(got, c.want) {
				t.Errorf("got %v (len %d), want %v", got, len(got), c.want)
			}
		})
	}
}

// TestGroupsFromClaimsProviderShapes reads real-world claim layouts from
// testdata: each file holds the claims, the claim name and the groups.
func TestGroupsFromClaimsProviderShapes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "groups", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var tc struct {
				Claim  string         `json:"claim"`
				Claims map[string]any `json:"claims"`
				Want   []string       `json:"want"`
			}
			if err := json.Unmarshal(b, &tc); err != nil {
				t.Fatal(err)
			}
			if got := GroupsFromClaims(tc.Claims, tc.Claim); !slices.Equal(got, tc.Want) {
				t.Errorf("got %v, want %v", got, tc.Want)
			}
		})
	}
}

func FuzzGroupsFromClaims(f *testing.F) {
	f.Add([]byte(`{"groups":["a","b"]}`), "groups")
	f.Add([]byte(`{"groups":"a:b::c"}`), "groups")
	f.Add([]byte(`{"https://aws.amazon.com/tags":{"principal_tags":{"Groups":["x:y"]}}}`), tagClaim)
	f.Add([]byte(`{"groups":[1,{"a":2},null,"z"]}`), "groups")
	f.Fuzz(func(t *testing.T, doc []byte, claim string) {
		var claims map[string]any
		if json.Unmarshal(doc, &claims) != nil {
			return
		}
		got := GroupsFromClaims(claims, claim)
		if len(got) > MaxGroups {
			t.Fatalf("%d groups", len(got))
		}
		seen := map[string]bool{}
		for _, g := range got {
			if g == "" || seen[g] {
				t.Fatalf("empty or duplicate group %q in %v", g, got)
			}
			seen[g] = true
		}
	})
}
