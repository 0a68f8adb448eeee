package gateway

import (
	"log/slog"
	"net/http"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/sts"
	"github.com/mcpguard/mcpguard/telemetry"
)

// authnOptions turns oidc_config, or each of oidc_providers, into the
// options of one provider of the authenticator.
func authnOptions(cfg *config.Config, client *http.Client, log *slog.Logger, m *telemetry.Metrics, now nowFunc) []authn.Options {
	out := AuthnOptions(cfg)
	for i := range out {
		name := out[i].Name
		out[i].HTTPClient, out[i].Now = client, now
		out[i].OnJWKSRefresh = func(ok bool) { m.JWKSRefresh(name, ok) }
		out[i].Logger = log
		if out[i].Name != "" {
			out[i].Logger = log.With("provider", out[i].Name)
		}
	}
	return out
}

// AuthnOptions are the authenticator options of oidc_config, or one per
// oidc_providers entry, without injected dependencies: what the gateway
// authenticates with, for tools (authz check) that must read claims the
// way it does.
func AuthnOptions(cfg *config.Config) []authn.Options {
	o := cfg.OIDC
	shared := authn.Options{
		GroupClaim:       o.GroupClaim,
		ExtraGroupClaims: extraGroupClaims(cfg),
		TokenSource:      string(o.TokenSource),
		MetadataKey:      o.MetadataKey,
		Resource:         o.ResourceMetadata.Resource,
		ScopesSupported:  o.ResourceMetadata.ScopesSupported,
	}
	if !cfg.HasProviders() {
		single := shared
		single.Issuer, single.Audiences, single.JWKSURL = o.Issuer, o.Audiences, o.JWKSURL
		single.AllowedAlgorithms, single.ClockSkew, single.RequiredClaims = o.AllowedAlgorithms, o.ClockSkew, o.RequiredClaims
		return []authn.Options{single}
	}
	out := make([]authn.Options, 0, len(cfg.OIDCProviders))
	for _, p := range cfg.OIDCProviders {
		a := shared
		a.Name, a.Issuer, a.Tenants, a.Audiences = p.Name, p.Issuer, p.Tenants, p.Audiences
		// Each provider reads the payload its own jwt_authn providers
		// write (envoy bootstrap), never another provider's.
		a.MetadataKey = cfg.ProviderMetadataKey(p.Name)
		a.JWKSURL, a.DiscoveryURL = p.JWKSURL, p.DiscoveryURL
		a.AllowedAlgorithms, a.ClockSkew, a.RequiredClaims = p.AllowedAlgorithms, p.ClockSkew, p.RequiredClaims
		a.Claims = authn.ClaimMapping{
			Groups: p.Claims.Groups, Roles: p.Claims.Roles, Scopes: p.Claims.Scopes,
			SessionName: p.Claims.SessionName, EmailVerified: p.Claims.EmailVerified,
		}
		a.GroupPrefix = p.GroupPrefix
		if len(p.GroupNames) > 0 {
			a.GroupNames = make(map[string]string, len(p.GroupNames))
			for _, g := range p.GroupNames {
				a.GroupNames[g.ID] = g.Name
			}
		}
		out = append(out, a)
	}
	return out
}

// providerRoles are the oidc_providers that bring their own role mappings.
func providerRoles(cfg *config.Config) map[string]sts.ProviderRoles {
	var out map[string]sts.ProviderRoles
	for _, p := range cfg.OIDCProviders {
		if len(p.RoleMappings) == 0 && p.RoleARN == "" {
			continue
		}
		if out == nil {
			out = map[string]sts.ProviderRoles{}
		}
		out[p.Name] = sts.ProviderRoles{Mappings: stsMappings(p.RoleMappings), DefaultRoleARN: p.RoleARN}
	}
	return out
}
