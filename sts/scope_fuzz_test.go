package sts

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzScopePolicy: whatever static policy compiles, the per-request policy
// is valid JSON and allows no action outside the requested set.
func FuzzScopePolicy(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, "s3:GetObject,iam:ListUsers")
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":["iam:*"],"Resource":"*"}}`, "s3:ListBucket")
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`, "")
	f.Add(``, "ec2:Describe*,s3:GetObject")
	f.Fuzz(func(t *testing.T, static, acts string) {
		s, err := compileScoper(&role{Mapping: Mapping{RoleARN: roleS3, SessionPolicy: static}}, DefaultScopeConditions())
		if err != nil {
			return
		}
		var actions []string
		if acts != "" {
			actions = normalizeActions(strings.Split(acts, ","))
		}
		ss, err := s.session(actions)
		if err != nil {
			return
		}
		p := ss.policy
		var doc struct {
			Statement []struct {
				Effect string          `json:"Effect"`
				Action json.RawMessage `json:"Action"`
			} `json:"Statement"`
		}
		if err := json.Unmarshal([]byte(p), &doc); err != nil {
			t.Fatalf("policy is not JSON: %v\n%s", err, p)
		}
		for _, st := range doc.Statement {
			if st.Effect != "Allow" {
				continue
			}
			var got []string
			if err := json.Unmarshal(st.Action, &got); err != nil {
				t.Fatalf("Allow without an action list: %s", p)
			}
			for _, a := range got {
				if !slices.Contains(actions, a) {
					t.Fatalf("allows %q, not requested (%v): %s", a, actions, p)
				}
			}
		}
	})
}
