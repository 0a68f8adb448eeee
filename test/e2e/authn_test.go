package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

// TestTokenAttacks sends every kind of bad token through the Envoy stand-in;
// each gets 401 with a WWW-Authenticate challenge and nothing is forwarded.
func TestTokenAttacks(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	claims := func(mod func(map[string]any)) map[string]any {
		c := s.Claims(stack.Alice)
		if mod != nil {
			mod(c)
		}
		return c
	}
	mint := func(c map[string]any, opts ...fakeidp.MintOption) string {
		tok, err := s.IdP.Mint(c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now().Unix()
	valid := mint(claims(nil))
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(payload), `"alice"`, `"admin"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedPayload)) + "." + parts[2]
	none, err := s.IdP.MintNone(claims(nil))
	if err != nil {
		t.Fatal(err)
	}
	hs256, err := s.IdP.MintHS256WithPublicKey(claims(nil))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token string
		raw   string // Authorization header verbatim, when set
	}{
		{name: "missing"},
		{name: "malformed", token: "not.a.jwt"},
		{name: "basic scheme", raw: "Basic YWxpY2U6cGFzc3dvcmQ="},
		{name: "expired", token: mint(claims(func(c map[string]any) { c["exp"] = now - 3600; c["iat"] = now - 7200; c["nbf"] = now - 7200 }))},
		{name: "not yet valid", token: mint(claims(func(c map[string]any) { c["nbf"] = now + 3600 }))},
		{name: "wrong issuer", token: mint(claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" }))},
		{name: "wrong audience", token: mint(claims(func(c map[string]any) { c["aud"] = "another-app" }))},
		{name: "alg none", token: none},
		{name: "HS256 signed with the public key", token: hs256},
		{name: "unknown kid", token: mint(claims(nil), fakeidp.WithKid("no-such-key"))},
		{name: "foreign key", token: mint(claims(nil), fakeidp.WithForeignKey())},
		{name: "embedded jwk", token: mint(claims(nil), fakeidp.WithForeignKey(), fakeidp.WithEmbeddedJWK())},
		{name: "tampered payload", token: tampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp httpResult
			if tt.raw != "" {
				resp = postJSON(t, s, "", initializeBody, "Authorization", tt.raw)
			} else {
				resp = postJSON(t, s, tt.token, initializeBody)
			}
			if resp.status != 401 {
				t.Fatalf("status = %d, want 401: %s", resp.status, resp.body)
			}
			ch := resp.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `resource_metadata="`) {
				t.Errorf("WWW-Authenticate = %q", ch)
			}
			if tt.name != "missing" && tt.name != "basic scheme" && !strings.Contains(ch, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", ch)
			}
			if !strings.Contains(resp.body, `"code":-32001`) {
				t.Errorf("body = %s", resp.body)
			}
		})
	}
	if n := len(s.AWS.Requests()); n != 0 {
		t.Errorf("AWS received %d requests", n)
	}
	if n := len(s.STS.Calls()); n != 0 {
		t.Errorf("STS was called %d times", n)
	}
}

// TestKeyRotationAndIdPOutage: a key the IdP starts using is picked up
// without a restart, and with the IdP down the known keys keep working.
func TestKeyRotationAndIdPOutage(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	if _, err := s.IdP.Rotate("RS256"); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(stack.Alice) // signed with the new key
	if err != nil {
		t.Fatal(err)
	}
	if r := postJSON(t, s, tok, initializeBody); r.status != 200 {
		t.Fatalf("token signed with the rotated key: %d %s", r.status, r.body)
	}
	// While the IdP is down, the token that obtained cached credentials
	// keeps working: mcpguard verifies it with the keys it holds.
	s.IdP.SetDown(true)
	if r := postJSON(t, s, tok, initializeBody); r.status != 200 {
		t.Fatalf("known key and cached credentials with the IdP down: %d %s", r.status, r.body)
	}
	// A new token of the same user verifies too, but cached credentials are
	// bound to the token that obtained them, and STS needs the IdP to
	// exchange the new one: 503 with Retry-After, never another token's
	// credentials.
	c := s.Claims(stack.Alice)
	c["jti"] = "second-login"
	tok2, err := s.IdP.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	calls := len(s.STS.Calls())
	r := postJSON(t, s, tok2, initializeBody)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, `"code":-32005`) {
		t.Fatalf("new token with the IdP down: %d %s", r.status, r.body)
	}
	if len(s.STS.Calls()) == calls {
		t.Error("the new token was not exchanged: it must not reuse the old token's credentials")
	}
	s.IdP.SetDown(false)
	if r := postJSON(t, s, tok2, initializeBody); r.status != 200 {
		t.Fatalf("new token once the IdP is back: %d %s", r.status, r.body)
	}
}

// TestNoPoliciesDeniesEverything: without authz_config a valid token still
// gets 403; mcpguard never forwards what it has not authorized.
func TestNoPoliciesDeniesEverything(t *testing.T) {
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) { c.Authz = nil }})
	tok, _ := s.Token(stack.Alice)
	r := postJSON(t, s, tok, initializeBody)
	if r.status != 403 {
		t.Fatalf("status = %d, want 403: %s", r.status, r.body)
	}
	if len(s.AWS.Requests()) != 0 {
		t.Error("request forwarded without authorization")
	}
}
