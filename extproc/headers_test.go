package extproc

import (
	"reflect"
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
				contentLength: "12", contentEnc: "gzip", contentTypes: 1, contentEncodings: 1, authorization: []string{"Bearer x"},
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
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
