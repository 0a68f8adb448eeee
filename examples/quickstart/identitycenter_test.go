package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestIdentityCenterQuickstart runs the scenario of `quickstart
// --identity-center` and checks each row of its tables against what the
// fakes saw: the scripts AWS ran, and with which permission set's
// credentials.
func TestIdentityCenterQuickstart(t *testing.T) {
	s := startScenario(t, stack.Options{ConfigPath: "config.yaml", IdentityCenter: true})
	var out bytes.Buffer
	if err := identityCenterScenario(t.Context(), s, &out); err != nil {
		t.Fatalf("scenario: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`Alice\s+dev / S3ReadOnly\s+s3 ListBuckets\s+Allowed\s+dev / S3ReadOnly`,
		`Alice\s+prod / S3ReadOnly\s+s3 ListBuckets\s+Refused by mcpguard: not assigned\s+-`,
		`Bob\s+dev / EC2ReadOnly\s+ec2 DescribeInstances\s+Allowed\s+dev / EC2ReadOnly`,
		`Bob\s+prod / AdministratorAccess\s+ec2 DescribeInstances\s+Refused by mcpguard: allow list\s+-`,
		`Alice\s+dev / S3ReadOnly\s+aws s3 ls\s+Allowed\s+dev / S3ReadOnly`,
		`Alice\s+prod / S3ReadOnly\s+aws s3 ls\s+Refused by mcpguard: not assigned\s+-`,
		`Bob\s+dev / EC2ReadOnly\s+aws ec2 describe-instances\s+Allowed\s+dev / EC2ReadOnly`,
		`Bob\s+prod / AdministratorAccess\s+aws ec2 describe-instances\s+Refused by mcpguard: allow list\s+-`,
		// Both tools' calls are signed with the same two cached credentials.
		`GetRoleCredentials 2; STS calls 0`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	wantScriptRuns(t, s, []fakeaws.ScriptRun{
		{Code: s3Script, RoleARN: s.SSO.RoleARN(stack.DevAccount, "S3ReadOnly"), SessionName: stack.Alice.Name, Calls: []string{"s3:ListBuckets"}},
		{Code: ec2Script, RoleARN: s.SSO.RoleARN(stack.DevAccount, "EC2ReadOnly"), SessionName: stack.Bob.Name, Calls: []string{"ec2:DescribeInstances"}},
	})
}
