package fakeidp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

const (
	testRedirect  = "http://127.0.0.1:9999/callback"
	testVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	testChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// oauthIdP starts an issuer with login for alice and bob.
func oauthIdP(t *testing.T) *IdP {
	t.Helper()
	p := start(t)
	err := p.EnableLogin(LoginConfig{
		Users: []LoginUser{{Name: "alice", Label: "Alice"}, {Name: "bob", Label: "Bob"}},
		Claims: func(u string) map[string]any {
			return p.Claims(u, "aws-mcp", "g-"+u)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func postForm(t *testing.T, u string, v url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, b := do(t, req)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func register(t *testing.T, p *IdP, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL()+RegisterPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, b := do(t, req)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func clientID(t *testing.T, p *IdP) string {
	t.Helper()
	resp, m := register(t, p, `{"client_name":"test","redirect_uris":["`+testRedirect+`"],"token_endpoint_auth_method":"none"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, m)
	}
	return m["client_id"].(string)
}

var requestRe = regexp.MustCompile(`name="request" value="([^"]+)"`)

// authorize runs the authorization request and the login form as user,
// returning the redirect's query.
func authorize(t *testing.T, p *IdP, q url.Values, user string) url.Values {
	t.Helper()
	resp, body := do(t, mustReq(http.MethodGet, p.URL()+AuthorizePath+"?"+q.Encode()))
	if resp.StatusCode == http.StatusFound {
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc.Query()
	}
	m := requestRe.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	resp, _ = postForm(t, p.URL()+LoginPath, url.Values{"request": {string(m[1])}, "user": {user}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %s", got)
	}
	return loc.Query()
}

func mustReq(method, u string) *http.Request {
	r, _ := http.NewRequest(method, u, nil)
	return r
}

func authQuery(client string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {client}, "redirect_uri": {testRedirect},
		"code_challenge": {testChallenge}, "code_challenge_method": {"S256"}, "state": {"st-1"},
	}
}

func TestAuthServerMetadata(t *testing.T) {
	if resp := get(t, start(t).URL()+AuthServerMetadataPath); resp.StatusCode != http.StatusNotFound {
		t.Errorf("metadata without login: %d, want 404", resp.StatusCode)
	}
	p := oauthIdP(t)
	resp := get(t, p.URL()+AuthServerMetadataPath)
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d %v", resp.StatusCode, err)
	}
	if md["issuer"] != p.URL() || md["registration_endpoint"] != p.URL()+RegisterPath {
		t.Errorf("metadata = %v", md)
	}
	if m, _ := json.Marshal(md["code_challenge_methods_supported"]); string(m) != `["S256"]` {
		t.Errorf("code_challenge_methods_supported = %s, want only S256", m)
	}
}

func TestRegisterRejects(t *testing.T) {
	p := oauthIdP(t)
	for _, c := range []struct{ name, body, want string }{
		{"no redirect", `{"client_name":"x"}`, "invalid_redirect_uri"},
		{"http off loopback", `{"redirect_uris":["http://example.com/cb"]}`, "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://example.com/cb#x"]}`, "invalid_redirect_uri"},
		{"custom scheme", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri"},
		{"confidential", `{"redirect_uris":["` + testRedirect + `"],"token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata"},
		{"implicit", `{"redirect_uris":["` + testRedirect + `"],"response_types":["token"]}`, "invalid_client_metadata"},
		{"not json", `redirect_uris=x`, "invalid_client_metadata"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, m := register(t, p, c.body)
			if resp.StatusCode != http.StatusBadRequest || m["error"] != c.want {
				t.Errorf("%d %v, want 400 %s", resp.StatusCode, m, c.want)
			}
		})
	}
}

func TestAuthorizeRejects(t *testing.T) {
	p := oauthIdP(t)
	client := clientID(t, p)
	for _, c := range []struct {
		name   string
		mutate func(url.Values)
		page   bool   // shown to the person, never redirected
		want   string // error in the redirect
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "nope") }, true, ""},
		{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:1/evil") }, true, ""},
		{"repeated parameter", func(q url.Values) { q.Add("state", "two") }, true, ""},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, false, "invalid_request"},
		{"plain", func(q url.Values) { q.Set("code_challenge_method", "plain") }, false, "invalid_request"},
		{"method missing", func(q url.Values) { q.Del("code_challenge_method") }, false, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, false, "invalid_request"},
		{"token response", func(q url.Values) { q.Set("response_type", "token") }, false, "unsupported_response_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := authQuery(client)
			c.mutate(q)
			resp, body := do(t, mustReq(http.MethodGet, p.URL()+AuthorizePath+"?"+q.Encode()))
			if c.page {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || requestRe.Match(body) {
					t.Errorf("%d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != c.want || loc.Query().Get("state") != "st-1" {
				t.Errorf("%d %s, want a redirect with error=%s", resp.StatusCode, loc, c.want)
			}
		})
	}
}

// TestCodeFlow logs in, exchanges the code with PKCE, refreshes with
// rotation, and checks replays revoke what they bought.
func TestCodeFlow(t *testing.T) {
	p := oauthIdP(t)
	client := clientID(t, p)
	got := authorize(t, p, authQuery(client), "bob")
	if got.Get("state") != "st-1" || got.Get("iss") != p.URL() || got.Get("code") == "" {
		t.Fatalf("redirect query = %v", got)
	}
	code := got.Get("code")
	exchange := func(mut func(url.Values)) (*http.Response, map[string]any) {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {client}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}
		if mut != nil {
			mut(v)
		}
		return postForm(t, p.URL()+TokenPath, v)
	}
	for _, c := range []struct {
		name string
		mut  func(url.Values)
		want string
	}{
		{"no verifier", func(v url.Values) { v.Del("code_verifier") }, "invalid_request"},
		{"wrong verifier", func(v url.Values) { v.Set("code_verifier", strings.Repeat("a", 43)) }, "invalid_grant"},
		{"plain verifier", func(v url.Values) { v.Set("code_verifier", testChallenge) }, "invalid_grant"},
		{"other redirect", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9999/other") }, "invalid_grant"},
		{"unknown client", func(v url.Values) { v.Set("client_id", "nope") }, "invalid_client"},
		{"password grant", func(v url.Values) { v.Set("grant_type", "password") }, "unsupported_grant_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, m := exchange(c.mut); m["error"] != c.want {
				t.Errorf("error = %v, want %s", m, c.want)
			}
		})
	}
	// The failures above did not burn the code.
	resp, tok := exchange(nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || tok["token_type"] != "Bearer" {
		t.Fatalf("exchange: %d %v", resp.StatusCode, tok)
	}
	set, err := jwk.Fetch(t.Context(), p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	at, err := jwt.ParseString(tok["access_token"].(string), jwt.WithKeySet(set), jwt.WithIssuer(p.URL()), jwt.WithAudience("aws-mcp"))
	if err != nil || at.Subject() != "bob" {
		t.Fatalf("access token: %v (sub %v)", err, at)
	}
	if _, m := exchange(nil); m["error"] != "invalid_grant" {
		t.Errorf("replayed code = %v, want invalid_grant", m)
	}

	refresh := func(rt string) (*http.Response, map[string]any) {
		return postForm(t, p.URL()+TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}})
	}
	// The code replay revoked the family: its refresh token is dead.
	if _, m := refresh(tok["refresh_token"].(string)); m["error"] != "invalid_grant" {
		t.Errorf("refresh after code replay = %v, want invalid_grant", m)
	}

	// A fresh login: rotation, then reuse detection.
	code = authorize(t, p, authQuery(client), "alice").Get("code")
	_, tok = exchange(nil)
	rt1 := tok["refresh_token"].(string)
	resp, tok2 := refresh(rt1)
	if resp.StatusCode != http.StatusOK || tok2["refresh_token"] == rt1 || tok2["access_token"] == nil {
		t.Fatalf("refresh: %d %v", resp.StatusCode, tok2)
	}
	if _, m := refresh(rt1); m["error"] != "invalid_grant" {
		t.Errorf("reused refresh token = %v, want invalid_grant", m)
	}
	if _, m := refresh(tok2["refresh_token"].(string)); m["error"] != "invalid_grant" {
		t.Errorf("the family survived a reuse: %v", m)
	}
	if n := p.TokensIssued(); n != 3 {
		t.Errorf("TokensIssued = %d, want 3", n)
	}
}

