package audit

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// marshalRecord is the oracle: encoding/json's encoding of the record.
func marshalRecord(at time.Time, id string, e *Event) ([]byte, error) {
	return json.Marshal(record{Schema: Schema, Time: at, AuditID: id, Event: e})
}

func checkEncode(t *testing.T, at time.Time, id string, e *Event) {
	t.Helper()
	want, werr := marshalRecord(at, id, e)
	got, gerr := appendRecord(nil, at, id, e)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("encode error %v, encoding/json error %v", gerr, werr)
	}
	if werr == nil && string(got) != string(want) {
		t.Fatalf("encoding differs:\n got %s\nwant %s", got, want)
	}
}

// TestEncodeMatchesJSON holds the hand-written encoder to encoding/json's
// output for every field, empty and set, and for the strings whose
// escaping differs between encoders.
func TestEncodeMatchesJSON(t *testing.T) {
	at := time.Date(2026, 3, 14, 14, 9, 26, 536897000, time.UTC)
	exp := time.Date(2026, 3, 14, 15, 0, 0, 0, time.FixedZone("x", 3600))
	yes, no := true, false
	full := toolCall()
	full.MCP.CLI = &CLI{Service: "s3", Operation: "ListBuckets", Options: []string{"--region"}, Regions: []string{"us-east-1"},
		Operands: []string{"s3://a", "b"}, OperandsOmitted: 3, ParseError: "x"}
	full.MCP.Batch = []MCP{{Method: "ping", JSONRPCID: json.RawMessage(`"a"`)}, {Method: "tools/call", Tool: "t", Batch: []MCP{{}}}}
	full.MCP.Prompt, full.MCP.ResourceURI = "p", "file:///x"
	full.Authz.Errors = []string{"e1", "e2"}
	full.AWS.AssumedRoleARN, full.AWS.CredentialsExpiration, full.AWS.CredentialsCached = "arn:aws:sts::1:assumed-role/r/s", &exp, true
	full.AWS.Actions, full.AWS.Complete = []string{"s3:ListBuckets"}, &no
	full.AWS.CredentialSource, full.AWS.AWSAccount, full.AWS.PermissionSet = "identity_center", "111122223333", "ReadOnly"
	full.Error = &Error{Kind: "forbidden", Reason: "policy", Message: "denied"}
	full.Details = map[string]any{"b": 1, "a": []any{"x", 2.5, nil, true}, "html": "<&>"}
	full.RequestSeq = 42
	tests := map[string]*Event{
		"minimal":      {Type: TypeMCPPing, Outcome: OutcomeSuccess},
		"tool call":    toolCall(),
		"full":         full,
		"empty nested": {Type: TypeMCPPing, Outcome: OutcomeSuccess, User: &User{}, Source: &Source{}, MCP: &MCP{CLI: &CLI{}}, Authz: &Authz{}, AWS: &AWS{Complete: &yes}, HTTP: &HTTP{}, Error: &Error{}, Details: map[string]any{}},
		"empty slices": {Type: TypeMCPPing, Outcome: OutcomeSuccess, User: &User{Groups: []string{}}, Authz: &Authz{Policies: []string{}}},
		"escaping": {Type: TypeMCPPing, Outcome: OutcomeSuccess, RequestID: "a\"b\\c\n\r\t\b\f\x00\x1f\x7f<>&\u2028\u2029\xff\xfe\u00e9\U0001F600",
			MCP: &MCP{JSONRPCID: json.RawMessage(` 7 `)}},
		"string id":   {Type: TypeMCPPing, Outcome: OutcomeSuccess, MCP: &MCP{JSONRPCID: json.RawMessage(`"<id>"`)}},
		"bad id":      {Type: TypeMCPPing, Outcome: OutcomeSuccess, MCP: &MCP{JSONRPCID: json.RawMessage(`{`)}},
		"durations":   {Type: TypeMCPPing, Outcome: OutcomeSuccess, DurationMS: 1e-7},
		"big":         {Type: TypeMCPPing, Outcome: OutcomeSuccess, DurationMS: 1e21},
		"negative":    {Type: TypeMCPPing, Outcome: OutcomeSuccess, DurationMS: -0.000123, HTTP: &HTTP{Status: -1}},
		"nan":         {Type: TypeMCPPing, Outcome: OutcomeSuccess, DurationMS: math.NaN()},
		"year":        {Type: TypeMCPPing, Outcome: OutcomeSuccess, AWS: &AWS{CredentialsExpiration: &time.Time{}}},
		"bad year":    {Type: TypeMCPPing, Outcome: OutcomeSuccess, AWS: &AWS{CredentialsExpiration: func() *time.Time { t := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return &t }()}},
		"bad details": {Type: TypeMCPPing, Outcome: OutcomeSuccess, Details: map[string]any{"c": make(chan int)}},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) { checkEncode(t, at, "0b6f3a4e-6f0e-4c77-9d2b-3c7e8c7d1a11", e) })
	}
	for _, f := range []float64{0.001, 1, 123.456, 1e20, 1e-6, 9.99e-7, 5e-324, math.MaxFloat64, -1e-9} {
		checkEncode(t, at, "id", &Event{Type: TypeMCPPing, Outcome: OutcomeSuccess, DurationMS: f})
	}
}

