package mcp

import (
	"bytes"
	"errors"
	"testing"
)

func TestSplitSSE(t *testing.T) {
	tests := []struct{ in, complete string }{
		{"", ""},
		{"data: a\n\n", "data: a\n\n"},
		{"data: a\n\ndata: b", "data: a\n\n"},
		{"data: a\n", ""},
		{"data: a\r\n\r\ndata: b\r\n", "data: a\r\n\r\n"},
		{"data: a\r\n\r", "data: a\r\n\r"}, // a blank line, whatever follows
		{"data: a\r\rdata: b\r\r", "data: a\r\rdata: b\r\r"},
		{"data: a\r", ""},
		{": ping\n\n: ping\n", ": ping\n\n"},
		{"\n", "\n"},
	}
	for _, tt := range tests {
		c, r := SplitSSE([]byte(tt.in))
		if string(c) != tt.complete || string(c)+string(r) != tt.in {
			t.Errorf("SplitSSE(%q) = %q + %q, want %q first", tt.in, c, r, tt.complete)
		}
	}
}

func TestListResultMethod(t *testing.T) {
	tests := []struct {
		msg, method string
		err         bool
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`, MethodToolsList, false},
		{`{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[]}}`, MethodResourcesTemplatesList, false},
		{`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, "", false},
		{`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":[],"prompts":[]}}`, "", true},
		{`{"jsonrpc":"2.0","id":1,"result":{"TOOLS":[]}}`, "", true},
		{`{"jsonrpc":"2.0","id":1,"result":{"tools":{}}}`, "", true},
		{`[{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}]`, "", true},
		{`{not json`, "", true},
	}
	for _, tt := range tests {
		m, _, err := ListResultMethod([]byte(tt.msg))
		if m != tt.method || (err != nil) != tt.err {
			t.Errorf("ListResultMethod(%s) = %q, %v; want %q err=%v", tt.msg, m, err, tt.method, tt.err)
		}
	}
}

// FuzzSplitSSE checks that the split loses nothing and that the complete
// part parses as whole events.
func FuzzSplitSSE(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "data: a\r\n\r\ndata", "id: 1\rdata: x\r\r", ": c\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		c, r := SplitSSE(buf)
		if !bytes.Equal(append(append([]byte(nil), c...), r...), buf) {
			t.Fatal("split lost bytes")
		}
		if len(c) == 0 {
			return
		}
		if last := c[len(c)-1]; last != '\n' && last != '\r' {
			t.Fatalf("complete part %q does not end a line", c)
		}
		if _, err := ParseSSE(c); errors.Is(err, ErrSSEIncomplete) {
			t.Fatalf("complete part %q has an unterminated event", c)
		}
	})
}
