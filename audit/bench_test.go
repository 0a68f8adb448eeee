package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
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

// BenchmarkRecordResponse measures the mcp_response record that completes
// a forwarded request: the second write write-ahead auditing costs.
func BenchmarkRecordResponse(b *testing.B) {
	l, err := New(Options{Enabled: true, Writer: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := &Event{Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		AWS:  &AWS{UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60"},
		HTTP: &HTTP{Method: "POST", Status: 200}, DurationMS: 0.412, RequestSeq: 41}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardedRequestFile measures what a forwarded tools/call costs
// the audit trail on a real file (fsync never): its record and the
// mcp_response, with checkpoints on (their cost is per interval, not per
// request).
func BenchmarkForwardedRequestFile(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name     string
		response bool
	}{{"request only", false}, {"request and response", true}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := New(Options{Enabled: true, Output: filepath.Join(b.TempDir(), "audit.log"), IncludeArguments: true,
				RedactKeys: []string{"password", "token", "key"}, MaxArgumentBytes: 4096, Checkpoints: CheckpointOptions{Key: key}})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			e := toolCall()
			resp := &Event{Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestID: e.RequestID, TraceID: e.TraceID, SpanID: e.SpanID,
				AWS: &AWS{UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60"}, HTTP: &HTTP{Method: "POST", Status: 200}, DurationMS: 0.4}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				seq, err := l.Append(ctx, e)
				if err != nil {
					b.Fatal(err)
				}
				if tc.response {
					resp.RequestSeq = seq
					if err := l.Record(ctx, resp); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRecordResponseDeferred is BenchmarkRecordResponse through
// AppendDeferred: the record is encoded at the call and written with a
// later write, as extproc's mcp_response may be.
func BenchmarkRecordResponseDeferred(b *testing.B) {
	l, err := New(Options{Enabled: true, Writer: io.Discard, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := &Event{Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		AWS:  &AWS{UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60"},
		HTTP: &HTTP{Method: "POST", Status: 200}, DurationMS: 0.412, RequestSeq: 41}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.AppendDeferred(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// countingWriter counts the writes that reach w.
type countingWriter struct {
	w      io.Writer
	writes atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.w.Write(p)
}

// BenchmarkWritesPerExchange measures the write(2) calls of a forwarded
// request's two records, written one exchange after the other to a real
// file: the request's record with Append, its mcp_response with Append
// (sync) or AppendDeferred (deferred, joining the next request's write).
func BenchmarkWritesPerExchange(b *testing.B) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{{"sync", 0}, {"deferred", 5 * time.Millisecond}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "audit.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := &countingWriter{w: f}
			l, err := New(Options{Enabled: true, Writer: w, IncludeArguments: true, FlushInterval: tc.interval,
				RedactKeys: []string{"password", "token", "key"}, MaxArgumentBytes: 4096})
			if err != nil {
				b.Fatal(err)
			}
			e := toolCall()
			resp := &Event{Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestID: e.RequestID, TraceID: e.TraceID, SpanID: e.SpanID,
				AWS: &AWS{UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60"}, HTTP: &HTTP{Method: "POST", Status: 200}, DurationMS: 0.4}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				seq, err := l.Append(ctx, e)
				if err != nil {
					b.Fatal(err)
				}
				resp.RequestSeq = seq
				if err := l.AppendDeferred(ctx, resp); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(w.writes.Load())/float64(b.N), "writes/exchange")
		})
	}
}
