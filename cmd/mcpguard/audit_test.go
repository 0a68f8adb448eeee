package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/audit"
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
		{"intact", []string{"../../audit/testdata/golden.log"}, exitOK, "intact: 31 records, seq 1 to 31"},
		{"continuation", []string{write("rotated.log", strings.Join(lines[2:], ""))}, exitOK, "continues the chain from seq 2"},
		{"deleted record", []string{write("deleted.log", lines[0]+lines[1]+lines[3])}, exitBroken, "BROKEN at line 3"},
		{"modified record", []string{write("modified.log", lines[0]+strings.Replace(lines[1], "aws s3 ls", "aws s3 rb", 1))}, exitBroken, "BROKEN at line 2"},
		{"not a log", []string{write("text.log", "hello\n")}, exitInvalid, "not an mcpguard audit log"},
		{"empty", []string{write("empty.log", "")}, exitInvalid, "not an mcpguard audit log"},
		{"missing file", []string{filepath.Join(dir, "nope.log")}, exitInvalid, "no such file"},
		{"no file", nil, exitInvalid, "usage"},
		{"two missing files", []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}, exitInvalid, "no such file"},
		{"two files out of order", []string{write("second.log", strings.Join(lines[2:], "")), write("first.log", strings.Join(lines[:2], ""))}, exitBroken, "BROKEN"},
		{"two files in order", []string{write("first.log", strings.Join(lines[:2], "")), write("second.log", strings.Join(lines[2:], ""))}, exitOK, "intact: 31 records"},
		{"checkpoints without key", []string{"--checkpoints", "x", "../../audit/testdata/golden.log"}, exitInvalid, "needs --pubkey"},
		{"stdin among files", []string{"-", "x"}, exitInvalid, "only FILE"},
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

// checkpointedLog writes n records to dir/audit.log with checkpoints signed
// by a new key, closes it, and returns the log's and the public key's
// paths and the key.
func checkpointedLog(t *testing.T, dir string, n int) (logPath, pubPath string, key ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubPath = filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, "audit.log")
	appendRecords(t, logPath, key, n)
	return logPath, pubPath, key
}

// appendRecords opens (resumes) the log, writes n records and closes it.
func appendRecords(t *testing.T, path string, key ed25519.PrivateKey, n int) {
	t.Helper()
	l, err := audit.New(audit.Options{Enabled: true, Output: path, Checkpoints: audit.CheckpointOptions{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := l.Record(t.Context(), &audit.Event{Type: audit.TypeMCPPing, Outcome: audit.OutcomeForwarded}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func runVerify(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runAuditVerify(args, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func TestAuditVerifyCheckpoints(t *testing.T) {
	t.Run("intact", func(t *testing.T) {
		logPath, pub, _ := checkpointedLog(t, t.TempDir(), 4)
		if code, out := runVerify(t, "--pubkey", pub, logPath); code != exitOK || !strings.Contains(out, "1 signed checkpoints matched") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("tail deleted, then restart", func(t *testing.T) {
		logPath, pub, key := checkpointedLog(t, t.TempDir(), 4)
		data, _ := os.ReadFile(logPath)
		lines := strings.SplitAfter(string(data), "\n")
		if err := os.WriteFile(logPath, []byte(lines[0]+lines[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		appendRecords(t, logPath, key, 1) // the restart
		code, out := runVerify(t, "--pubkey", pub, logPath)
		if code != exitBroken || !strings.Contains(out, "BROKEN at line 3") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if code, out := runVerify(t, logPath); code != exitBroken || !strings.Contains(out, "damaged") {
			t.Fatalf("without the key: exit %d: %s", code, out)
		}
	})
	t.Run("checkpoint signature tampered", func(t *testing.T) {
		logPath, pub, _ := checkpointedLog(t, t.TempDir(), 2)
		cp := logPath + ".checkpoints"
		data, _ := os.ReadFile(cp)
		if err := os.WriteFile(cp, []byte(strings.Replace(string(data), `"seq":2`, `"seq":1`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out := runVerify(t, "--pubkey", pub, logPath); code != exitBroken || !strings.Contains(out, "signature does not verify") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		dir := t.TempDir()
		logPath, pub, key := checkpointedLog(t, dir, 3)
		if err := os.Rename(logPath, logPath+".1"); err != nil {
			t.Fatal(err)
		}
		appendRecords(t, logPath, key, 2)
		cp := "--checkpoints=" + logPath + ".checkpoints"
		for _, files := range [][]string{{logPath + ".1", logPath}, {logPath}, {logPath + ".1"}} {
			if code, out := runVerify(t, append([]string{"--pubkey", pub, cp}, files...)...); code != exitOK {
				t.Fatalf("%v: exit %d: %s", files, code, out)
			}
		}
	})
	t.Run("no checkpoint file", func(t *testing.T) {
		logPath, pub, _ := checkpointedLog(t, t.TempDir(), 1)
		os.Remove(logPath + ".checkpoints")
		if code, out := runVerify(t, "--pubkey", pub, logPath); code != exitInvalid || !strings.Contains(out, "no such file") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}
