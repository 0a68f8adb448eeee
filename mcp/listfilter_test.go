package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard"
)

// dropNames returns a keep function that removes the named items and
// records every item it was shown.
func dropNames(seen *[]ListItem, names ...string) func(ListItem) bool {
	return func(it ListItem) bool {
		if seen != nil {
			*seen = append(*seen, it)
		}
		for _, n := range names {
			if it.Name == n {
				return false
			}
		}
		return true
	}
}

func keepAll(ListItem) bool { return true }

func TestListMethod(t *testing.T) {
	for m, want := range map[string]bool{
		"tools/list": true, "prompts/list": true, "resources/list": true, "resources/templates/list": true,
		"tools/call": false, "roots/list": false, "": false, "Tools/List": false,
	} {
		if got := ListMethod(m); got != want {
			t.Errorf("ListMethod(%q) = %v, want %v", m, got, want)
		}
	}
}

func TestFilterListResponseJSON(t *testing.T) {
	body := readBody(t, "testdata/list/tools.json")
	var seen []ListItem
	out, st, err := FilterListResponse(body, "application/json; charset=utf-8", json.RawMessage(`7`), MethodToolsList,
		dropNames(&seen, "aws___delete_stack", "aws___list_regions"))
	if err != nil {
		t.Fatal(err)
	}
	if st != (ListStats{Returned: 2, Removed: 2}) {
		t.Errorf("stats = %+v", st)
	}
	if len(seen) != 4 || seen[0].Kind != ItemTool || seen[0].Name != "aws___call_aws" || seen[0].URI != "" {
		t.Fatalf("items shown to keep: %+v", seen)
	}
	if !json.Valid(seen[1].Raw) || !bytes.HasPrefix(seen[1].Raw, []byte(`{"name": "aws___search_documentation"`)) {
		t.Errorf("raw item = %s", seen[1].Raw)
	}
	// Everything outside the items array is byte for byte the same.
	i := bytes.Index(body, []byte(`[`))
	j := bytes.Index(body, []byte("],\n    \"nextCursor\""))
	want := string(body[:i]) + "[" + string(seen[0].Raw) + "," + string(seen[1].Raw) + string(body[j:])
	if string(out) != want {
		t.Errorf("output\n got %s\nwant %s", out, want)
	}
	if _, err := Parse(out, Limits{}); err != nil {
		t.Errorf("output does not parse: %v", err)
	}
}

