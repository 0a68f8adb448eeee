package extproc

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// TestParseRequestHeadersValues checks the values parseRequestHeaders
// converts, from raw_value or, on older data planes, value; with repeated
// lines the last is kept, however many lines there are.
func TestParseRequestHeadersValues(t *testing.T) {
	raw := func(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, RawValue: []byte(v)} }
	old := func(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, Value: v} }
	long := strings.Repeat("p", 3000)
	many := []*corev3.HeaderValue{}
	for i := range 40 {
		many = append(many, raw("user-agent", strings.Repeat("u", i)))
	}
	tests := []struct {
		name string
		hs   []*corev3.HeaderValue
		want requestHeaders
	}{
		{"raw values", []*corev3.HeaderValue{raw(":method", "POST"), raw(":path", "/mcp"), raw(":authority", "gw"), raw(":scheme", "https"),
			raw("content-type", "application/json"), raw("x-request-id", "r1"), raw("mcp-session-id", "s1"), raw("mcp-protocol-version", "2025-11-25"),
			raw("mcp-method", "tools/call"), raw("mcp-name", "t"), raw("traceparent", "tp"), raw("tracestate", "ts"), raw("content-length", "12"),
			raw("content-encoding", "gzip"), raw("authorization", "Bearer x")},
			requestHeaders{method: "POST", path: "/mcp", authority: "gw", scheme: "https", contentType: "application/json", requestID: "r1",
				sessionID: "s1", protocolVersion: "2025-11-25", mcpMethod: "tools/call", mcpName: "t", traceparent: "tp", tracestate: "ts",
				contentLength: "12", contentEnc: "gzip", contentTypes: 1, contentEncodings: 1, authorization: "Bearer x", authorizations: 1,
				names: []string{":method", ":path", ":authority", ":scheme", "content-type", "x-request-id", "mcp-session-id", "mcp-protocol-version",
					"mcp-method", "mcp-name", "traceparent", "tracestate", "content-length", "content-encoding", "authorization"}}},
		{"value only", []*corev3.HeaderValue{old(":method", "GET"), raw(":path", "/mcp"), old("x-request-id", "r2")},
			requestHeaders{method: "GET", path: "/mcp", requestID: "r2", names: []string{":method", ":path", "x-request-id"}}},
		{"repeats keep the last, raw or not", []*corev3.HeaderValue{raw("x-request-id", "a"), old("x-request-id", "b"), raw(":path", "/x"), old(":path", "/y"), raw(":path", "/z")},
			requestHeaders{requestID: "b", path: "/z", names: []string{"x-request-id", ":path"}}},
		{"long value", []*corev3.HeaderValue{raw(":path", long), raw(":method", "POST")},
			requestHeaders{path: long, method: "POST", names: []string{":path", ":method"}}},
		{"more lines than slots", many,
			requestHeaders{userAgent: strings.Repeat("u", 39), names: []string{"user-agent"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseRequestHeaders(&corev3.HeaderMap{Headers: tt.hs})
			got.mirror = mirrored{} // TestParseRequestHeadersMirror
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseRequestHeadersMirror checks what parseRequestHeaders keeps for
// the era checks: the first line of each mirrored header and the number
// of its lines, and every line of each Mcp-Param header by its name.
func TestParseRequestHeadersMirror(t *testing.T) {
	raw := func(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, RawValue: []byte(v)} }
	old := func(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, Value: v} }
	slots := func(kv ...any) mirrorValues {
		var mv mirrorValues
		for i := 0; i < len(kv); i += 3 {
			sl := mv.slot(kv[i].(string))
			sl.first, sl.n = kv[i+1].(string), kv[i+2].(int)
		}
		return mv
	}
	tests := []struct {
		name string
		hs   []*corev3.HeaderValue
		want mirrored
	}{
		{"none", []*corev3.HeaderValue{raw(":method", "POST"), raw("accept", "*/*")}, mirrored{}},
		{"each once", []*corev3.HeaderValue{raw("mcp-protocol-version", "2026-07-28"), raw("Mcp-Method", "tools/call"), raw("mcp-name", "t"),
			raw("mcp-session-id", "s"), raw("origin", "https://a")},
			mirrored{values: slots(hdrProtocolVersion, "2026-07-28", 1, hdrMethod, "tools/call", 1, hdrName, "t", 1, hdrSessionID, "s", 1, hdrOrigin, "https://a", 1)}},
		{"repeats keep the first and count", []*corev3.HeaderValue{raw("origin", "https://a"), old("origin", "https://b"), raw("mcp-name", "t"),
			raw("MCP-NAME", "u"), raw("mcp-name", "v")},
			mirrored{values: slots(hdrOrigin, "https://a", 2, hdrName, "t", 3)}},
		{"value only", []*corev3.HeaderValue{old("mcp-method", "ping"), raw("mcp-session-id", "")},
			mirrored{values: slots(hdrMethod, "ping", 1, hdrSessionID, "", 1)}},
		{"params", []*corev3.HeaderValue{raw("mcp-param-region", "us-east-1"), raw("Mcp-Param-Region", "eu-west-1"), old("mcp-param-bucket", "b")},
			mirrored{params: map[string][]string{"region": {"us-east-1", "eu-west-1"}, "bucket": {"b"}}}},
		{"more lines than conversion slots", append(slices.Repeat([]*corev3.HeaderValue{raw("user-agent", "x")}, 30), raw("mcp-name", "late"), raw("mcp-name", "later")),
			mirrored{values: slots(hdrName, "late", 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseRequestHeaders(&corev3.HeaderMap{Headers: tt.hs}).mirror
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// referenceHeaders is parseRequestHeaders written the plain way, one map
// of every line, for FuzzParseRequestHeaders to compare with.
func referenceHeaders(hs []*corev3.HeaderValue) requestHeaders {
	var rh requestHeaders
	lines := map[string][]string{}
	for _, h := range hs {
		key := strings.ToLower(h.GetKey())
		if _, ok := lines[key]; !ok {
			rh.names = append(rh.names, key)
		} else if singleValued[key] && rh.repeated == "" {
			rh.repeated = key
		}
		lines[key] = append(lines[key], headerValue(h))
	}
	last := func(k string) string {
		if v := lines[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	rh.method, rh.path, rh.authority, rh.scheme = last(":method"), last(":path"), last(":authority"), last(":scheme")
	rh.contentType, rh.contentEnc, rh.contentLength = last("content-type"), last("content-encoding"), last("content-length")
	rh.requestID, rh.sessionID, rh.userAgent = last("x-request-id"), last("mcp-session-id"), last("user-agent")
	rh.traceparent, rh.tracestate = last("traceparent"), last("tracestate")
	rh.protocolVersion, rh.mcpMethod, rh.mcpName = last("mcp-protocol-version"), last("mcp-method"), last("mcp-name")
	rh.contentTypes, rh.contentEncodings = len(lines["content-type"]), len(lines["content-encoding"])
	if v := lines["authorization"]; len(v) > 0 {
		rh.authorization, rh.authorizations = v[0], len(v)
	}
	for _, k := range []string{targetAccountHeader, targetPermissionSetHeader} {
		if v := lines[k]; len(v) > 0 {
			if rh.target == nil {
				rh.target = map[string][]string{}
			}
			rh.target[k] = v
		}
	}
	for _, k := range []string{hdrProtocolVersion, hdrMethod, hdrName, hdrSessionID, hdrOrigin} {
		if v := lines[k]; len(v) > 0 {
			sl := rh.mirror.values.slot(k)
			sl.first, sl.n = v[0], len(v)
		}
	}
	for k, v := range lines {
		if name, ok := strings.CutPrefix(k, "mcp-param-"); ok {
			if rh.mirror.params == nil {
				rh.mirror.params = map[string][]string{}
			}
			rh.mirror.params[name] = v
		}
	}
	return rh
}

// FuzzParseRequestHeaders holds parseRequestHeaders to referenceHeaders.
// The input is header lines "name:value"; a line starting with '~' sets
// value instead of raw_value, as older data planes do.
func FuzzParseRequestHeaders(f *testing.F) {
	for _, s := range []string{
		":method:POST\n:path:/mcp\ncontent-type:application/json\nauthorization:Bearer a\nmcp-session-id:mg1.x",
		"mcp-protocol-version:2026-07-28\nMcp-Method:tools/call\nmcp-name:t\nmcp-param-region:us-east-1\norigin:https://a",
		"authorization:Bearer a\nAuthorization:Bearer b\n~authorization:Bearer c",
		"mcp-name:a\n~mcp-name:b\nmcp-name:c\norigin:x\norigin:y\nmcp-param-r:1\nMCP-PARAM-R:2",
		"~:method:GET\n~x-request-id:r\nx-request-id:s\nx-mcpguard-aws-account:1\nx-mcpguard-aws-account:2",
		strings.Repeat("user-agent:u\n", 30) + "mcp-method:late\n:path:/p",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var hs []*corev3.HeaderValue
		for line := range strings.SplitSeq(in, "\n") {
			line, old := strings.CutPrefix(line, "~")
			k, v, _ := strings.Cut(line[min(1, len(line)):], ":")
			k = line[:min(1, len(line))] + k
			h := &corev3.HeaderValue{Key: k, RawValue: []byte(v)}
			if old {
				h = &corev3.HeaderValue{Key: k, Value: v}
			}
			hs = append(hs, h)
		}
		got, want := parseRequestHeaders(&corev3.HeaderMap{Headers: hs}), referenceHeaders(hs)
		if want.names == nil {
			want.names = []string{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	})
}
