package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// secrets are the credential-shaped values no record may hold, whichever
// field they were sent in and whatever the redact keys.
var secrets = []string{testJWT, testSecretKey, testSession, testSignature, "abcdefghijklmnopqrstuvwxyz0123"}

// sanitizeConfigs are the redaction settings the oracle tests run under.
var sanitizeConfigs = map[string]Options{
	"defaults": {IncludeArguments: true, MaxArgumentBytes: 4096,
		RedactKeys: []string{"password", "passwd", "secret", "token", "key", "authorization", "credential", "cookie", "session"}},
	"no keys, unbounded": {IncludeArguments: true},
	"tight bound":        {IncludeArguments: true, MaxArgumentBytes: 16, RedactKeys: []string{"password", "key"}},
	"bound 64":           {IncludeArguments: true, MaxArgumentBytes: 64, RedactKeys: []string{"Pässword", "\u212Aey"}},
	"no arguments":       {MaxArgumentBytes: 4096, RedactKeys: []string{"password", "token"}},
}

// sanitizeEvents is a table of events: clean ones (the fast path), and
// ones with something to scrub, bound, drop or refuse in every field the
// logger sanitizes.
func sanitizeEvents() map[string]*Event {
	nested := func(n int) any {
		var v any = "leaf"
		for range n {
			v = map[string]any{"a": v}
		}
		return v
	}
	manyOperands := make([]string, MaxCLIOperands+3)
	for i := range manyOperands {
		manyOperands[i] = "s3://b/k" + strings.Repeat("x", i)
	}
	ev := map[string]*Event{
		"tool call": toolCall(),
		"response": {Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestID: "9f2b8c1e-5d3a-4e7b-a1c2-3d4e5f607182",
			TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
			AWS:  &AWS{UpstreamRequestID: "3a0c8b1e-7f2d-4c5b-9e8a-1d2c3b4a5f60"},
			HTTP: &HTTP{Method: "POST", Status: 200}, DurationMS: 0.412, RequestSeq: 41},
		"list response": {Type: TypeMCPResponse, Outcome: OutcomeSuccess, RequestSeq: 7,
			Details: map[string]any{"items_returned": 3, "items_removed": 1, "tools_changed": []string{"a", "b"}}},
		"minimal":       {Type: TypeMCPPing, Outcome: OutcomeSuccess},
		"empty nested":  {Type: TypeMCPPing, Outcome: OutcomeSuccess, User: &User{}, Source: &Source{}, MCP: &MCP{CLI: &CLI{}, Arguments: map[string]any{}, Batch: []MCP{}}, Authz: &Authz{Errors: []string{}}, Error: &Error{}, Details: map[string]any{}},
		"authn failure": {Type: TypeAuthnFailure, Outcome: OutcomeDenied, Source: &Source{IP: "10.0.0.1", UserAgent: "curl/8 Bearer " + secrets[4]}, Error: &Error{Kind: "unauthenticated", Reason: "token_expired", Message: "token " + testJWT + " expired"}},
		"secret ids":    {Type: TypeMCPPing, Outcome: OutcomeSuccess, RequestID: "Bearer " + secrets[4], TraceID: testJWT, SpanID: "x-amz-signature=" + testSignature},
		"authz errors": {Type: TypeAuthzDenied, Outcome: OutcomeDenied, Authz: &Authz{Decision: "deny", Policies: []string{"p1"},
			Errors: []string{"p1: fine", "p2: saw " + testSecretKey, "p3: fine too"}}},
		"clean authz errors": {Type: TypeAuthzDenied, Outcome: OutcomeDenied, Authz: &Authz{Decision: "deny", Errors: []string{"p1: x"}}},
		"string ids": {Type: TypeMCPBatch, Outcome: OutcomeSuccess, MCP: &MCP{Method: "batch", Batch: []MCP{
			{Method: "ping", JSONRPCID: json.RawMessage(`"a-1"`)},
			{Method: "ping", JSONRPCID: json.RawMessage(`"` + testJWT + `"`)},
			{Method: "ping", JSONRPCID: json.RawMessage(`"\u0041<b>"`)},
			{Method: "ping", JSONRPCID: json.RawMessage(` 7 `)},
			{Method: "ping", JSONRPCID: json.RawMessage(`{`)},
			{Method: "ping", JSONRPCID: json.RawMessage(`"open`)},
			{Method: "ping", JSONRPCID: json.RawMessage(`-1.5e3`)},
		}}},
		"clean batch": {Type: TypeMCPBatch, Outcome: OutcomeSuccess, MCP: &MCP{Method: "batch", SessionID: "s", Batch: []MCP{
			{Method: "tools/call", JSONRPCID: json.RawMessage(`1`), Tool: "t", Arguments: map[string]any{"q": "x"}},
			{Method: "ping", JSONRPCID: json.RawMessage(`2`)},
		}}},
		"batch with a secret": {Type: TypeMCPBatch, Outcome: OutcomeSuccess, MCP: &MCP{Method: "batch", Batch: []MCP{
			{Method: "ping", JSONRPCID: json.RawMessage(`1`)},
			{Method: "tools/call", JSONRPCID: json.RawMessage(`2`), Tool: "t", Arguments: map[string]any{"password": "hunter2", "q": "x"}},
			{Method: "tools/call", JSONRPCID: json.RawMessage(`3`), Tool: "t", Arguments: map[string]any{"q": "y"}},
		}}},
		"cli": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call", Tool: "aws___call_aws",
			Arguments: map[string]any{"cli_command": "aws s3 ls s3://b --region eu-west-1"},
			CLI:       &CLI{Service: "s3", Operation: "ls", Options: []string{"--region"}, Regions: []string{"eu-west-1"}, Operands: []string{"s3://b"}}}},
		"cli many operands": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call", Tool: "aws___call_aws",
			CLI: &CLI{Service: "s3", Operation: "rm", Operands: manyOperands, OperandsOmitted: 2}}},
		"cli stale omitted": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			CLI: &CLI{Service: "s3", Operation: "rm", Operands: []string{"a"}, OperandsOmitted: 5}}},
		"cli secrets": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call", Tool: "aws___call_aws",
			Arguments: map[string]any{"cli_command": "aws sts get-caller-identity --token " + testSession},
			CLI:       &CLI{Service: "sts", Operation: "get-caller-identity", Options: []string{"--token", testSession}, Regions: []string{testSecretKey}, Operands: []string{testJWT}, ParseError: "bad " + testJWT}}},
		"argument secrets": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call", Tool: "t",
			Arguments: map[string]any{
				"note":     "uses " + testJWT,
				"nested":   map[string]any{"db": map[string]any{"password": "hunter2", "host": "db.example"}, "list": []any{"x", testSecretKey}},
				"apiKey":   "abc",
				"KeyName":  "k",
				"keyboard": "qwerty",
				"Pässword": "hunter2",
				"\u212Aey": "hunter2",
				"strings":  []string{"a", testSession},
			}}},
		"redacted key collision": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{testJWT: 1, Redacted: 1, "ok": 2}}},
		"secret key name": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{"AWSSecretKey": "x", "X-Session-Token": "y", "apiKEYName": "z"}}},
		"deep": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{"deep": nested(maxDepth + 5), "shallow": nested(3)}}},
		"long values": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call", Tool: strings.Repeat("t", 100),
			Arguments: map[string]any{
				"long":   strings.Repeat("x", 5000),
				"obj":    map[string]any{"k1": "v1", "k2": "v2", "k3": strings.Repeat("v", 40)},
				"small":  map[string]any{"k": "v"},
				"list":   []any{"a", "b"},
				"strs":   []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"},
				"wide":   map[string]any{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10},
				"unicod": "é€😀" + strings.Repeat("é", 30),
			}}},
		"encode error": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{"n": json.Number("1 ")}}},
		"nested encode error": {Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{"list": []any{json.Number("2 ")}}}},
		"bad duration":  {Type: TypeMCPPing, Outcome: OutcomeSuccess, DurationMS: math.NaN()},
		"details chan":  {Type: TypeConfigLoaded, Outcome: OutcomeSuccess, Details: map[string]any{"c": make(chan int), "file": "/etc/x.yaml"}},
		"details token": {Type: TypeConfigLoaded, Outcome: OutcomeSuccess, Details: map[string]any{"client_secret": "hunter2", "version": "1.2.3"}},
	}
	// One event per argument shape, beside a clean argument, so each
	// decides alone whether the arguments can be recorded as they are.
	for name, v := range map[string]any{
		"num": json.Number("12.5"), "neg": json.Number("-0"), "bad num": json.Number("not a number"), "lead": json.Number("01"),
		"empty num": json.Number(""), "nan": math.NaN(), "inf": math.Inf(-1), "f": 1e21, "g": 1e-7, "zero": math.Copysign(0, -1),
		"i": 3, "i64": int64(-1 << 62), "u64": uint64(1 << 63), "i32": int32(-3), "u": uint(3), "u32": uint32(3),
		"i8": int8(-3), "b": true, "z": nil,
		"nil map": map[string]any(nil), "nil list": []any(nil), "nil strings": []string(nil), "empty list": []any{},
		"empty map": map[string]any{}, "empty strings": []string{}, "strings": []string{"a", "b"},
		"secret strings": []string{"a", testSession}, "list": []any{"a", 1, []any{true}}, "secret list": []any{"a", []any{testJWT}},
		"struct": struct{ Password, Name string }{"p", "n"}, "bytes": []byte("x"),
		"html": "a<b>&c\u2028", "bad utf8": "\xff\xfe", "ctl": "a\x00b\tc", "long": strings.Repeat("y", 100),
		"nested long": map[string]any{"k": strings.Repeat("y", 100)}, "nested obj": map[string]any{"k": "v"},
		"sensitive nested": map[string]any{"client_secret": "x"}, "camel nested": map[string]any{"AWSSecretKey": "x"},
	} {
		ev["shape "+name] = &Event{Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{"v": v, "cli_command": "aws s3 ls"}}}
		ev["shape key "+name] = &Event{Type: TypeMCPToolCall, Outcome: OutcomeForwarded, MCP: &MCP{Method: "tools/call",
			Arguments: map[string]any{name: 1}}}
	}
	return ev
}

