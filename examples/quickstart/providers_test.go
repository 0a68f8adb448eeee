package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProvidersScenario runs `quickstart --providers` and checks its
// matrix: the same subs at two providers, each with its own rights.
func TestProvidersScenario(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--providers", "--config", "providers.yaml"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range [][]string{
		{"okta", "alice", `User::"okta|alice"`, "Allowed", "Denied by AWS", "Denied", "S3ReadOnlyMCPRole"},
		{"okta", "bob", `User::"okta|bob"`, "Denied", "Denied", "Allowed", "EC2ViewOnlyMCPRole"},
		{"contractors", "alice", `User::"contractors/0a1b2c3d…|alice"`, "Allowed", "Denied", "Denied", "S3ReadOnlyMCPRole"},
		{"contractors", "bob", `User::"contractors/0a1b2c3d…|bob"`, "Denied", "Denied", "Allowed", "EC2ViewOnlyMCPRole"},
	} {
		found := false
		for line := range strings.Lines(out.String()) {
			if strings.Join(strings.Fields(line), " ") == strings.Join(want, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no row %q in\n%s", strings.Join(want, " "), out.String())
		}
	}
}
