package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/envoysim"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

// filterWithPayload is an Envoy stand-in that forwards md as jwt_authn's
// payload under key, as a jwt_authn provider with payload_in_metadata: key
// does once it verified the token.
func filterWithPayload(t *testing.T, s *stack.Stack, tlsCfg *tls.Config, key string, md map[string]any) *envoysim.Filter {
	t.Helper()
	conn, err := envoysim.Dial(s.Gateway.GRPCAddr(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fc := stack.EnvoyFilter(s.Config)
	fc.MetadataOptions = &extprocfilterv3.MetadataOptions{
		ForwardingNamespaces: &extprocfilterv3.MetadataOptions_MetadataNamespaces{Untyped: []string{jwtNamespace}},
	}
	f, err := envoysim.New(conn, envoysim.Config{Filter: fc, Metadata: map[string]map[string]any{jwtNamespace: {key: md}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// payloadOf is the claims of a compact JWS as jwt_authn puts them in
// metadata (a protobuf Struct: numbers are float64).
func payloadOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestProvidersMetadataMode: with oidc_providers and token_source
// envoy_metadata, each provider's users pass with the payload under that
// provider's own key (oidc_config.metadata_key + "_" + name, where the
// generated bootstrap's jwt_authn providers put it). A payload under
// another provider's key, or another provider's payload under the right
// key, is refused 401 before any STS call.
func TestProvidersMetadataMode(t *testing.T) {
	p := newPKI(t)
	s, err := stack.Start(t.Context(), stack.Options{
		ConfigPath: providersConfig, Ephemeral: true, AuditWriter: io.Discard,
		GRPCTLS: p.clientTLS(p.envoy),
		Mutate: func(c *config.Config) {
			p.mutate(c)
			c.OIDC.TokenSource = config.TokenSourceEnvoyMetadata
			// Envoy needs every provider's key set URL (no discovery).
			c.OIDCProviders[0].JWKSURL = c.OIDCProviders[0].Issuer + fakeidp.JWKSPath
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	key := func(name string) string { return s.Config.ProviderMetadataKey(name) }
	token := func(provider string, u stack.User) string {
		tok, err := s.ProviderToken(provider, u)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	oktaAlice := token("okta", stack.Alice)
	contractorAlice := token("contractors", stack.Alice)

	keys := map[string]string{}
	for _, tt := range []struct{ provider, token string }{{"okta", oktaAlice}, {"contractors", contractorAlice}} {
		out := processAs(t, s, filterWithPayload(t, s, p.clientTLS(p.envoy), key(tt.provider), payloadOf(t, tt.token)), tt.token)
		if out.Immediate != nil {
			t.Fatalf("%s alice: %d %s", tt.provider, out.Immediate.Status, out.Immediate.Body)
		}
		keys[tt.provider] = accessKey(t, sendUpstream(t, s, out.Request, []byte(initializeBody)), s)
	}
	if keys["okta"] == keys["contractors"] {
		t.Error("the two providers' alice share credentials")
	}
	stsCalls := len(s.STS.Calls())

	for _, tt := range []struct {
		name, key, token string
		md               map[string]any
	}{
		{"payload under the other provider's key", key("okta"), contractorAlice, payloadOf(t, contractorAlice)},
		{"payload under the single-issuer key", s.Config.OIDC.MetadataKey, oktaAlice, payloadOf(t, oktaAlice)},
		{"other provider's payload under the right key", key("contractors"), contractorAlice, payloadOf(t, oktaAlice)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := processAs(t, s, filterWithPayload(t, s, p.clientTLS(p.envoy), tt.key, tt.md), tt.token)
			if out.Immediate == nil || out.Immediate.Status != 401 {
				t.Fatalf("got %+v, want 401", out)
			}
		})
	}
	if n := len(s.STS.Calls()); n != stsCalls {
		t.Errorf("refused requests made %d STS calls", n-stsCalls)
	}
	// The refusals are counted against the provider the token named.
	rec := httptest.NewRecorder()
	s.Gateway.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`mcpguard_authn_failures_total{provider="contractors",reason="metadata_missing"} 1`,
		`mcpguard_authn_failures_total{provider="contractors",reason="metadata_mismatch"} 1`,
		`mcpguard_authn_failures_total{provider="okta",reason="metadata_missing"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