// naiveLine is the line the original implementation wrote for e: the
// event sanitized by naiveSanitize, encoded by encoding/json and sealed.
func naiveLine(l *Logger, at time.Time, id string, e *Event, seq uint64, prev string) ([]byte, string, error) {
	body, err := marshalRecord(at, id, naiveSanitize(l, e))
	if err != nil {
		return nil, prev, err
	}
	line, h := sealRecord(nil, body, seq, prev)
	return line, h, nil
}

// TestSanitizeMatchesNaive holds the logger to the bytes the original,
// copy-everything implementation wrote, record by record, for every event
// of the table under every configuration, written one by one and as one
// deferred batch: the same lines, the same chain, the same refusals, and
// never a secret.
func TestSanitizeMatchesNaive(t *testing.T) {
	events := sanitizeEvents()
	for cname, o := range sanitizeConfigs {
		for _, deferred := range []bool{false, true} {
			mode := "sync"
			if deferred {
				mode = "batch"
			}
			t.Run(cname+"/"+mode, func(t *testing.T) {
				o := o
				o.Now = fixedClock()
				if deferred {
					o.FlushInterval = time.Hour
				}
				l, buf := bufferLogger(t, o)
				clock := fixedClock() // the same times, in the same order
				type want struct {
					name string
					at   time.Time
					e    *Event
				}
				var wants []want
				for name, e := range events {
					before := snapshot(t, e)
					var err error
					if deferred {
						err = l.AppendDeferred(context.Background(), e)
					} else {
						_, err = l.Append(context.Background(), e)
					}
					at := clock().UTC()
					if _, _, nerr := naiveLine(l, at, "id", e, 1, Genesis); (nerr == nil) != (err == nil) {
						t.Fatalf("%s: error %v, the original's %v", name, err, nerr)
					}
					if err == nil {
						wants = append(wants, want{name, at, e})
					}
					if after := snapshot(t, e); after != before {
						t.Errorf("%s: the caller's event was modified", name)
					}
				}
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
				sc.Buffer(nil, maxLine)
				prev, seq := Genesis, uint64(0)
				for i := 0; sc.Scan(); i++ {
					if i >= len(wants) {
						t.Fatalf("more lines than records: %s", sc.Text())
					}
					w := wants[i]
					var got Entry
					if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
						t.Fatalf("%s: %v", w.name, err)
					}
					seq++
					line, h, err := naiveLine(l, w.at, got.AuditID, w.e, seq, prev)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(append(sc.Bytes(), '\n'), line) {
						t.Errorf("%s: the line differs from the original's:\n got %s\nwant %s", w.name, sc.Bytes(), line)
					}
					for _, s := range secrets {
						if strings.Contains(sc.Text(), s) {
							t.Errorf("%s: secret %.12s… in the record: %s", w.name, s, sc.Bytes())
						}
					}
					prev = h
				}
				if int(seq) != len(wants) {
					t.Fatalf("%d lines, want %d", seq, len(wants))
				}
				if rep, err := Verify(bytes.NewReader(buf.Bytes())); err != nil || rep.BrokenAt != 0 || rep.Records != len(wants) {
					t.Fatalf("Verify = %+v, %v", rep, err)
				}
			})
		}
	}
}

