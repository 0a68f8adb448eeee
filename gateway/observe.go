package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/authz"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/sts"
	"github.com/mcpguard/mcpguard/telemetry"
)

// stsOptions maps aws_sts_config onto the credential broker.
func stsOptions(cfg *config.Config, client *http.Client, log *slog.Logger, m *telemetry.Metrics, a *audit.Logger, now nowFunc) sts.Options {
	c := cfg.STS
	maps := stsMappings(c.RoleMappings)
	return sts.Options{
		ProviderRoles:      providerRoles(cfg),
		Region:             c.Region,
		Endpoint:           c.STSEndpoint,
		RoleClaim:          c.RoleClaim,
		Mappings:           maps,
		DefaultRoleARN:     c.RoleARN,
		SessionNameClaim:   c.SessionNameClaim,
		EmailVerifiedClaim: c.EmailVerifiedClaim,
		SessionDuration:    c.SessionDuration,
		RefreshMargin:      c.Cache.RefreshMargin,
		MaxEntries:         c.Cache.MaxEntries,
		HTTPClient:         client,
		Logger:             log,
		Now:                now,
		Observer:           stsObserver{m: m, log: log, audit: a},
		ScopeDown:          sts.ScopeMode(c.ScopeDown),
		ScopeConditions:    scopeConditions(cfg),
		MaxActionSets:      c.ScopeDownConfig.MaxActionSets,
	}
}

type nowFunc = func() time.Time

// stsMappings converts role_mappings for the broker.
func stsMappings(in []config.RoleMapping) []sts.Mapping {
	out := make([]sts.Mapping, 0, len(in))
	for _, rm := range in {
		out = append(out, sts.Mapping{
			Claim:             rm.Claim,
			RoleARN:           rm.RoleARN,
			Priority:          rm.Priority,
			SessionPolicy:     rm.SessionPolicy,
			SessionPolicyARNs: rm.SessionPolicyARNs,
			ScopeDown:         sts.ScopeMode(rm.ScopeDown),
		})
	}
	return out
}

// stsObserver turns broker events into metrics and one log line per real
// STS exchange (the CloudTrail join keys, never a secret).
type stsObserver struct {
	m     *telemetry.Metrics
	log   *slog.Logger
	audit *audit.Logger
}

func (o stsObserver) OnAssume(e sts.AssumeEvent) {
	outcome := "success"
	if e.Err != nil {
		outcome = "failure"
	}
	o.m.STSRequest(outcome, e.Duration)
	attrs := []any{
		"role_arn", e.RoleARN, "role_session_name", e.SessionName, "sub", e.Subject,
		"sts_request_id", e.STSRequestID, "access_key_id", e.AccessKeyID,
		"expiration", e.Expiration, "duration", e.Duration, "refresh", e.Refresh,
	}
	ev := &audit.Event{
		Type:       audit.TypeSTSAssumeRole,
		Outcome:    audit.OutcomeSuccess,
		User:       &audit.User{Sub: e.Subject, Iss: e.Issuer},
		DurationMS: float64(e.Duration.Microseconds()) / 1000,
		AWS: &audit.AWS{
			RoleARN: e.RoleARN, RoleSessionName: e.SessionName, AssumedRoleARN: e.AssumedRoleARN,
			AccessKeyID: e.AccessKeyID, STSRequestID: e.STSRequestID,
		},
	}
	if !e.Expiration.IsZero() {
		exp := e.Expiration
		ev.AWS.CredentialsExpiration = &exp
	}
	if e.Refresh {
		ev.Type = audit.TypeCredentialsRefresh
	}
	if e.Err != nil {
		o.log.Warn("AssumeRoleWithWebIdentity failed", append(attrs, "error", e.Err)...)
		ev.Type, ev.Outcome = audit.TypeSTSFailure, audit.OutcomeError
		kind := mcpguard.KindOf(e.Err)
		if kind != mcpguard.KindCredentialsUnavailable && kind != mcpguard.KindInternal {
			ev.Outcome = audit.OutcomeDenied
		}
		ev.Error = &audit.Error{Kind: kind.String(), Reason: mcpguard.ReasonOf(e.Err), Message: mcpguard.SafeMessage(e.Err)}
		ev.Details = map[string]any{"refresh": e.Refresh}
	} else {
		o.log.Info("AssumeRoleWithWebIdentity", attrs...)
	}
	if err := o.audit.Record(context.Background(), ev); err != nil {
		o.log.Error("audit record not written", "type", string(ev.Type), "error", err)
	}
}

// policyReloaded reports a policy set load to metrics and the audit trail.
func (g *Gateway) policyReloaded(ok bool, err error) {
	g.metrics.PolicyReload(ok)
	ev := &audit.Event{Type: audit.TypePolicyReload, Outcome: audit.OutcomeSuccess}
	if g.authz != nil {
		ev.Details = map[string]any{"policies": len(g.authz.PolicyIDs())}
	}
	if !ok {
		ev.Type, ev.Outcome = audit.TypePolicyReloadFailed, audit.OutcomeError
		if err != nil {
			kind := "invalid_policy"
			if errors.Is(err, authz.ErrGuardrailRemoved) {
				kind = "guardrail_removed"
			}
			ev.Error = &audit.Error{Kind: kind, Message: err.Error()}
		}
	}
	g.record(ev)
}

// auditConfigLoaded records what configuration the gateway runs with.
func (g *Gateway) auditConfigLoaded(path string) {
	c := g.cfg
	d := map[string]any{
		"issuer": c.OIDC.Issuer, "upstream": c.Upstream.Host, "region": c.Upstream.Region,
		"role_mappings": len(c.STS.RoleMappings), "default_role": c.STS.RoleARN != "",
		"grpc_peer_auth": peerAuthMode(&c.Server),
	}
	if path != "" {
		d["path"] = path
	}
	if g.authz != nil {
		d["policies"] = len(g.authz.PolicyIDs())
	}
	g.record(&audit.Event{Type: audit.TypeConfigLoaded, Outcome: audit.OutcomeSuccess, Details: d})
}

// peerAuthMode names how the ext_proc peer is authenticated, so the audit
// trail shows whether the peer could have been anyone.
func peerAuthMode(s *config.Server) string {
	switch {
	case s.GRPCTLS.Enabled():
		return "mtls"
	case s.GRPCSocket() != "":
		return "unix_socket"
	}
	return "none"
}

func (g *Gateway) auditServer(t audit.Type) {
	g.record(&audit.Event{Type: t, Outcome: audit.OutcomeSuccess, Details: map[string]any{
		"grpc": g.GRPCAddr(), "admin": g.AdminAddr(),
	}})
}

func (g *Gateway) record(ev *audit.Event) {
	if err := g.audit.Record(context.Background(), ev); err != nil {
		g.log.Error("audit record not written", "type", string(ev.Type), "error", err)
	}
}

func (o stsObserver) OnCache(r sts.CacheResult) { o.m.CredentialCache(string(r)) }

func (o stsObserver) OnEntries(n int) { o.m.CredentialEntries(n) }
