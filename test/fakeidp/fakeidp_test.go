package fakeidp

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func start(t *testing.T, opts ...Option) *IdP {
	t.Helper()
	p, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestDiscovery(t *testing.T) {
	p := start(t)
	resp := get(t, p.URL()+DiscoveryPath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc == "" {
		t.Error("no Cache-Control")
	}
	var doc struct {
		Issuer   string   `json:"issuer"`
		JWKSURI  string   `json:"jwks_uri"`
		AuthzEP  string   `json:"authorization_endpoint"`
		TokenEP  string   `json:"token_endpoint"`
		Algs     []string `json:"id_token_signing_alg_values_supported"`
		Response []string `json:"response_types_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != p.URL() || doc.JWKSURI != p.JWKSURL() || doc.AuthzEP == "" || doc.TokenEP == "" || len(doc.Response) == 0 {
		t.Errorf("discovery = %+v", doc)
	}
	if !slices.Equal(doc.Algs, []string{RS256, ES256, EdDSA}) {
		t.Errorf("algs = %v", doc.Algs)
	}
	if p.DiscoveryFetches() != 1 {
		t.Errorf("discovery fetches = %d", p.DiscoveryFetches())
	}
}

func TestMintVerifiesWithPublishedJWKS(t *testing.T) {
	p := start(t)
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			set, err := jwk.Fetch(t.Context(), p.JWKSURL())
			if err != nil {
				t.Fatalf("fetch jwks: %v", err)
			}
			tok, err := p.Mint(p.Claims("alice", "aud-1", "g1", "g2"), WithAlg(alg))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.ParseString(tok, jwt.WithKeySet(set), jwt.WithIssuer(p.URL()), jwt.WithAudience("aud-1"))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if parsed.Subject() != "alice" {
				t.Errorf("sub = %q", parsed.Subject())
			}
			msg, err := jws.ParseString(tok)
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if h.KeyID() != p.ActiveKid(alg) || string(h.Algorithm()) != alg {
				t.Errorf("header kid=%q alg=%q", h.KeyID(), h.Algorithm())
			}
		})
	}
	if p.JWKSFetches() != 3 {
		t.Errorf("jwks fetches = %d, want 3", p.JWKSFetches())
	}
}

func TestJWKSHeadersAndKeys(t *testing.T) {
	p := start(t)
	resp := get(t, p.JWKSURL())
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if resp.Header.Get("Cache-Control") == "" {
		t.Error("no Cache-Control")
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("keys = %d", len(doc.Keys))
	}
	for _, k := range doc.Keys {
		if k["kid"] == nil || k["alg"] == nil || k["use"] != "sig" {
			t.Errorf("key lacks kid/alg/use: %v", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("private member %q published", private)
			}
		}
	}
}

func TestRotateRetireDown(t *testing.T) {
	p := start(t, WithAlgorithms(ES256))
	old := p.ActiveKid("")
	kid, err := p.Rotate("")
	if err != nil {
		t.Fatal(err)
	}
	if kid == old || p.ActiveKid(ES256) != kid {
		t.Fatalf("rotate: old %q new %q active %q", old, kid, p.ActiveKid(ES256))
	}
	if got := p.Kids(); !slices.Equal(got, []string{old, kid}) {
		t.Fatalf("kids after rotate = %v", got)
	}
	if _, err := p.Mint(p.Claims("a", "b"), WithSigningKey(old)); err != nil {
		t.Fatalf("mint with old key: %v", err)
	}
	if !p.Retire(old) || p.Retire(old) {
		t.Fatal("retire should succeed once")
	}
	if got := p.Kids(); !slices.Equal(got, []string{kid}) {
		t.Fatalf("kids after retire = %v", got)
	}
	p.SetDown(true)
	for _, path := range []string{JWKSPath, DiscoveryPath} {
		if resp := get(t, p.URL()+path); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s while down: %d", path, resp.StatusCode)
		}
	}
	p.SetDown(false)
	if resp := get(t, p.JWKSURL()); resp.StatusCode != http.StatusOK {
		t.Errorf("jwks after recovery: %d", resp.StatusCode)
	}
}

func TestAttackTokens(t *testing.T) {
	p := start(t)
	set, err := jwk.Fetch(t.Context(), p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	claims := p.Claims("mallory", "aud")
	none, err := p.MintNone(claims)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := p.MintHS256WithPublicKey(claims)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := p.Mint(claims, WithForeignKey(), WithEmbeddedJWK(), WithHeader("jku", "http://127.0.0.1:1/jwks"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, tok, alg string
	}{
		{"none", none, "none"},
		{"hs256", hs, "HS256"},
		{"foreign", foreign, RS256},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, err := jws.ParseString(c.tok)
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			if string(h.Algorithm()) != c.alg {
				t.Errorf("alg = %q, want %q", h.Algorithm(), c.alg)
			}
			if h.KeyID() != p.ActiveKid(RS256) {
				t.Errorf("kid = %q", h.KeyID())
			}
			if _, err := jwt.ParseString(c.tok, jwt.WithKeySet(set)); err == nil {
				t.Error("attack token verified against the published keys")
			}
		})
	}
	msg, _ := jws.ParseString(foreign)
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.JWK() == nil || h.JWKSetURL() == "" {
		t.Error("foreign token lacks jwk/jku headers")
	}
}

func TestUnsupportedEndpoints(t *testing.T) {
	p := start(t)
	resp := get(t, p.URL()+TokenPath)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("token endpoint: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest(http.MethodPost, p.JWKSURL(), nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = r2.Body.Close()
	if r2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST jwks: %d", r2.StatusCode)
	}
}
