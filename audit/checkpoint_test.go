package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fileLogger opens a logger on path with checkpoints signed by key.
func fileLogger(t *testing.T, path string, key ed25519.PrivateKey, o Options) *Logger {
	t.Helper()
	o.Enabled, o.Output = true, path
	if key != nil {
		o.Checkpoints.Key = key
	}
	if o.Checkpoints.Interval == 0 {
		o.Checkpoints.Interval = time.Hour // the tests write checkpoints themselves
	}
	l, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func recordN(t *testing.T, l *Logger, n int) {
	t.Helper()
	for range n {
		if err := l.Record(t.Context(), toolCall()); err != nil {
			t.Fatal(err)
		}
	}
}

func checkpoints(t *testing.T, path string, key ed25519.PrivateKey) []Checkpoint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cps, err := ReadCheckpoints(f, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

func verifyFiles(t *testing.T, cps []Checkpoint, paths ...string) Report {
	t.Helper()
	var rs []io.Reader
	for _, p := range paths {
		rs = append(rs, bytes.NewReader(readFile(t, p)))
	}
	rep, err := VerifyLogs(rs, VerifyOptions{Checkpoints: cps})
	if err != nil {
		t.Fatalf("VerifyLogs: %v", err)
	}
	return rep
}

func TestCheckpointsAnchorTheHead(t *testing.T) {
	path, key := tempLog(t), testKey(t)
	got := make(chan Checkpoint, 10)
	l := fileLogger(t, path, key, Options{OnCheckpoint: func(c Checkpoint) { got <- c }})
	if err := l.Checkpoint(CheckpointInterval); err != nil || len(got) != 0 {
		t.Fatalf("checkpoint of an empty chain: %v, %d written", err, len(got))
	}
	recordN(t, l, 3)
	if err := l.Checkpoint(CheckpointInterval); err != nil {
		t.Fatal(err)
	}
	if c := <-got; c.Seq != 3 || c.Reason != CheckpointInterval {
		t.Fatalf("checkpoint = %+v", c)
	}
	if err := l.Checkpoint(CheckpointInterval); err != nil || len(got) != 0 {
		t.Fatalf("a second checkpoint of the same head was written: %v", err)
	}
	recordN(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if c := <-got; c.Seq != 5 || c.Reason != CheckpointClose {
		t.Fatalf("close checkpoint = %+v", c)
	}
	cps := checkpoints(t, path+".checkpoints", key)
	rep := verifyFiles(t, cps, path)
	if rep.BrokenAt != 0 || rep.Anchored != 2 || rep.Records != 5 {
		t.Fatalf("verify = %+v", rep)
	}
	if rep.LastHash != cps[1].Hash {
		t.Errorf("close checkpoint hash %s, last record %s", cps[1].Hash, rep.LastHash)
	}
}

func TestCheckpointsArePeriodic(t *testing.T) {
	path, key := tempLog(t), testKey(t)
	got := make(chan Checkpoint, 100)
	l := fileLogger(t, path, key, Options{Checkpoints: CheckpointOptions{Interval: 5 * time.Millisecond},
		OnCheckpoint: func(c Checkpoint) { got <- c }})
	recordN(t, l, 1)
	select {
	case c := <-got:
		if c.Seq != 1 || c.Reason != CheckpointInterval {
			t.Fatalf("checkpoint = %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no periodic checkpoint")
	}
}

// TestTailDeletionAfterRestartIsDetected: records deleted from the tail
// leave an intact but shorter chain. The checkpoint file still names the
// lost head: verify fails, and a restart records audit_log_damaged.
func TestTailDeletionAfterRestartIsDetected(t *testing.T) {
	path, key := tempLog(t), testKey(t)
	l := fileLogger(t, path, key, Options{})
	recordN(t, l, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(readFile(t, path)), "\n")
	if err := os.WriteFile(path, []byte(strings.Join(lines[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(bytes.NewReader(readFile(t, path))); rep.BrokenAt != 0 {
		t.Fatalf("the hash chain alone notices the deletion?: %+v", rep)
	}
	cps := checkpoints(t, path+".checkpoints", key)
	if rep := verifyFiles(t, cps, path); rep.BrokenAt != 4 || !strings.Contains(rep.Reason, "deleted from its tail") {
		t.Fatalf("verify with checkpoints = %+v", rep)
	}

	// Restart: the resume finds the file shorter than its checkpoint.
	l = fileLogger(t, path, key, Options{})
	recordN(t, l, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	es := entries(t, readFile(t, path))
	if len(es) != 5 || es[3].Type != TypeAuditLogDamaged || es[3].Seq != 4 || es[3].Details["checkpoint_seq"] != float64(5) {
		t.Fatalf("records after restart: %+v", es[3:])
	}
	rep, err := Verify(bytes.NewReader(readFile(t, path)))
	if err != nil || rep.BrokenAt != 4 || !strings.Contains(rep.Reason, "damaged") {
		t.Fatalf("verify without checkpoints = %+v, %v", rep, err)
	}
	if rep := verifyFiles(t, checkpoints(t, path+".checkpoints", key), path); rep.BrokenAt == 0 {
		t.Fatalf("verify with checkpoints after restart = %+v", rep)
	}
}

// TestRewrittenLogIsDetected: a log replaced by a new chain of the same
// length fails at the checkpointed seq.
func TestRewrittenLogIsDetected(t *testing.T) {
	path, key := tempLog(t), testKey(t)
	l := fileLogger(t, path, key, Options{})
	recordN(t, l, 3)
	l.Close()
	cps := checkpoints(t, path+".checkpoints", key)
	forged := strings.Join(writeLog(t, 3), "")
	if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFiles(t, cps, path); rep.BrokenAt != 3 || !strings.Contains(rep.Reason, "rewritten") {
		t.Fatalf("verify = %+v", rep)
	}
	// The restart notices too: the last record differs from the checkpoint.
	l = fileLogger(t, path, key, Options{})
	l.Close()
	if es := entries(t, readFile(t, path)); es[len(es)-1].Type != TypeAuditLogDamaged {
		t.Fatalf("no audit_log_damaged after a rewrite: %+v", es[len(es)-1])
	}
}

func TestCheckpointTamperIsDetected(t *testing.T) {
	path, key := tempLog(t), testKey(t)
	l := fileLogger(t, path, key, Options{})
	recordN(t, l, 2)
	if err := l.Checkpoint(CheckpointInterval); err != nil {
		t.Fatal(err)
	}
	recordN(t, l, 1)
	l.Close()
	cpPath := path + ".checkpoints"
	good := readFile(t, cpPath)
	pub := key.Public().(ed25519.PublicKey)
	tests := map[string]string{
		"seq changed":       strings.Replace(string(good), `"seq":3`, `"seq":2`, 1),
		"hash changed":      strings.Replace(string(good), `"hash":"`, `"hash":"0`, 1)[:len(good)],
		"signature changed": strings.Replace(string(good), `"sig":"`, `"sig":"A`, 1),
		"line added":        string(good) + "{\"schema\":\"" + CheckpointSchema + "\",\"seq\":9}\n",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ReadCheckpoints(strings.NewReader(content), pub)
			var ce *CheckpointError
			if !errors.As(err, &ce) {
				t.Fatalf("tampered checkpoints read: %v", err)
			}
		})
	}
	if _, err := ReadCheckpoints(bytes.NewReader(good), testKey(t).Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("checkpoints verified with another key")
	}
	// A tampered last checkpoint stops the logger from starting.
	if err := os.WriteFile(cpPath, []byte(tests["seq changed"]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Enabled: true, Output: path, Checkpoints: CheckpointOptions{Key: key}}); err == nil {
		t.Fatal("logger started on a tampered checkpoint file")
	}
}

func TestRotationContinuity(t *testing.T) {
	dir := t.TempDir()
	path, key := filepath.Join(dir, "audit.log"), testKey(t)
	l := fileLogger(t, path, key, Options{Fsync: FsyncAlways})
	recordN(t, l, 3)
	if err := l.Reopen(); err != nil { // not rotated: a no-op
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	recordN(t, l, 1) // still goes to the renamed file, as with logrotate before SIGHUP
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	recordN(t, l, 2)
	// Rotation while stopped: rename, restart.
	l.Close()
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	l = fileLogger(t, path, key, Options{})
	recordN(t, l, 1)
	l.Close()

	cps := checkpoints(t, path+".checkpoints", key)
	old, mid, cur := path+".1", path+".2", path
	if rep := verifyFiles(t, cps, old, mid, cur); rep.BrokenAt != 0 || rep.Records != 7 || rep.Continues || rep.FirstSeq != 1 || rep.LastSeq != 7 {
		t.Fatalf("all files: %+v", rep)
	}
	es := entries(t, readFile(t, mid))
	if es[0].Seq != 5 || es[0].PrevHash != entries(t, readFile(t, old))[3].Hash {
		t.Fatalf("the rotated file's first record does not link to the previous head: %+v", es[0])
	}
	for name, files := range map[string][]string{"current alone": {cur}, "middle alone": {mid}, "oldest alone": {old}, "last two": {mid, cur}} {
		t.Run(name, func(t *testing.T) {
			if rep := verifyFiles(t, cps, files...); rep.BrokenAt != 0 {
				t.Fatalf("verify = %+v", rep)
			}
		})
	}
	if rep := verifyFiles(t, cps, old, cur); rep.BrokenAt == 0 {
		t.Fatalf("a missing middle file went unnoticed: %+v", rep)
	}
	// Emptying the current file is a deleted tail, even though the file
	// before it ends at a rotation.
	emptied := filepath.Join(dir, "emptied.log")
	if err := os.WriteFile(emptied, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFiles(t, cps, old, mid, emptied); rep.BrokenAt == 0 || !strings.Contains(rep.Reason, "deleted from its tail") {
		t.Fatalf("an emptied current file went unnoticed: %+v", rep)
	}
	// Deleting the head of the current file: its first record then links
	// to no signed checkpoint.
	lines := strings.SplitAfter(string(readFile(t, mid)), "\n")
	headless := filepath.Join(dir, "headless.log")
	if err := os.WriteFile(headless, []byte(strings.Join(lines[1:], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFiles(t, cps, headless); rep.BrokenAt != 1 || !strings.Contains(rep.Reason, "no signed checkpoint anchors") {
		t.Fatalf("head deletion: %+v", rep)
	}
	if rep := verifyFiles(t, nil, headless); rep.BrokenAt != 0 || !rep.Continues {
		t.Fatalf("without checkpoints a continuation is reported, not broken: %+v", rep)
	}
}

// TestReopenRefusesAForeignFile: a non-empty file at the path that does
// not end with the current head is not adopted.
func TestReopenRefusesAForeignFile(t *testing.T) {
	path := tempLog(t)
	l := fileLogger(t, path, nil, Options{})
	recordN(t, l, 2)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(writeLog(t, 1), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Fatal("a foreign file was adopted")
	}
	recordN(t, l, 1)
	if n := len(entries(t, readFile(t, path+".1"))); n != 3 {
		t.Fatalf("records went elsewhere: the old file has %d", n)
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public())
	priv, pub := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadPrivateKey(priv)
	if err != nil || !k.Equal(key) {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	p, err := LoadPublicKey(pub)
	if err != nil || !p.Equal(key.Public()) {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	if _, err := LoadPrivateKey(pub); err == nil {
		t.Error("a public key loaded as private")
	}
	if _, err := LoadPublicKey(priv); err == nil {
		t.Error("a private key loaded as public")
	}
}

func FuzzReadCheckpoints(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	good := appendCheckpoint(nil, Checkpoint{Seq: 7, Hash: Genesis, Time: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), Reason: CheckpointClose}, key)
	f.Add(good)
	f.Add(append(good, good...))
	f.Add([]byte(`{"sig":"x"}` + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		cps, err := ReadCheckpoints(bytes.NewReader(in), pub)
		if err != nil {
			return
		}
		// Whatever verified must be what was signed.
		for _, c := range cps {
			if c.Seq != 7 || c.Hash != Genesis {
				t.Fatalf("a checkpoint no one signed verified: %+v", c)
			}
		}
	})
}
