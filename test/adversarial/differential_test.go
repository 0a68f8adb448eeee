package adversarial

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	sdkjson "github.com/segmentio/encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdkmcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/mcp"
)

// view is what one message means for authorization: its method and, for
// tools/call, the tool and its arguments.
type view struct {
	method string
	tool   string
	args   map[string]any
}

func (v view) String() string { return fmt.Sprintf("%s %s %v", v.method, v.tool, v.args) }

// diff is the outcome of reading one body with both parsers.
type diff struct {
	ours, theirs       []view
	oursErr, theirsErr error
	// mismatch is set when both parsers accepted the body and disagree on
	// a method, a tool name or the arguments: what mcpguard authorized
	// would not be what the upstream executes.
	mismatch string
}

// oursView is mcpguard's reading: mcp.Parse with the gateway's limits, and
// ToolCall for tools/call, as the authorizer does.
func oursView(body []byte) ([]view, error) {
	b, err := mcp.Parse(body, mcp.Limits{MaxBytes: 1 << 20})
	if err != nil {
		return nil, err
	}
	var out []view
	for _, m := range b.Messages {
		v := view{method: m.Method}
		if m.Method == mcp.MethodToolsCall {
			tc, err := m.ToolCall()
			if err != nil {
				return nil, err
			}
			v.tool, v.args = tc.Name, tc.Arguments
		}
		out = append(out, v)
	}
	return out, nil
}

// sdkDecode decodes as the SDK's internal JSON package does: segmentio's
// decoder with case-sensitive field matching.
func sdkDecode(data []byte, v any, useNumber bool) error {
	dec := sdkjson.NewDecoder(bytes.NewReader(data))
	dec.DontMatchCaseInsensitiveStructFields()
	if useNumber {
		dec.UseNumber()
	}
	return dec.Decode(v)
}

