package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/mcp"
)

func toolsTestDigest(t *testing.T, def string) string {
	t.Helper()
	d, err := mcp.ToolDigest(json.RawMessage(def))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pendingStore writes a store in which tools a and b have changed
// definitions awaiting approval.
func toolsTestStore(t *testing.T) (path, a2, b2 string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "pins.json")
	s, err := mcp.OpenPinStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, b2 = toolsTestDigest(t, `{"name":"a","description":"2"}`), toolsTestDigest(t, `{"name":"b","description":"2"}`)
	if err := s.Record(mcp.ToolPin{Name: "a", Digest: toolsTestDigest(t, `{"name":"a"}`)}, mcp.ToolPin{Name: "b", Digest: toolsTestDigest(t, `{"name":"b"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(mcp.ToolPin{Name: "a", Digest: a2}, mcp.ToolPin{Name: "b", Digest: b2}); err != nil {
		t.Fatal(err)
	}
	return path, a2, b2
}

func TestRunToolsApprove(t *testing.T) {
	tests := []struct {
		name     string
		args     func(path, a2, b2 string) []string
		code     int
		out, err string
		pending  []string // tools still pending afterwards
	}{
		{"approve one", func(p, a2, _ string) []string { return []string{"--store", p, "--name", "a"} }, exitOK, "approved a " + "sha256:", "", []string{"b"}},
		{"approve one by digest", func(p, a2, _ string) []string { return []string{"--store", p, "--name", "a", "--digest", a2} }, exitOK, "approved a", "", []string{"b"}},
		{"wrong digest", func(p, _, b2 string) []string { return []string{"--store", p, "--name", "a", "--digest", b2} }, exitInvalid, "", "no pending change", []string{"a", "b"}},
		{"unknown tool", func(p, _, _ string) []string { return []string{"--store", p, "--name", "c"} }, exitInvalid, "", "no pending change", []string{"a", "b"}},
		{"all", func(p, _, _ string) []string { return []string{"--store", p, "--all"} }, exitOK, "approved b", "", nil},
		{"neither name nor all lists pending", func(p, _, _ string) []string { return []string{"--store", p} }, exitInvalid, "", "  a  sha256:", []string{"a", "b"}},
		{"no store", func(_, _, _ string) []string { return []string{"--all"} }, exitInvalid, "", "--store is required", []string{"a", "b"}},
		{"missing store file", func(p, _, _ string) []string { return []string{"--store", p + ".x", "--all"} }, exitInvalid, "", "does not exist", []string{"a", "b"}},
		{"all with name", func(p, _, _ string) []string { return []string{"--store", p, "--all", "--name", "a"} }, exitInvalid, "", "cannot be combined", []string{"a", "b"}},
		{"digest without name", func(p, a2, _ string) []string { return []string{"--store", p, "--digest", a2} }, exitInvalid, "", "--digest needs --name", []string{"a", "b"}},
		{"stray argument", func(p, _, _ string) []string { return []string{"--store", p, "--all", "x"} }, exitInvalid, "", "unexpected argument", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, a2, b2 := toolsTestStore(t)
			var stdout, stderr bytes.Buffer
			code := runToolsApprove(tt.args(path, a2, b2), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", stdout.String(), tt.out, stderr.String(), tt.err)
			}
			s, err := mcp.OpenPinStore(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range s.Pending() {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.pending, ",") {
				t.Errorf("pending afterwards %v, want %v", names, tt.pending)
			}
			if tt.code == exitOK && !slices.Contains(tt.pending, "a") && s.Check("a", a2) != mcp.PinSame {
				t.Error("approved definition not in force")
			}
		})
	}
}
