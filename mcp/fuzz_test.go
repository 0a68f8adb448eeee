package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/mcpguard/mcpguard"
)

// strictJSON is an oracle independent of the scanner: encoding/json for
// grammar and key unescaping, plus the extra rules Parse documents. It
// reports ok=false when data breaks one of them, and undecided=true when
// the input holds a \uD escape, whose surrogate handling encoding/json
// does not report.
func strictJSON(data []byte, maxDepth int) (ok, undecided bool) {
	if len(data) == 0 || bytes.HasPrefix(data, utf8BOM) || !utf8.Valid(data) || !json.Valid(data) {
		return false, false
	}
	if bytes.Contains(bytes.ToLower(data), []byte(`\ud`)) {
		return false, true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object    bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true, false
		}
		if err != nil {
			return false, false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if d, isDelim := tok.(json.Delim); isDelim && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return false, false
			}
			top.keys[k] = true
			top.expectKey = false
			continue
		}
		if top != nil && top.object {
			top.expectKey = true
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, expectKey: v == '{'})
				if len(stack) > maxDepth {
					return false, false
				}
			case ']':
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return false, false
			}
		}
	}
}

// rebuild renders the messages of b from their parsed fields, so a second
// Parse can prove the fields carry the whole meaning of the body.
func rebuild(b *Body) []byte {
	var out bytes.Buffer
	if b.Batch {
		out.WriteByte('[')
	}
	for i, m := range b.Messages {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"jsonrpc":"2.0"`)
		if m.ID != nil {
			out.WriteString(`,"id":`)
			out.Write(m.ID)
		}
		if m.Method != "" {
			method, _ := json.Marshal(m.Method)
			out.WriteString(`,"method":`)
			out.Write(method)
		}
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"params", m.Params}, {"result", m.Result}, {"error", m.Error}} {
			if f.raw != nil {
				out.WriteString(`,"` + f.name + `":`)
				out.Write(f.raw)
			}
		}
		out.WriteByte('}')
	}
	if b.Batch {
		out.WriteByte(']')
	}
	return out.Bytes()
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/toolcall_500.json", "testdata/toolcall_2k.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxDepth: 16, MaxBatch: 8}
		body, err := Parse(data, lim)
		oracleOK, undecided := strictJSON(data, lim.MaxDepth)
		if err != nil {
			var e *mcpguard.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not *mcpguard.Error", err)
			}
			switch e.Kind {
			case mcpguard.KindParseError:
				if oracleOK && !undecided {
					t.Fatalf("Parse rejected strictly valid JSON %q: %v", data, err)
				}
			case mcpguard.KindInvalidRequest:
				if !oracleOK && !undecided {
					t.Fatalf("Parse called invalid JSON %q an invalid request: %v", data, err)
				}
			default:
				t.Fatalf("unexpected kind %v: %v", e.Kind, err)
			}
			if len(e.Msg) > 200 || e.Reason == "" {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("Parse accepted invalid JSON %q", data)
		}
		if !oracleOK && !undecided {
			t.Fatalf("Parse accepted %q that breaks the strict rules", data)
		}
		again, err := Parse(bytes.Clone(data), lim)
		if err != nil || !reflect.DeepEqual(body, again) {
			t.Fatalf("re-parse differs: %v", err)
		}
		rebuilt := rebuild(body)
		third, err := Parse(rebuilt, Limits{MaxDepth: lim.MaxDepth, MaxBatch: lim.MaxBatch, MaxBytes: 2 * len(rebuilt)})
		if err != nil {
			t.Fatalf("rebuilt body %q does not parse: %v", rebuilt, err)
		}
		if !reflect.DeepEqual(body, third) {
			t.Fatalf("rebuilt body %q parses differently", rebuilt)
		}
		for _, m := range body.Messages {
			if s := m.IDString(); len(s) > maxIDString+3 {
				t.Fatalf("IDString %d bytes", len(s))
			}
			switch m.Method {
			case MethodToolsCall:
				_, err = m.ToolCall()
			case MethodPromptsGet:
				_, err = m.PromptGet()
			case MethodResourcesRead:
				_, err = m.ResourceRead()
			case MethodCompletionComplete:
				_, err = m.Completion()
			}
			if err != nil && mcpguard.KindOf(err) != mcpguard.KindInvalidRequest {
				t.Fatalf("params decode of valid message: %v", err)
			}
			_ = m.ProtocolVersion()
		}
	})
}

// FuzzCompletion checks that Completion accepts only a reference it can
// name, and names what encoding/json reads from the same params.
func FuzzCompletion(f *testing.F) {
	for _, p := range []string{
		`{"ref":{"type":"ref/prompt","name":"review"},"argument":{"name":"lang","value":"g"}}`,
		`{"ref":{"type":"ref/resource","uri":"s3://{bucket}/{key}"},"argument":{"name":"bucket","value":""},"context":{"arguments":{}}}`,
		`{"ref":{"type":"ref/prompt","name":"a","Name":"b"},"argument":{"name":"x"}}`,
		`{"ref":{"type":"ref/other","name":"a"},"argument":{"name":"x"}}`,
		`{"ref":{"type":"ref/resource","uri":"u","name":"n"},"argument":{"name":"x"}}`,
		`{"Ref":{},"ref":{}}`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		data := append(append([]byte(`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":`), params...), '}')
		body, err := Parse(data, Limits{})
		if err != nil {
			return
		}
		m := body.Messages[0]
		c, err := m.Completion()
		if err != nil {
			if k := mcpguard.KindOf(err); k != mcpguard.KindInvalidRequest {
				t.Fatalf("Completion of parsed params: kind %v: %v", k, err)
			}
			return
		}
		v, err := stdDecode(m.Params)
		if err != nil {
			t.Fatalf("encoding/json on parsed params: %v", err)
		}
		ref := v.(map[string]any)["ref"].(map[string]any)
		switch c.RefType {
		case RefPrompt:
			if c.Name == "" || ref["name"] != c.Name || c.URI != "" {
				t.Fatalf("prompt reference %+v, encoding/json reads %v", c, ref)
			}
		case RefResource:
			if c.URI == "" || ref["uri"] != c.URI || c.Name != "" {
				t.Fatalf("resource reference %+v, encoding/json reads %v", c, ref)
			}
		default:
			t.Fatalf("reference type %q accepted", c.RefType)
		}
	})
}

