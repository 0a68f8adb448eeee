package audit

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const (
	testJWT       = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiIwMHUxYTJiM2M0IiwiYXVkIjoiYXdzLW1jcCJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtbm90LXJlYWw"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testSession   = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample+session/token=="
	testSignature = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
)

func TestKeyWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"api_key", []string{"api", "key"}},
		{"apiKey", []string{"api", "key"}},
		{"AWS_SECRET_ACCESS_KEY", []string{"aws", "secret", "access", "key"}},
		{"AWSSecretKey", []string{"aws", "secret", "key"}},
		{"x-api-key", []string{"x", "api", "key"}},
		{"session.token", []string{"session", "token"}},
		{"keyboard", []string{"keyboard"}},
		{"--", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := keyWords(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("keyWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSensitiveKey(t *testing.T) {
	r := newRedactor([]string{"password", "token", "key", "X-Custom"}, 0)
	tests := []struct {
		key  string
		want bool
	}{
		{"password", true},
		{"PASSWORD", true},
		{"Password", true},
		{"db_password", true},
		{"access_token", true},
		{"accessToken", true},
		{"api_key", true},
		{"Key", true},
		{"KeyName", true},
		{"x-custom", true},
		{"keyboard", false},
		{"monkey", false},
		{"passwords_policy", false},
		{"cli_command", false},
		{"region", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := r.sensitiveKey(tt.key); got != tt.want {
				t.Errorf("sensitiveKey(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text", "aws s3 ls s3://bucket", "aws s3 ls s3://bucket"},
		{"jwt alone", testJWT, Redacted},
		{"jwt in text", "token=" + testJWT + " end", "token=" + Redacted + " end"},
		{"unsigned jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", Redacted},
		{"bearer", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "Authorization: " + Redacted},
		{"bearer prose", "a bearer token is", "a bearer token is"},
		{"secret key", "aws_secret_access_key=" + testSecretKey, "aws_secret_access_key=" + Redacted},
		{"secret key alone", testSecretKey, Redacted},
		{"session token", "--token " + testSession, "--token " + Redacted},
		{"sigv4 header", "AWS4-HMAC-SHA256 Credential=ASIAX/20260206/us-east-1/aws-mcp/aws4_request, SignedHeaders=host, Signature=" + testSignature,
			"AWS4-HMAC-SHA256 Credential=ASIAX/20260206/us-east-1/aws-mcp/aws4_request, SignedHeaders=host, Signature=" + Redacted},
		{"presigned url", "https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIAX%2F2026&X-Amz-Security-Token=abc&X-Amz-Signature=" + testSignature + "&x=1",
			"https://b.s3.amazonaws.com/k?X-Amz-Credential=" + Redacted + "&X-Amz-Security-Token=" + Redacted + "&X-Amz-Signature=" + Redacted + "&x=1"},
		{"hex digest kept", "sha1 0123456789abcdef0123456789abcdef01234567", "sha1 0123456789abcdef0123456789abcdef01234567"},
		{"access key id kept", "ASIAQWERTYUIOPASDFGH", "ASIAQWERTYUIOPASDFGH"},
		{"41 chars kept", testSecretKey + "A", testSecretKey + "A"},
		{"padded base64 kept", testSecretKey + "==", testSecretKey + "=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrub(tt.in); got != tt.want {
				t.Errorf("scrub(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 8, "abc"},
		{"exact", "abcdefgh", 8, "abcdefgh"},
		{"long", "abcdefghij", 8, "abcdefgh...[truncated 10 bytes]"},
		{"unbounded", "abcdefghij", 0, "abcdefghij"},
		{"utf8 boundary", "aé€x", 4, "aé...[truncated 7 bytes]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.in, tt.max); got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestArguments(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name string
		keys []string
		max  int
		in   string // JSON object
		want string // JSON object
	}{
		{"no secrets", []string{"password"}, 0,
			`{"cli_command":"aws s3 ls","n":3,"ok":true,"z":null}`,
			`{"cli_command":"aws s3 ls","n":3,"ok":true,"z":null}`},
		{"top level key", []string{"password"}, 0,
			`{"password":"hunter2","user":"bob"}`,
			`{"password":"[REDACTED]","user":"bob"}`},
		{"case insensitive", []string{"password"}, 0,
			`{"PassWord":"hunter2"}`,
			`{"PassWord":"[REDACTED]"}`},
		{"nested map", []string{"secret"}, 0,
			`{"a":{"b":{"client_secret":"s","keep":1}}}`,
			`{"a":{"b":{"client_secret":"[REDACTED]","keep":1}}}`},
		{"inside arrays", []string{"token"}, 0,
			`{"items":[{"token":"t1"},[{"Token":"t2","x":"y"}]]}`,
			`{"items":[{"token":"[REDACTED]"},[{"Token":"[REDACTED]","x":"y"}]]}`},
		{"whole subtree under key", []string{"credentials"}, 0,
			`{"credentials":{"user":"u","pass":"p"}}`,
			`{"credentials":"[REDACTED]"}`},
		{"jwt value under innocent key", nil, 0,
			`{"note":"` + testJWT + `"}`,
			`{"note":"[REDACTED]"}`},
		{"jwt as key", nil, 0,
			`{"` + testJWT + `":1}`,
			`{"[REDACTED]":1}`},
		{"truncated string", nil, 16,
			`{"cli_command":"` + long + `"}`,
			`{"cli_command":"xxxxxxxxxxxxxxxx...[truncated 40 bytes]"}`},
		{"truncated nested string", nil, 16,
			`{"a":[{"b":"` + long + `"}]}`,
			`{"a":"[{\"b\":\"xxxxxxxxx...[truncated 49 bytes]"}`},
		{"large object", nil, 16,
			`{"a":{"k1":"v1","k2":"v2","k3":"v3"}}`,
			`{"a":"{\"k1\":\"v1\",\"k2\":...[truncated 31 bytes]"}`},
		{"small object kept", nil, 64,
			`{"a":{"k1":"v1"}}`,
			`{"a":{"k1":"v1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in map[string]any
			if err := json.Unmarshal([]byte(tt.in), &in); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(in)
			out := newRedactor(tt.keys, tt.max).arguments(in)
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := json.Marshal(want)
			if string(got) != string(wantJSON) {
				t.Errorf("arguments(%s)\n got %s\nwant %s", tt.in, got, wantJSON)
			}
			after, _ := json.Marshal(in)
			if string(before) != string(after) {
				t.Errorf("the caller's map was modified: %s became %s", before, after)
			}
		})
	}
}

func TestArgumentsDepthBound(t *testing.T) {
	var v any = "leaf"
	for i := 0; i < 200; i++ {
		v = map[string]any{"a": v}
	}
	out := newRedactor(nil, 0).arguments(map[string]any{"deep": v})
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "[TOO DEEP]") || strings.Contains(string(b), "leaf") {
		t.Errorf("deep value not cut: %.200s", b)
	}
}

func TestArgumentsGoTypes(t *testing.T) {
	type pair struct {
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	in := map[string]any{
		"num":     json.Number("12.5"),
		"bad_num": json.Number("not a number"),
		"list":    []string{testJWT, "x"},
		"struct":  pair{Password: "p", Name: "n"},
	}
	out := newRedactor([]string{"password"}, 0).arguments(in)
	got, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bad_num":"not a number","list":["[REDACTED]","x"],"num":12.5,"struct":{"name":"n","password":"[REDACTED]"}}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
