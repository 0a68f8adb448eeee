package extproc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mcpguard/mcpguard/mcp"
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
	// authorization is the first Authorization line, authorizations the
	// number of lines (a request with more is refused: see repeated).
	authorization  string
	authorizations int
	// protocolVersion, mcpMethod and mcpName are the MCP headers of the
	// Streamable HTTP transport (MCP-Protocol-Version, and Mcp-Method and
	// Mcp-Name of the 2026-07-28 revision).
	protocolVersion string
	mcpMethod       string
	mcpName         string
	// repeated names the first single-valued header (singleValued) that
	// arrived more than once, "" when none did. Such a request is refused:
	// with two values, mcpguard and the upstream could each read another.
	repeated string
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
	// mirror holds the headers the era checks read (era.go), each line
	// counted, so that a repeat is seen as one.
	mirror mirrored
}

// headerValue reads raw_value, falling back to value: Envoy fills raw_value
// (envoy.reloadable_features.send_header_raw_value), older data planes value.
func headerValue(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}

// aliasedValue is headerValue without the copy: the string aliases the
// raw value's bytes, which the protobuf decoder allocated for this message
// alone and which nothing writes to afterwards. Of repeated lines the last
// assigned is kept, as with headerValue.
func aliasedValue(h *corev3.HeaderValue) string {
	raw := h.GetRawValue()
	if len(raw) == 0 {
		return h.GetValue()
	}
	return unsafe.String(unsafe.SliceData(raw), len(raw)) //nolint:gosec // raw is never written again
}

// singleValued lists the headers mcpguard reads that have exactly one
// meaning: each may appear at most once in a request. Envoy hands ext_proc
// every header line separately, so a repeat is visible here; were it
// allowed, "first wins" in one reader and "last wins" in another (or a
// comma-joined value in a third) would let the request mean two things.
var singleValued = map[string]bool{
	"authorization":        true,
	"content-type":         true,
	"mcp-session-id":       true,
	"mcp-protocol-version": true,
	"mcp-method":           true,
	"mcp-name":             true,
}

// parseRequestHeaders reads the request headers mcpguard decides on, and
// those the era checks read (requestHeaders.mirror), in one pass. Only
// their values are converted from Envoy's raw bytes, without a copy; the
// names of all are kept (they are strings already) for the removals.
func parseRequestHeaders(m *corev3.HeaderMap) requestHeaders {
	var rh requestHeaders
	hs := m.GetHeaders()
	rh.names = make([]string, 0, len(hs))
	// Names are deduplicated by a scan while there are few, as in every
	// real request, and through a map beyond that, so a request with many
	// headers costs no more than linear time.
	var seen map[string]struct{}
	if len(hs) > maxScannedHeaders {
		seen = make(map[string]struct{}, len(hs))
	}
	for _, h := range hs {
		key := strings.ToLower(h.GetKey())
		var dup bool
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			dup = slices.Contains(rh.names, key)
		}
		if !dup {
			rh.names = append(rh.names, key)
		} else if singleValued[key] && rh.repeated == "" {
			rh.repeated = key
		}
		if i, ok := mirrorSlotOf(key); ok {
			// The first line of each; the counts make later lines seen.
			sl := &rh.mirror.values[i]
			if sl.n == 0 {
				sl.first = aliasedValue(h)
			}
			sl.n++
		}
		switch key {
		case ":method":
			rh.method = aliasedValue(h)
		case ":path":
			rh.path = aliasedValue(h)
		case ":authority":
			rh.authority = aliasedValue(h)
		case ":scheme":
			rh.scheme = aliasedValue(h)
		case "content-type":
			rh.contentType = aliasedValue(h)
			rh.contentTypes++
		case "content-encoding":
			rh.contentEnc = aliasedValue(h)
			rh.contentEncodings++
		case "content-length":
			rh.contentLength = aliasedValue(h)
		case "x-request-id":
			rh.requestID = aliasedValue(h)
		case "mcp-session-id":
			rh.sessionID = aliasedValue(h)
		case "mcp-protocol-version":
			rh.protocolVersion = aliasedValue(h)
		case "mcp-method":
			rh.mcpMethod = aliasedValue(h)
		case "mcp-name":
			rh.mcpName = aliasedValue(h)
		case "user-agent":
			rh.userAgent = aliasedValue(h)
		case "traceparent":
			rh.traceparent = aliasedValue(h)
		case "tracestate":
			rh.tracestate = aliasedValue(h)
		case "authorization":
			if rh.authorizations == 0 {
				rh.authorization = aliasedValue(h)
			}
			rh.authorizations++
		case targetAccountHeader, targetPermissionSetHeader:
			if rh.target == nil {
				rh.target = map[string][]string{}
			}
			rh.target[key] = append(rh.target[key], headerValue(h))
		default:
			if name, ok := strings.CutPrefix(key, mcp.HeaderParamPrefix); ok {
				if rh.mirror.params == nil {
					rh.mirror.params = map[string][]string{}
				}
				rh.mirror.params[name] = append(rh.mirror.params[name], headerValue(h))
			}
		}
	}
	return rh
}

// maxScannedHeaders is the header count up to which parseRequestHeaders
// finds repeated names by scanning.
const maxScannedHeaders = 32

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
// upstream: AWS signing and request headers (x-amz-*, x-amzn-*; mcpguard
// sets its own) and mcpguard's own namespace (x-mcpguard-*). The name is
// compared case-insensitively and with '_' read as '-', because servers
// behind CGI-style header maps (HTTP_X_AMZ_DATE) and some frameworks fold
// both spellings into one: x_amz_security_token must go like
// x-amz-security-token.
func removableHeader(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	return strings.HasPrefix(n, "x-amz-") || strings.HasPrefix(n, "x-amzn-") || strings.HasPrefix(n, "x-mcpguard-")
}

// sigV4QueryParams are the query parameters of a presigned SigV4 request
// (lower case). A client that sends them tries to make the upstream
// authenticate a signature of its own choosing instead of mcpguard's.
var sigV4QueryParams = map[string]bool{
	"x-amz-algorithm":      true,
	"x-amz-credential":     true,
	"x-amz-signature":      true,
	"x-amz-security-token": true,
	"x-amz-date":           true,
	"x-amz-signedheaders":  true,
	"x-amz-expires":        true,
}

// checkQuery refuses a query string that carries SigV4 parameters, by name
// case-insensitively, after percent-decoding (X%2DAmz%2DSignature is
// X-Amz-Signature to the upstream) and with '_' read as '-'. Any other
// x-amz-* parameter is refused too: none has a use on an MCP endpoint. A
// query that does not decode is refused rather than guessed at.
func checkQuery(rawQuery string) error {
	if rawQuery == "" {
		return nil
	}
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return errors.New("query parameter name is not valid percent-encoding")
		}
		name = strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if sigV4QueryParams[name] || strings.HasPrefix(name, "x-amz-") {
			return fmt.Errorf("query parameter %s is not accepted: mcpguard signs the request itself", sanitize(name))
		}
	}
	return nil
}
