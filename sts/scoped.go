package sts

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

// scopedSession is the per-request session policy of one action set;
// shared and immutable.
type scopedSession struct {
	actions []string
	policy  string
	digest  string            // hex of sum
	sum     [sha256.Size]byte // SHA-256 of policy
}

// compileScopes resolves every role's scope-down mode and compiles the
// scopers of the roles that scope per request, refusing configurations
// whose static session policies cannot be composed safely.
func (t *roleTable) compileScopes(def ScopeMode, conds []Condition) error {
	if def == "" {
		def = ScopeMapping
	}
	if _, err := ParseScopeMode(string(def)); err != nil {
		return err
	}
	if conds == nil {
		conds = DefaultScopeConditions()
	}
	var errs []error
	seen := map[*role]bool{}
	all := make([]*role, 0, len(t.byGroup)+1)
	for _, r := range t.byGroup {
		all = append(all, r)
	}
	if t.def != nil {
		all = append(all, t.def)
	}
	for _, r := range all {
		if seen[r] {
			continue
		}
		seen[r] = true
		if _, err := ParseScopeMode(string(r.ScopeDown)); err != nil {
			errs = append(errs, fmt.Errorf("role mapping %q: %w", r.Claim, err))
			continue
		}
		r.mode = r.ScopeDown
		if r.mode == "" {
			r.mode = def
		}
		name := "role_arn"
		if r.Claim != "" {
			name = fmt.Sprintf("role mapping %q", r.Claim)
		}
		switch r.mode {
		case ScopeNone:
			if r.SessionPolicy != "" || len(r.SessionPolicyARNs) > 0 {
				errs = append(errs, fmt.Errorf("%s: scope_down none would sign without its session_policy / session_policy_arns; use mapping or request", name))
			}
		case ScopeRequest:
			s, err := compileScoper(r, conds)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			r.scope = s
		}
	}
	return errors.Join(errs...)
}

// ScopeModeFor returns the scope-down mode of the role id is mapped to.
func (b *Broker) ScopeModeFor(id *authn.Identity) (ScopeMode, error) {
	r, err := b.table(id).selectRole(id)
	if err != nil {
		return "", err
	}
	return r.mode, nil
}

// ScopedCredentials is Credentials for a request whose needs are known:
// under scope_down request the credentials' session allows exactly
// sc.Actions, only under the scope conditions and never beyond the
// mapping's static session policy. Sessions are cached per user, role,
// session tags and policy, with the same singleflight and refresh-ahead as
// Credentials, so a repeated action set costs no STS call. Under mapping
// and none it is Credentials.
//
// Besides Credentials' errors: KindForbidden when sc.Refusal is set or the
// policy exceeds STS's limits, KindRateLimited (with RetryAfter) when the
// user holds sessions for MaxActionSets other sets.
func (b *Broker) ScopedCredentials(ctx context.Context, id *authn.Identity, sc Scope) (*Grant, error) {
	if id == nil || id.Token == "" {
		return nil, mcpguard.E(mcpguard.KindUnauthenticated, "authentication required", nil)
	}
	now := b.now()
	if id.ExpiresAt.IsZero() || !now.Before(id.ExpiresAt) {
		e := mcpguard.E(mcpguard.KindUnauthenticated, "token expired", nil)
		e.Reason = "expired"
		return nil, e
	}
	rs, err := b.resolve(id)
	if err != nil {
		return nil, err
	}
	r := rs.role
	if r.mode != ScopeRequest || sc.UseMapping {
		return b.Credentials(ctx, id)
	}
	if sc.Refusal != nil {
		return nil, scopeRefused("scope_unknown_actions",
			"scope_down request: "+mcpguard.SafeMessage(sc.Refusal)+"; the request is refused rather than signed with a broader session", sc.Refusal)
	}
	actions := normalizeActions(sc.Actions)
	ss, err := r.scope.session(actions)
	if err != nil {
		return nil, internalError("scope_policy", err)
	}
	if len(ss.policy) > maxPolicyLen {
		return nil, scopeRefused("scope_policy_too_large", fmt.Sprintf(
			"scope_down request: the session policy for this request's %d IAM actions is %d characters, AWS STS accepts %d; split the work into smaller requests",
			len(actions), len(ss.policy), maxPolicyLen), nil)
	}
	var kb [2 * sha256.Size]byte
	copy(kb[:], rs.key[:])
	copy(kb[sha256.Size:], ss.sum[:])
	key := cacheKey(sha256.Sum256(kb[:]))
	canRefresh := id.ExpiresAt.Sub(now) > b.margin
	g, res, startRefresh := b.cache.get(key, now, canRefresh)
	b.obs.OnCache(res)
	if startRefresh {
		b.refreshInBackground(key, id, r, rs.name, ss)
	}
	if g != nil {
		return g, nil
	}
	if wait, ok := b.sets.admit(userKey(id, r), ss.sum, now); !ok {
		return nil, &mcpguard.Error{
			Kind: mcpguard.KindRateLimited,
			Msg: fmt.Sprintf("scope_down request: this user already holds sessions for %d distinct sets of AWS actions; retry in %s or reuse a set",
				b.sets.max, strconv.Itoa(int(wait.Seconds()+0.999))+"s"),
			Err:        errTooManySets,
			Reason:     "scope_too_many_sets",
			RetryAfter: wait,
		}
	}
	return b.fetch(ctx, key, id, r, rs.name, ss)
}

var errTooManySets = errors.New("too many distinct action sets")

// userKey identifies a user of a role for the set bound: issuer, subject
// and role, not the token, so a new login does not reset the bound.
func userKey(id *authn.Identity, r *role) [sha256.Size]byte {
	var buf []byte
	buf = appendField(buf, id.Issuer)
	buf = appendField(buf, id.Subject)
	buf = appendField(buf, r.RoleARN)
	return sha256.Sum256(buf)
}

// classifyScoped turns STS's policy errors for a per-request policy into
// a 403 that names the cause: the configuration is fine, this request's
// policy is what STS refused.
func classifyScoped(e *mcpguard.Error, code string, sc *scopedSession) *mcpguard.Error {
	switch code {
	case "PackedPolicyTooLarge":
		return scopeRefused("scope_packed_policy_too_large", fmt.Sprintf(
			"scope_down request: AWS STS refused the session (PackedPolicyTooLarge): the session policy for this request's %d IAM actions and the token's session tags exceed its packed size limit; split the work into smaller requests",
			len(sc.actions)), e.Err)
	case "MalformedPolicyDocument":
		return scopeRefused("scope_malformed_policy",
			"scope_down request: AWS STS refused the session policy for this request's actions (MalformedPolicyDocument): "+strings.Join(sc.actions, ", "), e.Err)
	}
	return e
}
