package sts

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

func TestValidateRoleARN(t *testing.T) {
	tests := []struct {
		arn  string
		want string // substring of the error, "" for valid
	}{
		{"arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole", ""},
		{"arn:aws:iam::123456789012:role/service-role/team/Admin+x=y,z.q@w-1", ""},
		{"arn:aws-cn:iam::123456789012:role/R", ""},
		{"arn:aws-us-gov:iam::123456789012:role/R", ""},
		{"arn:aws:iam::ACCOUNT:role/DefaultMCPRole", "12 digits"},
		{"arn:aws:iam::12345678901:role/R", "12 digits"},
		{"arn:aws:iam::123456789012:user/R", "role/"},
		{"arn:aws:iam::123456789012:role/", "invalid role name"},
		{"arn:aws:iam::123456789012:role/bad name", "invalid role name"},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65), "invalid role name"},
		{"arn:aws:sts::123456789012:role/R", "service must be iam"},
		{"arn:aws:iam:us-east-1:123456789012:role/R", "no region"},
		{"arn:azure:iam::123456789012:role/R", "unknown partition"},
		{"role/R", "role ARN"},
		{"", "role ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			err := ValidateRoleARN(tt.arn)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateRoleARN: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateRoleARN = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileRolesRejects(t *testing.T) {
	tests := []struct {
		name     string
		mappings []Mapping
		want     string
	}{
		{"bad arn", []Mapping{{Claim: "g", RoleARN: "arn:aws:iam::1:role/R"}}, "role_mappings[0]"},
		{"empty claim", []Mapping{{RoleARN: roleS3}}, "claim is empty"},
		{"negative priority", []Mapping{{Claim: "g", RoleARN: roleS3, Priority: ptr(-1)}}, "negative"},
		{"policy not json", []Mapping{{Claim: "g", RoleARN: roleS3, SessionPolicy: "{"}}, "not valid JSON"},
		{"policy not object", []Mapping{{Claim: "g", RoleARN: roleS3, SessionPolicy: `["x"]`}}, "JSON object"},
		{"policy too long", []Mapping{{Claim: "g", RoleARN: roleS3, SessionPolicy: `{"a":"` + strings.Repeat("x", 2048) + `"}`}}, "at most 2048"},
		{"policy bad char", []Mapping{{Claim: "g", RoleARN: roleS3, SessionPolicy: `{"a":"☃"}`}}, "not accepted"},
		{"too many policy arns", []Mapping{{Claim: "g", RoleARN: roleS3, SessionPolicyARNs: slices.Repeat([]string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, 11)}}, "at most 10"},
		{"bad policy arn", []Mapping{{Claim: "g", RoleARN: roleS3, SessionPolicyARNs: []string{"arn:aws:iam::123456789012:role/R"}}}, "policy/"},
		{"two problems", []Mapping{{Claim: "g", RoleARN: "x"}, {Claim: "", RoleARN: roleS3}}, "role_mappings[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileRoles(groupsClaim, tt.mappings, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("compileRoles = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileRolesCompactsPolicy(t *testing.T) {
	tab, err := compileRoles("", []Mapping{{Claim: "g", RoleARN: roleS3,
		SessionPolicy:     "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": []\n}",
		SessionPolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/Mine"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.byGroup["g"].SessionPolicy; got != `{"Version":"2012-10-17","Statement":[]}` {
		t.Fatalf("SessionPolicy = %s", got)
	}
}

func TestSelectRole(t *testing.T) {
	s3 := Mapping{Claim: "s3-readers", RoleARN: roleS3}
	ec2 := Mapping{Claim: "ec2-viewers", RoleARN: roleEC2}
	admin := Mapping{Claim: "admins", RoleARN: "arn:aws:iam::123456789012:role/Admin"}
	tests := []struct {
		name     string
		mappings []Mapping
		def      string
		groups   string // ':'-joined claim value
		want     string // role ARN, "" for 403
	}{
		{"single match", []Mapping{s3, ec2}, "", "s3-readers", roleS3},
		{"file order among unnumbered", []Mapping{ec2, s3}, "", "s3-readers:ec2-viewers", roleEC2},
		{"file order among unnumbered reversed", []Mapping{s3, ec2}, "", "ec2-viewers:s3-readers", roleS3},
		{"lowest priority wins", []Mapping{withPrio(s3, 5), withPrio(ec2, 1)}, "", "s3-readers:ec2-viewers", roleEC2},
		{"numbered before unnumbered", []Mapping{s3, withPrio(ec2, 100)}, "", "s3-readers:ec2-viewers", roleEC2},
		{"priority zero", []Mapping{withPrio(s3, 1), withPrio(admin, 0)}, "", "admins:s3-readers", admin.RoleARN},
		{"equal priority keeps file order", []Mapping{withPrio(ec2, 3), withPrio(s3, 3)}, "", "s3-readers:ec2-viewers", roleEC2},
		{"same claim twice: first in precedence", []Mapping{s3, {Claim: "s3-readers", RoleARN: roleEC2}}, "", "s3-readers", roleS3},
		{"same claim twice: priority beats file order", []Mapping{s3, {Claim: "s3-readers", RoleARN: roleEC2, Priority: ptr(1)}}, "", "s3-readers", roleEC2},
		{"no match: default", []Mapping{s3, ec2}, roleDefault, "Everyone", roleDefault},
		{"no groups: default", []Mapping{s3}, roleDefault, "", roleDefault},
		{"no match, no default: 403", []Mapping{s3, ec2}, "", "Everyone", ""},
		{"only default", nil, roleDefault, "s3-readers", roleDefault},
		{"match is exact, not substring", []Mapping{s3}, "", "s3-readers-admin", ""},
		{"match is case sensitive", []Mapping{s3}, "", "S3-Readers", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := compileRoles(groupsClaim, tt.mappings, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			id := &authn.Identity{Claims: map[string]any{groupsClaim: tt.groups}}
			r, err := tab.selectRole(id)
			if tt.want == "" {
				if mcpguard.KindOf(err) != mcpguard.KindForbidden || mcpguard.SafeMessage(err) != "no IAM role mapped for this identity" {
					t.Fatalf("selectRole = %v, %v; want forbidden", r, err)
				}
				return
			}
			if err != nil || r.RoleARN != tt.want {
				t.Fatalf("selectRole = %v, %v; want %s", r, err, tt.want)
			}
		})
	}
}

func withPrio(m Mapping, p int) Mapping { m.Priority = &p; return m }

// TestSelectRoleClaimShapes checks that every shape of the role claim
// selects the role: list, ':'-joined string, nested session tags.
func TestSelectRoleClaimShapes(t *testing.T) {
	tests := []struct {
		name   string
		claim  string
		claims string
		want   string // role ARN, "" for 403
	}{
		{"list", "groups", `{"groups":["Everyone","ec2-viewers"]}`, roleEC2},
		{"list items are not split", "groups", `{"groups":["Everyone:ec2-viewers"]}`, ""},
		{"list with non-strings is refused", "groups", `{"groups":[1,null,{"x":1},"ec2-viewers"]}`, ""},
		{"single string", "group", `{"group":"ec2-viewers"}`, roleEC2},
		{"flattened tag split on colon", groupsClaim, `{"` + groupsClaim + `":"Everyone:ec2-viewers"}`, roleEC2},
		{"flattened tag with padding colons", groupsClaim, `{"` + groupsClaim + `":":Everyone:ec2-viewers:"}`, roleEC2},
		{"nested tags", groupsClaim, `{"https://aws.amazon.com/tags":{"principal_tags":{"Groups":["Everyone:ec2-viewers"]},"transitive_tag_keys":["Groups"]}}`, roleEC2},
		{"nested tag as string", groupsClaim, `{"https://aws.amazon.com/tags":{"principal_tags":{"Groups":"ec2-viewers"}}}`, roleEC2},
		{"flattened wins over nested", groupsClaim, `{"` + groupsClaim + `":"Everyone","https://aws.amazon.com/tags":{"principal_tags":{"Groups":["ec2-viewers"]}}}`, ""},
		{"nested other tag", groupsClaim, `{"https://aws.amazon.com/tags":{"principal_tags":{"Team":["ec2-viewers"]}}}`, ""},
		{"nested malformed", groupsClaim, `{"https://aws.amazon.com/tags":"ec2-viewers"}`, ""},
		{"missing", "groups", `{}`, ""},
		{"number", "groups", `{"groups":5}`, ""},
		{"object", "groups", `{"groups":{"ec2-viewers":true}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var claims map[string]any
			if err := json.Unmarshal([]byte(tt.claims), &claims); err != nil {
				t.Fatal(err)
			}
			tab, err := compileRoles(tt.claim, []Mapping{{Claim: "ec2-viewers", RoleARN: roleEC2}}, "")
			if err != nil {
				t.Fatal(err)
			}
			r, err := tab.selectRole(&authn.Identity{Claims: claims})
			switch {
			case tt.want == "" && mcpguard.KindOf(err) != mcpguard.KindForbidden:
				t.Fatalf("selectRole = %v, %v; want forbidden", r, err)
			case tt.want != "" && (err != nil || r.RoleARN != tt.want):
				t.Fatalf("selectRole = %v, %v; want %s", r, err, tt.want)
			}
		})
	}
}

func TestSelectRoleUsesIdentityGroupsWithoutRoleClaim(t *testing.T) {
	tab, err := compileRoles("", []Mapping{{Claim: "ec2-viewers", RoleARN: roleEC2}}, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tab.selectRole(&authn.Identity{Groups: []string{"x", "ec2-viewers"}})
	if err != nil || r.RoleARN != roleEC2 {
		t.Fatalf("selectRole = %v, %v", r, err)
	}
}
