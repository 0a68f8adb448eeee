package extproc

import (
	"context"
	"net/url"
	"path"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/test/envoysim"
)

func TestCheckPath(t *testing.T) {
	single := Upstream{Host: "h", Region: "r", Service: "s"}
	withPath := Upstream{Host: "h", Region: "r", Service: "s", Path: "/mcp"}
	named := Upstream{Host: "h", Region: "r", Service: "s", Path: "/mcp", name: "eu"}
	tests := []struct {
		path string
		up   Upstream
		ok   bool
	}{
		{"/mcp", single, true},
		{"/mcp", withPath, true},
		{"/", single, true},
		{"/mcp?x=1", withPath, true},
		{"/eu", named, true},
		{"/mcp", named, true},
		{"/mcp/v1", single, true},
		{"/mcp%20x", single, true},
		{"/mcp/./", single, false},
		{"/mcp/.", single, false},
		{"/mcp/../admin", single, false},
		{"/./mcp", single, false},
		{"/mcp/%2e%2e/admin", single, false},
		{"/mcp/%2E%2E/admin", single, false},
		{"/mcp/.%2E/admin", single, false},
		{"/mcp/%2e./admin", single, false},
		{"/mcp/%2e", single, false},
		{"/mcp%2fadmin", single, false},
		{"/mcp%2Fadmin", single, false},
		{"/mcp%5cadmin", single, false},
		{"/mcp%5C..%5Cadmin", single, false},
		{`/mcp\..\admin`, single, false},
		{`/mcp\admin`, single, false},
		{"/mcp//admin", single, false},
		{"//mcp", single, false},
		{"/mcp/", single, false},
		{"/%6dcp", single, false},
		{"/mcp%00", single, false},
		{"/mcp%", single, false},
		{"/mcp%zz", single, false},
		{"/mcp#frag", single, false},
		{"/mcp x", single, false},
		{"/mcp\x7f", single, false},
		{"/mcp/\xc3\xa9", single, false},
		{"mcp", single, false},
		{"", single, false},
		{"*", single, false},
		{"/admin", withPath, false},
		{"/mcp/admin", withPath, false},
		{"/mcpx", withPath, false},
		{"/us", named, false},
		{"/mcp?X-Amz-Signature=abc", single, false},
		{"/mcp?x-amz-credential=abc", single, false},
		{"/mcp?a=1&X-AMZ-ALGORITHM=AWS4-HMAC-SHA256", single, false},
		{"/mcp?X-Amz-Security-Token=t", withPath, false},
		{"/mcp?X-Amz-Date=20260101T000000Z", single, false},
		{"/mcp?X-Amz-SignedHeaders=host", single, false},
		{"/mcp?X%2DAmz%2DSignature=abc", single, false},
		{"/mcp?%58-amz-signature=abc", single, false},
		{"/mcp?x_amz_signature=abc", single, false},
		{"/mcp?X-Amz-Expires=60", single, false},
		{"/mcp?x-amz-anything=1", single, false},
		{"/mcp?%zz=1", single, false},
		{"/mcp?amz=1&signature=x", single, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := checkPath(tt.path, tt.up)
			if (err == nil) != tt.ok {
				t.Fatalf("checkPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
			}
		})
	}
}

// TestPathRefusedBeforeSigning proves a refused path never reaches the
// credential source or the signer.
func TestPathRefusedBeforeSigning(t *testing.T) {
	for _, path := range []string{"/mcp/../admin", "/mcp/%2e%2e/x", "/mcp%2fx", `/mcp\x`, "/mcp?X-Amz-Signature=1"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t, nil)
			req := post(toolCall, "authorization", "Bearer alice")
			req.Path = path
			out := h.filter.ProcessRequest(context.Background(), req)
			defer out.Close()
			if out.Immediate == nil || out.Immediate.Status != 400 {
				t.Fatalf("want 400, got %+v", out.Immediate)
			}
			if !strings.Contains(string(out.Immediate.Body), `"code":-32600`) {
				t.Errorf("body = %s", out.Immediate.Body)
			}
			if h.creds.calls.Load() != 0 {
				t.Error("credentials were fetched for a refused path")
			}
		})
	}
}

