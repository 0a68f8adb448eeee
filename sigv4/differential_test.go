package sigv4

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mcpguard/mcpguard"
)

// compareWithSDK signs r (plus extra headers) with the direct signer and
// with the SDK oracle and reports any difference in outcome, canonical
// request, string to sign or Authorization.
func compareWithSDK(t *testing.T, s *Signer, r Request, extra http.Header) {
	t.Helper()
	sig, tr, derr := s.direct(r, extra)
	var c canonicalCapture
	req, serr := s.sign(context.Background(), r, extra, func(o *v4.SignerOptions) { o.LogSigning, o.Logger = true, &c })
	if (derr == nil) != (serr == nil) {
		t.Fatalf("direct error %v, SDK error %v", derr, serr)
	}
	if derr != nil {
		if mcpguard.KindOf(derr) != mcpguard.KindOf(serr) {
			t.Fatalf("direct error kind %v (%v), SDK %v (%v)", mcpguard.KindOf(derr), derr, mcpguard.KindOf(serr), serr)
		}
		return
	}
	if tr.creq != c.creq {
		t.Fatalf("canonical request differs:\n%q\nSDK:\n%q", tr.creq, c.creq)
	}
	if tr.sts != c.sts {
		t.Fatalf("string to sign differs:\n%q\nSDK:\n%q", tr.sts, c.sts)
	}
	if got, want := sig.authorization, req.Header.Get("Authorization"); got != want {
		t.Fatalf("authorization %q, SDK %q", got, want)
	}
	if got, want := sig.date, req.Header.Get("X-Amz-Date"); got != want {
		t.Fatalf("x-amz-date %q, SDK %q", got, want)
	}
	if !s.omitPayloadHash {
		if got, want := sig.payloadHash, req.Header.Get("X-Amz-Content-Sha256"); got != want {
			t.Fatalf("payload hash %q, SDK %q", got, want)
		}
	}
}

// TestDirectMatchesSDK pins the corners where a hand-written canonical
// request could drift from the SDK's: default and other ports, IPv6 hosts,
// queries, white space in values, merged duplicate headers and a session
// token or none.
func TestDirectMatchesSDK(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Request)
		extra http.Header
	}{
		{"base", func(*Request) {}, nil},
		{"no token", func(r *Request) { r.Credentials.SessionToken = "" }, nil},
		{"no body", func(r *Request) { r.Body, r.ContentType, r.Method = nil, "", "GET" }, nil},
		{"port 443 dropped", func(r *Request) { r.Host = testHost + ":443" }, nil},
		{"port 8443 kept", func(r *Request) { r.Host = testHost + ":8443" }, nil},
		{"empty port", func(r *Request) { r.Host = testHost + ":" }, nil},
		{"ipv6 443", func(r *Request) { r.Host = "[::1]:443" }, nil},
		{"ipv6 other", func(r *Request) { r.Host = "[::1]:9000" }, nil},
		{"ipv6 bare", func(r *Request) { r.Host = "[::1]" }, nil},
		{"query", func(r *Request) { r.Path = "/mcp?b=2&a=%2F&a=1&c=x+y&=v&d&e=&a-b=1&a/b=2" }, nil},
		{"bad query", func(r *Request) { r.Path = "/mcp?a=%zz" }, nil},
		{"semicolon query", func(r *Request) { r.Path = "/mcp?a=1;b=2" }, nil},
		{"dot segments", func(r *Request) { r.Path = "/a/./b//c/../../../d/" }, nil},
		{"encoded path", func(r *Request) { r.Path = "/x%2Fy:z/%E1%88%B4 ~" }, nil},
		{"content-type spaces", func(r *Request) { r.ContentType = "  application/json;   charset=utf-8  " }, nil},
		{"content-type unicode space", func(r *Request) { r.ContentType = "\u00a0application/json\u2003" }, nil},
		{"content-type tab", func(r *Request) { r.ContentType = "application/json \t" }, nil},
		{"long secret", func(r *Request) { r.Credentials.SecretAccessKey = strings.Repeat("k", 100) }, nil},
		{"extra headers", func(*Request) {}, http.Header{
			"My-Header":       {"  a   b  ", "c"},
			"Content-Type":    {"text/plain"},
			"User-Agent":      {"ignored"},
			"X-Amzn-Trace-Id": {"ignored"},
			"Content-Length":  {"12"},
			"X-Amz-Date":      {"19990101T000000Z"},
			"Zz":              {""},
		}},
		{"extra token without credentials token", func(r *Request) { r.Credentials.SessionToken = "" },
			http.Header{"X-Amz-Security-Token": {"client"}}},
	}
	for _, omit := range []bool{false, true} {
		s := New(Options{OmitPayloadHashHeader: omit})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := baseRequest()
				tt.edit(&r)
				compareWithSDK(t, s, r, tt.extra)
			})
		}
	}
}

