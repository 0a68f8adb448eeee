package fakeidp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Profile is the token shape of one real identity provider. The claims of
// each profile follow that provider's published token reference: where it
// puts groups, roles and scopes, which identifiers it adds, what its iss
// looks like. Tests use them to prove the claim mapping of a provider
// reads what that provider really sends.
type Profile string

// The modelled providers.
const (
	// Okta custom authorization server access token: iss ends in
	// /oauth2/<server>, scp is a list, uid and cid name user and client,
	// groups come from a groups claim the admin adds to the server.
	Okta Profile = "okta"
	// EntraV1 is a Microsoft Entra ID v1.0 access token: iss
	// https://sts.windows.net/<tid>/, upn and unique_name, appid, scp a
	// space-separated string, groups as object-id GUIDs, app roles in roles.
	EntraV1 Profile = "entra_v1"
	// EntraV2 is an Entra ID v2.0 token: iss
	// https://login.microsoftonline.com/<tid>/v2.0, preferred_username, azp,
	// oid, tid, ver "2.0", groups GUIDs and roles.
	EntraV2 Profile = "entra_v2"
	// Google ID token: iss https://accounts.google.com, a numeric sub, hd
	// for Workspace domains, email_verified, and no groups at all.
	Google Profile = "google"
	// Keycloak access token: iss .../realms/<realm>, roles nested in
	// realm_access.roles and resource_access.<client>.roles, groups (with
	// the group mapper's full path) in groups.
	Keycloak Profile = "keycloak"
	// Auth0 access token: iss with a trailing slash, sub "<connection>|id",
	// aud a list with the userinfo endpoint, RBAC permissions, and custom
	// claims under a namespace URL.
	Auth0 Profile = "auth0"
	// Ping is a PingOne access token: iss .../<environment>/as, env and
	// org ids, client_id, groups mapped to memberOf.
	Ping Profile = "ping"
)

// Profiles lists every profile, for table-driven tests.
func Profiles() []Profile {
	return []Profile{Okta, EntraV1, EntraV2, Google, Keycloak, Auth0, Ping}
}

// Auth0Namespace prefixes the Auth0 profile's custom claims, as Auth0
// requires of claims an Action adds to access tokens.
const Auth0Namespace = "https://mcpguard.example/"

// PingEnvironment is the PingOne environment id in the Ping profile's iss.
const PingEnvironment = "5a1ee3b6-7c4b-4e0f-9f6a-2f3c1d7e9b10"

// User describes the person a profile token is minted for.
type User struct {
	// Subject is the sub claim (for Entra: the pairwise subject).
	Subject string
	// Email is the address; Google and Okta mark it verified.
	Email string
	// Name is the display name.
	Name string
	// Groups are group names, or object-id GUIDs for Entra.
	Groups []string
	// Roles are app roles (Entra, Keycloak realm roles, Auth0 custom roles).
	Roles []string
	// ClientRoles are Keycloak client roles of the token's audience.
	ClientRoles []string
	// Scopes are the granted scopes.
	Scopes []string
	// Tenant is the Entra tenant id (a lowercase GUID).
	Tenant string
	// Audience is the aud; default "api://mcpguard".
	Audience string
	// Overage makes an Entra token carry the groups overage form instead
	// of groups, as Entra does for users in too many groups.
	Overage bool
	// Domain is Google's hd (Workspace domain); empty for consumer accounts.
	Domain string
}

// Issuer is the iss of the profile's tokens from this issuer: the
// provider's path shape on this issuer's URL. tenant is used by Entra.
func (p *IdP) Issuer(profile Profile, tenant string) string {
	switch profile {
	case Okta:
		return p.url + "/oauth2/default"
	case EntraV1:
		return p.url + "/" + tenant + "/"
	case EntraV2:
		return p.url + "/" + tenant + "/v2.0"
	case Keycloak:
		return p.url + "/realms/mcp"
	case Auth0:
		return p.url + "/"
	case Ping:
		return p.url + "/" + PingEnvironment + "/as"
	}
	return p.url
}

// IssuerTemplate is the Entra issuer template for profile on this issuer,
// with {tenantid} where the tenant goes.
func (p *IdP) IssuerTemplate(profile Profile) string {
	return p.Issuer(profile, "{tenantid}")
}