func TestRepeatedSingleValuedHeaders(t *testing.T) {
	for _, name := range []string{"Mcp-Session-Id", "MCP-Protocol-Version", "Authorization", "Content-Type", "Mcp-Method", "Mcp-Name"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			req := post(toolCall, "authorization", "Bearer alice")
			if !strings.EqualFold(name, "authorization") && !strings.EqualFold(name, "content-type") {
				req.Headers = append(req.Headers, envoysim.Header{Key: strings.ToLower(name), Value: "a"})
			}
			req.Headers = append(req.Headers, envoysim.Header{Key: strings.ToLower(name), Value: "b"})
			if strings.EqualFold(name, "authorization") {
				req.Headers[len(req.Headers)-1].Value = "Bearer alice"
			}
			if strings.EqualFold(name, "content-type") {
				req.Headers[len(req.Headers)-1].Value = "application/json"
			}
			out := h.filter.ProcessRequest(context.Background(), req)
			defer out.Close()
			if out.Immediate == nil || out.Immediate.Status != 400 {
				t.Fatalf("want 400, got %+v", out.Immediate)
			}
			if !strings.Contains(string(out.Immediate.Body), strings.ToLower(name)) {
				t.Errorf("reason does not name the header: %s", out.Immediate.Body)
			}
			if h.creds.calls.Load() != 0 {
				t.Error("credentials fetched")
			}
		})
	}
}

func TestParseRequestHeadersSingleValues(t *testing.T) {
	m := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "mcp-method", RawValue: []byte("tools/call")}, {Key: "mcp-name", RawValue: []byte("t")},
		{Key: "mcp-protocol-version", RawValue: []byte("2026-07-28")}, {Key: "x-other", RawValue: []byte("1")}, {Key: "x-other", RawValue: []byte("2")},
	}}
	rh := parseRequestHeaders(m)
	if rh.mcpMethod != "tools/call" || rh.mcpName != "t" || rh.protocolVersion != "2026-07-28" || rh.repeated != "" {
		t.Errorf("parsed %+v", rh)
	}
}

func TestRemovableHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"x-amz-date", true},
		{"x_amz_date", true},
		{"X_Amz_Security_Token", true},
		{"x-amz_security-token", true},
		{"x-amzn-requestid", true},
		{"x_amzn_trace_id", true},
		{"x-mcpguard-upstream", true},
		{"x_mcpguard_upstream", true},
		{"X-MCPGUARD-anything", true},
		{"x-amzx", false},
		{"xamz-date", false},
		{"content-type", false},
		{"x-request-id", false},
	}
	for _, tt := range tests {
		if got := removableHeader(tt.name); got != tt.want {
			t.Errorf("removableHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestUnderscoreHeadersRemoved sends the underscore and mixed-case
// spellings of AWS and mcpguard headers: none reaches the upstream.
func TestUnderscoreHeadersRemoved(t *testing.T) {
	h := newHarness(t, nil)
	out := h.filter.ProcessRequest(context.Background(), post(toolCall,
		"authorization", "Bearer alice",
		"x_amz_security_token", "client-token",
		"X_Amz_Date", "20000101T000000Z",
		"x_amzn_trace_id", "client-trace",
		"x_mcpguard_upstream", "evil",
	))
	defer out.Close()
	if out.Immediate != nil {
		t.Fatalf("answered locally: %d %s", out.Immediate.Status, out.Immediate.Body)
	}
	for _, hv := range out.Request.Headers {
		switch hv.Value {
		case "client-token", "20000101T000000Z", "client-trace", "evil":
			t.Errorf("client header %s: %s reached the upstream", hv.Key, hv.Value)
		}
	}
}

func BenchmarkCheckPath(b *testing.B) {
	up := Upstream{Host: "h", Region: "r", Service: "s", Path: "/mcp"}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkPath("/mcp?session=abc", up); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCheckPath: an accepted path is already clean (path.Clean leaves it
// alone), holds no encoded dot, slash or backslash, and carries no SigV4
// query parameter under any spelling.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/mcp", "/mcp/../x", "/mcp/%2e%2E/x", "/mcp%2fx", `/mcp\x`, "//mcp", "/mcp?X-Amz-Signature=1", "/mcp?X%2DAmz%2DDate=1", "/%6dcp"} {
		f.Add(s)
	}
	up := Upstream{Host: "h", Region: "r", Service: "s"}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkPath(raw, up) != nil {
			return
		}
		p, q, _ := strings.Cut(raw, "?")
		if path.Clean(p) != p {
			t.Fatalf("accepted %q, which cleans to %q", raw, path.Clean(p))
		}
		lp := strings.ToLower(p)
		for _, bad := range []string{"%2e", "%2f", "%5c", `\`} {
			if strings.Contains(lp, bad) {
				t.Fatalf("accepted %q holding %s", raw, bad)
			}
		}
		for part := range strings.SplitSeq(q, "&") {
			k, _, _ := strings.Cut(part, "=")
			name, err := url.QueryUnescape(k)
			if err != nil || strings.HasPrefix(strings.ToLower(strings.ReplaceAll(name, "_", "-")), "x-amz-") {
				t.Fatalf("accepted query parameter %q in %q", k, raw)
			}
		}
	})
}
