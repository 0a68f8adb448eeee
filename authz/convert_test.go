package authz

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/types"
)

func mustDecimal(t testing.TB, s string) types.Decimal {
	t.Helper()
	d, err := types.ParseDecimal(s)
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

func decodeNumber(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func TestToCedar(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    types.Value
		present bool
	}{
		{"string", `"us-east-1"`, types.String("us-east-1"), true},
		{"empty string", `""`, types.String(""), true},
		{"true", `true`, types.Boolean(true), true},
		{"false", `false`, types.Boolean(false), true},
		{"null is absent", `null`, nil, false},
		{"int", `42`, types.Long(42), true},
		{"negative int", `-7`, types.Long(-7), true},
		{"zero", `0`, types.Long(0), true},
		{"max int64", `9223372036854775807`, types.Long(9223372036854775807), true},
		{"min int64", `-9223372036854775808`, types.Long(-9223372036854775808), true},
		{"int beyond int64 is string", `9223372036854775808`, types.String("9223372036854775808"), true},
		{"huge int is string", `123456789012345678901234567890`, types.String("123456789012345678901234567890"), true},
		{"decimal 1.5", `1.5`, mustDecimal(t, "1.5"), true},
		{"decimal four digits", `1.2345`, mustDecimal(t, "1.2345"), true},
		{"decimal negative", `-0.25`, mustDecimal(t, "-0.25"), true},
		{"decimal trailing zeros", `2.50000`, mustDecimal(t, "2.5"), true},
		{"decimal 1.0", `1.0`, mustDecimal(t, "1.0"), true},
		{"five fractional digits is string", `1.23456`, types.String("1.23456"), true},
		{"exponent whole", `1e3`, mustDecimal(t, "1000.0"), true},
		{"exponent fraction", `15E-1`, mustDecimal(t, "1.5"), true},
		{"exponent too small is string", `1e-5`, types.String("1e-5"), true},
		{"exponent huge is string", `1e400`, types.String("1e400"), true},
		{"decimal out of range is string", `1000000000000000.5`, types.String("1000000000000000.5"), true},
		{"decimal at max", `922337203685477.5807`, mustDecimal(t, "922337203685477.5807"), true},
		{"array is set", `["a", 1, true]`, types.NewSet(types.String("a"), types.Long(1), types.Boolean(true)), true},
		{"array drops null", `["a", null]`, types.NewSet(types.String("a")), true},
		{"array dedups", `["a", "a"]`, types.NewSet(types.String("a")), true},
		{"empty array", `[]`, types.NewSet(), true},
		{"object is record", `{"a": "x", "b": 2}`, types.NewRecord(types.RecordMap{"a": types.String("x"), "b": types.Long(2)}), true},
		{"object drops null", `{"a": null, "b": 1}`, types.NewRecord(types.RecordMap{"b": types.Long(1)}), true},
		{"nested record", `{"filter": {"region": "us-east-1", "tags": ["x"]}}`, types.NewRecord(types.RecordMap{
			"filter": types.NewRecord(types.RecordMap{
				"region": types.String("us-east-1"),
				"tags":   types.NewSet(types.String("x")),
			}),
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, present, err := toCedar(decodeNumber(t, tt.json), 0)
			if err != nil {
				t.Fatalf("toCedar: %v", err)
			}
			if present != tt.present {
				t.Fatalf("present = %v, want %v", present, tt.present)
			}
			if !tt.present {
				return
			}
			if !got.Equal(tt.want) {
				t.Fatalf("got %s (%T), want %s (%T)", got.MarshalCedar(), got, tt.want.MarshalCedar(), tt.want)
			}
		})
	}
}

func TestToCedarGoTypes(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want types.Value
	}{
		{"float64 whole is Long", float64(1700000000), types.Long(1700000000)},
		{"float64 fraction is decimal", 1.5, mustDecimal(t, "1.5")},
		{"float64 long fraction is string", 0.123456789, types.String("0.123456789")},
		{"float64 huge is string", 1e300, types.String("1e+300")},
		{"int", 3, types.Long(3)},
		{"int64", int64(-3), types.Long(-3)},
		{"string slice", []string{"a", "b"}, types.NewSet(types.String("a"), types.String("b"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := toCedar(tt.in, 0)
			if err != nil || !ok {
				t.Fatalf("toCedar = %v, %v, %v", got, ok, err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("got %s, want %s", got.MarshalCedar(), tt.want.MarshalCedar())
			}
		})
	}
	if _, _, err := toCedar(struct{}{}, 0); err == nil {
		t.Fatal("unsupported type: want error")
	}
}

func TestToCedarDepthLimit(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDepth+2) + `1` + strings.Repeat(`}`, maxDepth+2)
	if _, _, err := toCedar(decodeNumber(t, deep), 0); err == nil {
		t.Fatal("want an error for a value nested too deeply")
	}
	ok := strings.Repeat(`[`, 10) + `1` + strings.Repeat(`]`, 10)
	if _, _, err := toCedar(decodeNumber(t, ok), 0); err != nil {
		t.Fatalf("moderate nesting: %v", err)
	}
}

// FuzzToCedar checks the number rules against exact arithmetic: whatever
// the literal, a Long or decimal result equals the literal's value exactly,
// and anything else is kept as the literal's text.
func FuzzToCedar(f *testing.F) {
	for _, s := range []string{`1`, `1.5`, `1.23456`, `-0`, `1e3`, `9223372036854775808`, `{"a":[1,2.5,null,{"b":"c"}]}`, `[1e-4, 1E+2]`, `0.00010`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
		got, present, err := toCedar(v, 0)
		if err != nil {
			return
		}
		if v == nil && present {
			t.Fatal("null converted to a present value")
		}
		n, isNum := v.(json.Number)
		if !isNum {
			return
		}
		want, ok := new(big.Rat).SetString(string(n))
		if !ok {
			// Beyond big.Rat's exponent range: only the literal is exact.
			if s, isStr := got.(types.String); !isStr || string(s) != string(n) {
				t.Fatalf("%q → %v, want the literal", n, got)
			}
			return
		}
		switch g := got.(type) {
		case types.Long:
			if new(big.Rat).SetInt64(int64(g)).Cmp(want) != 0 {
				t.Fatalf("%q → Long %d", n, g)
			}
		case types.Decimal:
			r, ok := new(big.Rat).SetString(g.String())
			if !ok || r.Cmp(want) != 0 {
				t.Fatalf("%q → decimal %s", n, g)
			}
		case types.String:
			if string(g) != string(n) {
				t.Fatalf("%q → String %q", n, g)
			}
		default:
			t.Fatalf("%q → %T", n, got)
		}
	})
}
