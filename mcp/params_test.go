package mcp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
)

// message parses body, which must hold exactly one valid message.
func message(t testing.TB, body string) *Message {
	t.Helper()
	b, err := Parse([]byte(body), Limits{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return b.Messages[0]
}

func request(method, params string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":` + params + `}`
}

func TestToolCall(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   *ToolCall
		kind   mcpguard.Kind
		reason string
	}{
		{name: "name only", body: request("tools/call", `{"name":"aws___list_regions"}`),
			want: &ToolCall{Name: "aws___list_regions"}},
		{name: "nested arguments keep exact numbers", body: request("tools/call",
			`{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls","n":12345678901234567890,"f":1.10,"e":-2E+3,"deep":{"list":[1,{"x":0.1}],"ok":true,"none":null}}}`),
			want: &ToolCall{Name: "aws___call_aws", Arguments: map[string]any{
				"cli_command": "aws s3 ls",
				"n":           json.Number("12345678901234567890"),
				"f":           json.Number("1.10"),
				"e":           json.Number("-2E+3"),
				"deep": map[string]any{
					"list": []any{json.Number("1"), map[string]any{"x": json.Number("0.1")}},
					"ok":   true,
					"none": nil,
				},
			}}},
		{name: "empty arguments", body: request("tools/call", `{"name":"t","arguments":{}}`),
			want: &ToolCall{Name: "t", Arguments: map[string]any{}}},
		{name: "meta and unknown members", body: request("tools/call", `{"_meta":{"progressToken":"p1"},"name":"t","task":{"ttl":1}}`),
			want: &ToolCall{Name: "t", Meta: map[string]any{"progressToken": "p1"}}},
		{name: "escaped name", body: request("tools/call", `{"name":"s3\u005flist\/x"}`),
			want: &ToolCall{Name: "s3_list/x"}},
		{name: "unicode arguments", body: request("tools/call", `{"name":"t","arguments":{"q":"caf\u00e9 \ud83d\ude00"}}`),
			want: &ToolCall{Name: "t", Arguments: map[string]any{"q": "café 😀"}}},

		{name: "no params", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "params array", body: request("tools/call", `["t"]`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "name missing", body: request("tools/call", `{"arguments":{}}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "name empty", body: request("tools/call", `{"name":""}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "name number", body: request("tools/call", `{"name":1}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "name null", body: request("tools/call", `{"name":null}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "name control char", body: request("tools/call", `{"name":"a\nb"}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "arguments array", body: request("tools/call", `{"name":"t","arguments":[1]}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "arguments string", body: request("tools/call", `{"name":"t","arguments":"x"}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "arguments null", body: request("tools/call", `{"name":"t","arguments":null}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "meta not object", body: request("tools/call", `{"name":"t","_meta":1}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "Name case variant", body: request("tools/call", `{"name":"safe","NAME":"evil"}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "Arguments case variant", body: request("tools/call", `{"name":"t","Arguments":{}}`), kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "argument keys differing in case", body: request("tools/call", `{"name":"t","arguments":{"cli_command":"aws s3 ls","CLI_COMMAND":"aws iam delete-user"}}`),
			kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "nested keys differing in case", body: request("tools/call", `{"name":"t","arguments":{"a":[{"k":1,"K":2}]}}`),
			kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "many keys, two differ by long s", body: request("tools/call", `{"name":"t","arguments":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"mask":0,"maſk":1}}`),
			kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "kelvin sign folds to k", body: request("tools/call", "{\"name\":\"t\",\"arguments\":{\"k\":1,\"\u212a\":2}}"),
			kind: mcpguard.KindInvalidRequest, reason: "bad_params"},
		{name: "wrong method", body: request("tools/list", `{}`), kind: mcpguard.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := message(t, tt.body).ToolCall()
			if tt.want == nil {
				if err == nil {
					t.Fatalf("ToolCall accepted: %+v", got)
				}
				if k := mcpguard.KindOf(err); k != tt.kind {
					t.Errorf("kind = %v, want %v (%v)", k, tt.kind, err)
				}
				if r := mcpguard.ReasonOf(err); r != tt.reason {
					t.Errorf("reason = %q, want %q (%v)", r, tt.reason, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToolCall: %v", err)
			}
			// RawArguments is the arguments member exactly as sent: valid
			// JSON taken from the body, present exactly when Arguments is.
			if (got.RawArguments == nil) != (got.Arguments == nil) ||
				got.RawArguments != nil && (!json.Valid(got.RawArguments) || !strings.Contains(tt.body, string(got.RawArguments))) {
				t.Errorf("RawArguments = %q for arguments %v", got.RawArguments, got.Arguments)
			}
			got.RawArguments = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ToolCall = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestPromptGet(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *PromptGet
	}{
		{"name and arguments", request("prompts/get", `{"name":"review","arguments":{"lang":"go","n":3}}`),
			&PromptGet{Name: "review", Arguments: map[string]any{"lang": "go", "n": json.Number("3")}}},
		{"name only", request("prompts/get", `{"name":"review"}`), &PromptGet{Name: "review"}},
		{"meta", request("prompts/get", `{"name":"r","_meta":{}}`), &PromptGet{Name: "r", Meta: map[string]any{}}},
		{"name missing", request("prompts/get", `{}`), nil},
		{"arguments array", request("prompts/get", `{"name":"r","arguments":["x"]}`), nil},
		{"name case variant", request("prompts/get", `{"name":"r","Name":"s"}`), nil},
		{"params array", request("prompts/get", `[]`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := message(t, tt.body).PromptGet()
			if tt.want == nil {
				if mcpguard.KindOf(err) != mcpguard.KindInvalidRequest {
					t.Fatalf("PromptGet = %+v, %v; want invalid request", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("PromptGet: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PromptGet = %#v, want %#v", got, tt.want)
			}
		})
	}
	if _, err := message(t, request("tools/call", `{"name":"x"}`)).PromptGet(); mcpguard.KindOf(err) != mcpguard.KindInternal {
		t.Errorf("PromptGet on tools/call: %v, want internal", err)
	}
}

func TestResourceRead(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *ResourceRead
	}{
		{"uri", request("resources/read", `{"uri":"s3://bucket/key?x=1"}`), &ResourceRead{URI: "s3://bucket/key?x=1"}},
		{"escaped uri", request("resources/read", `{"uri":"file:\/\/\/etc"}`), &ResourceRead{URI: "file:///etc"}},
		{"uri missing", request("resources/read", `{}`), nil},
		{"uri empty", request("resources/read", `{"uri":""}`), nil},
		{"uri number", request("resources/read", `{"uri":5}`), nil},
		{"URI case variant", request("resources/read", `{"uri":"a","URI":"b"}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := message(t, tt.body).ResourceRead()
			if tt.want == nil {
				if mcpguard.KindOf(err) != mcpguard.KindInvalidRequest {
					t.Fatalf("ResourceRead = %+v, %v; want invalid request", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResourceRead: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ResourceRead = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	const arg = `,"argument":{"name":"lang","value":"g"}`
	tests := []struct {
		name string
		body string
		want *Completion
	}{
		{"prompt", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"review"}`+arg+`}`),
			&Completion{RefType: RefPrompt, Name: "review", Argument: "lang"}},
		{"resource template", request("completion/complete", `{"ref":{"type":"ref/resource","uri":"s3://{bucket}/k"}`+arg+`,"context":{"arguments":{"a":"b"}}}`),
			&Completion{RefType: RefResource, URI: "s3://{bucket}/k", Argument: "lang"}},
		{"prompt with title", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"r","title":"R"}`+arg+`}`),
			&Completion{RefType: RefPrompt, Name: "r", Argument: "lang"}},
		{"ref missing", request("completion/complete", `{"argument":{"name":"x"}}`), nil},
		{"ref not an object", request("completion/complete", `{"ref":"ref/prompt"`+arg+`}`), nil},
		{"unknown ref type", request("completion/complete", `{"ref":{"type":"ref/tool","name":"t"}`+arg+`}`), nil},
		{"ref type missing", request("completion/complete", `{"ref":{"name":"t"}`+arg+`}`), nil},
		{"prompt without name", request("completion/complete", `{"ref":{"type":"ref/prompt"}`+arg+`}`), nil},
		{"prompt with empty name", request("completion/complete", `{"ref":{"type":"ref/prompt","name":""}`+arg+`}`), nil},
		{"prompt carrying a uri", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"p","uri":"file:///x"}`+arg+`}`), nil},
		{"resource carrying a name", request("completion/complete", `{"ref":{"type":"ref/resource","uri":"file:///x","name":"p"}`+arg+`}`), nil},
		{"resource uri number", request("completion/complete", `{"ref":{"type":"ref/resource","uri":5}`+arg+`}`), nil},
		{"name case variant in ref", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"a","NAME":"b"}`+arg+`}`), nil},
		{"ref case variant", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"a"},"REF":{}`+arg+`}`), nil},
		{"argument missing", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"a"}}`), nil},
		{"argument without name", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"a"},"argument":{"value":"x"}}`), nil},
		{"context not an object", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"a"}`+arg+`,"context":[]}`), nil},
		{"control character in name", request("completion/complete", `{"ref":{"type":"ref/prompt","name":"a\u0000"}`+arg+`}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := message(t, tt.body).Completion()
			if tt.want == nil {
				if mcpguard.KindOf(err) != mcpguard.KindInvalidRequest {
					t.Fatalf("Completion = %+v, %v; want invalid request", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Completion: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Completion = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestProtocolVersion(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"initialize", request("initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}`), "2025-06-18"},
		{"missing", request("initialize", `{"capabilities":{}}`), ""},
		{"not a string", request("initialize", `{"protocolVersion":20250618}`), ""},
		{"case variant", request("initialize", `{"protocolVersion":"2025-06-18","protocolversion":"x"}`), ""},
		{"other method", request("tools/list", `{"protocolVersion":"2025-06-18"}`), ""},
		{"no params", `{"jsonrpc":"2.0","id":1,"method":"initialize"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := message(t, tt.body).ProtocolVersion(); got != tt.want {
				t.Errorf("ProtocolVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIDString(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		id   string
		want string
	}{
		{"absent", ``, ""},
		{"integer", `42`, "42"},
		{"negative", `-1`, "-1"},
		{"string", `"req-1"`, "req-1"},
		{"escaped string", `"a\"b\u00e9"`, `a"bé`},
		{"control characters", `"a\nb\u0000c"`, "a?b?c"},
		{"null", `null`, "null"},
		{"long string", `"` + long + `"`, strings.Repeat("x", 64) + "..."},
		{"long escaped string", `"` + strings.Repeat(`\u00e9`, 200000) + `"`, strings.Repeat("é", 32) + "..."},
		{"long number", strings.Repeat("9", 100), strings.Repeat("9", 64) + "..."},
		{"invalid raw", `"abc`, "?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Message{}
			if tt.id != "" {
				m.ID = json.RawMessage(tt.id)
			}
			if got := m.IDString(); got != tt.want {
				t.Errorf("IDString = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeValue(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want any
		kind mcpguard.Kind
	}{
		{name: "object", raw: ` {"a":[1,2.5,"x",null,true]} `, want: map[string]any{"a": []any{json.Number("1"), json.Number("2.5"), "x", nil, true}}},
		{name: "string", raw: `"caf\u00e9"`, want: "café"},
		{name: "number", raw: `-0.000`, want: json.Number("-0.000")},
		{name: "duplicate key", raw: `{"a":1,"a":2}`, kind: mcpguard.KindParseError},
		{name: "lone surrogate", raw: `"\udfff"`, kind: mcpguard.KindParseError},
		{name: "invalid utf8", raw: "\"\xfe\"", kind: mcpguard.KindParseError},
		{name: "trailing", raw: `1 2`, kind: mcpguard.KindParseError},
		{name: "empty", raw: ``, kind: mcpguard.KindParseError},
		{name: "overflow", raw: `[1e999]`, kind: mcpguard.KindParseError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeValue(json.RawMessage(tt.raw))
			if tt.kind != 0 || tt.want == nil {
				if k := mcpguard.KindOf(err); err == nil || k != tt.kind {
					t.Fatalf("DecodeValue = %v, %v; want kind %v", got, err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeValue: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeValue = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	tests := []struct {
		name    string
		id      json.RawMessage
		code    int
		message string
		data    map[string]any
		wantID  any
	}{
		{"integer id", json.RawMessage(`7`), -32003, "forbidden", map[string]any{"request_id": "r-1"}, json.Number("7")},
		{"string id with escapes", json.RawMessage(`"a\"b\u00e9"`), -32600, "invalid request", nil, `a"bé`},
		{"nil id", nil, -32700, "parse error", map[string]any{"request_id": "r-2"}, nil},
		{"invalid id", json.RawMessage(`{`), -32603, "internal error", nil, nil},
		{"message needing escapes", json.RawMessage(`1`), -32001, "bad \"token\"\n\t<script>\u2028 \x00 \xff", nil, json.Number("1")},
		{"unencodable data dropped", json.RawMessage(`1`), -32603, "internal error", map[string]any{"c": make(chan int)}, json.Number("1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ErrorBody(tt.id, tt.code, tt.message, tt.data)
			// The body must itself be a strictly valid JSON-RPC error response.
			body, err := Parse(b, Limits{})
			if err != nil {
				t.Fatalf("ErrorBody %s does not parse: %v", b, err)
			}
			if m := body.Messages[0]; m.Type != TypeResponse || m.Error == nil {
				t.Fatalf("ErrorBody %s is not an error response", b)
			}
			var got struct {
				JSONRPC string `json:"jsonrpc"`
				ID      any    `json:"id"`
				Error   struct {
					Code    int            `json:"code"`
					Message string         `json:"message"`
					Data    map[string]any `json:"data"`
				} `json:"error"`
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if got.JSONRPC != "2.0" || got.ID != tt.wantID || got.Error.Code != tt.code {
				t.Errorf("ErrorBody = %s", b)
			}
			wantMsg := strings.ToValidUTF8(tt.message, "\ufffd")
			if got.Error.Message != wantMsg {
				t.Errorf("message = %q, want %q", got.Error.Message, wantMsg)
			}
			if _, bad := tt.data["c"]; !bad && !reflect.DeepEqual(got.Error.Data, tt.data) {
				t.Errorf("data = %v, want %v", got.Error.Data, tt.data)
			}
		})
	}
}
