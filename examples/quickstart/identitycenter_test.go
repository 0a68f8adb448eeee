package main

import (
	"bytes"
	"regexp"
	"testing"
)

// TestIdentityCenterQuickstart runs `quickstart --identity-center` and
// checks each row of its table against what the fakes saw.
func TestIdentityCenterQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--config", "config.yaml", "--identity-center"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`Alice\s+dev / S3ReadOnly\s+aws s3 ls\s+Allowed\s+dev / S3ReadOnly`,
		`Alice\s+prod / S3ReadOnly\s+aws s3 ls\s+Refused by mcpguard: not assigned\s+-`,
		`Bob\s+dev / EC2ReadOnly\s+aws ec2 describe-instances\s+Allowed\s+dev / EC2ReadOnly`,
		`Bob\s+prod / AdministratorAccess\s+aws ec2 describe-instances\s+Refused by mcpguard: allow list\s+-`,
		`GetRoleCredentials 2; STS calls 0`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
