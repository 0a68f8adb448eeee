package fakeidp

import (
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Every profile's token verifies with the issuer's published keys and has
// its provider's distinguishing shape.
func TestProfiles(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	set, err := jwk.Fetch(t.Context(), p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	const tid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	u := User{Subject: "alice", Email: "alice@corp.example", Groups: []string{"g1"}, Roles: []string{"r1"}, Scopes: []string{"openid", "mcp"}, Tenant: tid}
	for _, prof := range Profiles() {
		t.Run(string(prof), func(t *testing.T) {
			c := p.ProfileClaims(prof, u)
			tok, err := p.Mint(c)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			iss := parsed.Issuer()
			if !strings.HasPrefix(iss, p.URL()) || iss != p.Issuer(prof, tid) {
				t.Errorf("iss %q", iss)
			}
			switch prof {
			case Okta:
				if _, ok := c["scp"].([]any); !ok || c["uid"] == nil || c["cid"] == nil {
					t.Errorf("okta shape: %v", c)
				}
			case EntraV1, EntraV2:
				if c["tid"] != tid || c["oid"] == nil || c["scp"] != "openid mcp" || !strings.Contains(iss, tid) {
					t.Errorf("entra shape: %v", c)
				}
				over := p.ProfileClaims(prof, User{Subject: "a", Tenant: tid, Groups: []string{"g"}, Overage: true})
				if _, has := over["groups"]; has || over["_claim_names"] == nil || over["_claim_sources"] == nil {
					t.Errorf("overage shape: %v", over)
				}
			case Google:
				if _, has := c["groups"]; has || c["email_verified"] != true {
					t.Errorf("google shape: %v", c)
				}
			case Keycloak:
				ra, _ := c["realm_access"].(map[string]any)
				if ra == nil || !strings.HasSuffix(iss, "/realms/mcp") {
					t.Errorf("keycloak shape: %v", c)
				}
			case Auth0:
				if !strings.HasSuffix(iss, "/") || c[Auth0Namespace+"groups"] == nil || len(parsed.Audience()) != 2 {
					t.Errorf("auth0 shape: %v", c)
				}
			case Ping:
				if c["env"] != PingEnvironment || c["memberOf"] == nil {
					t.Errorf("ping shape: %v", c)
				}
			}
		})
	}
}