func FuzzToolCall(f *testing.F) {
	for _, p := range []string{
		`{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}`,
		`{"name":"t","arguments":{"n":1.5e3,"a":[1,{"b":null}],"s":"caf\u00e9"},"_meta":{"progressToken":1}}`,
		`{"name":"t","NAME":"u"}`,
		`{"name":"t","arguments":{"k":1,"K":2}}`,
		`{"name":"","arguments":[]}`,
		`{"name":"\u0074"}`,
		`[]`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		data := append(append([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`), params...), '}')
		body, err := Parse(data, Limits{})
		if err != nil {
			return
		}
		m := body.Messages[0]
		tc, err := m.ToolCall()
		if err != nil {
			if k := mcpguard.KindOf(err); k != mcpguard.KindInvalidRequest {
				t.Fatalf("ToolCall of parsed params: kind %v: %v", k, err)
			}
			return
		}
		if tc.Name == "" {
			t.Fatal("empty name accepted")
		}
		// encoding/json, reading the same validated params, must agree.
		v, err := stdDecode(m.Params)
		if err != nil {
			t.Fatalf("encoding/json on parsed params: %v", err)
		}
		p := v.(map[string]any)
		if p["name"] != tc.Name {
			t.Fatalf("name %q, encoding/json reads %q", tc.Name, p["name"])
		}
		if args, ok := p["arguments"]; ok {
			if !reflect.DeepEqual(args, tc.Arguments) {
				t.Fatalf("arguments %v, encoding/json reads %v", tc.Arguments, args)
			}
		} else if tc.Arguments != nil {
			t.Fatal("arguments present without a member")
		}
	})
}
