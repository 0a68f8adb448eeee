package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// TenantPlaceholder in an oidc_providers issuer makes it a Microsoft Entra
// ID tenant template, matched against iss with tenants as the allow list.
const TenantPlaceholder = "{tenantid}"

// maxIAMClientID is the length limit of an IAM OIDC provider client id
// (ClientIDList members are 1 to 255 characters).
const maxIAMClientID = 255

var (
	providerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	tenantIDRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// OIDCProvider is one identity provider of oidc_providers. Several can be
// trusted at once (a workforce IdP, a contractor tenant, a CI identity);
// each token is matched to one by its iss before any key is fetched, and
// its users are distinct principals from every other provider's.
type OIDCProvider struct {
	// Name identifies the provider in principals (User::"<name>|<sub>"),
	// principal.provider, audit records and metrics. Required, unique,
	// [a-z0-9_-]+.
	Name string `yaml:"name"`
	// Issuer is the exact iss of the provider's tokens, or an Entra tenant
	// template containing {tenantid} (for example
	// https://login.microsoftonline.com/{tenantid}/v2.0). Required.
	Issuer string `yaml:"issuer"`
	// Tenants are the tenant ids (lowercase GUIDs) a template accepts.
	// Required with a template, not allowed otherwise.
	Tenants []string `yaml:"tenants"`
	// Audiences are the accepted aud values. Required; a string or a list.
	Audiences []string `yaml:"audience"`
	// JWKSURL is the provider's key set. Default empty: OIDC discovery.
	JWKSURL string `yaml:"jwks_url"`
	// DiscoveryURL is where the discovery document is read. Default
	// "<issuer>/.well-known/openid-configuration"; a template needs it or
	// jwks_url.
	DiscoveryURL string `yaml:"discovery_url"`
	// AllowedAlgorithms lists accepted JWS algorithms. Default
	// oidc_config.allowed_algorithms.
	AllowedAlgorithms []string `yaml:"allowed_algorithms"`
	// ClockSkew is the leeway for exp, nbf and iat. Default
	// oidc_config.clock_skew (30s), at most 5m.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// RequiredClaims every token of this provider must carry as a
	// non-empty string. Default empty.
	RequiredClaims []string `yaml:"required_claims"`
	// Claims says where this provider puts groups, roles, scopes and the
	// session name.
	Claims ProviderClaims `yaml:"claims"`
	// GroupNames maps group ids (Entra object-id GUIDs) to the names that
	// policies and role mappings use. Default empty.
	GroupNames []GroupName `yaml:"group_names"`
	// GroupPrefix is prepended to every group and role of this provider
	// (for example "contractors:"), so one provider's "admins" is never
	// another's. Default empty.
	GroupPrefix string `yaml:"group_prefix"`
	// RoleMappings, when set, replace aws_sts_config.role_mappings for
	// this provider's users and match its (mapped, prefixed) groups and
	// roles. Default empty: the global mappings apply.
	RoleMappings []RoleMapping `yaml:"role_mappings"`
	// RoleARN is this provider's default role, used with RoleMappings.
	// Default empty.
	RoleARN string `yaml:"role_arn"`
}

// ProviderClaims are claim paths: a top-level claim name, or names
// separated by "." into nested objects (realm_access.roles). A name is
// first tried whole, so namespaced claims such as
// https://example.com/groups work as they are.
type ProviderClaims struct {
	// Groups holds the groups. Default "groups".
	Groups string `yaml:"groups"`
	// Roles holds app roles (Entra roles, Keycloak realm_access.roles).
	// Default empty: none.
	Roles string `yaml:"roles"`
	// Scopes holds granted scopes. Default empty: scope, else scp.
	Scopes string `yaml:"scopes"`
	// SessionName is the claim used as RoleSessionName. Default "email".
	SessionName string `yaml:"session_name"`
	// EmailVerified must be true for an email to become the session name.
	// Default "email_verified".
	EmailVerified string `yaml:"email_verified"`
}

// GroupName gives a group id a readable name.
type GroupName struct {
	// ID is the group as the token carries it (an Entra object id).
	ID string `yaml:"id"`
	// Name is what policies and role mappings call it.
	Name string `yaml:"name"`
}

// ProviderMetadataKey is where, in envoy_metadata mode, Envoy's jwt_authn
// puts the payload of a token verified by the oidc_providers entry called
// name: oidc_config.metadata_key, an underscore and the name. Each
// provider has its own key, so mcpguard reads the payload of the provider
// the token's iss names and never one another provider wrote.
func (c *Config) ProviderMetadataKey(name string) string {
	return c.OIDC.MetadataKey + "_" + name
}

// HasProviders reports whether the file uses oidc_providers rather than
// the single oidc_config issuer.
func (c *Config) HasProviders() bool { return len(c.OIDCProviders) > 0 }

// fillProviders sets each provider's defaults from oidc_config.
func (c *Config) fillProviders() {
	for i := range c.OIDCProviders {
		p := &c.OIDCProviders[i]
		if p.AllowedAlgorithms == nil {
			p.AllowedAlgorithms = slices.Clone(c.OIDC.AllowedAlgorithms)
		}
		if p.ClockSkew == 0 {
			p.ClockSkew = c.OIDC.ClockSkew
		}
		if p.Claims.Groups == "" {
			p.Claims.Groups = "groups"
		}
		if p.Claims.SessionName == "" {
			p.Claims.SessionName = "email"
		}
		if p.Claims.EmailVerified == "" {
			p.Claims.EmailVerified = "email_verified"
		}
	}
}

func (c *Config) validateProviders(ps *Problems) {
	if !c.HasProviders() {
		return
	}
	if c.OIDC.Issuer != "" || len(c.OIDC.Audiences) > 0 {
		ps.add("oidc_config.issuer", "oidc_config.issuer and audience describe the single-issuer shorthand; with oidc_providers, list every issuer there")
	}
	type seenIssuer struct {
		i   int
		key string
	}
	var seen []seenIssuer
	for i := range c.OIDCProviders {
		p := &c.OIDCProviders[i]
		base := index("oidc_providers", i)
		switch {
		case p.Name == "":
			ps.add(base+".name", "required")
		case !providerNameRE.MatchString(p.Name):
			ps.add(base+".name", "%q must be lowercase letters, digits, _ and - (at most 63)", p.Name)
		default:
			for j := range i {
				if c.OIDCProviders[j].Name == p.Name {
					ps.add(base+".name", "duplicate of oidc_providers[%d]", j)
					break
				}
			}
		}
		template := strings.Contains(p.Issuer, TenantPlaceholder)
		if requireWith(ps, base+".issuer", p.Issuer, func(s string) string {
			if strings.Count(s, TenantPlaceholder) > 1 {
				return "may contain " + TenantPlaceholder + " only once"
			}
			if template && !strings.Contains(s, "/"+TenantPlaceholder+"/") && !strings.HasSuffix(s, "/"+TenantPlaceholder) {
				return TenantPlaceholder + " must be a whole path segment"
			}
			return checkURL(strings.ReplaceAll(s, TenantPlaceholder, "tenant"), urlRules{noQuery: true})
		}) {
			key := p.Issuer
			for _, s := range seen {
				if s.key == key {
					ps.add(base+".issuer", "same issuer as oidc_providers[%d]: a token could not tell them apart", s.i)
					break
				}
			}
			seen = append(seen, seenIssuer{i, key})
			for _, t := range p.Tenants {
				seen = append(seen, seenIssuer{i, strings.ReplaceAll(p.Issuer, TenantPlaceholder, t)})
			}
		}
		switch {
		case template && len(p.Tenants) == 0:
			ps.add(base+".tenants", "required with an issuer template: list the tenant ids to accept")
		case !template && len(p.Tenants) > 0:
			ps.add(base+".tenants", "only allowed when issuer contains %s", TenantPlaceholder)
		}
		for j, t := range p.Tenants {
			if !tenantIDRE.MatchString(t) {
				ps.add(index(base+".tenants", j), "%q is not a tenant id (a lowercase GUID)", t)
			} else if slices.Index(p.Tenants, t) < j {
				ps.add(index(base+".tenants", j), "duplicate tenant %q", t)
			}
		}
		if template && p.JWKSURL == "" && p.DiscoveryURL == "" {
			ps.add(base+".jwks_url", "an issuer template needs jwks_url or discovery_url")
		}
		if c.OIDC.TokenSource == TokenSourceEnvoyMetadata && p.JWKSURL == "" {
			ps.add(base+".jwks_url", "required when token_source is %q: Envoy's jwt_authn fetches a JWKS URI and does not perform OIDC discovery", TokenSourceEnvoyMetadata)
		}
		if len(p.Audiences) == 0 {
			ps.add(base+".audience", "required")
		}
		for j, a := range p.Audiences {
			if strings.TrimSpace(a) == "" {
				ps.add(index(base+".audience", j), "must not be empty")
			}
		}
		for _, u := range []struct{ key, v string }{{"jwks_url", p.JWKSURL}, {"discovery_url", p.DiscoveryURL}} {
			if u.v != "" {
				if why := checkURL(u.v, urlRules{}); why != "" {
					ps.add(base+"."+u.key, "%s", why)
				}
			}
		}
		validateAlgorithms(ps, base+".allowed_algorithms", p.AllowedAlgorithms)
		if p.ClockSkew < 0 || p.ClockSkew > maxClockSkew {
			ps.add(base+".clock_skew", "must be between 0s and %s, got %s", maxClockSkew, p.ClockSkew)
		}
		for j, rc := range p.RequiredClaims {
			if rc == "" {
				ps.add(index(base+".required_claims", j), "must not be empty")
			} else if slices.Index(p.RequiredClaims, rc) < j {
				ps.add(index(base+".required_claims", j), "duplicate claim %q", rc)
			}
		}
		validateClaimPaths(ps, base+".claims", p.Claims)
		for j, g := range p.GroupNames {
			gp := index(base+".group_names", j)
			if g.ID == "" {
				ps.add(gp+".id", "required")
			}
			if g.Name == "" {
				ps.add(gp+".name", "required")
			}
			for k := range j {
				if p.GroupNames[k].ID == g.ID && g.ID != "" {
					ps.add(gp+".id", "duplicate of group_names[%d]", k)
					break
				}
			}
		}
		for j := range p.RoleMappings {
			validateMappingAt(ps, base+".role_mappings", p.RoleMappings, j)
		}
		if p.RoleARN != "" {
			if why := checkRoleARN(p.RoleARN); why != "" {
				ps.add(base+".role_arn", "%s", why)
			}
		}
	}
}

// validateClaimPaths refuses paths with empty segments other than those
// of a URL-shaped name.
func validateClaimPaths(ps *Problems, base string, cl ProviderClaims) {
	for _, f := range []struct{ key, v string }{
		{"groups", cl.Groups}, {"roles", cl.Roles}, {"scopes", cl.Scopes},
		{"session_name", cl.SessionName}, {"email_verified", cl.EmailVerified},
	} {
		if f.v != "" && (strings.TrimSpace(f.v) != f.v || strings.Count(f.v, ".") > 8 && !strings.Contains(f.v, "://")) {
			ps.add(base+"."+f.key, "%q is not a claim path", f.v)
		}
	}
}

// validateAlgorithms checks an allowed_algorithms list.
func validateAlgorithms(ps *Problems, path string, algs []string) {
	if len(algs) == 0 {
		ps.add(path, "must list at least one algorithm")
	}
	for i, alg := range algs {
		p := index(path, i)
		switch {
		case strings.EqualFold(alg, "none"):
			ps.add(p, "%q is never accepted: unsigned tokens would let anyone claim any identity", alg)
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			ps.add(p, "%q is a shared-secret (HMAC) algorithm and is not accepted: use an asymmetric algorithm whose public keys the issuer publishes", alg)
		case !slices.Contains(supportedAlgorithms, alg):
			ps.add(p, "unknown algorithm %q (want one of %s)", alg, strings.Join(supportedAlgorithms, ", "))
		case slices.Index(algs, alg) < i:
			ps.add(p, "duplicate algorithm %q", alg)
		}
	}
}

// providerWarnings are what `mcpguard validate` says about providers that
// STS cannot trust as configured: every audience must be a client id of
// the account's IAM OIDC provider for that issuer, and IAM only registers
// https issuers without a port.
func (c *Config) providerWarnings() []string {
	var w []string
	for i, p := range c.OIDCProviders {
		base := index("oidc_providers", i)
		for j, a := range p.Audiences {
			if len(a) > maxIAMClientID {
				w = append(w, fmt.Sprintf("%s is %d characters: an IAM OIDC provider client id has at most %d, so STS AssumeRoleWithWebIdentity cannot accept these tokens", index(base+".audience", j), len(a), maxIAMClientID))
			}
		}
		u, err := url.Parse(strings.ReplaceAll(p.Issuer, TenantPlaceholder, "tenant"))
		if err == nil && (u.Scheme != "https" || u.Port() != "") {
			w = append(w, fmt.Sprintf("%s %q cannot be an IAM OIDC provider URL (https without a port): STS will refuse its tokens", base+".issuer", p.Issuer))
		}
		if len(p.Tenants) > 0 {
			w = append(w, fmt.Sprintf("%s is a tenant template: IAM needs one OIDC provider per tenant (%d), each with the audiences as client ids", base+".issuer", len(p.Tenants)))
		}
	}
	return w
}

// everyProviderHasRoles reports whether providers are configured and each
// brings its own role mappings or default role.
func (c *Config) everyProviderHasRoles() bool {
	if !c.HasProviders() {
		return false
	}
	for _, p := range c.OIDCProviders {
		if len(p.RoleMappings) == 0 && p.RoleARN == "" {
			return false
		}
	}
	return true
}
