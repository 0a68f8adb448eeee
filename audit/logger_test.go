package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRecordFields(t *testing.T) {
	l, buf := bufferLogger(t, Options{IncludeArguments: true})
	in := toolCall()
	if err := l.Record(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	es := entries(t, buf.Bytes())
	if len(es) != 1 {
		t.Fatalf("got %d records, want 1", len(es))
	}
	e := es[0]
	if e.Schema != Schema || e.Seq != 1 || e.PrevHash != Genesis || len(e.Hash) != 64 {
		t.Errorf("chain fields: schema %q seq %d prev %q hash %q", e.Schema, e.Seq, e.PrevHash, e.Hash)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(e.AuditID) {
		t.Errorf("audit_id %q is not a v4 UUID", e.AuditID)
	}
	if e.Time.Location() != time.UTC || !strings.Contains(buf.String(), `"time":"2026-03-14T14:09:26.536897Z"`) {
		t.Errorf("time not RFC 3339 UTC: %s", buf.String())
	}
	want := *in
	if !jsonEqual(t, e.Event, want) {
		t.Errorf("event changed in the record:\n got %+v\nwant %+v", e.Event, want)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func TestRecordDoesNotMutateCaller(t *testing.T) {
	l, _ := bufferLogger(t, Options{IncludeArguments: true, RedactKeys: []string{"password"}, MaxArgumentBytes: 16})
	e := toolCall()
	e.MCP.Arguments = map[string]any{"password": "hunter2", "nested": map[string]any{"password": "x"}, "long": strings.Repeat("y", 100)}
	e.Source.UserAgent = "ua " + testJWT
	before, _ := json.Marshal(e)
	if err := l.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(e)
	if !bytes.Equal(before, after) {
		t.Errorf("Record modified the caller's event:\n%s\n%s", before, after)
	}
}

func TestArgumentsExcluded(t *testing.T) {
	l, buf := bufferLogger(t, Options{IncludeArguments: false})
	if err := l.Record(context.Background(), toolCall()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "arguments") || strings.Contains(buf.String(), "aws s3 ls") {
		t.Errorf("arguments recorded although excluded: %s", buf.String())
	}
}

func TestTypeFilters(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		written          []Type
	}{
		{"all by default", nil, nil, []Type{TypeMCPToolCall, TypeMCPPing, TypeServerStart, TypeMCPResponse}},
		{"include", []string{"mcp_tool_call", "server_start"}, nil, []Type{TypeMCPToolCall, TypeServerStart, TypeMCPResponse}},
		{"exclude", nil, []string{"mcp_ping"}, []Type{TypeMCPToolCall, TypeServerStart, TypeMCPResponse}},
		{"exclude wins", []string{"mcp_ping", "mcp_tool_call"}, []string{"mcp_ping"}, []Type{TypeMCPToolCall, TypeMCPResponse}},
		{"responses excluded", nil, []string{"mcp_response"}, []Type{TypeMCPToolCall, TypeMCPPing, TypeServerStart}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := bufferLogger(t, Options{Include: tt.include, Exclude: tt.exclude})
			for _, typ := range []Type{TypeMCPToolCall, TypeMCPPing, TypeServerStart, TypeMCPResponse} {
				if err := l.Record(context.Background(), &Event{Type: typ, Outcome: OutcomeSuccess}); err != nil {
					t.Fatalf("Record(%s): %v", typ, err)
				}
			}
			var got []Type
			for _, e := range entries(t, buf.Bytes()) {
				got = append(got, e.Type)
			}
			if !jsonEqual(t, got, tt.written) {
				t.Errorf("written %v, want %v", got, tt.written)
			}
			if rep, err := Verify(bytes.NewReader(buf.Bytes())); err != nil || rep.BrokenAt != 0 {
				t.Errorf("filtered log does not verify: %+v %v", rep, err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    Options
	}{
		{"unknown include", Options{Include: []string{"mcp_tool_calls"}}},
		{"unknown exclude", Options{Exclude: []string{"nope"}}},
		{"bad fsync", Options{Fsync: "sometimes"}},
		{"bad on_failure", Options{OnFailure: "ignore"}},
		{"negative max", Options{MaxArgumentBytes: -1}},
		{"directory output", Options{Output: dir}},
		{"missing parent", Options{Output: dir + "/no/such/dir/audit.log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Enabled = true
			if l, err := New(tt.o); err == nil {
				l.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestRecordRejectsInvalidEvents(t *testing.T) {
	l, buf := bufferLogger(t, Options{})
	for _, e := range []*Event{nil, {Type: "mcp_bogus", Outcome: OutcomeSuccess}, {Type: TypeMCPPing}, {Type: TypeMCPPing, Outcome: "ok"}} {
		if err := l.Record(context.Background(), e); err == nil {
			t.Errorf("Record(%+v) succeeded", e)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("invalid events were written: %s", buf.String())
	}
}

func TestDisabledAndNil(t *testing.T) {
	l, err := New(Options{Enabled: false, Output: "/nonexistent/dir/audit.log"})
	if err != nil {
		t.Fatalf("disabled New opened its output: %v", err)
	}
	var nilLogger *Logger
	for _, l := range []*Logger{l, nilLogger} {
		if err := l.Record(context.Background(), toolCall()); err != nil {
			t.Errorf("Record: %v", err)
		}
		if l.FailClosed() || l.Enabled(TypeMCPToolCall) {
			t.Error("a discarding logger must neither fail closed nor be enabled")
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestFailClosed(t *testing.T) {
	for _, tt := range []struct {
		onFailure string
		want      bool
	}{{"", true}, {"deny", true}, {"continue", false}} {
		t.Run(tt.onFailure, func(t *testing.T) {
			l, _ := bufferLogger(t, Options{OnFailure: tt.onFailure})
			if got := l.FailClosed(); got != tt.want {
				t.Errorf("FailClosed() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteFailures(t *testing.T) {
	closed, err := os.CreateTemp(t.TempDir(), "closed")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	tests := []struct {
		name string
		o    Options
		want error
	}{
		{"device full", Options{Output: "/dev/full"}, syscall.ENOSPC},
		{"closed file", Options{Writer: closed}, os.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.o.Output == "/dev/full" {
				if _, err := os.Stat("/dev/full"); err != nil {
					t.Skip("no /dev/full on this system")
				}
			}
			var writes, failures int
			tt.o.Enabled = true
			tt.o.OnWrite = func(Type, Outcome) { writes++ }
			tt.o.OnWriteFailure = func() { failures++ }
			l, err := New(tt.o)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer l.Close()
			err = l.Record(context.Background(), toolCall())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Record error = %v, want %v", err, tt.want)
			}
			if writes != 0 || failures != 1 {
				t.Errorf("hooks: %d writes, %d failures; want 0, 1", writes, failures)
			}
		})
	}
}

func TestRecordAfterClose(t *testing.T) {
	path := tempLog(t)
	l, err := New(Options{Enabled: true, Output: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Record(context.Background(), toolCall()); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
}

func TestFileChainResumes(t *testing.T) {
	for _, fsync := range []string{FsyncNever, FsyncAlways, FsyncInterval} {
		t.Run(fsync, func(t *testing.T) {
			path := tempLog(t)
			for run := 0; run < 3; run++ {
				l, err := New(Options{Enabled: true, Output: path, Fsync: fsync, FsyncInterval: time.Millisecond})
				if err != nil {
					t.Fatalf("run %d: New: %v", run, err)
				}
				for i := 0; i < 2; i++ {
					if err := l.Record(context.Background(), &Event{Type: TypeServerStart, Outcome: OutcomeSuccess}); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(3 * time.Millisecond) // let the interval sync run
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			data := readFile(t, path)
			rep, err := Verify(bytes.NewReader(data))
			if err != nil || rep.BrokenAt != 0 || rep.Records != 6 || rep.LastSeq != 6 {
				t.Fatalf("resumed chain: %+v, %v\n%s", rep, err, data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

func TestResumeRefusesBrokenTail(t *testing.T) {
	good := strings.Join(writeLog(t, 2), "")
	tests := []struct {
		name, content string
	}{
		{"cut short", good[:len(good)-10]},
		{"no newline", strings.TrimSuffix(good, "\n")},
		{"modified last", strings.Replace(good, `"seq":2`, `"seq":3`, 1)},
		{"garbage", good + "hello\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempLog(t)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if l, err := New(Options{Enabled: true, Output: path}); err == nil {
				l.Close()
				t.Fatal("New resumed a log whose last record is broken")
			}
		})
	}
}

func TestSecondWriterRefused(t *testing.T) {
	path := tempLog(t)
	l, err := New(Options{Enabled: true, Output: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := New(Options{Enabled: true, Output: path}); err == nil {
		l2.Close()
		t.Fatal("a second logger opened a locked audit file")
	}
}

func TestConcurrentRecordsChain(t *testing.T) {
	l, buf := bufferLogger(t, Options{IncludeArguments: true})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := l.Record(context.Background(), toolCall()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	rep, err := Verify(bytes.NewReader(buf.Bytes()))
	if err != nil || rep.BrokenAt != 0 || rep.Records != 400 {
		t.Fatalf("concurrent chain: %+v %v", rep, err)
	}
}

func TestWriteHooks(t *testing.T) {
	var got []string
	l, _ := bufferLogger(t, Options{
		Exclude: []string{"mcp_ping"},
		OnWrite: func(typ Type, o Outcome) { got = append(got, string(typ)+"/"+string(o)) },
	})
	for _, ev := range []*Event{{Type: TypeAuthzDenied, Outcome: OutcomeDenied}, {Type: TypeMCPPing, Outcome: OutcomeSuccess}} {
		if err := l.Record(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != "authz_denied/denied" {
		t.Errorf("OnWrite calls %v", got)
	}
}

// TestNoSecretReachesTheLog is the canary: credential-shaped strings fed
// through every free-text field and argument never appear in the output.
func TestNoSecretReachesTheLog(t *testing.T) {
	canaries := []string{testJWT, testSecretKey, testSession, testSignature, "hunter2-canary"}
	l, buf := bufferLogger(t, Options{IncludeArguments: true, RedactKeys: []string{"password", "authorization"}, MaxArgumentBytes: 4096})
	e := toolCall()
	e.RequestID = testJWT
	e.Source.UserAgent = "curl " + testJWT
	e.MCP.Tool = testJWT
	e.MCP.SessionID = testJWT
	e.MCP.ResourceURI = "https://x/?X-Amz-Signature=" + testSignature
	e.MCP.JSONRPCID = json.RawMessage(`"` + testJWT + `"`)
	e.MCP.Arguments = map[string]any{
		"cli_command": "aws configure set aws_secret_access_key " + testSecretKey,
		"headers":     map[string]any{"Authorization": "Basic aHVudGVyMi1jYW5hcnk=", "x": []any{"Bearer " + testJWT}},
		"Password":    "hunter2-canary",
		"env":         []any{"AWS_SESSION_TOKEN=" + testSession},
		testJWT:       "as a key",
	}
	e.MCP.Batch = []MCP{{Method: "tools/call", Arguments: map[string]any{"q": testJWT}}}
	e.Authz.Errors = []string{"policy p1: " + testJWT}
	e.Error = &Error{Message: "bad token " + testJWT}
	e.Details = map[string]any{"sig": "Signature=" + testSignature}
	if err := l.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, c := range canaries {
		if strings.Contains(out, c) {
			t.Errorf("secret %q reached the audit log:\n%s", c, out)
		}
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("JWT fragment reached the audit log:\n%s", out)
	}
}

// partialWriter fails its second write after writing half of it.
type partialWriter struct {
	bytes.Buffer
	calls int
}

func (w *partialWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.calls == 2 {
		n, _ := w.Buffer.Write(p[:len(p)/2])
		return n, syscall.EIO
	}
	return w.Buffer.Write(p)
}

func TestPartialWriteKeepsTheChain(t *testing.T) {
	w := &partialWriter{}
	l, err := New(Options{Enabled: true, Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	for i, wantErr := range []bool{false, true, false} {
		err := l.Record(context.Background(), &Event{Type: TypeMCPPing, Outcome: OutcomeSuccess})
		if (err != nil) != wantErr {
			t.Fatalf("record %d: error %v, want error %v", i, err, wantErr)
		}
	}
	lines := strings.SplitAfter(w.String(), "\n")
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("want 3 lines (the partial one terminated), got %q", lines)
	}
	rep, err := Verify(strings.NewReader(w.String()))
	if err != nil || rep.BrokenAt != 2 || !strings.Contains(rep.Reason, "not a record") {
		t.Errorf("the partial record must show as a broken line 2: %+v %v", rep, err)
	}
	// Without the evidence of the failed write, the chain is whole: the
	// failed record never became a link.
	rep, err = Verify(strings.NewReader(lines[0] + lines[2]))
	if err != nil || rep.BrokenAt != 0 || rep.Records != 2 {
		t.Errorf("chain over the failed write: %+v %v", rep, err)
	}
}
