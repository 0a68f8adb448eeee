package mcp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fields strips Raw so parsed events compare by meaning.
func fields(evs []SSEEvent) []SSEEvent {
	if evs == nil {
		return nil
	}
	out := make([]SSEEvent, len(evs))
	for i, e := range evs {
		e.Raw = nil
		out[i] = e
	}
	return out
}

func TestParseSSE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []SSEEvent
	}{
		{
			name: "spec: multi-line data",
			in:   "data: YHOO\ndata: +2\ndata: 10\n\n",
			want: []SSEEvent{{Data: "YHOO\n+2\n10", HasData: true}},
		},
		{
			name: "spec: comment, ids, one leading space removed",
			in:   ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
			want: []SSEEvent{
				{},
				{Data: "first event", HasData: true, ID: "1", HasID: true},
				{Data: "second event", HasData: true, ID: "", HasID: true},
				{Data: " third event", HasData: true},
			},
		},
		{
			name: "spec: empty data fields",
			in:   "data\n\ndata\ndata\n\n",
			want: []SSEEvent{{Data: "", HasData: true}, {Data: "\n", HasData: true}},
		},
		{
			name: "spec: with and without space",
			in:   "data:test\n\ndata: test\n\n",
			want: []SSEEvent{{Data: "test", HasData: true}, {Data: "test", HasData: true}},
		},
		{
			name: "CRLF line ends",
			in:   "event: message\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\n",
			want: []SSEEvent{{Type: "message", ID: "7", HasID: true, Data: `{"a":1}`, HasData: true}},
		},
		{
			name: "CR line ends",
			in:   "event: message\rdata: a\rdata: b\r\r",
			want: []SSEEvent{{Type: "message", Data: "a\nb", HasData: true}},
		},
		{
			name: "mixed line ends; CR then LF is one break",
			in:   "data: a\r\ndata: b\rdata: c\n\r\n",
			want: []SSEEvent{{Data: "a\nb\nc", HasData: true}},
		},
		{
			name: "byte order mark at the start is ignored",
			in:   "\ufeffdata: x\n\n",
			want: []SSEEvent{{Data: "x", HasData: true}},
		},
		{
			name: "byte order mark later is data",
			in:   "data: \ufeffx\n\n",
			want: []SSEEvent{{Data: "\ufeffx", HasData: true}},
		},
		{
			name: "last event and id fields win; NUL id ignored",
			in:   "event: a\nevent: b\nid: 1\nid: 2\x003\ndata: x\n\n",
			want: []SSEEvent{{Type: "b", ID: "1", HasID: true, Data: "x", HasData: true}},
		},
		{
			name: "retry only with digits; unknown fields ignored",
			in:   "retry: 1500\nretry: 15x\nfoo: bar\ndata: x\n\nretry:\ndata: y\n\n",
			want: []SSEEvent{{Retry: "1500", Data: "x", HasData: true}, {Data: "y", HasData: true}},
		},
		{
			name: "field names are case-sensitive",
			in:   "Data: x\nDATA: y\n\n",
			want: []SSEEvent{{}},
		},
		{
			name: "colon in value",
			in:   "data: a:b: c\n\n",
			want: []SSEEvent{{Data: "a:b: c", HasData: true}},
		},
		{
			name: "priming event: id and empty data",
			in:   "id: 0\ndata:\n\n",
			want: []SSEEvent{{ID: "0", HasID: true, Data: "", HasData: true}},
		},
		{
			name: "leading blank lines are empty blocks",
			in:   "\n\ndata: x\n\n",
			want: []SSEEvent{{}, {}, {Data: "x", HasData: true}},
		},
		{
			name: "unterminated trailing comment is kept, not dispatched",
			in:   "data: x\n\n: keep-alive",
			want: []SSEEvent{{Data: "x", HasData: true}, {}},
		},
		{
			name: "unterminated trailing id is kept",
			in:   "data: x\n\nid: 9\n",
			want: []SSEEvent{{Data: "x", HasData: true}, {ID: "9", HasID: true}},
		},
		{
			name: "empty body",
			in:   "",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := ParseSSE([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseSSE: %v", err)
			}
			if got := fields(evs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events\n got %#v\nwant %#v", got, tt.want)
			}
			out, err := WriteSSE(evs)
			if err != nil {
				t.Fatalf("WriteSSE: %v", err)
			}
			if string(out) != tt.in {
				t.Errorf("round trip\n got %q\nwant %q", out, tt.in)
			}
		})
	}
}

func TestParseSSEErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"spec: unterminated final event", ": test stream\n\ndata: first\n\ndata:  third event\n", ErrSSEIncomplete},
		{"unterminated last line with data", "data: x\n\ndata", ErrSSEIncomplete},
		{"data then comment without blank line", "data: x\n: c\n", ErrSSEIncomplete},
		{"single line end only", "event: message\ndata: {}\n", ErrSSEIncomplete},
		{"invalid UTF-8", "data: \xff\n\n", ErrSSEInvalidUTF8},
		{"invalid UTF-8 in a comment", ": \xc0\x80\n\ndata: x\n\n", ErrSSEInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSSE([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestParseSSEChunks checks the buffered contract: a stream that arrived in
// arbitrary chunks (including a CRLF split between two chunks) and was
// joined parses exactly like the stream sent in one piece.
func TestParseSSEChunks(t *testing.T) {
	stream := "id: 0\r\ndata:\r\n\r\n: ping\r\n\r\nevent: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\r\n\r\n" +
		"event: message\r\nid: 2\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}\r\n\r\n"
	want, err := ParseSSE([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 4 {
		t.Fatalf("got %d events, want 4", len(want))
	}
	for _, size := range []int{1, 2, 3, 7, 64} {
		var buf bytes.Buffer
		for rest := stream; rest != ""; {
			n := min(size, len(rest))
			buf.WriteString(rest[:n])
			rest = rest[n:]
		}
		got, err := ParseSSE(buf.Bytes())
		if err != nil {
			t.Fatalf("chunk %d: %v", size, err)
		}
		if !reflect.DeepEqual(fields(got), fields(want)) {
			t.Errorf("chunk %d: events differ", size)
		}
	}
	// Every strict prefix that cuts into the last event is refused, never
	// read as a stream without the response.
	last := strings.LastIndex(stream, "event: message")
	for cut := last + 1; cut < len(stream)-2; cut++ {
		prefix := stream[:cut]
		evs, err := ParseSSE([]byte(prefix))
		if err == nil {
			for _, e := range evs {
				if strings.Contains(e.Data, `"result"`) {
					t.Fatalf("prefix %d: response read from a truncated event", cut)
				}
			}
			if strings.Contains(prefix[last:], "data") {
				t.Fatalf("prefix %d: truncated data event accepted", cut)
			}
		}
	}
}

func TestWriteSSE(t *testing.T) {
	raw := []byte(": untouched\r\n\r\n")
	tests := []struct {
		name   string
		events []SSEEvent
		want   string
	}{
		{
			name:   "raw verbatim, new event serialised",
			events: []SSEEvent{{Raw: raw}, {Type: "message", ID: "5", HasID: true, Retry: "100", Data: "{\"a\":\n1}", HasData: true}},
			want:   ": untouched\r\n\r\nevent: message\nid: 5\nretry: 100\ndata: {\"a\":\ndata: 1}\n\n",
		},
		{
			name:   "empty data still dispatches",
			events: []SSEEvent{{HasData: true}},
			want:   "data: \n\n",
		},
		{
			name:   "leading space of a value survives",
			events: []SSEEvent{{Type: " x", Data: " y", HasData: true}},
			want:   "event:  x\ndata:  y\n\n",
		},
		{
			name:   "empty id resets",
			events: []SSEEvent{{HasID: true}},
			want:   "id: \n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := WriteSSE(tt.events)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
			back, err := ParseSSE(out)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range tt.events {
				if e.Raw != nil {
					continue
				}
				if got := fields(back[i : i+1])[0]; !reflect.DeepEqual(got, e) {
					t.Errorf("event %d reads back as %#v", i, got)
				}
			}
		})
	}
}

func TestWriteSSEErrors(t *testing.T) {
	tests := []struct {
		name string
		ev   SSEEvent
	}{
		{"line break in type", SSEEvent{Type: "a\ndata: evil", Data: "x", HasData: true}},
		{"CR in type", SSEEvent{Type: "a\r", Data: "x", HasData: true}},
		{"line break in id", SSEEvent{ID: "1\n\ndata: evil", HasID: true}},
		{"NUL in id", SSEEvent{ID: "1\x00", HasID: true}},
		{"non-digit retry", SSEEvent{Retry: "1e3"}},
		{"CR in data", SSEEvent{Data: "a\rb", HasData: true}},
		{"data without HasData", SSEEvent{Data: "lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := WriteSSE([]SSEEvent{tt.ev}); !errors.Is(err, ErrSSEField) {
				t.Fatalf("err = %v, want ErrSSEField", err)
			}
		})
	}
}

func FuzzParseSSE(f *testing.F) {
	for _, s := range []string{
		"data: YHOO\ndata: +2\ndata: 10\n\n",
		": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n",
		"\ufeffevent: message\r\nid: 1\r\ndata: {}\r\n\r\n",
		"retry: 10\rdata\r\r: c",
		"data: x\n\ndata",
		"id: a\x00b\ndata:\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ParseSSE(body)
		if err != nil {
			return
		}
		out, err := WriteSSE(evs)
		if err != nil {
			t.Fatalf("WriteSSE of parsed events: %v", err)
		}
		if !bytes.Equal(out, body) {
			t.Fatalf("round trip changed the stream:\n in %q\nout %q", body, out)
		}
		for _, e := range evs {
			e.Raw = nil
			b, err := WriteSSE([]SSEEvent{e})
			if err != nil {
				t.Fatalf("serialise %#v: %v", e, err)
			}
			back, err := ParseSSE(b)
			if err != nil || len(back) != 1 {
				t.Fatalf("reparse %q: %v, %d events", b, err, len(back))
			}
			if got := fields(back)[0]; !reflect.DeepEqual(got, e) {
				t.Fatalf("reserialised event %#v reads back as %#v", e, got)
			}
		}
	})
}
