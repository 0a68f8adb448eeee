package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditVerify(t *testing.T) {
	golden, err := os.ReadFile("../../audit/testdata/golden.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(golden), "\n")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"intact", []string{"../../audit/testdata/golden.log"}, exitOK, "intact: 27 records"},
		{"deleted record", []string{write("deleted.log", lines[0]+lines[1]+lines[3])}, exitBroken, "BROKEN at line 3"},
		{"modified record", []string{write("modified.log", lines[0]+strings.Replace(lines[1], "aws s3 ls", "aws s3 rb", 1))}, exitBroken, "BROKEN at line 2"},
		{"not a log", []string{write("text.log", "hello\n")}, exitInvalid, "not an mcpguard audit log"},
		{"empty", []string{write("empty.log", "")}, exitInvalid, "not an mcpguard audit log"},
		{"missing file", []string{filepath.Join(dir, "nope.log")}, exitInvalid, "no such file"},
		{"no file", nil, exitInvalid, "usage"},
		{"two files", []string{"a", "b"}, exitInvalid, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runAuditVerify(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.out) {
				t.Errorf("output %q does not contain %q", out, tt.out)
			}
		})
	}
}
