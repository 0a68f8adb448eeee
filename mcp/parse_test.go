package mcp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
)

func TestParseRejects(t *testing.T) {
	const (
		parse   = mcpguard.KindParseError
		invalid = mcpguard.KindInvalidRequest
		large   = mcpguard.KindTooLarge
	)
	tests := []struct {
		name   string
		body   string
		lim    Limits
		kind   mcpguard.Kind
		reason string
	}{
		// Size and framing.
		{"over max bytes", `{"jsonrpc":"2.0","method":"ping"}`, Limits{MaxBytes: 10}, large, "too_large"},
		{"empty", ``, Limits{}, parse, "empty"},
		{"whitespace only", " \n\t\r ", Limits{}, parse, "empty"},
		{"bom", "\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}", Limits{}, parse, "bom"},
		{"trailing value", `{"jsonrpc":"2.0","method":"ping"} {}`, Limits{}, parse, "trailing_data"},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"ping"}x`, Limits{}, parse, "trailing_data"},
		{"trailing nul", "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\x00", Limits{}, parse, "trailing_data"},
		{"nul before value", "\x00{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}", Limits{}, parse, "control_character"},
		{"control char between tokens", "{\"jsonrpc\":\"2.0\",\x0b\"method\":\"ping\"}", Limits{}, parse, "control_character"},
		{"nbsp as whitespace", "{\"jsonrpc\":\"2.0\",\u00a0\"method\":\"ping\"}", Limits{}, parse, "syntax"},
		{"invalid utf8 outside string", "{\"jsonrpc\":\"2.0\",\xff\"method\":\"ping\"}", Limits{}, parse, "invalid_utf8"},

		// Grammar.
		{"unterminated object", `{"jsonrpc":"2.0","method":"ping"`, Limits{}, parse, "syntax"},
		{"unterminated string", `{"jsonrpc":"2.0","method":"ping`, Limits{}, parse, "syntax"},
		{"trailing comma object", `{"jsonrpc":"2.0","method":"ping",}`, Limits{}, parse, "syntax"},
		{"trailing comma array", `{"jsonrpc":"2.0","method":"ping","params":[1,]}`, Limits{}, parse, "syntax"},
		{"single quotes", `{'jsonrpc':"2.0","method":"ping"}`, Limits{}, parse, "syntax"},
		{"unquoted key", `{jsonrpc:"2.0","method":"ping"}`, Limits{}, parse, "syntax"},
		{"leading zero", `{"jsonrpc":"2.0","method":"ping","id":01}`, Limits{}, parse, "syntax"},
		{"plus sign", `{"jsonrpc":"2.0","method":"ping","id":+1}`, Limits{}, parse, "syntax"},
		{"bare dot", `{"jsonrpc":"2.0","method":"ping","params":[1.]}`, Limits{}, parse, "syntax"},
		{"NaN", `{"jsonrpc":"2.0","method":"ping","params":[NaN]}`, Limits{}, parse, "syntax"},
		{"bad literal", `{"jsonrpc":"2.0","method":"ping","params":[tru]}`, Limits{}, parse, "syntax"},
		{"bad escape", `{"jsonrpc":"2.0","method":"pi\qng"}`, Limits{}, parse, "syntax"},
		{"bad unicode escape", `{"jsonrpc":"2.0","method":"pi\u00gg"}`, Limits{}, parse, "syntax"},
		{"raw newline in string", "{\"jsonrpc\":\"2.0\",\"method\":\"pi\nng\"}", Limits{}, parse, "control_character"},
		{"raw nul in string", "{\"jsonrpc\":\"2.0\",\"method\":\"pi\x00ng\"}", Limits{}, parse, "control_character"},
		{"comment", `{"jsonrpc":"2.0",/*x*/"method":"ping"}`, Limits{}, parse, "syntax"},

		// UTF-8 and surrogates.
		{"invalid utf8 in value", "{\"jsonrpc\":\"2.0\",\"method\":\"p\xffing\"}", Limits{}, parse, "invalid_utf8"},
		{"invalid utf8 in key", "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":{\"\xc3\x28\":1}}", Limits{}, parse, "invalid_utf8"},
		{"overlong utf8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xc0\xafping\"}", Limits{}, parse, "invalid_utf8"},
		{"utf8 encoded surrogate", "{\"jsonrpc\":\"2.0\",\"method\":\"\xed\xa0\x80\"}", Limits{}, parse, "invalid_utf8"},
		{"truncated utf8", "{\"jsonrpc\":\"2.0\",\"method\":\"ping\xe2\x82\"}", Limits{}, parse, "invalid_utf8"},
		{"lone high surrogate in value", `{"jsonrpc":"2.0","method":"ping","params":{"a":"\ud800"}}`, Limits{}, parse, "invalid_utf8"},
		{"lone low surrogate in value", `{"jsonrpc":"2.0","method":"ping","params":{"a":"\udc00x"}}`, Limits{}, parse, "invalid_utf8"},
		{"lone surrogate in key", `{"jsonrpc":"2.0","method":"ping","params":{"\ud800":1}}`, Limits{}, parse, "invalid_utf8"},
		{"high then non-low", `{"jsonrpc":"2.0","method":"ping","params":{"a":"\ud800\u0041"}}`, Limits{}, parse, "invalid_utf8"},
		{"two low surrogates", `{"jsonrpc":"2.0","method":"ping","params":{"a":"\udc00\udc00"}}`, Limits{}, parse, "invalid_utf8"},
		{"two high surrogates", `{"jsonrpc":"2.0","method":"ping","params":{"a":"\ud800\ud800"}}`, Limits{}, parse, "invalid_utf8"},
		{"high at end of string", `{"jsonrpc":"2.0","method":"ping","params":{"a":"x\uD800"}}`, Limits{}, parse, "invalid_utf8"},

		// Duplicate keys at every depth, compared after unescaping.
		{"duplicate method", `{"jsonrpc":"2.0","method":"ping","method":"tools/call"}`, Limits{}, parse, "duplicate_key"},
		{"duplicate via escape", `{"jsonrpc":"2.0","method":"ping","m\u0065thod":"tools/call"}`, Limits{}, parse, "duplicate_key"},
		{"duplicate via escaped slash", `{"jsonrpc":"2.0","method":"x","params":{"a/b":1,"a\/b":2}}`, Limits{}, parse, "duplicate_key"},
		{"duplicate in params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`, Limits{}, parse, "duplicate_key"},
		{"duplicate deep", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[{"k":1,"k":2}]}}}`, Limits{}, parse, "duplicate_key"},
		{"duplicate in batch element", `[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","jsonrpc":"2.0","method":"ping"}]`, Limits{}, parse, "duplicate_key"},
		{"duplicate in large object", `{"jsonrpc":"2.0","method":"x","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"c":11}}`, Limits{}, parse, "duplicate_key"},
		{"duplicate ninth key", `{"jsonrpc":"2.0","method":"x","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9}}`, Limits{}, parse, "duplicate_key"},
		{"duplicate error member", `{"jsonrpc":"2.0","id":1,"error":{"code":1,"code":2,"message":"x"}}`, Limits{}, parse, "duplicate_key"},

		// Depth and numbers.
		{"too deep", `{"jsonrpc":"2.0","method":"x","params":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, Limits{}, parse, "depth"},
		{"too deep custom", `{"jsonrpc":"2.0","method":"x","params":{"a":{"b":{}}}}`, Limits{MaxDepth: 3}, parse, "depth"},
		{"too deep in batch", `[{"jsonrpc":"2.0","method":"x","params":{"a":{}}}]`, Limits{MaxDepth: 3}, parse, "depth"},
		{"number overflow", `{"jsonrpc":"2.0","method":"x","params":[1e999]}`, Limits{}, parse, "number_range"},
		{"negative overflow", `{"jsonrpc":"2.0","method":"x","params":[-1.5E+400]}`, Limits{}, parse, "number_range"},
		{"long integer overflow", `{"jsonrpc":"2.0","method":"x","params":[` + strings.Repeat("9", 400) + `]}`, Limits{}, parse, "number_range"},
		{"id overflow", `{"jsonrpc":"2.0","id":1e400,"method":"x"}`, Limits{}, parse, "number_range"},

		// Parse errors win over invalid requests.
		{"parse error after invalid element", `[1,{"jsonrpc":"2.0","method":"x"},{"a":1,"a":2}]`, Limits{}, parse, "duplicate_key"},

		// Shape.
		{"string body", `"ping"`, Limits{}, invalid, "not_object"},
		{"number body", `1`, Limits{}, invalid, "not_object"},
		{"null body", `null`, Limits{}, invalid, "not_object"},
		{"empty batch", `[]`, Limits{}, invalid, "empty_batch"},
		{"empty batch spaced", ` [ ] `, Limits{}, invalid, "empty_batch"},
		{"batch of numbers", `[1,2]`, Limits{}, invalid, "not_object"},
		{"batch with nested batch", `[[{"jsonrpc":"2.0","method":"ping"}]]`, Limits{}, invalid, "not_object"},
		{"batch one bad element", `[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"1.0","method":"ping"}]`, Limits{}, invalid, "bad_jsonrpc"},
		{"batch too large", `[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"ping"}]`, Limits{MaxBatch: 2}, invalid, "batch_too_large"},

		// jsonrpc.
		{"jsonrpc missing", `{"method":"ping"}`, Limits{}, invalid, "bad_jsonrpc"},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","method":"ping"}`, Limits{}, invalid, "bad_jsonrpc"},
		{"jsonrpc number", `{"jsonrpc":2.0,"method":"ping"}`, Limits{}, invalid, "bad_jsonrpc"},
		{"jsonrpc padded", `{"jsonrpc":"2.0 ","method":"ping"}`, Limits{}, invalid, "bad_jsonrpc"},
		{"jsonrpc null", `{"jsonrpc":null,"method":"ping"}`, Limits{}, invalid, "bad_jsonrpc"},

		// method.
		{"method missing", `{"jsonrpc":"2.0","id":1}`, Limits{}, invalid, "bad_response"},
		{"nothing but jsonrpc", `{"jsonrpc":"2.0"}`, Limits{}, invalid, "bad_method"},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":1}`, Limits{}, invalid, "bad_method"},
		{"method null", `{"jsonrpc":"2.0","id":1,"method":null}`, Limits{}, invalid, "bad_method"},
		{"method empty", `{"jsonrpc":"2.0","id":1,"method":""}`, Limits{}, invalid, "bad_method"},
		{"method control char", `{"jsonrpc":"2.0","id":1,"method":"tools/call\u0000"}`, Limits{}, invalid, "bad_method"},
		{"method array", `{"jsonrpc":"2.0","id":1,"method":["tools/call"]}`, Limits{}, invalid, "bad_method"},

		// id.
		{"id null in request", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, Limits{}, invalid, "bad_id"},
		{"id fraction", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, Limits{}, invalid, "bad_id"},
		{"id one point zero", `{"jsonrpc":"2.0","id":1.0,"method":"ping"}`, Limits{}, invalid, "bad_id"},
		{"id exponent", `{"jsonrpc":"2.0","id":1e3,"method":"ping"}`, Limits{}, invalid, "bad_id"},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"ping"}`, Limits{}, invalid, "bad_id"},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, Limits{}, invalid, "bad_id"},
		{"id array", `{"jsonrpc":"2.0","id":[1],"method":"ping"}`, Limits{}, invalid, "bad_id"},

		// Unknown members and case variants.
		{"unknown member", `{"jsonrpc":"2.0","method":"ping","extra":1}`, Limits{}, invalid, "unknown_member"},
		{"Method case variant", `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`, Limits{}, invalid, "unknown_member"},
		{"ID case variant", `{"jsonrpc":"2.0","ID":1,"method":"ping"}`, Limits{}, invalid, "unknown_member"},
		{"JSONRPC case variant", `{"JSONRPC":"2.0","method":"ping"}`, Limits{}, invalid, "unknown_member"},

		// params.
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}`, Limits{}, invalid, "bad_params"},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"ping","params":null}`, Limits{}, invalid, "bad_params"},
		{"params number", `{"jsonrpc":"2.0","method":"ping","params":1}`, Limits{}, invalid, "bad_params"},

		// Requests and responses mixed up.
		{"request with result", `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, Limits{}, invalid, "bad_request"},
		{"request with error", `{"jsonrpc":"2.0","id":1,"method":"ping","error":{"code":1,"message":"x"}}`, Limits{}, invalid, "bad_request"},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, Limits{}, invalid, "bad_response"},
		{"response with both", `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}`, Limits{}, invalid, "bad_response"},
		{"response with params", `{"jsonrpc":"2.0","id":1,"result":{},"params":{}}`, Limits{}, invalid, "bad_response"},
		{"result with null id", `{"jsonrpc":"2.0","id":null,"result":{}}`, Limits{}, invalid, "bad_id"},
		{"error not object", `{"jsonrpc":"2.0","id":1,"error":"boom"}`, Limits{}, invalid, "bad_response"},
		{"error without code", `{"jsonrpc":"2.0","id":1,"error":{"message":"x"}}`, Limits{}, invalid, "bad_response"},
		{"error fractional code", `{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"x"}}`, Limits{}, invalid, "bad_response"},
		{"error without message", `{"jsonrpc":"2.0","id":1,"error":{"code":-32600}}`, Limits{}, invalid, "bad_response"},
		{"error message not string", `{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":1}}`, Limits{}, invalid, "bad_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Parse([]byte(tt.body), tt.lim)
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tt.body, body)
			}
			var e *mcpguard.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not *mcpguard.Error", err)
			}
			if e.Kind != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", e.Kind, tt.kind, err)
			}
			if e.Reason != tt.reason {
				t.Errorf("reason = %q, want %q (%v)", e.Reason, tt.reason, err)
			}
			if e.Msg == "" || len(e.Msg) > 200 {
				t.Errorf("message length %d not in (0, 200]: %q", len(e.Msg), e.Msg)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	type want struct {
		typ    Type
		id     string
		method string
		params string
		result string
		error  string
	}
	tests := []struct {
		name  string
		body  string
		batch bool
		want  []want
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, false,
			[]want{{typ: TypeRequest, id: `1`, method: "tools/list"}}},
		{"request with whitespace", " \r\n\t{ \"jsonrpc\" : \"2.0\" , \"id\" : \"a\" , \"method\" : \"ping\" } \n", false,
			[]want{{typ: TypeRequest, id: `"a"`, method: "ping"}}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, false,
			[]want{{typ: TypeNotification, method: "notifications/initialized"}}},
		{"notification with params", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"x"}}`, false,
			[]want{{typ: TypeNotification, method: "notifications/cancelled", params: `{"requestId":3,"reason":"x"}`}}},
		{"string id", `{"jsonrpc":"2.0","id":"abc-123","method":"ping"}`, false,
			[]want{{typ: TypeRequest, id: `"abc-123"`, method: "ping"}}},
		{"negative integer id", `{"jsonrpc":"2.0","id":-7,"method":"ping"}`, false,
			[]want{{typ: TypeRequest, id: `-7`, method: "ping"}}},
		{"zero id", `{"jsonrpc":"2.0","id":0,"method":"ping"}`, false,
			[]want{{typ: TypeRequest, id: `0`, method: "ping"}}},
		{"huge integer id kept exact", `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}`, false,
			[]want{{typ: TypeRequest, id: `123456789012345678901234567890`, method: "ping"}}},
		{"params array", `{"jsonrpc":"2.0","id":2,"method":"custom","params":[1,"two",{"three":3}]}`, false,
			[]want{{typ: TypeRequest, id: `2`, method: "custom", params: `[1,"two",{"three":3}]`}}},
		{"params raw bytes kept", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{ "name" : "x" , "arguments":{"n":1.50e+2}}}`, false,
			[]want{{typ: TypeRequest, id: `2`, method: "tools/call", params: `{ "name" : "x" , "arguments":{"n":1.50e+2}}`}}},
		{"escaped slash in method", `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"x"}}`, false,
			[]want{{typ: TypeRequest, id: `1`, method: "tools/call", params: `{"name":"x"}`}}},
		{"unicode escape in method", `{"jsonrpc":"2.0","id":1,"method":"\u0074ools/list"}`, false,
			[]want{{typ: TypeRequest, id: `1`, method: "tools/list"}}},
		{"escaped jsonrpc", `{"jsonrpc":"2\u002e0","id":1,"method":"ping"}`, false,
			[]want{{typ: TypeRequest, id: `1`, method: "ping"}}},
		{"unicode in strings", `{"jsonrpc":"2.0","id":"ид-😀","method":"tools/call","params":{"name":"天気","arguments":{"q":"caf\u00e9 \ud83d\ude00 ✓"}}}`, false,
			[]want{{typ: TypeRequest, id: `"ид-😀"`, method: "tools/call", params: `{"name":"天気","arguments":{"q":"caf\u00e9 \ud83d\ude00 ✓"}}`}}},
		{"unknown method kept", `{"jsonrpc":"2.0","id":1,"method":"vendor/thing"}`, false,
			[]want{{typ: TypeRequest, id: `1`, method: "vendor/thing"}}},
		{"response result", `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`, false,
			[]want{{typ: TypeResponse, id: `1`, result: `{"tools":[]}`}}},
		{"response null result", `{"id":"x","result":null,"jsonrpc":"2.0"}`, false,
			[]want{{typ: TypeResponse, id: `"x"`, result: `null`}}},
		{"response error", `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found","data":{"m":"x"}}}`, false,
			[]want{{typ: TypeResponse, id: `1`, error: `{"code":-32601,"message":"Method not found","data":{"m":"x"}}`}}},
		{"error response with null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`, false,
			[]want{{typ: TypeResponse, id: `null`, error: `{"code":-32700,"message":"Parse error"}`}}},
		{"batch of one", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, true,
			[]want{{typ: TypeRequest, id: `1`, method: "ping"}}},
		{"batch mixed", `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}, {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":0.5}},{"jsonrpc":"2.0","id":"r","result":{}}]`, true,
			[]want{
				{typ: TypeRequest, id: `1`, method: "tools/call", params: `{"name":"a"}`},
				{typ: TypeNotification, method: "notifications/progress", params: `{"progressToken":1,"progress":0.5}`},
				{typ: TypeResponse, id: `"r"`, result: `{}`},
			}},
		{"numbers at the edge", `{"jsonrpc":"2.0","method":"x","params":[-0,0.0,1e308,-1.7976931348623157e308,1e-400,5E-324]}`, false,
			[]want{{typ: TypeNotification, method: "x", params: `[-0,0.0,1e308,-1.7976931348623157e308,1e-400,5E-324]`}}},
		{"nested keys in many objects may repeat", `{"jsonrpc":"2.0","method":"x","params":{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}}`, false,
			[]want{{typ: TypeNotification, method: "x", params: `{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`}}},
		{"large object no duplicates", `{"jsonrpc":"2.0","method":"x","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10}}`, false,
			[]want{{typ: TypeNotification, method: "x", params: `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10}`}}},
		{"keys differing in case inside params are JSON-distinct", `{"jsonrpc":"2.0","method":"x","params":{"a":1,"A":2}}`, false,
			[]want{{typ: TypeNotification, method: "x", params: `{"a":1,"A":2}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Parse([]byte(tt.body), Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if body.Batch != tt.batch {
				t.Errorf("Batch = %v, want %v", body.Batch, tt.batch)
			}
			if len(body.Messages) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(body.Messages), len(tt.want))
			}
			for i, w := range tt.want {
				m := body.Messages[i]
				if m.Type != w.typ || string(m.ID) != w.id || m.Method != w.method ||
					string(m.Params) != w.params || string(m.Result) != w.result || string(m.Error) != w.error {
					t.Errorf("message %d = {%v id=%s method=%q params=%s result=%s error=%s}, want %+v",
						i, m.Type, m.ID, m.Method, m.Params, m.Result, m.Error, w)
				}
			}
		})
	}
}

func TestParseRawAliasesInput(t *testing.T) {
	data := []byte(`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"a"}}`)
	body, err := Parse(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m := body.Messages[0]
	off := bytes.Index(data, []byte(`{"name"`))
	if &m.Params[0] != &data[off] {
		t.Error("Params does not alias the input bytes")
	}
}

func TestParseLimitsDefaults(t *testing.T) {
	if got := (Limits{}).withDefaults(); got != DefaultLimits() {
		t.Errorf("zero limits = %+v, want %+v", got, DefaultLimits())
	}
	if got := (Limits{MaxDepth: 1 << 30}).withDefaults().MaxDepth; got != maxDepthCeiling {
		t.Errorf("huge MaxDepth = %d, want %d", got, maxDepthCeiling)
	}
	// Exactly at the limits is accepted.
	body := `{"jsonrpc":"2.0","method":"x","params":{"a":{}}}`
	if _, err := Parse([]byte(body), Limits{MaxBytes: len(body), MaxDepth: 3}); err != nil {
		t.Errorf("body at the limits: %v", err)
	}
	batch := `[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]`
	if _, err := Parse([]byte(batch), Limits{MaxBatch: 2}); err != nil {
		t.Errorf("batch at the limit: %v", err)
	}
}

// TestParseHostileInput feeds inputs near the default size limit that
// break naive parsers (deep nesting, huge strings and numbers, key floods).
// Their cost is measured by BenchmarkParseHostile, never timed here.
func TestParseHostileInput(t *testing.T) {
	for _, tt := range hostileInputs() {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.body, Limits{})
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if got := mcpguard.KindOf(err); got != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", got, tt.kind, err)
			}
		})
	}
}

// BenchmarkParseHostile reports the cost of rejecting each hostile input;
// the scanner is linear, so each stays in the milliseconds.
func BenchmarkParseHostile(b *testing.B) {
	for _, tt := range hostileInputs() {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.body)))
			for b.Loop() {
				_, _ = Parse(tt.body, Limits{})
			}
		})
	}
}

type hostileInput struct {
	name string
	body []byte
	kind mcpguard.Kind
}

func hostileInputs() []hostileInput {
	const n = 4<<20 - 64
	return []hostileInput{
		{"deep arrays", bytes.Repeat([]byte("["), n), mcpguard.KindParseError},
		{"deep objects", bytes.Repeat([]byte(`{"a":`), n/5), mcpguard.KindParseError},
		{"huge string unterminated", append([]byte(`{"jsonrpc":"2.0","method":"`), bytes.Repeat([]byte("a"), n)...), mcpguard.KindParseError},
		{"huge string", []byte(`{"jsonrpc":"2.0","method":"x","params":{"s":"` + strings.Repeat("\\u00e9", n/6-10) + `"}}`), 0},
		{"many keys duplicate at end", func() []byte {
			var b bytes.Buffer
			b.WriteString(`{"jsonrpc":"2.0","method":"x","params":{`)
			for i := 0; b.Len() < n-100; i++ {
				b.WriteString(`"k`)
				b.WriteString(strings.Repeat("x", i%7))
				b.WriteString(strconv.Itoa(i))
				b.WriteString(`":0,`)
			}
			b.WriteString(`"k0":1}}`)
			return b.Bytes()
		}(), mcpguard.KindParseError},
		{"huge exponent number", []byte(`{"jsonrpc":"2.0","method":"x","params":[1` + strings.Repeat("0", n-100) + `e5]}`), mcpguard.KindParseError},
		{"huge batch", []byte("[" + strings.Repeat(`{"jsonrpc":"2.0","method":"ping"},`, n/40) + `{"jsonrpc":"2.0","method":"ping"}]`), mcpguard.KindInvalidRequest},
	}
}

func TestParseErrorMessagesAreBounded(t *testing.T) {
	longKey := strings.Repeat("k", 10000)
	tests := []string{
		`{"jsonrpc":"2.0","method":"x","` + longKey + `":1}`,
		`{"jsonrpc":"2.0","method":"x","params":{"` + longKey + `":1,"` + longKey + `":2}}`,
		"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"\x01\x02\u202e\":1}",
	}
	for _, body := range tests {
		_, err := Parse([]byte(body), Limits{})
		msg := mcpguard.SafeMessage(err)
		if len(msg) > 120 {
			t.Errorf("message %d bytes long: %q", len(msg), msg)
		}
		for _, r := range msg {
			if r < 0x20 || r > 0x7e {
				t.Errorf("message has non-printable-ASCII %q: %q", r, msg)
			}
		}
	}
}

func TestKnownMethod(t *testing.T) {
	tests := []struct {
		method string
		want   bool
	}{
		{MethodInitialize, true}, {MethodToolsCall, true}, {MethodToolsList, true},
		{MethodResourcesTemplatesList, true}, {MethodNotificationRootsListChanged, true},
		{MethodElicitationCreate, true}, {MethodRootsList, true}, {MethodLoggingSetLevel, true},
		{"", false}, {"tools/Call", false}, {"tools/call ", false}, {"vendor/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			if got := KnownMethod(tt.method); got != tt.want {
				t.Errorf("KnownMethod(%q) = %v, want %v", tt.method, got, tt.want)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[Type]string{TypeRequest: "request", TypeNotification: "notification", TypeResponse: "response", 0: "unknown"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", typ, got, want)
		}
	}
}