func TestLoginRejects(t *testing.T) {
	p := oauthIdP(t)
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"unknown request", url.Values{"request": {"nope"}, "user": {"alice"}}},
		{"unknown user", url.Values{"request": {"nope"}, "user": {"mallory"}}},
		{"repeated user", url.Values{"request": {"nope"}, "user": {"alice", "bob"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if resp, _ := postForm(t, p.URL()+LoginPath, c.form); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func FuzzPKCE(f *testing.F) {
	f.Add(testVerifier)
	f.Add("")
	f.Add(strings.Repeat("~", 129))
	f.Fuzz(func(t *testing.T, v string) {
		if !isPKCEValue(v) {
			return
		}
		if len(v) < 43 || len(v) > 128 || strings.ContainsAny(v, " +/=%") {
			t.Fatalf("accepted %q", v)
		}
		if c := s256(v); !isPKCEValue(c) || len(c) != 43 {
			t.Fatalf("challenge of %q = %q", v, c)
		}
	})
}

func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{testRedirect, "https://example.com/cb", "http://example.com/", "http://127.0.0.1.evil.com/", "http://[::1]:80/x", "http://u@127.0.0.1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !validRedirectURI(raw) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Fragment != "" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		if u.Scheme == "http" && u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1" {
			t.Fatalf("accepted plain http off loopback: %q", raw)
		}
	})
}
