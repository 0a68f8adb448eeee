package authn

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestResourceMetadataURL(t *testing.T) {
	cases := []struct{ resource, url, path string }{
		{"https://mcp.example.com/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/mcp"},
		{"https://mcp.example.com/", "https://mcp.example.com/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource"},
		{"https://mcp.example.com", "https://mcp.example.com/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource"},
		{"https://mcp.example.com:8443/a/b/", "https://mcp.example.com:8443/.well-known/oauth-protected-resource/a/b/", "/.well-known/oauth-protected-resource/a/b/"},
		{"https://mcp.example.com/t?x=1", "https://mcp.example.com/.well-known/oauth-protected-resource/t?x=1", "/.well-known/oauth-protected-resource/t"},
		{"http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/mcp"},
	}
	for _, c := range cases {
		t.Run(c.resource, func(t *testing.T) {
			u, p, err := resourceMetadataURL(c.resource)
			if err != nil || u != c.url || p != c.path {
				t.Errorf("got %q %q %v, want %q %q", u, p, err, c.url, c.path)
			}
			if !IsMetadataPath(p) {
				t.Errorf("IsMetadataPath(%q) = false", p)
			}
		})
	}
}

func TestIsMetadataPath(t *testing.T) {
	cases := map[string]bool{
		"/.well-known/oauth-protected-resource":         true,
		"/.well-known/oauth-protected-resource/mcp":     true,
		"/.well-known/oauth-protected-resource?x=1":     true,
		"/.well-known/oauth-protected-resource/mcp?x=1": true,
		"/.well-known/oauth-protected-resourcex":        false,
		"/mcp/.well-known/oauth-protected-resource":     false,
		"/.well-known/openid-configuration":             false,
		"/.well-known/oauth-authorization-server":       false,
		"/mcp": false,
		"":     false,
	}
	for p, want := range cases {
		if got := IsMetadataPath(p); got != want {
			t.Errorf("IsMetadataPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func newOffline(t *testing.T, resource string) *Authenticator {
	t.Helper()
	a, err := New(t.Context(), Options{
		Issuer: "https://idp.example.com", Audiences: []string{"a"},
		TokenSource: SourceEnvoyMetadata, Resource: resource, ScopesSupported: []string{"openid", "mcp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func TestChallenge(t *testing.T) {
	with := newOffline(t, "https://mcp.example.com/mcp")
	without := newOffline(t, "")
	const rm = `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	withQuote := fail(ReasonMalformed, `bad "quoted" \ value`+"\n", nil)
	cases := []struct {
		name string
		a    *Authenticator
		err  error
		want string
	}{
		{"missing", with, fail(ReasonMissing, "missing bearer token", nil), "Bearer " + rm},
		{"missing no resource", without, fail(ReasonMissing, "missing bearer token", nil), "Bearer"},
		{"expired", with, fail(ReasonExpired, "token expired", nil), `Bearer error="invalid_token", error_description="token expired", ` + rm},
		{"expired no resource", without, fail(ReasonExpired, "token expired", nil), `Bearer error="invalid_token", error_description="token expired"`},
		{"unsafe characters", without, withQuote, `Bearer error="invalid_token", error_description="bad quoted  value"`},
		{"foreign error", without, errors.New("boom with secret"), `Bearer error="invalid_token", error_description="internal error"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.a.Challenge(c.err); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
	if got := quote(`a"b\c` + "\x01"); got != `"a\"b\\c"` {
		t.Errorf("quote = %s", got)
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	a := newOffline(t, "https://mcp.example.com/mcp")
	if a.MetadataPath() != "/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("MetadataPath = %q", a.MetadataPath())
	}
	var doc map[string]any
	if err := json.Unmarshal(a.ProtectedResourceMetadata(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 "https://mcp.example.com/mcp",
		"authorization_servers":    []any{"https://idp.example.com"},
		"scopes_supported":         []any{"openid", "mcp"},
		"bearer_methods_supported": []any{"header"},
	}
	if len(doc) != len(want) {
		t.Errorf("doc = %v", doc)
	}
	for k, v := range want {
		got, _ := json.Marshal(doc[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
	b := a.ProtectedResourceMetadata()
	b[0] = 'X'
	if a.ProtectedResourceMetadata()[0] != '{' {
		t.Error("caller can mutate the shared document")
	}
	none := newOffline(t, "")
	if none.ProtectedResourceMetadata() != nil || none.MetadataPath() != "" {
		t.Error("metadata without a resource")
	}
	if !slices.Contains(Reasons(), ReasonMetadataMismatch) || len(Reasons()) != 18 {
		t.Errorf("Reasons() = %v", Reasons())
	}
}