func TestFilterListResponseUnchanged(t *testing.T) {
	body := readBody(t, "testdata/list/tools.json")
	out, st, err := FilterListResponse(body, "application/json", json.RawMessage(`7`), MethodToolsList, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &body[0] || len(out) != len(body) {
		t.Error("a response with nothing removed must be returned as is")
	}
	if st != (ListStats{Returned: 4}) {
		t.Errorf("stats = %+v", st)
	}
}

func TestFilterListResponseSSE(t *testing.T) {
	body := readBody(t, "testdata/list/tools.sse")
	var seen []ListItem
	out, st, err := FilterListResponse(body, "text/event-stream", json.RawMessage(`"list-1"`), MethodToolsList,
		dropNames(&seen, "aws___delete_stack"))
	if err != nil {
		t.Fatal(err)
	}
	if st != (ListStats{Returned: 2, Removed: 1}) || len(seen) != 3 {
		t.Fatalf("stats = %+v, seen %d", st, len(seen))
	}
	in, _ := ParseSSE(body)
	got, err := ParseSSE(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d events, want %d", len(got), len(in))
	}
	for i := range in[:len(in)-1] {
		if !bytes.Equal(got[i].Raw, in[i].Raw) {
			t.Errorf("event %d changed: %q", i, got[i].Raw)
		}
	}
	last := got[len(got)-1]
	if last.Type != "message" || last.ID != "2" || !last.HasID {
		t.Errorf("rewritten event lost its fields: %+v", last)
	}
	wantData := `{"jsonrpc":"2.0","id":"list-1","result":{"tools":[{"name":"aws___call_aws","inputSchema":{"type":"object"}},{"name":"aws___list_regions","inputSchema":{"type":"object"}}],"nextCursor":"c2"}}`
	if last.Data != wantData {
		t.Errorf("data\n got %s\nwant %s", last.Data, wantData)
	}
	if !bytes.HasPrefix(out, in[0].Raw) {
		t.Error("untouched prefix changed")
	}

	// Nothing removed: the stream is returned as is.
	same, _, err := FilterListResponse(body, "text/event-stream", json.RawMessage(`"list-1"`), MethodToolsList, keepAll)
	if err != nil || !bytes.Equal(same, body) {
		t.Errorf("unchanged stream rewritten: %v", err)
	}
}

func TestFilterListResponseKinds(t *testing.T) {
	tests := []struct {
		name, method, body string
		drop               string
		items              []ListItem // without Raw
		want               string
	}{
		{
			name:   "prompts",
			method: MethodPromptsList,
			body:   `{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"a","arguments":[]},{"name":"b"}]}}`,
			drop:   "b",
			items:  []ListItem{{Kind: ItemPrompt, Name: "a"}, {Kind: ItemPrompt, Name: "b"}},
			want:   `{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"a","arguments":[]}]}}`,
		},
		{
			name:   "resources",
			method: MethodResourcesList,
			body:   `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"s3://a","name":"a"},{"name":"b","uri":"s3://b","mimeType":"text/plain"}],"nextCursor":"n"}}`,
			drop:   "a",
			items:  []ListItem{{Kind: ItemResource, Name: "a", URI: "s3://a"}, {Kind: ItemResource, Name: "b", URI: "s3://b"}},
			want:   `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"name":"b","uri":"s3://b","mimeType":"text/plain"}],"nextCursor":"n"}}`,
		},
		{
			name:   "resource templates",
			method: MethodResourcesTemplatesList,
			body:   `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"s3://{bucket}","name":"bucket"}]}}`,
			drop:   "bucket",
			items:  []ListItem{{Kind: ItemResourceTemplate, Name: "bucket", URI: "s3://{bucket}"}},
			want:   `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[]}}`,
		},
		{
			name:   "empty list",
			method: MethodToolsList,
			body:   `{"jsonrpc":"2.0","id":1,"result":{"tools":[ ]}}`,
			want:   `{"jsonrpc":"2.0","id":1,"result":{"tools":[ ]}}`,
		},
		{
			name:   "error response passes unchanged",
			method: MethodToolsList,
			body:   `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no tools"}}`,
			want:   `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no tools"}}`,
		},
		{
			name:   "batch: every response is filtered",
			method: MethodToolsList,
			body:   `[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}},{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"},{"name":"y"}]}}]`,
			drop:   "x",
			items:  []ListItem{{Kind: ItemTool, Name: "x"}, {Kind: ItemTool, Name: "x"}, {Kind: ItemTool, Name: "y"}},
			want:   `[{"jsonrpc":"2.0","id":1,"result":{"tools":[]}},{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"y"}]}}]`,
		},
		{
			name:   "server requests and notifications in the body pass",
			method: MethodToolsList,
			body:   `[{"jsonrpc":"2.0","method":"notifications/progress","params":{}},{"jsonrpc":"2.0","id":"7","method":"ping"},{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"},{"name":"y"}]}}]`,
			drop:   "x",
			items:  []ListItem{{Kind: ItemTool, Name: "x"}, {Kind: ItemTool, Name: "y"}},
			want:   `[{"jsonrpc":"2.0","method":"notifications/progress","params":{}},{"jsonrpc":"2.0","id":"7","method":"ping"},{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"y"}]}}]`,
		},
		{
			name:   "escaped name is unescaped for keep",
			method: MethodToolsList,
			body:   `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\u0078"},{"name":"y"}]}}`,
			drop:   "x",
			items:  []ListItem{{Kind: ItemTool, Name: "x"}, {Kind: ItemTool, Name: "y"}},
			want:   `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"y"}]}}`,
		},
		{
			name:   "other members of the result keep their order and bytes",
			method: MethodToolsList,
			body:   `{"result":{"_meta":{"k":1.50},"tools":[{"name":"x"},{"name":"y"}],"nextCursor":"c"},"id":1,"jsonrpc":"2.0"}`,
			drop:   "y",
			items:  []ListItem{{Kind: ItemTool, Name: "x"}, {Kind: ItemTool, Name: "y"}},
			want:   `{"result":{"_meta":{"k":1.50},"tools":[{"name":"x"}],"nextCursor":"c"},"id":1,"jsonrpc":"2.0"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []ListItem
			out, st, err := FilterListResponse([]byte(tt.body), "application/json", json.RawMessage(`1`), tt.method, dropNames(&seen, tt.drop))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("output\n got %s\nwant %s", out, tt.want)
			}
			for i := range seen {
				seen[i].Raw = nil
			}
			if !reflect.DeepEqual(seen, tt.items) {
				t.Errorf("items\n got %+v\nwant %+v", seen, tt.items)
			}
			if st.Returned+st.Removed != len(tt.items) {
				t.Errorf("stats %+v for %d items", st, len(tt.items))
			}
		})
	}
}

func TestFilterListResponseIDs(t *testing.T) {
	tests := []struct {
		name      string
		requestID string
		respID    string
		match     bool
	}{
		{"same integer", `7`, `7`, true},
		{"same string", `"a"`, `"a"`, true},
		{"same escaped string", `"\u0061bc"`, `"\u0061bc"`, true},
		{"same negative", `-3`, `-3`, true},
		{"escaped spelling of the string", `"abc"`, `"\u0061bc"`, false},
		{"unescaped spelling of the string", `"\u0061bc"`, `"abc"`, false},
		{"negative zero", `0`, `-0`, false},
		{"string is not number", `"7"`, `7`, false},
		{"number is not string", `7`, `"7"`, false},
		{"leading zero", `7`, `07`, false},
		{"fraction", `7`, `7.0`, false},
		{"exponent", `7`, `7e0`, false},
		{"null", `7`, `null`, false},
		{"other integer", `7`, `8`, false},
		{"other string", `"a"`, `"b"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"jsonrpc":"2.0","id":` + tt.respID + `,"result":{"tools":[{"name":"x"}]}}`
			out, st, err := FilterListResponse([]byte(body), "application/json", json.RawMessage(tt.requestID), MethodToolsList, dropNames(nil, "x"))
			if !tt.match {
				if !errors.Is(err, ErrUnfilterable) {
					t.Fatalf("err = %v, want ErrUnfilterable", err)
				}
				return
			}
			if err != nil || st.Removed != 1 || strings.Contains(string(out), `"x"`) {
				t.Fatalf("out %s, stats %+v, err %v", out, st, err)
			}
		})
	}
}

func TestFilterListResponseErrors(t *testing.T) {
	const ok = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}}`
	tests := []struct {
		name, body, contentType, method, id, reason string
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,"result":{"tools":[}`, "", "", "", "list_parse"},
		{"duplicate key in an item", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x","name":"y"}]}}`, "", "", "", "list_parse"},
		{"duplicate items member", `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"x"}]}}`, "", "", "", "list_parse"},
		{"invalid UTF-8 in a name", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"\xff\"}]}}", "", "", "", "list_parse"},
		{"not a response", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "", "", "", "list_no_response"},
		{"no matching id", `{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}`, "", "", "", "list_id_mismatch"},
		{"string alias of the id", `{"jsonrpc":"2.0","id":"1","result":{"tools":[]}}`, "", "", "", "list_id_mismatch"},
		{"error with another id", `{"jsonrpc":"2.0","id":"1","error":{"code":-32603,"message":"x"}}`, "", "", "", "list_id_mismatch"},
		{"batch with an aliased second answer", `[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}},{"jsonrpc":"2.0","id":"1","result":{"tools":[{"name":"x"}]}}]`, "", "", "", "list_id_mismatch"},
		{"sse event with an aliased answer", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":{\"tools\":[{\"name\":\"x\"}]}}\n\n", "text/event-stream", "", "", "list_id_mismatch"},
		{"result not an object", `{"jsonrpc":"2.0","id":1,"result":[]}`, "", "", "", "list_bad_result"},
		{"items missing", `{"jsonrpc":"2.0","id":1,"result":{"nextCursor":"c"}}`, "", "", "", "list_bad_result"},
		{"items not an array", `{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"x"}}}`, "", "", "", "list_bad_result"},
		{"items member in another case", `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"Tools":[{"name":"x"}]}}`, "", "", "", "list_bad_result"},
		{"items member with long s", `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tool\u017f":[{"name":"x"}]}}`, "", "", "", "list_bad_result"},
		{"item not an object", `{"jsonrpc":"2.0","id":1,"result":{"tools":["x"]}}`, "", "", "", "list_bad_item"},
		{"item without name", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"description":"x"}]}}`, "", "", "", "list_bad_item"},
		{"name not a string", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":1}]}}`, "", "", "", "list_bad_item"},
		{"empty name", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":""}]}}`, "", "", "", "list_bad_item"},
		{"name in another case", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x","NAME":"y"}]}}`, "", "", "", "list_bad_item"},
		{"resource without uri", `{"jsonrpc":"2.0","id":1,"result":{"resources":[{"name":"x"}]}}`, "", MethodResourcesList, "", "list_bad_item"},
		{"template without uriTemplate", `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"name":"x","uri":"a"}]}}`, "", MethodResourcesTemplatesList, "", "list_bad_item"},
		{"unsupported content type", ok, "text/plain", "", "", "list_content_type"},
		{"missing content type", ok, "-", "", "", "list_content_type"},
		{"other charset", ok, "application/json; charset=iso-8859-1", "", "", "list_content_type"},
		{"not a list method", ok, "", MethodToolsCall, "", "list_not_list"},
		{"bad request id", ok, "", "", `1.5`, "list_bad_id"},
		{"request id not JSON", ok, "", "", `1x`, "list_bad_id"},
		{"SSE without the response", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n", "text/event-stream", "", "", "list_no_response"},
		{"SSE unterminated response", "event: message\ndata: " + ok + "\n", "text/event-stream", "", "", "list_sse"},
		{"SSE event that is not JSON-RPC", "data: hello\n\nevent: message\ndata: " + ok + "\n\n", "text/event-stream", "", "", "list_parse"},
		{"SSE response with duplicate keys", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"result\":{\"tools\":[]}}\n\n", "text/event-stream", "", "", "list_parse"},
		{"SSE not UTF-8", "data: " + ok + "\n\n: \xff\n\n", "text/event-stream", "", "", "list_sse"},
		{"empty body", "", "", "", "", "list_parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			}
			method := tt.method
			if method == "" {
				method = MethodToolsList
			}
			id := tt.id
			if id == "" {
				id = "1"
			}
			out, _, err := FilterListResponse([]byte(tt.body), ct, json.RawMessage(id), method, keepAll)
			if err == nil {
				t.Fatalf("no error; output %s", out)
			}
			if out != nil {
				t.Error("output returned with an error")
			}
			if !errors.Is(err, ErrUnfilterable) || mcpguard.KindOf(err) != mcpguard.KindInternal {
				t.Errorf("err = %v (kind %v), want internal ErrUnfilterable", err, mcpguard.KindOf(err))
			}
			if got := mcpguard.ReasonOf(err); got != tt.reason {
				t.Errorf("reason = %q, want %q (%v)", got, tt.reason, err)
			}
			if msg := mcpguard.SafeMessage(err); strings.Contains(msg, "name") || strings.Contains(msg, "tools") {
				t.Errorf("safe message leaks detail: %q", msg)
			}
		})
	}
}

