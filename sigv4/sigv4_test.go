package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mcpguard/mcpguard"
)

const (
	testHost   = "aws-mcp.us-east-1.api.aws"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testToken  = "IQoJb3JpZ2luX2VjEXAMPLE//session+token=="
)

var testTime = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

func mcpBody() []byte {
	return []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3 ls"}}}`)
}

func baseRequest() Request {
	return Request{
		Method:      http.MethodPost,
		Host:        testHost,
		Path:        "/mcp",
		Body:        mcpBody(),
		ContentType: "application/json",
		Credentials: aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: testSecret, SessionToken: testToken,
			CanExpire: true, Expires: testTime.Add(time.Hour)},
		Region:  "us-east-1",
		Service: "aws-mcp",
		Time:    testTime,
	}
}

func get(res Result, name string) (string, bool) {
	for _, h := range res.Set {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

func TestSign(t *testing.T) {
	bodyHash := sha256.Sum256(mcpBody())
	noToken := baseRequest()
	noToken.Credentials.SessionToken = ""
	bodyless := baseRequest()
	bodyless.Method, bodyless.Body, bodyless.ContentType = http.MethodGet, nil, ""

	tests := []struct {
		name        string
		opts        Options
		req         Request
		wantNames   []string
		wantSigned  string
		wantPayload string
	}{
		{
			name:        "post with session token",
			req:         baseRequest(),
			wantNames:   []string{"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"},
			wantSigned:  "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token",
			wantPayload: hex.EncodeToString(bodyHash[:]),
		},
		{
			name:        "long-term key removes a client session token",
			req:         noToken,
			wantNames:   []string{"authorization", "x-amz-date", "x-amz-content-sha256"},
			wantSigned:  "content-type;host;x-amz-content-sha256;x-amz-date",
			wantPayload: hex.EncodeToString(bodyHash[:]),
		},
		{
			name:        "bodyless get signs the empty payload",
			req:         bodyless,
			wantNames:   []string{"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"},
			wantSigned:  "host;x-amz-content-sha256;x-amz-date;x-amz-security-token",
			wantPayload: EmptyPayloadHash,
		},
		{
			name:       "payload hash header omitted",
			opts:       Options{OmitPayloadHashHeader: true},
			req:        baseRequest(),
			wantNames:  []string{"authorization", "x-amz-date", "x-amz-security-token"},
			wantSigned: "content-type;host;x-amz-date;x-amz-security-token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New(tt.opts).Sign(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, h := range res.Set {
				names = append(names, h.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.wantNames) {
				t.Errorf("set %v, want %v", names, tt.wantNames)
			}
			authz, _ := get(res, HeaderAuthorization)
			a, err := parseAuthz(authz)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.signedHeaders, ";"); got != tt.wantSigned {
				t.Errorf("SignedHeaders %s, want %s", got, tt.wantSigned)
			}
			if a.keyID != tt.req.Credentials.AccessKeyID || a.date != "20260901" || a.region != "us-east-1" || a.service != "aws-mcp" {
				t.Errorf("credential scope %+v", a)
			}
			if d, _ := get(res, HeaderDate); d != "20260901T120000Z" {
				t.Errorf("x-amz-date %q", d)
			}
			if p, ok := get(res, HeaderContentSHA256); p != tt.wantPayload || ok != (tt.wantPayload != "") {
				t.Errorf("x-amz-content-sha256 %q, want %q", p, tt.wantPayload)
			}
			if tok, ok := get(res, HeaderSecurityToken); ok && tok != tt.req.Credentials.SessionToken {
				t.Errorf("x-amz-security-token %q", tok)
			}
			// The independent verifier accepts it.
			client := http.Header{"Content-Type": {tt.req.ContentType}}
			w := outgoing(tt.req.Method, tt.req.Host, tt.req.Path, client, tt.req.Body, res)
			if err := specVerify(w, testSecret); err != nil {
				t.Errorf("independent verification: %v", err)
			}
		})
	}
}

