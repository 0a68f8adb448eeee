package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	guidS3  = "3c7e2a51-6d0f-4b8e-9a12-5f4e3d2c1b0a"
)

type idps struct {
	clk     *fakeClock
	okta    *fakeidp.IdP
	entra   *fakeidp.IdP
	m       *Multi
	options []Options
}

func startIdP(tb testing.TB, clk *fakeClock) *fakeidp.IdP {
	tb.Helper()
	p, err := fakeidp.New(fakeidp.WithClock(clk.Now))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// newIdPs starts an Okta-shaped and an Entra-v2-shaped issuer and a Multi
// trusting both; mut may change the options before the start.
func newIdPs(tb testing.TB, mut func([]Options)) *idps {
	tb.Helper()
	e := &idps{clk: newClock()}
	e.okta, e.entra = startIdP(tb, e.clk), startIdP(tb, e.clk)
	e.options = []Options{{
		Name:        "okta",
		Issuer:      e.okta.Issuer(fakeidp.Okta, ""),
		JWKSURL:     e.okta.JWKSURL(),
		Audiences:   []string{"api://mcpguard"},
		Claims:      ClaimMapping{Groups: "groups"},
		GroupPrefix: "",
		Now:         e.clk.Now,
	}, {
		Name:        "contractors",
		Issuer:      e.entra.IssuerTemplate(fakeidp.EntraV2),
		Tenants:     []string{tenantA},
		JWKSURL:     e.entra.JWKSURL(),
		Audiences:   []string{"api://mcpguard"},
		Claims:      ClaimMapping{Groups: "groups", Roles: "roles", SessionName: "preferred_username"},
		GroupNames:  map[string]string{guidS3: "s3-readers"},
		GroupPrefix: "contractors:",
		Now:         e.clk.Now,
	}}
	if mut != nil {
		mut(e.options)
	}
	m, err := NewMulti(context.Background(), e.options)
	if err != nil {
		tb.Fatalf("NewMulti: %v", err)
	}
	tb.Cleanup(m.Close)
	e.m = m
	return e
}

func (e *idps) refresh(tb testing.TB) {
	tb.Helper()
	if err := e.m.Refresh(tb.Context()); err != nil {
		tb.Fatalf("refresh: %v", err)
	}
}

func (e *idps) token(tb testing.TB, p *fakeidp.IdP, profile fakeidp.Profile, u fakeidp.User, opts ...fakeidp.MintOption) string {
	tb.Helper()
	tok, err := p.Mint(p.ProfileClaims(profile, u), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (e *idps) auth(tb testing.TB, tok string) (*Identity, error) {
	tb.Helper()
	return e.m.Authenticate(tb.Context(), Input{Authorization: "Bearer " + tok})
}

func fetches(ps ...*fakeidp.IdP) int64 {
	var n int64
	for _, p := range ps {
		n += p.JWKSFetches() + p.DiscoveryFetches()
	}
	return n
}

func TestMultiSelectsProviderByIssuer(t *testing.T) {
	e := newIdPs(t, nil)
	e.refresh(t)
	alice := fakeidp.User{Subject: "alice", Email: "alice@corp.example", Groups: []string{"s3-readers"}, Scopes: []string{"openid", "mcp"}}
	id, err := e.auth(t, e.token(t, e.okta, fakeidp.Okta, alice))
	if err != nil {
		t.Fatal(err)
	}
	if id.Provider != "okta" || id.UserKey != "okta|alice" || !slices.Equal(id.Groups, []string{"s3-readers"}) || !slices.Equal(id.Scopes, []string{"openid", "mcp"}) {
		t.Errorf("okta identity = %+v", id)
	}
	// The contractor has the same sub as the employee.
	bob := fakeidp.User{Subject: "alice", Email: "alice@contractor.example", Tenant: tenantA, Groups: []string{guidS3, "7d2b0c4e-1111-4a22-8b33-9c44d55e66f7"}, Roles: []string{"Reader"}}
	cid, err := e.auth(t, e.token(t, e.entra, fakeidp.EntraV2, bob))
	if err != nil {
		t.Fatal(err)
	}
	if cid.Provider != "contractors" || cid.Tenant != tenantA || cid.UserKey != "contractors/"+tenantA+"|alice" {
		t.Errorf("contractor identity = %+v", cid)
	}
	if cid.UserKey == id.UserKey {
		t.Error("colliding sub gives one user key to two users")
	}
	if want := []string{"contractors:s3-readers", "contractors:7d2b0c4e-1111-4a22-8b33-9c44d55e66f7"}; !slices.Equal(cid.Groups, want) {
		t.Errorf("groups = %v, want %v", cid.Groups, want)
	}
	if !slices.Equal(cid.Roles, []string{"contractors:Reader"}) || cid.SessionName != "alice@contractor.example" {
		t.Errorf("roles %v session %q", cid.Roles, cid.SessionName)
	}
}

func TestMultiUnknownIssuerFetchesNothing(t *testing.T) {
	e := newIdPs(t, nil)
	e.refresh(t)
	before := fetches(e.okta, e.entra)
	other := startIdP(t, e.clk)
	for name, tok := range map[string]string{
		"other issuer":       e.token(t, other, fakeidp.Okta, fakeidp.User{Subject: "mallory"}),
		"tenant not allowed": e.token(t, e.entra, fakeidp.EntraV2, fakeidp.User{Subject: "mallory", Tenant: tenantB}),
		"issuer prefix only": e.token(t, e.okta, fakeidp.Okta, fakeidp.User{Subject: "m"}, fakeidp.WithKid("unknown")),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "issuer prefix only" {
				c := e.okta.ProfileClaims(fakeidp.Okta, fakeidp.User{Subject: "m"})
				c["iss"] = e.okta.URL() + "/oauth2/default/extra"
				tok, _ = e.okta.Mint(c, fakeidp.WithKid("unknown"))
			}
			_, err := e.auth(t, tok)
			wantReason(t, err, ReasonUnknownIssuer)
		})
	}
	if got := fetches(e.okta, e.entra); got != before {
		t.Errorf("unknown issuers caused %d fetches", got-before)
	}
	if other.JWKSFetches()+other.DiscoveryFetches() != 0 {
		t.Error("the unknown issuer was contacted")
	}
}

// A key of provider A never verifies a token claiming provider B, even
// when the kid names a key B really has.
func TestMultiKeysNeverShared(t *testing.T) {
	e := newIdPs(t, nil)
	e.refresh(t)
	c := e.entra.ProfileClaims(fakeidp.EntraV2, fakeidp.User{Subject: "eve", Tenant: tenantA})
	for _, kid := range []string{"", e.entra.ActiveKid(fakeidp.RS256)} {
		opts := []fakeidp.MintOption{}
		if kid != "" {
			opts = append(opts, fakeidp.WithKid(kid))
		}
		tok, err := e.okta.Mint(c, opts...) // okta's key, entra's iss
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.auth(t, tok)
		var me *mcpguard.Error
		if !errors.As(err, &me) || me.Kind != mcpguard.KindUnauthenticated || (me.Reason != ReasonBadSignature && me.Reason != ReasonUnknownKey) {
			t.Errorf("kid %q: err = %v, want bad signature or unknown key", kid, err)
		}
	}
}

func TestMultiTenantMustAgreeWithTid(t *testing.T) {
	e := newIdPs(t, nil)
	e.refresh(t)
	c := e.entra.ProfileClaims(fakeidp.EntraV2, fakeidp.User{Subject: "eve", Tenant: tenantA})
	c["tid"] = tenantB
	tok, _ := e.entra.Mint(c)
	_, err := e.auth(t, tok)
	wantReason(t, err, ReasonBadIssuer)
}

func TestMultiGroupsOverageIsForbidden(t *testing.T) {
	e := newIdPs(t, nil)
	e.refresh(t)
	for _, p := range []fakeidp.Profile{fakeidp.EntraV2} {
		tok := e.token(t, e.entra, p, fakeidp.User{Subject: "carol", Tenant: tenantA, Overage: true})
		_, err := e.auth(t, tok)
		var me *mcpguard.Error
		if !errors.As(err, &me) || me.Kind != mcpguard.KindForbidden || me.Reason != ReasonGroupsOverage {
			t.Fatalf("err = %v, want forbidden groups_overage", err)
		}
		if !strings.Contains(me.Msg, "group filtering") || !strings.Contains(me.Msg, "app roles") {
			t.Errorf("message %q does not tell the operator what to do", me.Msg)
		}
	}
	c := e.entra.ProfileClaims(fakeidp.EntraV2, fakeidp.User{Subject: "carol", Tenant: tenantA})
	c["hasgroups"] = true
	tok, _ := e.entra.Mint(c)
	if _, err := e.auth(t, tok); mcpguard.ReasonOf(err) != ReasonGroupsOverage {
		t.Errorf("hasgroups: err = %v", err)
	}
}

// One provider's JWKS outage leaves the other's users untouched.
func TestMultiOutageOfOneProvider(t *testing.T) {
	clk := newClock()
	down := startIdP(t, clk)
	down.SetDown(true)
	e := newIdPs(t, func(o []Options) {
		o[1].JWKSURL = down.JWKSURL()
	})
	if err := e.m.Providers()[0].Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !e.m.Ready() {
		t.Error("not ready although okta's keys are there")
	}
	if got := e.m.NotReady(); !slices.Equal(got, []string{"contractors"}) {
		t.Errorf("NotReady = %q, want [contractors]", got)
	}
	id, err := e.auth(t, e.token(t, e.okta, fakeidp.Okta, fakeidp.User{Subject: "alice"}))
	if err != nil || id.Provider != "okta" {
		t.Fatalf("okta user during the other's outage: %v", err)
	}
	_, err = e.auth(t, e.token(t, e.entra, fakeidp.EntraV2, fakeidp.User{Subject: "bob", Tenant: tenantA}))
	if mcpguard.KindOf(err) != mcpguard.KindUnavailable {
		t.Errorf("contractor during outage: %v, want unavailable", err)
	}
	if got := ProviderOf(err); got != "contractors" {
		t.Errorf("ProviderOf(outage) = %q, want contractors", got)
	}
}

// Failures are attributed to the provider the token's iss names, for
// per-provider metrics, and to none when it names no configured one: the
// attacker-chosen iss never becomes a label.
func TestMultiProviderOf(t *testing.T) {
	e := newIdPs(t, nil)
	expired := e.okta.ProfileClaims(fakeidp.Okta, fakeidp.User{Subject: "alice"})
	expired["exp"] = float64(e.clk.Now().Add(-time.Hour).Unix())
	tok, _ := e.okta.Mint(expired)
	_, err := e.auth(t, tok)
	if mcpguard.ReasonOf(err) != ReasonExpired || ProviderOf(err) != "okta" {
		t.Errorf("expired okta token: %v, provider %q", err, ProviderOf(err))
	}
	foreign := e.okta.ProfileClaims(fakeidp.Okta, fakeidp.User{Subject: "alice"})
	foreign["iss"] = "https://idp.attacker.example"
	tok, _ = e.okta.Mint(foreign)
	_, err = e.auth(t, tok)
	if mcpguard.ReasonOf(err) != ReasonUnknownIssuer || ProviderOf(err) != "" {
		t.Errorf("unknown issuer: %v, provider %q", err, ProviderOf(err))
	}
	if _, err = e.auth(t, "not.a-token"); ProviderOf(err) != "" {
		t.Errorf("malformed: provider %q", ProviderOf(err))
	}
}

// The shared cache answers a provider's token only while that provider
// still publishes the key that verified it.
func TestMultiCache(t *testing.T) {
	e := newIdPs(t, nil)
	e.refresh(t)
	tok := e.token(t, e.okta, fakeidp.Okta, fakeidp.User{Subject: "alice"})
	for range 3 {
		if _, err := e.auth(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	okta := e.m.Providers()[0]
	if n := okta.verifications.Load(); n != 1 {
		t.Errorf("verifications = %d, want 1 (cached)", n)
	}
	kid := e.okta.ActiveKid(fakeidp.RS256)
	if _, err := e.okta.Rotate(fakeidp.RS256); err != nil {
		t.Fatal(err)
	}
	e.okta.Retire(kid)
	e.refresh(t)
	if _, err := e.auth(t, tok); err == nil {
		t.Error("cached token of a retired key still accepted")
	}
}

func TestNewMultiRefusesAmbiguity(t *testing.T) {
	base := Options{Name: "a", Issuer: "https://idp.example/", Audiences: []string{"x"}}
	tmpl := Options{Name: "t", Issuer: "https://login.example/{tenantid}/v2.0", Tenants: []string{tenantA}, JWKSURL: "https://login.example/keys", Audiences: []string{"x"}}
	for name, opts := range map[string][]Options{
		"no providers":             nil,
		"unnamed of two":           {base, {Issuer: "https://b.example/", Audiences: []string{"x"}}},
		"same name":                {base, {Name: "a", Issuer: "https://b.example/", Audiences: []string{"x"}}},
		"same issuer":              {base, {Name: "b", Issuer: "https://idp.example/", Audiences: []string{"x"}}},
		"exact in template":        {tmpl, {Name: "e", Issuer: "https://login.example/" + tenantA + "/v2.0", Audiences: []string{"x"}}},
		"template twice":           {tmpl, func() Options { o := tmpl; o.Name = "u"; return o }()},
		"template no tenants":      {{Name: "t", Issuer: tmpl.Issuer, JWKSURL: tmpl.JWKSURL, Audiences: []string{"x"}}},
		"template no keys":         {{Name: "t", Issuer: tmpl.Issuer, Tenants: []string{tenantA}, Audiences: []string{"x"}}},
		"tenant not a guid":        {{Name: "t", Issuer: tmpl.Issuer, Tenants: []string{"Contoso"}, JWKSURL: tmpl.JWKSURL, Audiences: []string{"x"}}},
		"tenants without template": {{Name: "t", Issuer: "https://idp.example/", Tenants: []string{tenantA}, Audiences: []string{"x"}}},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := NewMulti(t.Context(), opts)
			if err == nil {
				m.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// Each profile's tokens read as that provider's documentation says they
// should, through the mapping an operator would configure for it.
func TestProfiles(t *testing.T) {
	clk := newClock()
	p := startIdP(t, clk)
	cases := []struct {
		profile fakeidp.Profile
		mapping ClaimMapping
		user    fakeidp.User
		groups  []string
		roles   []string
		scopes  []string
		session string
	}{
		{fakeidp.Okta, ClaimMapping{SessionName: "sub"}, fakeidp.User{Subject: "alice@corp.example", Groups: []string{"s3-readers", "Everyone"}, Scopes: []string{"openid", "mcp:tools"}},
			[]string{"s3-readers", "Everyone"}, nil, []string{"openid", "mcp:tools"}, "alice@corp.example"},
		{fakeidp.EntraV1, ClaimMapping{Roles: "roles", SessionName: "upn"}, fakeidp.User{Subject: "sub1", Email: "bob@contoso.example", Tenant: tenantA, Groups: []string{guidS3}, Roles: []string{"MCP.Reader"}, Scopes: []string{"user_impersonation"}},
			[]string{"s3-readers"}, []string{"MCP.Reader"}, []string{"user_impersonation"}, "bob@contoso.example"},
		{fakeidp.EntraV2, ClaimMapping{Roles: "roles", SessionName: "preferred_username"}, fakeidp.User{Subject: "sub2", Email: "bob@contoso.example", Tenant: tenantA, Groups: []string{guidS3}, Scopes: []string{"access_as_user"}},
			[]string{"s3-readers"}, nil, []string{"access_as_user"}, "bob@contoso.example"},
		{fakeidp.Google, ClaimMapping{}, fakeidp.User{Subject: "110169484474386276334", Email: "dana@corp.example", Domain: "corp.example"},
			nil, nil, []string{}, "dana@corp.example"},
		{fakeidp.Keycloak, ClaimMapping{Roles: "resource_access.api://mcpguard.roles"}, fakeidp.User{Subject: "kc1", Email: "erin@corp.example", Groups: []string{"/staff/s3-readers"}, ClientRoles: []string{"tools-reader"}, Scopes: []string{"openid", "email"}},
			[]string{"/staff/s3-readers"}, []string{"tools-reader"}, []string{"openid", "email"}, "erin@corp.example"},
		{fakeidp.Keycloak, ClaimMapping{Groups: "realm_access.roles"}, fakeidp.User{Subject: "kc2", Email: "erin@corp.example", Roles: []string{"ec2-viewers"}},
			[]string{"offline_access", "default-roles-mcp", "ec2-viewers"}, nil, []string{}, "erin@corp.example"},
		{fakeidp.Auth0, ClaimMapping{Groups: fakeidp.Auth0Namespace + "groups", Roles: fakeidp.Auth0Namespace + "roles", SessionName: fakeidp.Auth0Namespace + "email"}, fakeidp.User{Subject: "auth0|65a1", Email: "fay@corp.example", Groups: []string{"s3-readers"}, Roles: []string{"admin"}, Scopes: []string{"read:tools"}},
			[]string{"s3-readers"}, []string{"admin"}, []string{"read:tools"}, "fay@corp.example"},
		{fakeidp.Ping, ClaimMapping{Groups: "memberOf", SessionName: "sub"}, fakeidp.User{Subject: "8f1c0d2e-aaaa-4bbb-8ccc-123456789abc", Email: "gus@corp.example", Groups: []string{"s3-readers"}, Scopes: []string{"openid", "profile"}},
			[]string{"s3-readers"}, nil, []string{"openid", "profile"}, "8f1c0d2e-aaaa-4bbb-8ccc-123456789abc"},
	}
	for _, c := range cases {
		t.Run(string(c.profile), func(t *testing.T) {
			o := Options{
				Name: string(c.profile), Issuer: p.Issuer(c.profile, c.user.Tenant), JWKSURL: p.JWKSURL(),
				Audiences: []string{"api://mcpguard"}, Claims: c.mapping, Now: clk.Now,
				GroupNames: map[string]string{guidS3: "s3-readers"},
			}
			if c.profile == fakeidp.EntraV1 || c.profile == fakeidp.EntraV2 {
				o.Issuer, o.Tenants = p.IssuerTemplate(c.profile), []string{tenantA}
			}
			m, err := NewMulti(t.Context(), []Options{o})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			tok, err := p.Mint(p.ProfileClaims(c.profile, c.user))
			if err != nil {
				t.Fatal(err)
			}
			id, err := m.Authenticate(t.Context(), Input{Authorization: "Bearer " + tok})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(id.Groups, c.groups) || !slices.Equal(id.Roles, c.roles) || !slices.Equal(id.Scopes, c.scopes) || id.SessionName != c.session {
				t.Errorf("groups %q roles %q scopes %q session %q\nwant %q %q %q %q", id.Groups, id.Roles, id.Scopes, id.SessionName, c.groups, c.roles, c.scopes, c.session)
			}
		})
	}
}

func TestClaimAt(t *testing.T) {
	claims := map[string]any{
		"realm_access":              map[string]any{"roles": []any{"a"}},
		"https://example.com/roles": []any{"r"},
		"resource_access":           map[string]any{"api.x": map[string]any{"roles": []any{"c"}}},
		"flat":                      "v",
		"scalar":                    "s",
		"both.x":                    1.0,
		"both":                      map[string]any{"x": 2.0},
		"null":                      nil,
	}
	for _, c := range []struct {
		path  string
		want  any
		found bool
		err   bool
	}{
		{"realm_access.roles", []any{"a"}, true, false},
		{"https://example.com/roles", []any{"r"}, true, false},
		{"flat", "v", true, false},
		{"missing", nil, false, false},
		{"realm_access.missing", nil, false, false},
		{"scalar.x", nil, false, true},
		{"both.x", nil, false, true},
		{"null.x", nil, false, false},
		{"a.b.c.d.e.f.g.h.i", nil, false, true},
		{"", nil, false, false},
	} {
		v, found, err := ClaimAt(claims, c.path)
		if (err != nil) != c.err || found != c.found || (c.want != nil && !sameJSON(v, c.want)) {
			t.Errorf("ClaimAt(%q) = %v, %v, %v", c.path, v, found, err)
		}
	}
	// Keycloak client ids may contain dots; such a client's roles are
	// reachable only if the client id has none, which is documented.
	if g, err := listAt(claims, "realm_access.roles"); err != nil || !slices.Equal(g, []string{"a"}) {
		t.Errorf("listAt = %v, %v", g, err)
	}
	if _, err := listAt(map[string]any{"realm_access": map[string]any{"roles": 5.0}}, "realm_access.roles"); err == nil {
		t.Error("a number read as groups")
	}
}

func sameJSON(a, b any) bool {
	as, ok1 := a.([]any)
	bs, ok2 := b.([]any)
	if ok1 && ok2 {
		return slices.Equal(as, bs)
	}
	return a == b
}

// In envoy_metadata mode each provider reads jwt_authn's payload under its
// own key: the token's provider must find its payload there, agreeing
// with the verified token; a payload under another provider's key counts
// as none.
func TestMultiMetadataPerProvider(t *testing.T) {
	e := newIdPs(t, func(o []Options) {
		for i := range o {
			o[i].TokenSource, o[i].MetadataKey = SourceEnvoyMetadata, "jwt_payload_"+o[i].Name
		}
	})
	okta := e.token(t, e.okta, fakeidp.Okta, fakeidp.User{Subject: "alice"})
	entra := e.token(t, e.entra, fakeidp.EntraV2, fakeidp.User{Subject: "alice", Tenant: tenantA})
	payload := func(tok string) map[string]any {
		c, err := decodeSegment(tok)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	auth := func(tok string, md map[string]any) (*Identity, error) {
		return e.m.Authenticate(t.Context(), Input{Authorization: "Bearer " + tok, Metadata: md})
	}
	for _, tt := range []struct {
		name, tok, provider string
		md                  map[string]any
		reason              string
	}{
		{"okta under its key", okta, "okta", map[string]any{"jwt_payload_okta": payload(okta)}, ""},
		{"contractors under its key", entra, "contractors", map[string]any{"jwt_payload_contractors": payload(entra)}, ""},
		{"okta under the contractors' key", okta, "okta", map[string]any{"jwt_payload_contractors": payload(okta)}, ReasonMetadataMissing},
		{"contractors' payload with okta's token", okta, "okta", map[string]any{"jwt_payload_okta": payload(entra)}, ReasonMetadataMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // verified, then from the cache
				id, err := auth(tt.tok, tt.md)
				if tt.reason == "" {
					if err != nil || id.Provider != tt.provider {
						t.Fatalf("got %v %v, want provider %s", id, err, tt.provider)
					}
					continue
				}
				if mcpguard.ReasonOf(err) != tt.reason || ProviderOf(err) != tt.provider {
					t.Fatalf("err = %v (provider %q), want %s from %s", err, ProviderOf(err), tt.reason, tt.provider)
				}
			}
		})
	}
}

// decodeSegment is the claims of a compact JWS's payload, as jwt_authn
// puts them in metadata (numbers float64).
func decodeSegment(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}