// snapshot renders e and everything it points to, for noticing changes.
func snapshot(t *testing.T, e *Event) string {
	t.Helper()
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			b.WriteString("{")
			for _, k := range sortedKeys(x) {
				b.WriteString(k + ":")
				walk(x[k])
				b.WriteString(",")
			}
			b.WriteString("}")
		case []any:
			b.WriteString("[")
			for _, y := range x {
				walk(y)
				b.WriteString(",")
			}
			b.WriteString("]")
		default:
			b.WriteString(strings.ReplaceAll(strings.TrimSpace(fmtValue(x)), "\n", " "))
		}
	}
	var mcp func(m *MCP)
	mcp = func(m *MCP) {
		c := *m
		c.Arguments, c.Batch = nil, nil
		b.WriteString(fmtValue(c))
		if m.CLI != nil {
			b.WriteString(fmtValue(*m.CLI))
		}
		walk(m.Arguments)
		for i := range m.Batch {
			mcp(&m.Batch[i])
		}
	}
	c := *e
	c.MCP, c.Details = nil, nil
	b.WriteString(fmtValue(c))
	for _, p := range []any{e.User, e.Source, e.Authz, e.AWS, e.HTTP, e.Error} {
		b.WriteString(fmtValue(p))
	}
	if e.MCP != nil {
		mcp(e.MCP)
	}
	walk(e.Details)
	return b.String()
}