func TestSignClock(t *testing.T) {
	r := baseRequest()
	r.Time = time.Time{}
	s := New(Options{Clock: func() time.Time { return testTime.Add(3 * time.Minute) }})
	res, err := s.Sign(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := get(res, HeaderDate); d != "20260901T120300Z" {
		t.Errorf("x-amz-date %q from the clock, want 20260901T120300Z", d)
	}
}

func TestSignErrors(t *testing.T) {
	mod := func(f func(*Request)) Request { r := baseRequest(); f(&r); return r }
	tests := []struct {
		name string
		req  Request
		kind mcpguard.Kind
	}{
		{"expired credentials", mod(func(r *Request) { r.Credentials.Expires = testTime }), mcpguard.KindCredentialsUnavailable},
		{"no secret", mod(func(r *Request) { r.Credentials.SecretAccessKey = "" }), mcpguard.KindCredentialsUnavailable},
		{"no host", mod(func(r *Request) { r.Host = "" }), mcpguard.KindInternal},
		{"host with path", mod(func(r *Request) { r.Host = "a/b" }), mcpguard.KindInternal},
		{"no region", mod(func(r *Request) { r.Region = "" }), mcpguard.KindInternal},
		{"no service", mod(func(r *Request) { r.Service = "" }), mcpguard.KindInternal},
		{"relative path", mod(func(r *Request) { r.Path = "mcp" }), mcpguard.KindInvalidRequest},
		{"asterisk path", mod(func(r *Request) { r.Path = "*" }), mcpguard.KindInvalidRequest},
		{"control character in path", mod(func(r *Request) { r.Path = "/mcp\r\n" }), mcpguard.KindInvalidRequest},
		{"fragment", mod(func(r *Request) { r.Path = "/mcp#x" }), mcpguard.KindInvalidRequest},
		{"bad query escape", mod(func(r *Request) { r.Path = "/mcp?a=%zz" }), mcpguard.KindInvalidRequest},
		{"semicolon query", mod(func(r *Request) { r.Path = "/mcp?a=1;b=2" }), mcpguard.KindInvalidRequest},
		{"bad method", mod(func(r *Request) { r.Method = "PO ST" }), mcpguard.KindInvalidRequest},
		{"content-type newline", mod(func(r *Request) { r.ContentType = "application/json\nx: y" }), mcpguard.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{}).Sign(t.Context(), tt.req)
			if err == nil {
				t.Fatal("signed; want an error")
			}
			if got := mcpguard.KindOf(err); got != tt.kind {
				t.Errorf("kind %v, want %v (%v)", got, tt.kind, err)
			}
			if strings.Contains(mcpguard.SafeMessage(err), testSecret) {
				t.Error("secret in message")
			}
		})
	}
}

// TestPathEncoding pins the canonical URI the SDK computes from an
// already-encoded :path: each byte is escaped once more, as non-S3 services
// (and botocore) do.
func TestPathEncoding(t *testing.T) {
	tests := []struct {
		path, wantURI, wantQuery string
	}{
		{"/mcp", "/mcp", ""},
		{"/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fmy-agent/invocations",
			"/runtimes/arn%253Aaws%253Abedrock-agentcore%253Aus-east-1%253A123456789012%253Aruntime%252Fmy-agent/invocations", ""},
		{"/model/anthropic.claude-v2:1/invoke", "/model/anthropic.claude-v2%3A1/invoke", ""},
		{"/a%20b/c%2Fd", "/a%2520b/c%252Fd", ""},
		{"/a b", "/a%20b", ""},
		{"/a/./b//c/../d/", "/a/b/d/", ""},
		{"/mcp?b=2&a=%2F&a=1&c=x+y", "/mcp", "a=%2F&a=1&b=2&c=x%20y"},
		{"/mcp?", "/mcp", ""},
	}
	s := New(Options{})
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := baseRequest()
			r.Path = tt.path
			var c canonicalCapture
			if _, err := s.sign(context.Background(), r, nil, func(o *v4.SignerOptions) { o.LogSigning, o.Logger = true, &c }); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(c.creq, "\n")
			if lines[1] != tt.wantURI || lines[2] != tt.wantQuery {
				t.Errorf("canonical URI %q query %q, want %q %q", lines[1], lines[2], tt.wantURI, tt.wantQuery)
			}
			res, err := s.Sign(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			w := outgoing(r.Method, r.Host, r.Path, http.Header{"Content-Type": {r.ContentType}}, r.Body, res)
			if err := specVerify(w, testSecret); err != nil {
				t.Errorf("independent verification: %v", err)
			}
		})
	}
}

