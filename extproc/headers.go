package extproc

import (
	"net"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// requestHeaders is what mcpguard needs from Envoy's request header map.
// Envoy sends keys lower-cased, pseudo-headers included.
type requestHeaders struct {
	method        string
	path          string
	authority     string
	scheme        string
	contentType   string
	contentEnc    string
	contentLength string
	requestID     string
	sessionID     string
	userAgent     string
	traceparent   string
	tracestate    string
	authorization []string
	// contentTypes and contentEncodings count the header lines: an
	// upstream reads the first of repeated headers, so mcpguard must not
	// decide on any one of several.
	contentTypes     int
	contentEncodings int
	// names lists every header name once, in arrival order, for the
	// removal of client-sent x-amz-* and x-mcpguard-* headers.
	names []string
	// target holds the client's x-mcpguard-aws-account and
	// x-mcpguard-permission-set values (every line, so repeats are
	// refused), for a credential source that signs for one of several
	// accounts; like every x-mcpguard-* header they never leave Envoy.
	target map[string][]string
}

// headerValue reads raw_value, falling back to value: Envoy fills raw_value
// (envoy.reloadable_features.send_header_raw_value), older data planes value.
func headerValue(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}

func parseRequestHeaders(m *corev3.HeaderMap) requestHeaders {
	var rh requestHeaders
	seen := make(map[string]struct{}, len(m.GetHeaders()))
	for _, h := range m.GetHeaders() {
		key := strings.ToLower(h.GetKey())
		v := headerValue(h)
		if _, ok := seen[key]; !ok {
			seen[key] = struct{}{}
			rh.names = append(rh.names, key)
		}
		switch key {
		case ":method":
			rh.method = v
		case ":path":
			rh.path = v
		case ":authority":
			rh.authority = v
		case ":scheme":
			rh.scheme = v
		case "content-type":
			rh.contentType = v
			rh.contentTypes++
		case "content-encoding":
			rh.contentEnc = v
			rh.contentEncodings++
		case "content-length":
			rh.contentLength = v
		case "x-request-id":
			rh.requestID = v
		case "mcp-session-id":
			rh.sessionID = v
		case "user-agent":
			rh.userAgent = v
		case "traceparent":
			rh.traceparent = v
		case "tracestate":
			rh.tracestate = v
		case "authorization":
			rh.authorization = append(rh.authorization, v)
		case targetAccountHeader, targetPermissionSetHeader:
			if rh.target == nil {
				rh.target = map[string][]string{}
			}
			rh.target[key] = append(rh.target[key], v)
		}
	}
	return rh
}

// attributesKey is where Envoy puts the evaluated request_attributes.
const attributesKey = "envoy.filters.http.ext_proc"

// sourceIP returns the client address Envoy observed (attribute
// source.address), never a client-controlled header such as
// X-Forwarded-For. It returns "" when Envoy was not configured to send it.
func sourceIP(attrs map[string]*structpb.Struct) string {
	s := attrs[attributesKey]
	if s == nil {
		return ""
	}
	v := s.GetFields()["source.address"].GetStringValue()
	if v == "" {
		return ""
	}
	if host, _, err := net.SplitHostPort(v); err == nil {
		return host
	}
	return v
}

// attributeString returns one evaluated request attribute as a string.
func attributeString(attrs map[string]*structpb.Struct, name string) string {
	return attrs[attributesKey].GetFields()[name].GetStringValue()
}

// isJSONContentType accepts application/json with an optional UTF-8 charset
// parameter; MCP requires JSON-RPC messages in UTF-8.
func isJSONContentType(ct string) bool {
	mt, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return false
	}
	for p := range strings.SplitSeq(params, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "charset") {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if !strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "utf8") {
				return false
			}
		}
	}
	return true
}

// removableHeader reports whether a client-sent header must never reach the
// upstream: AWS signing headers (mcpguard sets its own) and mcpguard's own
// namespace.
func removableHeader(name string) bool {
	return strings.HasPrefix(name, "x-amz-") || strings.HasPrefix(name, "x-mcpguard-")
}
