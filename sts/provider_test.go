package sts

import (
	"testing"

	"github.com/mcpguard/mcpguard/authn"
)

func TestProviderRoles(t *testing.T) {
	b, err := New(Options{
		Region:         "us-east-1",
		RoleClaim:      "groups",
		Mappings:       []Mapping{{Claim: "s3-readers", RoleARN: "arn:aws:iam::123456789012:role/S3"}},
		DefaultRoleARN: "arn:aws:iam::123456789012:role/Default",
		ProviderRoles: map[string]ProviderRoles{
			"contractors": {Mappings: []Mapping{{Claim: "contractors:Reader", RoleARN: "arn:aws:iam::123456789012:role/ContractorRead"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	employee := &authn.Identity{Subject: "alice", Claims: map[string]any{"groups": []any{"s3-readers"}}}
	contractor := &authn.Identity{Subject: "alice", Provider: "contractors", UserKey: "contractors|alice",
		Groups: []string{"contractors:s3-readers"}, Roles: []string{"contractors:Reader"},
		Claims: map[string]any{"groups": []any{"s3-readers"}}, SessionName: "alice@contractor.example"}
	// A contractor carrying the employees' raw group claim gets nothing
	// from the global mappings: its provider's own table decides.
	noRole := &authn.Identity{Subject: "alice", Provider: "contractors", Claims: map[string]any{"groups": []any{"s3-readers"}}}
	okta := &authn.Identity{Subject: "alice", Provider: "okta", Claims: map[string]any{"groups": []any{"s3-readers"}}}
	for _, c := range []struct {
		name string
		id   *authn.Identity
		want string
	}{
		{"global", employee, "arn:aws:iam::123456789012:role/S3"},
		{"provider own", contractor, "arn:aws:iam::123456789012:role/ContractorRead"},
		{"provider without own table", okta, "arn:aws:iam::123456789012:role/S3"},
	} {
		m, err := b.SelectRole(c.id)
		if err != nil || m.RoleARN != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, m.RoleARN, err, c.want)
		}
	}
	if _, err := b.SelectRole(noRole); err == nil {
		t.Error("contractor without a mapped group got a role")
	}
	if n, _ := b.SessionName(contractor); n != "alice@contractor.example" {
		t.Errorf("session name %q", n)
	}
	if n, _ := b.SessionName(noRole); n != "alice" {
		t.Errorf("session name without mapping value %q, want sub", n)
	}
}
