package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// IdentityCenter configures IAM Identity Center as a credential source
// (permission sets across accounts): users whose groups match a mapping
// get the credentials of a permission set in an account through the AWS
// access portal instead of AssumeRoleWithWebIdentity.
type IdentityCenter struct {
	// Region of the Identity Center instance. Default aws_sts_config.region.
	Region string `yaml:"region"`
	// InstanceARN is the Identity Center instance (recorded in logs).
	// Optional.
	InstanceARN string `yaml:"instance_arn"`
	// ApplicationARN is the customer managed application whose jwt-bearer
	// grant trusts the IdP (CreateTokenWithIAM's clientId). Required.
	ApplicationARN string `yaml:"application_arn"`
	// Scopes requested with the token. Default [sso:account:access]; must
	// include it.
	Scopes []string `yaml:"scopes"`
	// OIDCEndpoint and PortalEndpoint override the regional SSO OIDC and
	// portal endpoints (VPC endpoints, tests).
	OIDCEndpoint   string `yaml:"oidc_endpoint"`
	PortalEndpoint string `yaml:"portal_endpoint"`
	// TokenRefreshMargin: Identity Center tokens are refreshed this long
	// before they expire. Default 5m.
	TokenRefreshMargin time.Duration `yaml:"token_refresh_margin"`
	// CredentialRefreshMargin: permission-set credentials are refreshed
	// this long before they expire. Default 5m.
	CredentialRefreshMargin time.Duration `yaml:"credential_refresh_margin"`
	// AssignmentsTTL is how long a user's portal assignments are cached.
	// Default 5m.
	AssignmentsTTL time.Duration `yaml:"assignments_ttl"`
	// MaxEntries bounds each cache. Default 10000.
	MaxEntries int `yaml:"max_entries"`
	// Fallback decides users no mapping admits: "sts" (default) sends them
	// through aws_sts_config, "deny" refuses them.
	Fallback string `yaml:"fallback"`
	// Mappings admit groups to (account, permission set) pairs.
	Mappings []IdentityCenterMapping `yaml:"mappings"`
	// IdentityBearerRoles switch to trusted identity propagation
	// (Pattern 2): per account, the role assumed with AssumeRole and the
	// user's identity context. Mappings then name accounts only.
	IdentityBearerRoles []IdentityBearerRole `yaml:"identity_bearer_roles"`
	// STSEndpoint overrides the regional STS endpoint for Pattern 2.
	STSEndpoint string `yaml:"sts_endpoint"`
}

// IdentityBearerRole is one account's identity-bearer role.
type IdentityBearerRole struct {
	// Account is the 12-digit AWS account ID. Required, unique.
	Account string `yaml:"account"`
	// RoleARN is a role in Account whose trust policy allows the gateway
	// sts:AssumeRole and sts:SetContext. Required.
	RoleARN string `yaml:"role_arn"`
}

// IdentityCenterMapping admits members of Group to one pair.
type IdentityCenterMapping struct {
	// Group is the IdP group (oidc_config.group_claim). Required.
	Group string `yaml:"group"`
	// Account is the 12-digit AWS account ID. Required.
	Account string `yaml:"account"`
	// PermissionSet is the permission set name. Required.
	PermissionSet string `yaml:"permission_set"`
	// Priority picks the default pair of a request that names none: the
	// lowest number wins. Optional (nil: after every numbered mapping).
	Priority *int `yaml:"priority"`
}

// Defaults of identity_center.
const (
	DefaultIdentityCenterMargin = 5 * time.Minute
	DefaultAssignmentsTTL       = 5 * time.Minute
	DefaultIdentityCenterCache  = 10000
)

func (c *Config) fillIdentityCenter() {
	ic := c.IdentityCenter
	if ic == nil {
		return
	}
	if ic.Region == "" {
		ic.Region = c.STS.Region
	}
	if len(ic.Scopes) == 0 && len(ic.IdentityBearerRoles) == 0 {
		// Pattern 2 asks for every scope of the application instead.
		ic.Scopes = []string{"sso:account:access"}
	}
	if ic.TokenRefreshMargin == 0 {
		ic.TokenRefreshMargin = DefaultIdentityCenterMargin
	}
	if ic.CredentialRefreshMargin == 0 {
		ic.CredentialRefreshMargin = DefaultIdentityCenterMargin
	}
	if ic.AssignmentsTTL == 0 {
		ic.AssignmentsTTL = DefaultAssignmentsTTL
	}
	if ic.MaxEntries == 0 {
		ic.MaxEntries = DefaultIdentityCenterCache
	}
	if ic.Fallback == "" {
		ic.Fallback = "sts"
	}
}

