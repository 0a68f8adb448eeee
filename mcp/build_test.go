package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
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
