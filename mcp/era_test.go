package mcp

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpguard/mcpguard"
)

func b64(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }

func TestDecodeHeaderValue(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"aws___call_aws", "aws___call_aws", true},
		{"file:///a b.txt", "file:///a b.txt", true},
		{"", "", true},
		{b64("région"), "région", true},
		{b64(" leading"), " leading", true},
		{b64("=?base64?x"), "=?base64?x", true},
		{b64("plain"), "", false},     // Base64 form of a value that needs none
		{"région", "", false},         // non-ASCII must be encoded
		{"a\tb", "", false},           // control character
		{"=?base64?abc", "", false},   // sentinel without its end
		{"=?base64?***?=", "", false}, // not Base64
		{"=?base64?" + base64.RawStdEncoding.EncodeToString([]byte("é")) + "?=", "", false},     // unpadded
		{"=?base64?" + base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}) + "?=", "", false}, // not UTF-8
	}
	for _, tt := range tests {
		got, err := DecodeHeaderValue(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("DecodeHeaderValue(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && mcpguard.KindOf(err) != mcpguard.KindInvalidRequest {
			t.Errorf("DecodeHeaderValue(%q) error kind = %v", tt.in, mcpguard.KindOf(err))
		}
	}
}

func TestHeaderMarks(t *testing.T) {
	tests := []struct {
		name string
		tool string
		want []HeaderMark
		ok   bool
	}{
		{"none", `{"name":"t","inputSchema":{"type":"object"}}`, nil, true},
		{"top and nested", `{"name":"t","inputSchema":{"type":"object","properties":{
			"region":{"type":"string","x-mcp-header":"Region"},
			"opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry-Run"}}}}}}`,
			[]HeaderMark{{Header: "dry-run", Path: []string{"opts", "dry"}}, {Header: "region", Path: []string{"region"}}}, true},
		{"repeated in other case", `{"name":"t","inputSchema":{"properties":{
			"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}}}`, nil, false},
		{"not a token", `{"name":"t","inputSchema":{"properties":{"a":{"type":"string","x-mcp-header":"a b"}}}}`, nil, false},
		{"not a string", `{"name":"t","inputSchema":{"properties":{"a":{"type":"string","x-mcp-header":1}}}}`, nil, false},
		{"object property", `{"name":"t","inputSchema":{"properties":{"a":{"type":"object","x-mcp-header":"A"}}}}`, nil, false},
		{"number property", `{"name":"t","inputSchema":{"properties":{"a":{"type":"number","x-mcp-header":"A"}}}}`, nil, false},
		{"duplicate key", `{"name":"t","inputSchema":{},"inputSchema":{}}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HeaderMarks(json.RawMessage(tt.tool))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("marks = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHeaderText(t *testing.T) {
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{"x", "x", true},
		{true, "true", true},
		{false, "false", true},
		{json.Number("42"), "42", true},
		{json.Number("-7"), "-7", true},
		{json.Number("1.0"), "1", true},
		{json.Number("1.5"), "", false},
		{json.Number("9007199254740993"), "", false},
		{json.Number("1e400"), "", false},
		{nil, "", false},
		{map[string]any{}, "", false},
		{[]any{"a"}, "", false},
	}
	for _, tt := range tests {
		got, ok := HeaderText(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("HeaderText(%v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func eraMessage(t *testing.T, body string) *Message {
	t.Helper()
	b, err := Parse([]byte(body), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return b.Messages[0]
}

func TestMetaProtocolVersion(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`, "", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, "2026-07-28", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":""}}}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":[]}}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_META":{}}}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}}}`, "2025-06-18", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}`, "2099-01-01", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-2\u0038"}}}`, "2026-07-28", true},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","IO.modelcontextprotocol/protocolVersion":"x"}}}`, "", false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"other":1}}}`, "", true},
	}
	for _, tt := range tests {
		got, err := eraMessage(t, tt.body).MetaProtocolVersion()
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: %q, %v; want %q ok=%v", tt.body, got, err, tt.want, tt.ok)
		}
	}
}

func TestInputResponses(t *testing.T) {
	m := eraMessage(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","inputResponses":{
		"a":{"action":"accept","content":{}},
		"b":{"role":"assistant","content":{"type":"text","text":"x"},"model":"m"},
		"c":{"roots":[]},
		"d":{"something":"else"},
		"e":{"action":"accept","roots":[]}}}}`)
	got, err := m.InputResponses()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": InputElicitation, "b": InputSampling, "c": InputRoots, "d": InputUnknown, "e": InputUnknown}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("InputResponses = %v, want %v", got, want)
	}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","inputResponses":[]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","inputResponses":{"a":"yes"}}}`,
	} {
		if _, err := eraMessage(t, body).InputResponses(); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
	if got, err := eraMessage(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}`).InputResponses(); err != nil || got != nil {
		t.Errorf("no inputResponses: %v, %v", got, err)
	}
}