// TestSanitizeKeepsCleanEvent: an event with nothing to scrub, bound or
// drop is recorded as it is, without a copy; one with something to
// change is copied and the copy differs only there.
func TestSanitizeKeepsCleanEvent(t *testing.T) {
	l, _ := bufferLogger(t, sanitizeConfigs["defaults"])
	events := sanitizeEvents()
	for _, name := range []string{"tool call", "response", "list response", "minimal", "clean batch", "cli", "clean authz errors"} {
		if e := events[name]; l.sanitize(e) != e {
			t.Errorf("%s: sanitize copied a clean event", name)
		}
	}
	for _, name := range []string{"secret ids", "authz errors", "batch with a secret", "cli secrets", "argument secrets", "cli stale omitted", "details token"} {
		e := events[name]
		c := l.sanitize(e)
		if c == e {
			t.Fatalf("%s: sanitize kept an event that needs redaction", name)
		}
		if c.User != e.User || c.AWS != e.AWS || c.HTTP != e.HTTP {
			t.Errorf("%s: unchanged sections were copied", name)
		}
	}
	noArgs, _ := bufferLogger(t, sanitizeConfigs["no arguments"])
	if e := events["tool call"]; noArgs.sanitize(e) == e {
		t.Error("sanitize kept the arguments a logger without include_arguments drops")
	}
}

