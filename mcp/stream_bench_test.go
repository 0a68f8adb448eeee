package mcp

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// inspectStreamChunk is what mcpguard would do for each chunk of a GET SSE
// stream if it inspected those streams for responses to pending list
// requests (the residual risk SECURITY.md describes): parse the chunk's
// events, parse each event's JSON-RPC message, and refuse a response whose
// id is pending. It exists to measure that cost (BenchmarkInspectStream);
// the decision and the numbers are in docs/performance.md.
func inspectStreamChunk(chunk []byte, pending [][]byte) (bool, error) {
	events, err := ParseSSE(chunk)
	if err != nil {
		return false, err
	}
	for _, ev := range events {
		if !ev.HasData || ev.Data == "" {
			continue
		}
		b, err := Parse([]byte(ev.Data), Limits{MaxBytes: len(ev.Data)})
		if err != nil {
			return false, err
		}
		for _, m := range b.Messages {
			if m.Type != TypeResponse {
				continue
			}
			for _, id := range pending {
				if bytes.Equal(m.ID, id) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

func streamEvent(data string) []byte {
	return []byte("id: 42\nevent: message\ndata: " + data + "\n\n")
}

// TestInspectStreamChunk keeps the benchmark honest: it finds a pending
// id and passes what is not a response to one.
func TestInspectStreamChunk(t *testing.T) {
	pending := [][]byte{[]byte(`7`)}
	for data, want := range map[string]bool{
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`: false,
		`{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}`:                              true,
		`{"jsonrpc":"2.0","id":"7","result":{"tools":[]}}`:                            false,
	} {
		got, err := inspectStreamChunk(streamEvent(data), pending)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", data, got, err, want)
		}
	}
}

// BenchmarkInspectStream measures the in-process part of inspecting GET
// SSE streams, per event: a small notification (what such streams mostly
// carry) and an 8 KiB tools/list response.
func BenchmarkInspectStream(b *testing.B) {
	var tools []string
	for i := 0; len(strings.Join(tools, ",")) < 8<<10; i++ {
		tools = append(tools, `{"name":"tool_`+strconv.Itoa(i)+`","description":"Lists the things a user may see in one region.","inputSchema":{"type":"object","properties":{"region":{"type":"string"}}}}`)
	}
	cases := []struct {
		name string
		data string
	}{
		{"notification", `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}`},
		{"list_response_8KiB", `{"jsonrpc":"2.0","id":9,"result":{"tools":[` + strings.Join(tools, ",") + `]}}`},
	}
	pending := [][]byte{[]byte(`7`), []byte(`"list-8"`)}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			chunk := streamEvent(c.data)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := inspectStreamChunk(chunk, pending); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
