package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestProvidersScenario runs the scenario of `quickstart --providers` and
// checks its matrices, through aws___run_script and through the legacy
// aws___call_aws: the same subs at two providers, each with its own
// rights. Through run_script the employees' policy admits only reads, so
// Alice's upload is refused before it is signed; through call_aws it is
// mcpguard's to let through and AWS's to refuse.
func TestProvidersScenario(t *testing.T) {
	s := startScenario(t, stack.Options{ConfigPath: "providers.yaml"})
	var out bytes.Buffer
	if err := providersScenario(t.Context(), s, &out); err != nil {
		t.Fatalf("scenario: %v\n%s", err, out.String())
	}
	scripts, legacy, ok := strings.Cut(out.String(), "The same through the legacy aws___call_aws")
	if !ok {
		t.Fatalf("no table of the legacy tool in\n%s", out.String())
	}
	for _, tt := range []struct {
		table string
		rows  [][]string
	}{
		{scripts, [][]string{
			{"okta", "alice", `User::"okta|alice"`, "Allowed", "Denied", "Denied", "S3ReadOnlyMCPRole"},
			{"okta", "bob", `User::"okta|bob"`, "Denied", "Denied", "Allowed", "EC2ViewOnlyMCPRole"},
			{"contractors", "alice", `User::"contractors/0a1b2c3d…|alice"`, "Allowed", "Denied", "Denied", "S3ReadOnlyMCPRole"},
			{"contractors", "bob", `User::"contractors/0a1b2c3d…|bob"`, "Denied", "Denied", "Allowed", "EC2ViewOnlyMCPRole"},
		}},
		{legacy, [][]string{
			{"okta", "alice", `User::"okta|alice"`, "Allowed", "Denied by AWS", "Denied", "S3ReadOnlyMCPRole"},
			{"okta", "bob", `User::"okta|bob"`, "Denied", "Denied", "Allowed", "EC2ViewOnlyMCPRole"},
			{"contractors", "alice", `User::"contractors/0a1b2c3d…|alice"`, "Allowed", "Denied", "Denied", "S3ReadOnlyMCPRole"},
			{"contractors", "bob", `User::"contractors/0a1b2c3d…|bob"`, "Denied", "Denied", "Allowed", "EC2ViewOnlyMCPRole"},
		}},
	} {
		for _, want := range tt.rows {
			found := false
			for line := range strings.Lines(tt.table) {
				if strings.Join(strings.Fields(line), " ") == strings.Join(want, " ") {
					found = true
				}
			}
			if !found {
				t.Errorf("no row %q in\n%s", strings.Join(want, " "), tt.table)
			}
		}
	}
	// Each provider's users are signed as their own sessions.
	wantScriptRuns(t, s, []fakeaws.ScriptRun{
		{Code: s3Script, RoleARN: stack.S3Role, SessionName: sessionOf(s, "okta", stack.Alice), Calls: []string{"s3:ListBuckets"}},
		{Code: ec2Script, RoleARN: stack.EC2Role, SessionName: sessionOf(s, "okta", stack.Bob), Calls: []string{"ec2:DescribeInstances"}},
		{Code: s3Script, RoleARN: stack.S3Role, SessionName: sessionOf(s, "contractors", stack.Alice), Calls: []string{"s3:ListBuckets"}},
		{Code: ec2Script, RoleARN: stack.EC2Role, SessionName: sessionOf(s, "contractors", stack.Bob), Calls: []string{"ec2:DescribeInstances"}},
	})
}
