package authn

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mcpguard/mcpguard"
)

// TenantPlaceholder in an issuer makes it a template: Microsoft Entra ID
// multi-tenant applications receive tokens whose iss carries the tenant id
// ("https://login.microsoftonline.com/{tenantid}/v2.0",
// "https://sts.windows.net/{tenantid}/"), and its common discovery
// document names the issuer in exactly this form.
const TenantPlaceholder = "{tenantid}"

// tenantRE is the shape of an Entra tenant id: a lowercase GUID, as Entra
// writes it in iss and tid.
var tenantRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ClaimMapping says where a provider puts what mcpguard reads from its
// tokens. Each field is a claim path (see ClaimAt): a top-level claim
// name, or dot-separated names into nested objects.
type ClaimMapping struct {
	// Groups holds the caller's groups. Default "groups".
	Groups string
	// Roles holds application roles (Entra "roles", Keycloak
	// "realm_access.roles"). Empty: the provider sends none.
	Roles string
	// Scopes holds the granted OAuth scopes, a space-separated string or a
	// list (Okta's scp). Empty: "scope", else "scp".
	Scopes string
	// SessionName holds the value CloudTrail shows as RoleSessionName.
	// Default "email", used only when EmailVerified is true.
	SessionName string
	// EmailVerified holds the flag that makes an email trustworthy as a
	// session name. Default "email_verified".
	EmailVerified string
}

// ReasonGroupsOverage: the provider left the groups out of the token
// because the user is in too many (Entra's _claim_names overage, or
// hasgroups). Refused with 403: treating it as "no groups" could skip the
// group a forbid names.
const ReasonGroupsOverage = "groups_overage"

// ReasonUnknownIssuer: the token's iss names no configured provider. It is
// decided before any key is fetched.
const ReasonUnknownIssuer = "unknown_issuer"

// issuerMatcher tells whether an iss belongs to one provider: equal to an
// exact issuer, or of the template's form with an allowed tenant.
type issuerMatcher struct {
	exact          string
	prefix, suffix string
	tenants        map[string]bool
}

func newIssuerMatcher(issuer string, tenants []string) (issuerMatcher, error) {
	n := strings.Count(issuer, TenantPlaceholder)
	switch {
	case n == 0 && len(tenants) > 0:
		return issuerMatcher{}, errors.New("tenants are only allowed with an issuer template containing " + TenantPlaceholder)
	case n == 0:
		return issuerMatcher{exact: issuer}, nil
	case n > 1:
		return issuerMatcher{}, fmt.Errorf("issuer template %q has more than one %s", issuer, TenantPlaceholder)
	case len(tenants) == 0:
		return issuerMatcher{}, errors.New("an issuer template needs an allow list of tenant ids")
	}
	m := issuerMatcher{tenants: map[string]bool{}}
	m.prefix, m.suffix, _ = strings.Cut(issuer, TenantPlaceholder)
	if !strings.HasSuffix(m.prefix, "/") || (m.suffix != "" && !strings.HasPrefix(m.suffix, "/")) {
		return issuerMatcher{}, fmt.Errorf("issuer template %q: %s must be a whole path segment", issuer, TenantPlaceholder)
	}
	for _, t := range tenants {
		if !tenantRE.MatchString(t) {
			return issuerMatcher{}, fmt.Errorf("tenant %q is not a lowercase GUID", truncate(t))
		}
		m.tenants[t] = true
	}
	return m, nil
}

// template reports whether the matcher is an issuer template.
func (m issuerMatcher) template() bool { return m.exact == "" }

// match returns the tenant of iss (empty for an exact issuer) and whether
// iss belongs to this provider.
func (m issuerMatcher) match(iss string) (tenant string, ok bool) {
	if !m.template() {
		return "", iss == m.exact
	}
	rest, ok := strings.CutPrefix(iss, m.prefix)
	if !ok {
		return "", false
	}
	tenant, ok = strings.CutSuffix(rest, m.suffix)
	if !ok || !m.tenants[tenant] {
		return "", false
	}
	return tenant, true
}

// overlaps reports whether an iss could match both m and o (or is equal).
func (m issuerMatcher) overlaps(o issuerMatcher) bool {
	switch {
	case !m.template() && !o.template():
		return m.exact == o.exact
	case !m.template():
		_, ok := o.match(m.exact)
		return ok
	case !o.template():
		_, ok := m.match(o.exact)
		return ok
	}
	if m.prefix != o.prefix || m.suffix != o.suffix {
		return false
	}
	for t := range m.tenants {
		if o.tenants[t] {
			return true
		}
	}
	return false
}

// mapped holds what a provider's claim mapping reads from a token.
type mapped struct {
	groups, roles, scopes []string
	sessionName           string
}

