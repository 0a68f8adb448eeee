package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
)

// stdDecode is the reference buildValue must match: encoding/json's
// Decoder with UseNumber, which DecodeValue used before it had a decoder
// of its own.
func stdDecode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// decodeValueSeeds are the inputs TestBuildValue and FuzzDecodeValue start
// from: every value kind, escapes of every form, whitespace everywhere.
var decodeValueSeeds = []string{
	`{}`,
	`[]`,
	` { } `,
	"\t[ ]\r\n",
	`null`,
	`true`,
	`false`,
	`0`,
	`-0.000`,
	`1E+2`,
	`-12.5e-3`,
	`123456789012345678901234567890`,
	`""`,
	`"plain"`,
	`"caf\u00e9 \"q\" \\ \/ \b\f\n\r\t"`,
	`"\ud83d\ude00 and \uD83D\uDE00"`,
	`"\u0000"`,
	`"é — 日本"`,
	`"\\"`,
	`"a\\\"b"`,
	`{"a":[1,2.5,"x",null,true,false,{},[]],"b":{"c":{"d":"e"}}}`,
	` { "k" : 1 , "l" : [ 1 , 2 ] } `,
	`{"\u006b":"v","k2":"\u0076"}`,
	`{"":""}`,
	`[[[[[]]]]]`,
	`{"n":-0,"m":1e-300,"o":0.5E10}`,
}

func TestBuildValue(t *testing.T) {
	for _, raw := range decodeValueSeeds {
		t.Run(raw, func(t *testing.T) {
			want, err := stdDecode([]byte(raw))
			if err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			got, err := DecodeValue(json.RawMessage(raw))
			if err != nil {
				t.Fatalf("DecodeValue: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DecodeValue = %#v, encoding/json %#v", got, want)
			}
		})
	}
}

// FuzzDecodeValue holds DecodeValue to encoding/json: whatever the scanner
// accepts must decode to exactly what encoding/json reads, and what
// encoding/json refuses the scanner must refuse too.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range decodeValueSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := DecodeValue(raw)
		if err != nil {
			return
		}
		want, err := stdDecode(raw)
		if err != nil {
			t.Fatalf("DecodeValue accepted %q, encoding/json refuses it: %v", raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeValue(%q) = %#v, encoding/json %#v", raw, got, want)
		}
	})
}

// paramsReadings is everything the params accessors read from m, errors
// included, as text to compare.
func paramsReadings(m *Message) string {
	out := ""
	tc, err := m.decodeToolCall()
	out += fmt.Sprintf("toolcall %v %v|", tc != nil, err)
	if tc != nil {
		out += fmt.Sprintf("%q %v %s %v|", tc.Name, tc.Arguments, tc.RawArguments, tc.Meta)
	}
	mv, err := m.MetaProtocolVersion()
	out += fmt.Sprintf("meta %q %v|", mv, err)
	for _, name := range []string{"name", "NAME", "_meta", "arguments", "x"} {
		v, ok, err := m.ParamString(name)
		out += fmt.Sprintf("%s %q %v %v|", name, v, ok, err)
	}
	return out
}

// FuzzParamIndex: reading params through the index of their members gives
// exactly what scanning them with each accessor's own sink gives, values
// and errors alike, for params Parse accepted and for any bytes at all.
func FuzzParamIndex(f *testing.F) {
	for _, p := range []string{
		`{"name":"t","arguments":{"a":1},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}`,
		`{"name":"t","NAME":"u"}`,
		`{"Name":"t","name":"u","_META":{}}`,
		`{"_meta":{"IO.modelcontextprotocol/protocolVersion":"x"},"name":"t"}`,
		`{"name":"t"} trailing`,
		`{"NAME":"t", oops}`,
		`{"name":"t","arguments":[1]}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"name":"t"}`,
		`{}`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		if len(params) == 0 || params[0] != '{' {
			return
		}
		indexed := &Message{Type: TypeRequest, Method: MethodToolsCall, Params: params}
		scanned := &Message{Type: TypeRequest, Method: MethodToolsCall, Params: params, indexDone: true}
		if got, want := paramsReadings(indexed), paramsReadings(scanned); got != want {
			t.Fatalf("params %q:\nindexed %s\nscanned %s", params, got, want)
		}
	})
}