// TestKeyCache checks that a cached signing key is never used for another
// secret, day, region or service: each change must give the SDK's answer.
func TestKeyCache(t *testing.T) {
	s := New(Options{})
	r := baseRequest()
	r.Credentials.CanExpire = false
	compareWithSDK(t, s, r, nil)
	r.Credentials.SecretAccessKey = "another/secret+with/same/access/key/id"
	compareWithSDK(t, s, r, nil)
	r.Time = r.Time.Add(24 * time.Hour)
	compareWithSDK(t, s, r, nil)
	r.Region = "eu-west-1"
	compareWithSDK(t, s, r, nil)
	r.Service = "execute-api"
	compareWithSDK(t, s, r, nil)
	// The second secret replaced the first one's entry.
	if n := len(s.keys.m); n != 4 {
		t.Errorf("%d cached keys, want 4", n)
	}
}

// FuzzSignDifferential signs arbitrary requests with the direct signer and
// the SDK and requires the same outcome and, when both sign, the same
// canonical request, string to sign and headers. extra is "name:value"
// lines; names are kept to token characters so that http.Header's
// canonicalisation is deterministic.
func FuzzSignDifferential(f *testing.F) {
	f.Add("POST", testHost, "/mcp", "application/json", testToken, "us-east-1", []byte(`{"a":1}`), "", false, int64(0))
	f.Add("GET", testHost+":443", "/a/../b//c/?x=1&y=%20&x=0", "", "", "eu-west-1", []byte(nil), "My-Header: a  b \nmy-header:c", true, int64(86400))
	f.Add("DELETE", "[::1]:443", "/%E1%88%B4?=&&a", " text/plain\t", "tok", "r", []byte("x"), "Expect:100\nX-Amz-Date:1", false, int64(-1))
	f.Add("PUT", "h:8080", "/?a=%zz", "a\u00a0", "t", "r", []byte("y"), "", false, int64(3))
	s := New(Options{})
	omit := New(Options{OmitPayloadHashHeader: true})
	f.Fuzz(func(t *testing.T, method, host, path, contentType, token, region string, body []byte, extra string, omitHash bool, offset int64) {
		r := baseRequest()
		r.Method, r.Host, r.Path, r.ContentType, r.Region, r.Body = method, host, path, contentType, region, body
		r.Credentials.SessionToken = token
		r.Credentials.CanExpire = false
		r.Time = testTime.Add(time.Duration(offset%(1<<40)) * time.Second)
		h := http.Header{}
		for l := range strings.SplitSeq(extra, "\n") {
			n, v, ok := strings.Cut(l, ":")
			if !ok || n == "" || strings.ContainsFunc(n, func(c rune) bool {
				return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')
			}) {
				continue
			}
			h.Add(n, v)
		}
		signer := s
		if omitHash {
			signer = omit
		}
		compareWithSDK(t, signer, r, h)
	})
}