// applyMapping reads groups, roles, scopes and the session name of a
// provider's token (Options.Name set), applying the group-name table and
// the prefix. Every list reads whole or the token is refused.
func (a *Authenticator) applyMapping(claims map[string]any) (mapped, error) {
	var out mapped
	cm := a.o.Claims
	if err := overage(claims, cm.Groups); err != nil {
		return out, err
	}
	var err error
	if out.groups, err = listAt(claims, cm.Groups); err != nil {
		return out, fail(ReasonBadGroups, "token groups cannot be read whole", err)
	}
	if cm.Roles != "" {
		if out.roles, err = listAt(claims, cm.Roles); err != nil {
			return out, fail(ReasonBadGroups, "token roles cannot be read whole", err)
		}
	}
	out.groups = a.rename(out.groups)
	out.roles = a.prefixed(out.roles)
	if out.scopes, err = scopesOf(claims, cm.Scopes); err != nil {
		return out, fail(ReasonInvalidClaim, "token scopes cannot be read", err)
	}
	if out.sessionName, err = sessionValue(claims, cm.SessionName, cm.EmailVerified); err != nil {
		return out, fail(ReasonInvalidClaim, "token session name claim is not a valid identifier", err)
	}
	return out, nil
}

// overage refuses a token whose groups were replaced by a pointer to
// Microsoft Graph (_claim_names / _claim_sources), or that only says it
// has groups (hasgroups). Both mean "too many groups to list".
func overage(claims map[string]any, groupsPath string) error {
	top, _, _ := strings.Cut(groupsPath, ".")
	over := false
	if names, _ := claims["_claim_names"].(map[string]any); names != nil {
		_, byWhole := names[groupsPath]
		_, byTop := names[top]
		over = byWhole || byTop
	}
	if b, _ := claims["hasgroups"].(bool); b {
		over = true
	}
	if !over {
		return nil
	}
	e := mcpguard.E(mcpguard.KindForbidden,
		"the identity provider left the groups out of the token because the user is in too many groups; "+
			"configure group filtering (groups assigned to the application) or use app roles", nil)
	e.Reason = ReasonGroupsOverage
	return e
}

// rename maps group ids to readable names through Options.GroupNames and
// adds Options.GroupPrefix; names stay unique.
func (a *Authenticator) rename(groups []string) []string {
	if len(a.o.GroupNames) == 0 {
		return a.prefixed(groups)
	}
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		if n, ok := a.o.GroupNames[g]; ok {
			g = n
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return a.prefixed(out)
}

func (a *Authenticator) prefixed(names []string) []string {
	if a.o.GroupPrefix == "" || len(names) == 0 {
		return names
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = a.o.GroupPrefix + n
	}
	return out
}

// scopesOf reads granted scopes at path (default scope, else scp): a
// space-separated string or a list of strings.
func scopesOf(claims map[string]any, path string) ([]string, error) {
	paths := []string{path}
	if path == "" {
		paths = []string{"scope", "scp"}
	}
	out := []string{}
	for _, p := range paths {
		v, ok, err := ClaimAt(claims, p)
		if err != nil {
			return nil, err
		}
		if !ok || v == nil {
			continue
		}
		switch x := v.(type) {
		case string:
			out = append(out, strings.Fields(x)...)
		case []any:
			for i, e := range x {
				s, isString := e.(string)
				if !isString {
					return nil, fmt.Errorf("scope element %d is a %s, not a string", i, jsonType(e))
				}
				out = append(out, strings.Fields(s)...)
			}
		default:
			return nil, fmt.Errorf("scope claim is a %s", jsonType(v))
		}
		break
	}
	if len(out) > MaxGroups {
		return nil, fmt.Errorf("more than %d scopes", MaxGroups)
	}
	return out, nil
}

// sessionValue is the raw value of the session-name claim: for an email
// only when the verified flag is JSON true or "true". Empty means "use
// sub".
func sessionValue(claims map[string]any, path, verifiedPath string) (string, error) {
	v, ok, err := ClaimAt(claims, path)
	if err != nil || !ok {
		return "", err
	}
	s, isString := v.(string)
	if !isString || s == "" {
		return "", nil
	}
	if len(s) > MaxClaimBytes {
		return "", fmt.Errorf("claim %q is longer than %d bytes", truncate(path), MaxClaimBytes)
	}
	if path == "email" {
		f, _, _ := ClaimAt(claims, verifiedPath)
		switch b := f.(type) {
		case bool:
			if !b {
				return "", nil
			}
		case string:
			if b != "true" {
				return "", nil
			}
		default:
			return "", nil
		}
	}
	return s, nil
}