// TestDifferential recomputes each signature with the independent verifier
// over a spread of requests.
func TestDifferential(t *testing.T) {
	s := New(Options{})
	for i, path := range []string{"/", "/mcp", "/mcp/", "/v1/x%2Fy:z", "/ሴ", "/-._~", "/mcp?ሴ=bar&Param-3=v"} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			r := baseRequest()
			r.Method, r.Path = method, path
			r.Time = testTime.Add(time.Duration(i) * time.Second)
			if method != "POST" {
				r.Body, r.ContentType = nil, ""
			}
			t.Run(method+" "+path, func(t *testing.T) {
				res, err := s.Sign(t.Context(), r)
				if err != nil {
					t.Fatal(err)
				}
				client := http.Header{}
				if r.ContentType != "" {
					client.Set("Content-Type", r.ContentType)
				}
				if err := specVerify(outgoing(r.Method, r.Host, r.Path, client, r.Body, res), testSecret); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestHeadersAddedAfterSigning shows that what Envoy adds or rewrites after
// ext_proc leaves the signature valid, and that the check can fail: a
// changed signed header or body, or the wrong host, is caught.
func TestHeadersAddedAfterSigning(t *testing.T) {
	r := baseRequest()
	client := http.Header{
		"Authorization":  {"Bearer eyJhbGciOiJSUzI1NiJ9.user.jwt"},
		"Content-Type":   {"application/json"},
		"Accept":         {"application/json, text/event-stream"},
		"Mcp-Session-Id": {"abc"},
		"X-Amz-Date":     {"19990101T000000Z"},
	}
	res, err := New(Options{}).Sign(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*wireRequest)
		ok     bool
	}{
		{"as signed", func(*wireRequest) {}, true},
		{"envoy headers added", func(w *wireRequest) {
			w.header.Set("X-Forwarded-For", "10.0.0.1")
			w.header.Set("X-Forwarded-Proto", "https")
			w.header.Set("X-Request-Id", "0b6f3a4e-6f0e-4c77-9d2b-3c7e8c7d1a11")
			w.header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			w.header.Set("X-Envoy-Expected-Rq-Timeout-Ms", "15000")
			w.header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
			w.header.Set("Content-Length", fmt.Sprint(len(w.body)))
			w.header.Set("User-Agent", "envoy")
			w.header.Del("Mcp-Session-Id")
			w.header.Set("Accept", "*/*")
		}, true},
		{"content-type changed", func(w *wireRequest) { w.header.Set("Content-Type", "text/plain") }, false},
		{"body changed", func(w *wireRequest) { w.body = bytes.Replace(w.body, []byte("s3 ls"), []byte("s3 rb"), 1) }, false},
		{"incoming authority signed instead", func(w *wireRequest) { w.host = "gateway.example.com" }, false},
		{"session token dropped", func(w *wireRequest) { w.header.Del("X-Amz-Security-Token") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := outgoing(r.Method, r.Host, r.Path, client, r.Body, res)
			if w.header.Get("Authorization") == client.Get("Authorization") {
				t.Fatal("the user's JWT was not overwritten")
			}
			tt.mutate(&w)
			err := specVerify(w, testSecret)
			if (err == nil) != tt.ok {
				t.Errorf("verify error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestNoSecretsInOutput logs and prints every value this package returns or
// takes and checks that no secret, token or signature appears.
func TestNoSecretsInOutput(t *testing.T) {
	r := baseRequest()
	res, err := New(Options{}).Sign(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	authz, _ := get(res, HeaderAuthorization)
	sig := authz[strings.LastIndex(authz, "=")+1:]
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("signed", "result", res, "request", r, "headers", res.Set, "first", res.Set[0])
	}
	fmt.Fprintf(&buf, "%v %+v %#v %s %v %+v %#v", res, res, res, res.Set, r, r, r)
	if err := json.NewEncoder(&buf).Encode(res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, secret := range []string{testSecret, testToken, sig} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "x-amz-content-sha256") || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("output lost the non-secret fields:\n%s", out)
	}
}

func FuzzSign(f *testing.F) {
	for _, s := range []string{"/mcp", "/a/../b", "//x//", "/a%2Fb:c d", "/mcp?x=1&y=%20", "/?ሴ=bar", "/%", "/a?b=%", "/\xff"} {
		f.Add(s, []byte("{}"))
	}
	s := New(Options{})
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		r := baseRequest()
		r.Path, r.Body = path, body
		res, err := s.Sign(t.Context(), r)
		if err != nil {
			if mcpguard.KindOf(err) != mcpguard.KindInvalidRequest {
				t.Fatalf("unexpected error kind for %q: %v", path, err)
			}
			return
		}
		w := outgoing(r.Method, r.Host, r.Path, http.Header{"Content-Type": {r.ContentType}}, r.Body, res)
		if err := specVerify(w, testSecret); err != nil {
			t.Fatalf("path %q: %v", path, err)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	r := baseRequest()
	var body bytes.Buffer
	body.WriteString(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"aws___call_aws","arguments":{"cli_command":"aws s3api list-objects-v2 --bucket example --prefix `)
	for body.Len() < 2048-6 {
		body.WriteByte('x')
	}
	body.WriteString(`"}}}`)
	r.Body = body.Bytes()
	s := New(Options{})
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Body)))
	for b.Loop() {
		if _, err := s.Sign(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}