func TestListErrorBody(t *testing.T) {
	js := ListErrorBody("application/json", json.RawMessage(`3`), -32603, "upstream list response could not be filtered", nil)
	want := `{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"upstream list response could not be filtered"}}`
	if string(js) != want {
		t.Errorf("JSON body %s", js)
	}
	sse := ListErrorBody("text/event-stream; charset=utf-8", json.RawMessage(`3`), -32603, "upstream list response could not be filtered", nil)
	evs, err := ParseSSE(sse)
	if err != nil || len(evs) != 1 || evs[0].Type != "message" || evs[0].Data != want {
		t.Errorf("SSE body %q: %v", sse, err)
	}
}

// FuzzFilterListResponse checks, for any body that filters without error,
// that the output is a valid body of the same encoding, that every item is
// counted, and that the output holds exactly the items keep accepted: a
// second pass sees those and no other.
func FuzzFilterListResponse(f *testing.F) {
	f.Add(readBody(f, "testdata/list/tools.json"), false)
	f.Add(readBody(f, "testdata/list/tools.sse"), true)
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ab"},{"name":"a"}]}},{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}]`), false)
	f.Add([]byte("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"}]}}\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, sse bool) {
		ct := "application/json"
		if sse {
			ct = "text/event-stream"
		}
		id := json.RawMessage(`1`)
		if sse && bytes.Contains(body, []byte(`"list-1"`)) {
			id = json.RawMessage(`"list-1"`)
		} else if bytes.Contains(body, []byte(`"id": 7`)) {
			id = json.RawMessage(`7`)
		}
		// Keep names of even length.
		var first []string
		keep := func(it ListItem) bool {
			k := len(it.Name)%2 == 0
			if k {
				first = append(first, it.Name)
			}
			return k
		}
		out, st, err := FilterListResponse(body, ct, id, MethodToolsList, keep)
		if err != nil {
			if !errors.Is(err, ErrUnfilterable) && mcpguard.KindOf(err) != mcpguard.KindInternal {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if st.Returned != len(first) {
			t.Fatalf("stats %+v, kept %d", st, len(first))
		}
		if st.Removed == 0 && !bytes.Equal(out, body) {
			t.Fatal("nothing removed but the body changed")
		}
		var second []string
		out2, st2, err := FilterListResponse(out, ct, id, MethodToolsList, func(it ListItem) bool {
			second = append(second, it.Name)
			return true
		})
		if err != nil {
			t.Fatalf("filtered output does not filter again: %v\n%q", err, out)
		}
		if !bytes.Equal(out2, out) || st2.Removed != 0 {
			t.Fatal("keep-all pass changed the output")
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("output items %q, want %q", second, first)
		}
	})
}

