package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRecordToolCall measures the per-request cost of auditing a
// typical tools/call: copy, redaction, encoding, hashing and the write.
func BenchmarkRecordToolCall(b *testing.B) {
	l, err := New(Options{Enabled: true, Writer: io.Discard, IncludeArguments: true,
		RedactKeys:       []string{"password", "passwd", "secret", "token", "key", "authorization", "credential", "cookie", "session"},
		MaxArgumentBytes: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := toolCall()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordFiltered measures an event dropped by the type filter.
func BenchmarkRecordFiltered(b *testing.B) {
	l, err := New(Options{Enabled: true, Writer: io.Discard, Exclude: []string{"mcp_ping"}})
	if err != nil {
		b.Fatal(err)
	}
	e := &Event{Type: TypeMCPPing, Outcome: OutcomeSuccess}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Record(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "golden.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if rep, err := Verify(bytes.NewReader(data)); err != nil || rep.BrokenAt != 0 {
			b.Fatal(rep, err)
		}
	}
}

// FuzzArguments feeds arbitrary JSON objects through redaction: it must
// never panic, always encode, and never leave a planted token behind.
func FuzzArguments(f *testing.F) {
	f.Add(`{"a":"b"}`, "password")
	f.Add(`{"password":{"x":[1,2,{"token":"t"}]}}`, "token")
	f.Add(`{"k":"Bearer abcdefghijklmnopqrstuvwxyz"}`, "")
	f.Fuzz(func(t *testing.T, doc, key string) {
		var args map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
		dec.UseNumber()
		if dec.Decode(&args) != nil || args == nil {
			return
		}
		args["planted"] = testJWT
		out := newRedactor([]string{key}, 128).arguments(args)
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("redacted arguments do not encode: %v", err)
		}
		if bytes.Contains(b, []byte(testJWT[:40])) {
			t.Fatalf("planted token survived: %s", b)
		}
	})
}
