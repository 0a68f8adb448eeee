package fakeaws

import (
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"sdk format", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/aws-mcp/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd", true},
		{"no spaces", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/aws-mcp/aws4_request,SignedHeaders=host,Signature=ab", true},
		{"bearer", "Bearer x.y.z", false},
		{"short credential", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1, SignedHeaders=host, Signature=ab", false},
		{"wrong terminator", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/aws-mcp/aws5_request, SignedHeaders=host, Signature=ab", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseAuthorization(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (a.accessKeyID != "AKID" || a.service != "aws-mcp" || a.region != "us-east-1" || a.date != "20260901" || !strings.HasPrefix(a.signedHeaders, "host")) {
				t.Errorf("parsed %+v", a)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "//": "/", "/mcp": "/mcp", "/a/../b/": "/b/", "/./x/.": "/x", "/../..": "/", "//a//b//": "/a/b/",
	} {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/aws-mcp/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature==")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := parseAuthorization(in)
		if err == nil && (a.accessKeyID == "" || a.signature == "" || a.signedHeaders == "") {
			t.Fatalf("accepted incomplete authorization %q: %+v", in, a)
		}
		if err != nil && (err.status != 403 || err.typ != ErrIncompleteSignature) {
			t.Fatalf("error %+v", err)
		}
	})
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/mcp", "/a/../b/", "//", "/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := normalizePath(in)
		if !strings.HasPrefix(out, "/") || strings.Contains(out, "//") || strings.Contains(out, "/./") || strings.Contains(out, "/../") {
			t.Fatalf("normalizePath(%q) = %q is not normal", in, out)
		}
		if normalizePath(out) != out {
			t.Fatalf("normalizePath not idempotent on %q", in)
		}
	})
}