// FuzzSanitizeMatchesNaive compares the sanitized encoding of arbitrary
// arguments, details and free text with the original implementation's.
func FuzzSanitizeMatchesNaive(f *testing.F) {
	f.Add(`{"cli_command":"aws s3 ls"}`, "9f2b8c1e", "tools/call", []byte(`7`), 16)
	f.Add(`{"password":{"x":[1,2.5,{"token":"t"}]},"n":null}`, "Bearer abcdefghijklmnopqrstuvwxyz", "x", []byte(`"id"`), 0)
	f.Add(`{"a":[{"b":"`+strings.Repeat("x", 40)+`"}],"`+testJWT+`":1}`, testJWT, testSecretKey, []byte(` 1 `), 64)
	f.Add(`{"k":1e400,"m":-0,"s":"\u2028<>&\ud800"}`, "", "", []byte(`{`), 4096)
	at := time.Date(2026, 3, 14, 14, 9, 26, 5, time.UTC)
	f.Fuzz(func(t *testing.T, doc, s1, s2 string, id []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		var args map[string]any
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		if dec.Decode(&args) != nil {
			return
		}
		for _, withArgs := range []bool{true, false} {
			l, err := New(Options{Enabled: true, Writer: &bytes.Buffer{}, IncludeArguments: withArgs, MaxArgumentBytes: max,
				RedactKeys: []string{"password", "token", "key", s2}})
			if err != nil {
				t.Fatal(err)
			}
			e := &Event{Type: TypeMCPToolCall, Outcome: OutcomeForwarded, RequestID: s1, TraceID: s2,
				Source: &Source{IP: s1, UserAgent: s2},
				MCP: &MCP{Method: s2, JSONRPCID: json.RawMessage(id), Tool: s1, Arguments: args,
					CLI:   &CLI{Service: s1, Operands: []string{s2, s1}},
					Batch: []MCP{{Method: s1, Arguments: args}, {Tool: "t"}}},
				Authz: &Authz{Errors: []string{s1, "x"}}, Error: &Error{Message: s2}, Details: args}
			want, werr := marshalRecord(at, "id", naiveSanitize(l, e))
			got, gerr := appendRecord(nil, at, "id", l.sanitize(e))
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("error %v, the original's %v", gerr, werr)
			}
			if werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("differs from the original:\n got %s\nwant %s", got, want)
			}
		}
	})
}

