package stack

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

// providerIdPs starts a fake identity provider for every oidc_providers
// entry after the first (which is s.IdP) and points the configuration at
// them: issuer and jwks_url keep their paths on the fake's address. It
// returns the issuers (every tenant of a template) with their key sets,
// for the fake STS, which trusts each as an IAM OIDC provider of its own.
func (s *Stack) providerIdPs(cfg *config.Config, ephemeral bool) (map[string]string, error) {
	if !cfg.HasProviders() {
		return nil, nil
	}
	issuers := map[string]string{}
	for i := range cfg.OIDCProviders {
		p := &cfg.OIDCProviders[i]
		idp := s.IdP
		if i > 0 {
			addr := "127.0.0.1:0"
			if !ephemeral {
				u, err := url.Parse(strings.ReplaceAll(p.Issuer, config.TenantPlaceholder, "t"))
				if err != nil || u.Host == "" {
					return nil, fmt.Errorf("oidc_providers[%d].issuer %q has no host", i, p.Issuer)
				}
				addr = u.Host
			}
			var err error
			if idp, err = fakeidp.New(fakeidp.WithAddr(addr)); err != nil {
				return nil, fmt.Errorf("start identity provider %s: %w", p.Name, err)
			}
			s.extraIdPs = append(s.extraIdPs, idp)
		}
		if s.providerIdP == nil {
			s.providerIdP = map[string]*fakeidp.IdP{}
		}
		s.providerIdP[p.Name] = idp
		p.Issuer = rehost(p.Issuer, idp.URL())
		if p.JWKSURL != "" || i > 0 {
			p.JWKSURL = idp.JWKSURL()
		}
		if len(p.Tenants) == 0 {
			issuers[p.Issuer] = idp.JWKSURL()
		}
		for _, t := range p.Tenants {
			issuers[strings.ReplaceAll(p.Issuer, config.TenantPlaceholder, t)] = idp.JWKSURL()
		}
	}
	return issuers, nil
}

// rehost replaces the scheme and host of issuer by base's, keeping the path.
func rehost(issuer, base string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return base + rest[i:]
	}
	return base
}

// Provider returns the oidc_providers entry called name.
func (s *Stack) Provider(name string) (config.OIDCProvider, bool) {
	for _, p := range s.Config.OIDCProviders {
		if p.Name == name {
			return p, true
		}
	}
	return config.OIDCProvider{}, false
}

// ProviderToken mints u's token at the provider called name, in that
// provider's real shape: Entra ID v2 for a tenant template (first tenant,
// groups as the object ids group_names maps to u's group names), Okta
// otherwise. The first provider's tokens are the stack's usual ones
// (Token), so the seed's users work unchanged. Tokens are minted once per
// provider and user, as LoginToken's are.
func (s *Stack) ProviderToken(name string, u User) (string, error) {
	p, ok := s.Provider(name)
	if !ok {
		return "", fmt.Errorf("no provider %q", name)
	}
	if p.Name == s.Config.OIDCProviders[0].Name {
		return s.LoginToken(u)
	}
	key := name + "|" + u.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.tokens[key]; ok {
		return tok, nil
	}
	idp := s.providerIdP[name]
	ids := map[string]string{}
	for _, g := range p.GroupNames {
		ids[g.Name] = g.ID
	}
	groups := make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		if id, ok := ids[g]; ok {
			g = id
		}
		groups = append(groups, g)
	}
	fu := fakeidp.User{Subject: u.Name, Email: u.Name + "@" + name + ".example", Name: u.Name, Groups: groups, Audience: p.Audiences[0], Scopes: []string{"mcp.tools"}}
	profile := fakeidp.Okta
	if len(p.Tenants) > 0 {
		profile, fu.Tenant = fakeidp.EntraV2, p.Tenants[0]
	}
	tok, err := idp.Mint(idp.ProfileClaims(profile, fu))
	if err != nil {
		return "", err
	}
	if s.tokens == nil {
		s.tokens = map[string]string{}
	}
	s.tokens[key] = tok
	return tok, nil
}

// ProviderIdP is the fake identity provider behind the provider called
// name, for tests that mint tokens of other shapes there.
func (s *Stack) ProviderIdP(name string) *fakeidp.IdP { return s.providerIdP[name] }