// theirsView is the MCP Go SDK server's reading of the bytes it receives:
// the streamable transport's batch-or-single read, jsonrpc.DecodeMessage,
// and the tools/call params into CallToolParamsRaw.
func theirsView(body []byte) ([]view, error) {
	var raws []json.RawMessage
	if err := sdkDecode(body, &raws, false); err != nil || len(raws) == 0 {
		raws = []json.RawMessage{body}
	}
	var out []view
	for _, raw := range raws {
		msg, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			return nil, err
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok {
			out = append(out, view{})
			continue
		}
		v := view{method: req.Method}
		if req.Method == mcp.MethodToolsCall {
			var p sdkmcp.CallToolParamsRaw
			if err := sdkDecode(req.Params, &p, false); err != nil {
				return nil, err
			}
			v.tool = p.Name
			if len(p.Arguments) > 0 && !bytes.Equal(p.Arguments, []byte("null")) {
				if err := sdkDecode(p.Arguments, &v.args, true); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func differential(body []byte) diff {
	var d diff
	d.ours, d.oursErr = oursView(body)
	d.theirs, d.theirsErr = theirsView(body)
	if d.oursErr != nil || d.theirsErr != nil {
		return d
	}
	d.mismatch = compareViews(d.ours, d.theirs)
	return d
}

// compareViews describes the first difference between two readings, ""
// when they agree.
func compareViews(ours, theirs []view) string {
	if len(ours) != len(theirs) {
		return fmt.Sprintf("mcpguard read %d messages, the SDK %d", len(ours), len(theirs))
	}
	for i := range ours {
		o, th := ours[i], theirs[i]
		if o.method != th.method || o.tool != th.tool || !equalArgs(o.args, th.args) {
			return fmt.Sprintf("message %d: mcpguard %v, SDK %v", i, o, th)
		}
	}
	return ""
}

func equalArgs(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestParserDifferential reads every JSON body of the corpus, plus bodies
// built to split parsers, with mcpguard's parser and with the MCP Go SDK's
// decoding. Whenever mcpguard accepts a body, the SDK must either refuse
// it or read exactly the same methods, tool names and arguments.
func TestParserDifferential(t *testing.T) {
	bodies := map[string][]byte{}
	for _, c := range loadCases(t) {
		if !c.isJSON() {
			continue
		}
		b, err := c.body()
		if err != nil {
			t.Fatal(err)
		}
		bodies["case/"+c.Name] = b
	}
	extra := map[string]string{
		"plain":              `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`,
		"escaped method":     `{"jsonrpc":"2.0","id":1,"method":"tools\u002fcall","params":{"name":"aws\u005f\u005f\u005fcall_aws","arguments":{"cli_command":"aws s3 ls"}}}`,
		"escaped key":        `{"jsonrpc":"2.0","id":1,"\u006dethod":"tools/call","params":{"\u006eame":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`,
		"escaped arguments":  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","\u0061rguments":{"cli\u005fcommand":"aws s3 ls --endpoint-url https://x"}}}`,
		"escaped dup args":   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls","cli\u005fcommand":"aws s3 rm s3://b/k"}}}`,
		"case key only":      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"aws___call_aws"}}`,
		"kelvin sign key":    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"\u212a":"1","k":"2"}}}`,
		"dup name":           `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`,
		"trailing object":    `{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}`,
		"nested batch":       `[[{"jsonrpc":"2.0","id":1,"method":"ping"}]]`,
		"batch of one":       `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}]`,
		"arguments null":     `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___list_regions","arguments":null}}`,
		"numbers":            `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"n":1.0,"m":-0,"big":12345678901234567890}}}`,
		"whitespace":         " \t\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n ",
		"utf8 method":        `{"jsonrpc":"2.0","id":1,"method":"tools/cаll","params":{"name":"x"}}`,
		"surrogate pair":     `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\ud83d\ude00"}}`,
		"response and req":   `[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}]`,
		"id and method null": `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}`,
	}
	for k, v := range extra {
		bodies["extra/"+k] = []byte(v)
	}
	accepted := 0
	for name, b := range bodies {
		t.Run(name, func(t *testing.T) {
			d := differential(b)
			if d.mismatch != "" {
				t.Errorf("parsers disagree on %q: %s", truncate(b, 200), d.mismatch)
			}
			if d.oursErr == nil {
				accepted++
				if d.theirsErr != nil {
					t.Logf("accepted by mcpguard, refused by the SDK (%v): harmless, the upstream refuses", d.theirsErr)
				}
			}
		})
	}
	if accepted == 0 {
		t.Error("mcpguard accepted none of the bodies; the comparison proved nothing")
	}
}

// TestDifferentialDetects proves the comparison bites: the SDK reads
// duplicate and case-variant members in its own way, which would differ
// from a lenient first-wins or case-insensitive reading, and compareViews
// reports any difference in method, tool or arguments.
func TestDifferentialDetects(t *testing.T) {
	dup := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"allowed","name":"denied"}}`)
	th, err := theirsView(dup)
	if err != nil || len(th) != 1 || th[0].tool != "denied" {
		t.Fatalf("SDK reading of duplicate names = %v, %v; want the last name", th, err)
	}
	if _, err := oursView(dup); err == nil {
		t.Error("mcpguard accepted duplicate names")
	}
	variant := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"denied"}}`)
	if th, err := theirsView(variant); err != nil || th[0].tool != "" {
		t.Fatalf("SDK reading of a case variant = %v, %v; want no name (case-sensitive)", th, err)
	}
	a := []view{{method: "tools/call", tool: "t", args: map[string]any{"cli_command": "aws s3 ls"}}}
	for _, b := range [][]view{
		{{method: "tools/list"}},
		{{method: "tools/call", tool: "u", args: a[0].args}},
		{{method: "tools/call", tool: "t", args: map[string]any{"cli_command": "aws s3 rm"}}},
		{a[0], a[0]},
	} {
		if compareViews(a, b) == "" {
			t.Errorf("no difference reported between %v and %v", a, b)
		}
	}
	if m := compareViews(a, a); m != "" {
		t.Errorf("identical readings reported as %q", m)
	}
}