// TestAppendValueMatchesJSON holds the argument encoder to encoding/json
// for every type it writes itself and the ones it hands over.
func TestAppendValueMatchesJSON(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	deep := func(n int) any {
		var v any = []any{1}
		for range n {
			v = map[string]any{"a": []any{v, "x"}}
		}
		return v
	}
	values := map[string]any{
		"nil": nil, "string": "a<b>&\u2028\u2029\xff\"\\\n", "true": true, "false": false,
		"floats":     []any{0.0, math.Copysign(0, -1), 1.5, 1e20, 1e21, 1e-6, 9.99e-7, 5e-324, math.MaxFloat64, -1e-9},
		"nan":        math.NaN(),
		"inf":        math.Inf(1),
		"numbers":    []any{json.Number("0"), json.Number("-1.5e+3"), json.Number("1E5"), json.Number("")},
		"bad number": json.Number("01"), "spaced number": json.Number("1 "), "dash": json.Number("-"),
		"ints":     []any{int(-1), int64(math.MinInt64), int32(7), uint(8), uint64(math.MaxUint64), uint32(9)},
		"others":   []any{int8(1), uint16(2), float32(1.5), []byte("x"), struct{ A int }{1}},
		"nil map":  map[string]any(nil),
		"nil list": []any(nil), "nil strings": []string(nil), "strings": []string{"a", "<"},
		"wide":    map[string]any{"j": 1, "i": 2, "h": 3, "g": 4, "f": 5, "e": 6, "d": 7, "c": 8, "b": 9, "a": 10, "\xff": 0, "<": 1, "": 2},
		"deep":    deep(maxValueDepth + 10),
		"cycle":   cyclic,
		"channel": map[string]any{"c": make(chan int)},
	}
	for name, v := range values {
		want, werr := json.Marshal(v)
		got, gerr := appendValue(nil, v, 0)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("%s: error %v, encoding/json's %v", name, gerr, werr)
			continue
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Errorf("%s: %s, encoding/json gives %s", name, got, want)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func fmtValue(v any) string { return fmt.Sprintf("%#v", v) }

// TestSensitiveKeyMatchesNaive holds the in-place word split of ASCII keys
// to keyWords' reading, key by key.
func TestSensitiveKeyMatchesNaive(t *testing.T) {
	keys := []string{"password", "secret", "key", "access-key", "X-Custom", "AWS", "Pässword", "\u212Aey", "--"}
	r := newRedactor(keys, 0)
	for _, k := range []string{
		"", "password", "PASSWORD", "db_password", "AWSSecretKey", "awsSecretAccessKey", "AWS_SECRET_ACCESS_KEY",
		"aws-secret-access-key", "accessKey", "ACCESSKey", "AccessKEY", "keyboard", "monkey", "KeyName", "x-custom",
		"XCustom", "x_custom_id", "a1B2c3", "ABCdef", "abcDEF", "A", "Ab", "aB", "AB", "key2", "2key", "pässword",
		"PÄSSWORD", "\u212Aey", "kEy", "s3Key", "S3KEY", "..key..", "secret.key", "MySecretKEYs",
	} {
		if got, want := r.sensitiveKey(k), (naive{r}).sensitiveKey(k); got != want {
			t.Errorf("sensitiveKey(%q) = %v, the original %v", k, got, want)
		}
	}
}

// FuzzSensitiveKey compares the in-place word split with keyWords.
func FuzzSensitiveKey(f *testing.F) {
	f.Add("AWSSecretKey", "secret")
	f.Add("x-api-KEY", "api key")
	f.Fuzz(func(t *testing.T, k, redact string) {
		r := newRedactor(strings.Fields(redact), 0)
		if got, want := r.sensitiveKey(k), (naive{r}).sensitiveKey(k); got != want {
			t.Fatalf("sensitiveKey(%q) with %q = %v, the original %v", k, redact, got, want)
		}
	})
}

// FuzzValidNumber: isValidNumber, which stands in front of json.Valid for
// number ids and arguments, accepts only what json.Valid accepts, and
// exactly encoding/json's numbers.
func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "01", "1.", "1.5", "-1.5e+3", "1E5", "1e", "-", "", " 1", "1 ", "+1", ".5", "1e-", "9007199254740993"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := isValidNumber(s)
		if ok && !json.Valid([]byte(s)) {
			t.Fatalf("isValidNumber(%q) but json.Valid refuses it", s)
		}
		if ok != isValidNumber([]byte(s)) {
			t.Fatalf("isValidNumber(%q) differs between string and []byte", s)
		}
		_, err := json.Marshal(json.Number(s))
		if s != "" && ok != (err == nil) {
			t.Fatalf("isValidNumber(%q) = %v, encoding/json's error %v", s, ok, err)
		}
	})
}
