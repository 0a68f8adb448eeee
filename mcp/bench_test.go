package mcp

import (
	"os"
	"testing"
)

func readBody(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestBenchBodies keeps the benchmark inputs honest: they must stay valid
// tools/call requests of the advertised size.
func TestBenchBodies(t *testing.T) {
	tests := []struct {
		file     string
		min, max int
	}{
		{"testdata/toolcall_500.json", 450, 550},
		{"testdata/toolcall_2k.json", 1900, 2100},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readBody(t, tt.file)
			if len(data) < tt.min || len(data) > tt.max {
				t.Errorf("size %d not in [%d, %d]", len(data), tt.min, tt.max)
			}
			body, err := Parse(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			tc, err := body.Messages[0].ToolCall()
			if err != nil {
				t.Fatal(err)
			}
			if tc.Name != "aws___call_aws" || tc.Arguments["cli_command"] == nil {
				t.Errorf("ToolCall = %+v", tc)
			}
		})
	}
}

func benchmarkParse(b *testing.B, file string) {
	b.Helper()
	data := readBody(b, file)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseToolCall500B(b *testing.B) { benchmarkParse(b, "testdata/toolcall_500.json") }

func BenchmarkParseToolCall2KiB(b *testing.B) { benchmarkParse(b, "testdata/toolcall_2k.json") }

// BenchmarkToolCallDecode decodes a tools/call's params as the first caller
// of ToolCall does once per request (later callers share the result).
func BenchmarkToolCallDecode(b *testing.B) {
	body, err := Parse(readBody(b, "testdata/toolcall_500.json"), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	m := body.Messages[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.decodeToolCall(); err != nil {
			b.Fatal(err)
		}
	}
}