var (
	icAppARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:sso::[0-9]{12}:application/ssoins-[0-9a-f]{16}/apl-[0-9a-f]{16}$`)
	icInstARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[0-9a-f]{16}$`)
	icAccountRE  = regexp.MustCompile(`^[0-9]{12}$`)
	icPermSetRE  = regexp.MustCompile(`^[\w+=,.@-]{1,32}$`)
	icEndpointOK = urlRules{noQuery: true}
)

func validateBearerRoles(ps *Problems, roles []IdentityBearerRole) {
	seen := map[string]int{}
	for i, r := range roles {
		p := index("identity_center.identity_bearer_roles", i)
		if !icAccountRE.MatchString(r.Account) {
			ps.add(p+".account", "%q is not a 12-digit AWS account ID", r.Account)
		} else if j, dup := seen[r.Account]; dup {
			ps.add(p+".account", "duplicate of identity_bearer_roles[%d]", j)
		} else {
			seen[r.Account] = i
		}
		if why := checkRoleARN(r.RoleARN); why != "" {
			ps.add(p+".role_arn", "%s", why)
		} else if f := strings.SplitN(r.RoleARN, ":", 6); f[4] != r.Account {
			ps.add(p+".role_arn", "must be a role in account %s", r.Account)
		}
	}
}

func (c *Config) validateIdentityCenter(ps *Problems) {
	ic := c.IdentityCenter
	if ic == nil {
		return
	}
	const p = "identity_center"
	requireWith(ps, p+".region", ic.Region, checkRegion)
	requireWith(ps, p+".application_arn", ic.ApplicationARN, func(s string) string {
		if !icAppARNRE.MatchString(s) {
			return fmt.Sprintf("%q is not an Identity Center application ARN (arn:aws:sso::ACCOUNT:application/ssoins-…/apl-…)", s)
		}
		return ""
	})
	if ic.InstanceARN != "" && !icInstARNRE.MatchString(ic.InstanceARN) {
		ps.add(p+".instance_arn", "%q is not an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)", ic.InstanceARN)
	}
	tip := len(ic.IdentityBearerRoles) > 0
	if !tip && !slices.Contains(ic.Scopes, "sso:account:access") {
		ps.add(p+".scopes", "must include sso:account:access, which the AWS access portal requires")
	}
	for _, e := range []struct{ key, v string }{{"oidc_endpoint", ic.OIDCEndpoint}, {"portal_endpoint", ic.PortalEndpoint}, {"sts_endpoint", ic.STSEndpoint}} {
		if e.v != "" {
			if why := checkURL(e.v, icEndpointOK); why != "" {
				ps.add(p+"."+e.key, "%s", why)
			}
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"token_refresh_margin", ic.TokenRefreshMargin}, {"credential_refresh_margin", ic.CredentialRefreshMargin}, {"assignments_ttl", ic.AssignmentsTTL}} {
		if d.v < 0 {
			ps.add(p+"."+d.key, "must not be negative, got %s", d.v)
		}
	}
	if ic.MaxEntries < 1 {
		ps.add(p+".max_entries", "must be at least 1, got %d", ic.MaxEntries)
	}
	if ic.Fallback != "sts" && ic.Fallback != "deny" {
		ps.add(p+".fallback", "must be sts or deny, got %q", ic.Fallback)
	}
	validateBearerRoles(ps, ic.IdentityBearerRoles)
	if len(ic.Mappings) == 0 {
		ps.add(p+".mappings", "at least one mapping is required")
	}
	for i, m := range ic.Mappings {
		mp := index(p+".mappings", i)
		if m.Group == "" {
			ps.add(mp+".group", "required")
		}
		if !icAccountRE.MatchString(m.Account) {
			ps.add(mp+".account", "%q is not a 12-digit AWS account ID", m.Account)
		}
		switch {
		case tip && m.PermissionSet != "":
			ps.add(mp+".permission_set", "must be empty with identity_bearer_roles: trusted identity propagation signs with the account's identity-bearer role")
		case !tip && !icPermSetRE.MatchString(m.PermissionSet):
			ps.add(mp+".permission_set", "%q is not a permission set name (1-32 of letters, digits and +=,.@_-)", m.PermissionSet)
		}
		if tip && icAccountRE.MatchString(m.Account) && !slices.ContainsFunc(ic.IdentityBearerRoles, func(r IdentityBearerRole) bool { return r.Account == m.Account }) {
			ps.add(mp+".account", "has no entry in identity_center.identity_bearer_roles")
		}
		if m.Priority != nil && *m.Priority < 0 {
			ps.add(mp+".priority", "must be at least 0, got %d", *m.Priority)
		}
	}
}
