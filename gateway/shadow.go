package gateway

import (
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authz"
)

// policyShadow counts every shadow policy evaluation and audits each
// disagreement with the set in force (authz_shadow_mismatch), so an
// operator can see what a candidate policy set would change before
// switching to it.
func (g *Gateway) policyShadow(r authz.ShadowResult) {
	g.metrics.AuthzShadow(r.Result)
	if r.Result == authz.ShadowAgree {
		return
	}
	ev := &audit.Event{
		Type:      audit.TypeAuthzShadowMismatch,
		Outcome:   audit.OutcomeSuccess,
		RequestID: r.RequestID,
		Authz:     &audit.Authz{Decision: decisionWord(r.Allow), Policies: r.Policies},
		Details: map[string]any{
			"result":          r.Result,
			"shadow_decision": decisionWord(r.ShadowAllow),
			"shadow_policies": nonNil(r.ShadowPolicies),
			"action":          r.Action,
			"resource":        r.Resource,
		},
	}
	if !r.Allow {
		ev.Outcome = audit.OutcomeDenied
	}
	if id := r.Identity; id != nil {
		ev.User = &audit.User{Sub: id.Subject, Iss: id.Issuer, Provider: id.Provider, Tenant: id.Tenant, Email: id.Email, Groups: id.Groups}
	}
	g.record(ev)
}

func decisionWord(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