func TestMarkPrivate(t *testing.T) {
	tests := []struct {
		name, ct, body string
		force          bool
		want           string
		changed        bool
	}{
		{"replaces public, keeps ttl", "application/json",
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[],"ttlMs":5000,"cacheScope":"public"}}`, false,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[],"ttlMs":5000,"cacheScope":"private"}}`, true},
		{"adds when forced", "application/json",
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`, true,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[],"cacheScope":"private"}}`, true},
		{"older revision untouched", "application/json",
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`, false,
			`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`, false},
		{"other id untouched", "application/json",
			`{"jsonrpc":"2.0","id":4,"result":{"tools":[],"cacheScope":"public"}}`, true,
			`{"jsonrpc":"2.0","id":4,"result":{"tools":[],"cacheScope":"public"}}`, false},
		{"sse", "text/event-stream",
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[],\"cacheScope\":\"public\",\"ttlMs\":1}}\n\n", false,
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[],\"cacheScope\":\"private\",\"ttlMs\":1}}\n\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := MarkPrivate([]byte(tt.body), tt.ct, json.RawMessage(`3`), tt.force)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.changed || string(out) != tt.want {
				t.Errorf("MarkPrivate = %s (changed %v), want %s (changed %v)", out, changed, tt.want, tt.changed)
			}
		})
	}
	if _, _, err := MarkPrivate([]byte(`{"id":3,"result":`), "application/json", json.RawMessage(`3`), true); err == nil {
		t.Error("truncated body accepted")
	}
}

// FuzzDecodeHeaderValue checks that a decoded value always needs the form
// it came in: plain values are visible ASCII, Base64 ones decode to text
// that needs encoding, and re-encoding gives the same header.
func FuzzDecodeHeaderValue(f *testing.F) {
	for _, s := range []string{"a", b64("région"), "=?base64?", "=?base64?=?=", b64(" x "), "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := DecodeHeaderValue(in)
		if err != nil {
			return
		}
		if !utf8.ValidString(out) {
			t.Fatalf("decoded %q to invalid UTF-8", in)
		}
		if strings.HasPrefix(in, base64Prefix) {
			if !NeedsBase64(out) || b64(out) != in {
				t.Fatalf("%q decoded to %q, which re-encodes differently or needs no encoding", in, out)
			}
			return
		}
		if out != in || NeedsBase64(strings.TrimSpace(out)) {
			t.Fatalf("plain %q decoded to %q", in, out)
		}
	})
}

// FuzzHeaderMarks checks that marks, when accepted, are unique lower-case
// tokens with a path.
func FuzzHeaderMarks(f *testing.F) {
	f.Add(`{"name":"t","inputSchema":{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}}`)
	f.Add(`{"inputSchema":{"properties":{"o":{"properties":{"b":{"type":"integer","x-mcp-header":"B"}}}}}}`)
	f.Fuzz(func(t *testing.T, tool string) {
		marks, err := HeaderMarks(json.RawMessage(tool))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, m := range marks {
			if !isToken(m.Header) || strings.ToLower(m.Header) != m.Header || seen[m.Header] || len(m.Path) == 0 {
				t.Fatalf("bad mark %+v in %s", m, tool)
			}
			seen[m.Header] = true
		}
	})
}

// FuzzMarkPrivate checks that an accepted edit keeps the body valid JSON
// and makes the response's cacheScope private.
func FuzzMarkPrivate(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":3,"result":{"tools":[],"cacheScope":"public"}}`, true)
	f.Add(`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`, false)
	f.Fuzz(func(t *testing.T, body string, force bool) {
		out, changed, err := MarkPrivate([]byte(body), "application/json", json.RawMessage(`3`), force)
		if err != nil || !changed {
			return
		}
		var v struct {
			Result struct {
				CacheScope string `json:"cacheScope"`
			} `json:"result"`
		}
		if !json.Valid(out) || json.Unmarshal(out, &v) != nil || v.Result.CacheScope != CacheScopePrivate {
			t.Fatalf("%s became %s", body, out)
		}
	})
}