// listBody builds a tools/list result of n realistic tools.
func listBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"jsonrpc":"2.0","id":42,"result":{"tools":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		name := "aws___tool_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + string(rune('0'+i%10))
		b.WriteString(`{"name":"` + name + `","description":"Runs one operation of an AWS service on behalf of the caller, with pagination and region selection.","inputSchema":{"type":"object","properties":{"region":{"type":"string","description":"AWS region"},"max_results":{"type":"integer","minimum":1,"maximum":1000},"filters":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"values":{"type":"array","items":{"type":"string"}}}}}},"required":["region"]},"annotations":{"readOnlyHint":true,"openWorldHint":true}}`)
	}
	b.WriteString(`],"nextCursor":"eyJwYWdlIjoyfQ=="}}`)
	return []byte(b.String())
}

func benchmarkFilter(b *testing.B, body []byte, ct string) {
	b.Helper()
	half := func(it ListItem) bool { return len(it.Name)%2 == 0 }
	id := json.RawMessage(`42`)
	out, st, err := FilterListResponse(body, ct, id, MethodToolsList, half)
	if err != nil || st.Returned+st.Removed != 200 || st.Removed == 0 || len(out) >= len(body) {
		b.Fatalf("stats %+v, err %v", st, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := FilterListResponse(body, ct, id, MethodToolsList, half); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilterTools200JSON filters a 200-tool list, removing about half.
func BenchmarkFilterTools200JSON(b *testing.B) {
	benchmarkFilter(b, listBody(200), "application/json")
}

// BenchmarkFilterTools200SSE filters the same list sent as one SSE event
// after a priming event and a progress notification.
func BenchmarkFilterTools200SSE(b *testing.B) {
	body := "id: 0\ndata:\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\nevent: message\nid: 1\ndata: " + string(listBody(200)) + "\n\n"
	benchmarkFilter(b, []byte(body), "text/event-stream")
}
