package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedClock returns a clock that advances one millisecond per call.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600))
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// bufferLogger returns an enabled logger writing into a buffer.
func bufferLogger(t *testing.T, o Options) (*Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	o.Enabled = true
	o.Writer = &buf
	if o.Now == nil {
		o.Now = fixedClock()
	}
	l, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, &buf
}

// toolCall is a typical tools/call event.
func toolCall() *Event {
	return &Event{
		Type:      TypeMCPToolCall,
		Outcome:   OutcomeSuccess,
		RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
		TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:    "00f067aa0ba902b7",
		User:      &User{Sub: "00u1a2b3c4", Iss: "https://example.okta.com/oauth2/default", Email: "dev@example.com", Groups: []string{"s3-readers"}},
		Source:    &Source{IP: "10.0.3.17", UserAgent: "claude-code/2.1"},
		MCP: &MCP{
			Method:          "tools/call",
			JSONRPCID:       json.RawMessage(`18`),
			Tool:            "aws___call_aws",
			Arguments:       map[string]any{"cli_command": "aws s3 ls s3://example-bucket --region us-east-1"},
			SessionID:       "c2a7f0d4-1b2e-4f3a-9c8d-7e6f5a4b3c2d",
			ProtocolVersion: "2025-06-18",
		},
		Authz: &Authz{Decision: "allow", Policies: []string{"s3-read"}},
		AWS: &AWS{
			RoleARN:           "arn:aws:iam::111122223333:role/S3ReadOnlyMCPRole",
			RoleSessionName:   "00u1a2b3c4",
			AccessKeyID:       "ASIAQWERTYUIOPASDFGH",
			STSRequestID:      "c6104cbe-af31-11e0-8154-cbc7ccf896c7",
			Region:            "us-east-1",
			Service:           "aws-mcp",
			UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60",
		},
		HTTP:       &HTTP{Method: "POST", Status: 200},
		DurationMS: 3.25,
	}
}

// entries decodes every line of a log.
func entries(t *testing.T, data []byte) []Entry {
	t.Helper()
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("decode %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// writeLog records n tool-call events and returns the log's lines.
func writeLog(t *testing.T, n int) []string {
	t.Helper()
	l, buf := bufferLogger(t, Options{IncludeArguments: true})
	for i := 0; i < n; i++ {
		if err := l.Record(context.Background(), toolCall()); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	return lines[:len(lines)-1] // each line keeps its newline
}

func tempLog(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "audit.log")
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