// ProfileClaims builds the claims profile's provider would put in an
// access token (ID token for Google) for u, valid for an hour from this
// issuer's clock.
func (p *IdP) ProfileClaims(profile Profile, u User) map[string]any {
	now := p.cfg.now().Unix()
	aud := u.Audience
	if aud == "" {
		aud = "api://mcpguard"
	}
	c := map[string]any{
		"iss": p.Issuer(profile, u.Tenant),
		"sub": u.Subject,
		"aud": aud,
		"iat": now,
		"exp": now + 3600,
	}
	groups := slices.Clone(u.Groups)
	switch profile {
	case Okta:
		c["ver"] = 1
		c["jti"] = "AT." + opaque(u.Subject, "jti")
		c["cid"] = "0oa" + opaque(aud, "cid")[:17]
		c["uid"] = "00u" + opaque(u.Subject, "uid")[:17]
		c["scp"] = listOf(u.Scopes)
		c["auth_time"] = now
		if u.Email != "" {
			c["email"] = u.Email
		}
		if groups != nil {
			c["groups"] = groups
		}
	case EntraV1, EntraV2:
		oid := guid(u.Subject, "oid")
		c["nbf"] = now
		c["tid"] = u.Tenant
		c["oid"] = oid
		c["aio"] = opaque(u.Subject, "aio")
		c["uti"] = opaque(u.Subject, "uti")[:22]
		c["rh"] = "0.A" + opaque(u.Tenant, "rh")[:20] + "."
		c["name"] = u.Name
		c["scp"] = strings.Join(u.Scopes, " ")
		if len(u.Roles) > 0 {
			c["roles"] = slices.Clone(u.Roles)
		}
		client := guid(aud, "client")
		if profile == EntraV1 {
			c["ver"] = "1.0"
			c["appid"] = client
			c["appidacr"] = "0"
			c["upn"] = u.Email
			c["unique_name"] = u.Email
			c["amr"] = []any{"pwd", "mfa"}
		} else {
			c["ver"] = "2.0"
			c["azp"] = client
			c["azpacr"] = "0"
			c["preferred_username"] = u.Email
		}
		switch {
		case u.Overage:
			graph := "https://graph.microsoft.com/v1.0/users/" + oid + "/getMemberObjects"
			if profile == EntraV1 {
				graph = "https://graph.windows.net/" + u.Tenant + "/users/" + oid + "/getMemberObjects"
			}
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": graph}}
		case groups != nil:
			c["groups"] = groups
		}
	case Google:
		c["azp"] = aud
		c["email"] = u.Email
		c["email_verified"] = true
		c["at_hash"] = opaque(u.Subject, "at_hash")[:22]
		c["name"] = u.Name
		if u.Domain != "" {
			c["hd"] = u.Domain
		}
	case Keycloak:
		c["typ"] = "Bearer"
		c["azp"] = aud
		c["sid"] = guid(u.Subject, "sid")
		c["scope"] = strings.Join(u.Scopes, " ")
		c["email"] = u.Email
		c["email_verified"] = true
		c["preferred_username"] = strings.SplitN(u.Email, "@", 2)[0]
		c["realm_access"] = map[string]any{"roles": listOf(append([]string{"offline_access", "default-roles-mcp"}, u.Roles...))}
		ra := map[string]any{"account": map[string]any{"roles": []any{"manage-account", "view-profile"}}}
		if len(u.ClientRoles) > 0 {
			ra[aud] = map[string]any{"roles": listOf(u.ClientRoles)}
		}
		c["resource_access"] = ra
		if groups != nil {
			c["groups"] = groups
		}
	case Auth0:
		c["aud"] = []any{aud, p.url + "/userinfo"}
		c["azp"] = opaque(aud, "azp")[:32]
		c["scope"] = strings.Join(u.Scopes, " ")
		c["permissions"] = listOf(u.Scopes)
		c[Auth0Namespace+"email"] = u.Email
		if groups != nil {
			c[Auth0Namespace+"groups"] = groups
		}
		if len(u.Roles) > 0 {
			c[Auth0Namespace+"roles"] = slices.Clone(u.Roles)
		}
	case Ping:
		c["client_id"] = guid(aud, "client")
		c["scope"] = strings.Join(u.Scopes, " ")
		c["env"] = PingEnvironment
		c["org"] = guid("org", "org")
		c["sid"] = guid(u.Subject, "sid")
		c["auth_time"] = now
		c["email"] = u.Email
		if groups != nil {
			c["memberOf"] = groups
		}
	}
	return c
}

func listOf(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// opaque derives a stable opaque identifier, so tokens of one user carry
// the same ids run after run.
func opaque(seed, kind string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + seed))
	return hex.EncodeToString(h[:])
}

// guid derives a stable lowercase GUID, the form of Entra and PingOne ids.
func guid(seed, kind string) string {
	h := opaque(seed, kind)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