// FuzzEncodeRecord compares the encoder with encoding/json on arbitrary
// strings, numbers and ids in every kind of field.
func FuzzEncodeRecord(f *testing.F) {
	f.Add("a<b>&c", "\u2028\xff", "sub", int64(200), 3.25, []byte(`18`), uint64(1), int64(0))
	f.Add("", "", "", int64(0), 0.0, []byte(`"x"`), uint64(0), int64(-62135596800))
	f.Add("\x00\x1f\"\\", "é😀", "\t", int64(-1), 1e-9, []byte(` {"a":1} `), uint64(1<<63), int64(253402300800))
	at := time.Date(2026, 3, 14, 14, 9, 26, 5, time.UTC)
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, n int64, d float64, id []byte, seq uint64, unix int64) {
		exp := time.Unix(unix, n).UTC()
		e := &Event{Type: Type(s1), Outcome: Outcome(s2), RequestID: s3, TraceID: s1, SpanID: s2,
			User:   &User{Sub: s1, Groups: []string{s2, s3}},
			Source: &Source{IP: s3},
			MCP:    &MCP{Method: s1, JSONRPCID: json.RawMessage(id), Tool: s2, Batch: []MCP{{Tool: s3}}, CLI: &CLI{Operands: []string{s1}, OperandsOmitted: int(n)}},
			Authz:  &Authz{Decision: s2, Errors: []string{s3}},
			AWS:    &AWS{RoleARN: s1, CredentialsExpiration: &exp, CredentialsCached: n%2 == 0, Actions: []string{s2}},
			HTTP:   &HTTP{Method: s3, Status: int(n)}, DurationMS: d,
			Error:   &Error{Message: s1},
			Details: map[string]any{s1: s2, "n": d}, RequestSeq: seq}
		checkEncode(t, at, s3, e)
	})
}

// TestEncodeCoversEveryField sets every field of an Event, recursively and
// by reflection, and holds the encoder to encoding/json's output: a field
// added to the record types without a line in appendRecord fails here
// instead of vanishing from the trail.
func TestEncodeCoversEveryField(t *testing.T) {
	e := &Event{}
	fillAll(t, reflect.ValueOf(e).Elem(), 2)
	checkEncode(t, time.Date(2026, 3, 14, 14, 9, 26, 0, time.UTC), "id", e)
	// The check can fail: a field the encoder drops is noticed.
	e.User.Provider = "okta"
	want, _ := marshalRecord(time.Time{}, "id", e)
	if !strings.Contains(string(want), `"provider":"okta"`) {
		t.Fatalf("the oracle lost a field: %s", want)
	}
}

// fillAll gives every settable field of v a non-zero value; depth bounds
// the recursion of the self-referencing MCP batch.
func fillAll(t *testing.T, v reflect.Value, depth int) {
	t.Helper()
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)))
		return
	case json.RawMessage:
		v.Set(reflect.ValueOf(json.RawMessage(`7`)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v-" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), depth)
	case reflect.Slice:
		if depth == 0 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillAll(t, s.Index(0), depth-1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf(any("v")))
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(t, v.Field(i), depth)
			}
		}
	default:
		t.Fatalf("fillAll: no value for %s", v.Type())
	}
}
