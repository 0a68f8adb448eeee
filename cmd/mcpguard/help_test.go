package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpAndUsageErrors holds every command and subcommand to the CLI's
// conventions: -h and --help print the usage to stdout and exit 0; a bad
// flag or an unknown subcommand prints to stderr only and exits 2.
func TestHelpAndUsageErrors(t *testing.T) {
	commands := []string{
		"serve", "validate", "authz", "authz check", "authz test", "authz schema",
		"envoy", "envoy bootstrap", "envoy validate", "tools", "tools approve",
		"audit", "audit verify", "version",
	}
	for _, cmd := range commands {
		for _, help := range []string{"-h", "--help"} {
			t.Run(cmd+" "+help, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(t.Context(), append(strings.Fields(cmd), help), &stdout, &stderr)
				if code != exitOK || stderr.Len() != 0 {
					t.Fatalf("exit %d, stderr %q", code, stderr.String())
				}
				if !strings.Contains(stdout.String(), "mcpguard "+cmd) {
					t.Errorf("stdout %q does not show the usage of mcpguard %s", stdout.String(), cmd)
				}
			})
		}
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"unknown authz command", []string{"authz", "frobnicate"}},
		{"unknown envoy command", []string{"envoy", "frobnicate"}},
		{"unknown tools command", []string{"tools", "frobnicate"}},
		{"unknown audit command", []string{"audit", "frobnicate"}},
		{"version argument", []string{"version", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tc.args, &stdout, &stderr); code != exitInvalid || stdout.Len() != 0 || stderr.Len() == 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 with the problem on stderr only", code, stdout.String(), stderr.String())
			}
		})
	}
	for _, cmd := range commands {
		if cmd == "authz" || cmd == "envoy" || cmd == "tools" || cmd == "audit" || cmd == "version" {
			continue
		}
		t.Run(cmd+" bad flag", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append(strings.Fields(cmd), "--no-such-flag"), &stdout, &stderr)
			if code != exitInvalid || stdout.Len() != 0 || !strings.Contains(stderr.String(), "no-such-flag") ||
				!strings.Contains(stderr.String(), "usage: mcpguard "+cmd) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
		})
	}
}
