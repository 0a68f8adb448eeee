package authn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const tagClaim = "https://aws.amazon.com/tags/principal_tags/Groups"

func TestGroupsFromClaims(t *testing.T) {
	big := make([]any, 10000)
	for i := range big {
		big[i] = fmt.Sprintf("g%d", i)
	}
	atLimit := make([]any, MaxGroups)
	for i := range atLimit {
		atLimit[i] = fmt.Sprintf("g%d", i)
	}
	nested := func(v any) map[string]any {
		return map[string]any{"https://aws.amazon.com/tags": map[string]any{"principal_tags": map[string]any{"Groups": v}}}
	}
	cases := []struct {
		name    string
		claims  map[string]any
		claim   string
		want    []string
		wantErr bool
	}{
		{"list", map[string]any{"groups": []any{"a", "b"}}, "groups", []string{"a", "b"}, false},
		{"string list type kept exactly", map[string]any{"groups": []string{"a", " b "}}, "groups", []string{"a", " b "}, false},
		{"trailing space is another group", map[string]any{"groups": []any{"s3-readers "}}, "groups", []string{"s3-readers "}, false},
		{"case kept", map[string]any{"groups": []any{"S3-Readers"}}, "groups", []string{"S3-Readers"}, false},
		{"colon string outside aws tags is one group", map[string]any{"groups": "team:s3-readers"}, "groups", []string{"team:s3-readers"}, false},
		{"colon list element outside aws tags", map[string]any{"groups": []any{"evil:s3-readers"}}, "groups", []string{"evil:s3-readers"}, false},
		{"single string", map[string]any{"groups": "admins"}, "groups", []string{"admins"}, false},
		{"flat aws tag splits", map[string]any{tagClaim: "s3-readers:Everyone"}, tagClaim, []string{"s3-readers", "Everyone"}, false},
		{"flat aws tag list splits", map[string]any{tagClaim: []any{"a:b"}}, tagClaim, []string{"a", "b"}, false},
		{"nested aws tag", nested([]any{"s3-readers", "Everyone"}), tagClaim, []string{"s3-readers", "Everyone"}, false},
		{"nested aws tag colon", nested([]any{"s3-readers:Everyone"}), tagClaim, []string{"s3-readers", "Everyone"}, false},
		{"nested aws tag no trim", nested([]any{"s3-readers : x"}), tagClaim, []string{"s3-readers ", " x"}, false},
		{"flat wins over nested", map[string]any{tagClaim: []any{"flat"}, "https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"Groups": []any{"nested"}}}}, tagClaim, []string{"flat"}, false},
		{"nested other tag", map[string]any{"https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"Team": []any{"x"}}}}, tagClaim, nil, false},
		{"nested wrong shape", map[string]any{"https://aws.amazon.com/tags": "x"}, tagClaim, nil, false},
		{"nested only for aws claim", map[string]any{"https://aws.amazon.com/tags": map[string]any{
			"principal_tags": map[string]any{"groups": []any{"x"}}}}, "groups", nil, false},
		{"nested tag of wrong type", nested(42.0), tagClaim, nil, true},
		{"number", map[string]any{"groups": 42.0}, "groups", nil, true},
		{"object", map[string]any{"groups": map[string]any{"a": "b"}}, "groups", nil, true},
		{"null", map[string]any{"groups": nil}, "groups", nil, false},
		{"bool", map[string]any{"groups": true}, "groups", nil, true},
		{"mixed list", map[string]any{"groups": []any{"a", 1.0, "b"}}, "groups", nil, true},
		{"list with null", map[string]any{"groups": []any{"a", nil}}, "groups", nil, true},
		{"nested list", map[string]any{"groups": []any{[]any{"x"}}}, "groups", nil, true},
		{"duplicates and empties", map[string]any{"groups": []any{"a", " a", "", "b", "a"}}, "groups", []string{"a", " a", "b"}, false},
		{"colon empties in aws tag", map[string]any{tagClaim: "::a::b:a:"}, tagClaim, []string{"a", "b"}, false},
		{"absent", map[string]any{"other": []any{"a"}}, "groups", nil, false},
		{"distributed claim (overage)", map[string]any{"_claim_names": map[string]any{"groups": "src1"}}, "groups", nil, true},
		{"nil claims", nil, "groups", nil, false},
		{"empty claim name", map[string]any{"": []any{"a"}}, "", nil, false},
		{"at the limit", map[string]any{"groups": atLimit}, "groups", func() []string {
			out := make([]string, MaxGroups)
			for i := range out {
				out[i] = fmt.Sprintf("g%d", i)
			}
			return out
		}(), false},
		{"over the limit refused, not cut", map[string]any{"groups": big}, "groups", nil, true},
		{"over the limit by duplicates", map[string]any{"groups": append(slices.Clone(atLimit), "g0")}, "groups", nil, true},
		{"over the limit after the split", map[string]any{tagClaim: strings.Repeat("a:", MaxGroups) + "b"}, tagClaim, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := GroupsFromClaims(c.claims, c.claim)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if !slices.Equal(got, c.want) {
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
				Claim   string         `json:"claim"`
				Claims  map[string]any `json:"claims"`
				Want    []string       `json:"want"`
				WantErr bool           `json:"want_error"`
			}
			if err := json.Unmarshal(b, &tc); err != nil {
				t.Fatal(err)
			}
			got, err := GroupsFromClaims(tc.Claims, tc.Claim)
			if (err != nil) != tc.WantErr || !slices.Equal(got, tc.Want) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.Want, tc.WantErr)
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
		got, err := GroupsFromClaims(claims, claim)
		if err != nil && got != nil {
			t.Fatalf("groups %v with error %v", got, err)
		}
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
