package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/toolpin"
)

func toolsTestSeen(t *testing.T, def string) toolpin.Seen {
	t.Helper()
	c, err := toolpin.Canonical(json.RawMessage(def))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := toolpin.Digest(c)
	var n struct{ Name string }
	if err := json.Unmarshal(c, &n); err != nil {
		t.Fatal(err)
	}
	return toolpin.Seen{Tool: n.Name, Digest: d, Definition: c}
}

const toolsTestUpstream = "aws-mcp.us-east-1.api.aws"

// toolsTestStore writes a store in which tools a and b have changed
// definitions awaiting approval.
func toolsTestStore(t *testing.T) (path, a2, b2 string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "pins.json")
	s, err := toolpin.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(toolsTestUpstream, toolsTestSeen(t, `{"name":"a","description":"old text"}`), toolsTestSeen(t, `{"name":"b"}`)); err != nil {
		t.Fatal(err)
	}
	na, nb := toolsTestSeen(t, `{"name":"a","description":"new text","outputSchema":{"type":"object"}}`), toolsTestSeen(t, `{"name":"b","title":"2"}`)
	if err := s.Record(toolsTestUpstream, na, nb); err != nil {
		t.Fatal(err)
	}
	return path, na.Digest, nb.Digest
}

func TestRunToolsApprove(t *testing.T) {
	tests := []struct {
		name     string
		args     func(path, a2, b2 string) []string
		code     int
		out, err string
		pending  []string // tools still pending afterwards
	}{
		{"approve by digest", func(p, a2, _ string) []string { return []string{"--store", p, "--name", "a", "--digest", a2} },
			exitOK, "approved a of aws-mcp.us-east-1.api.aws: sha256:", "", []string{"b"}},
		{"approve by digest and upstream", func(p, a2, _ string) []string {
			return []string{"--store", p, "--upstream", toolsTestUpstream, "--name", "a", "--digest", a2}
		}, exitOK, `-   "description": "old text",`, "", []string{"b"}},
		{"diff shown", func(p, a2, _ string) []string { return []string{"--store", p, "--name", "a", "--digest", a2} },
			exitOK, `+   "outputSchema": {`, "", []string{"b"}},
		{"no digest shows the change and asks for it", func(p, a2, _ string) []string { return []string{"--store", p, "--name", "a"} },
			exitInvalid, `+   "description": "new text",`, "--digest sha256:", []string{"a", "b"}},
		{"wrong digest", func(p, _, b2 string) []string { return []string{"--store", p, "--name", "a", "--digest", b2} },
			exitInvalid, "", "is not the one named", []string{"a", "b"}},
		{"malformed digest", func(p, _, _ string) []string { return []string{"--store", p, "--name", "a", "--digest", "abc"} },
			exitInvalid, "", "is not a digest", []string{"a", "b"}},
		{"unknown tool", func(p, _, _ string) []string { return []string{"--store", p, "--name", "c"} },
			exitInvalid, "", "no pending change", []string{"a", "b"}},
		{"other upstream", func(p, a2, _ string) []string {
			return []string{"--store", p, "--upstream", "other.example.com", "--name", "a", "--digest", a2}
		}, exitInvalid, "", "no pending change", []string{"a", "b"}},
		{"no name lists pending", func(p, _, _ string) []string { return []string{"--store", p} },
			exitInvalid, "", "  aws-mcp.us-east-1.api.aws  a  sha256:", []string{"a", "b"}},
		{"no store", func(_, _, _ string) []string { return []string{"--name", "a"} }, exitInvalid, "", "--store is required", []string{"a", "b"}},
		{"missing store file", func(p, _, _ string) []string { return []string{"--store", p + ".x", "--name", "a"} }, exitInvalid, "", "does not exist", []string{"a", "b"}},
		{"all is gone", func(p, _, _ string) []string { return []string{"--store", p, "--all"} }, exitInvalid, "", "-all", []string{"a", "b"}},
		{"digest without name", func(p, a2, _ string) []string { return []string{"--store", p, "--digest", a2} }, exitInvalid, "", "--digest needs --name", []string{"a", "b"}},
		{"stray argument", func(p, _, _ string) []string { return []string{"--store", p, "--name", "a", "x"} }, exitInvalid, "", "unexpected argument", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, a2, b2 := toolsTestStore(t)
			var stdout, stderr bytes.Buffer
			code := runToolsApprove(tt.args(path, a2, b2), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", stdout.String(), tt.out, stderr.String(), tt.err)
			}
			s, err := toolpin.OpenStore(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range s.Pending() {
				names = append(names, e.Tool)
			}
			if strings.Join(names, ",") != strings.Join(tt.pending, ",") {
				t.Errorf("pending afterwards %v, want %v", names, tt.pending)
			}
			if e, _ := s.Lookup(toolsTestUpstream, "a"); tt.code == exitOK && e.Approved.Digest != a2 {
				t.Error("approved definition not in force")
			}
		})
	}
}

// TestToolsApproveRefusesAChangedDefinition: the operator reviews one
// definition, the upstream changes it again, the approval of the reviewed
// digest fails and shows the new change.
func TestToolsApproveRefusesAChangedDefinition(t *testing.T) {
	path, a2, _ := toolsTestStore(t)
	s, err := toolpin.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(toolsTestUpstream, toolsTestSeen(t, `{"name":"a","description":"exfiltrate"}`)); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runToolsApprove([]string{"--store", path, "--name", "a", "--digest", a2}, &stdout, &stderr); code != exitInvalid {
		t.Fatalf("exit %d; stdout %s", code, stdout.String())
	}
	if !strings.Contains(stderr.String(), "exfiltrate") || strings.Contains(stdout.String(), "approved a of") {
		t.Errorf("stdout %s stderr %s", stdout.String(), stderr.String())
	}
}

func TestLineDiff(t *testing.T) {
	got := strings.Join(lineDiff([]string{"a", "b", "c", "d"}, []string{"a", "c", "x", "d"}), "|")
	if got != "  a|- b|  c|+ x|  d" {
		t.Errorf("lineDiff = %s", got)
	}
	if got := strings.Join(lineDiff(nil, []string{"x"}), "|"); got != "+ x" {
		t.Errorf("lineDiff from nothing = %s", got)
	}
}

// TestValidateChecksStateFiles: validate refuses what serve would refuse to
// start on: a checkpoint key that is not an Ed25519 key, a version 1 pin
// store.
func TestValidateChecksStateFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	store := filepath.Join(dir, "pins.json")
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, []byte(`{"version":1,"tools":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig(t, "https://idp.example.com", "127.0.0.1:0", fmt.Sprintf(
		"audit_config: {output: %q, checkpoints: {key_file: %q}}\ntool_pinning: {mode: enforce, store: %q}\n",
		filepath.Join(dir, "audit.log"), key, store))
	code, _, stderr := runCLI("validate", "--config", cfg)
	if code != exitInvalid || !strings.Contains(stderr, "audit_config.checkpoints.key_file: read key") ||
		!strings.Contains(stderr, "tool_pinning.store: read pin store") || !strings.Contains(stderr, "version 1") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
