package gateway

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/sts"
	"github.com/mcpguard/mcpguard/telemetry"
)

// stsOptions maps aws_sts_config onto the credential broker.
func stsOptions(cfg *config.Config, client *http.Client, log *slog.Logger, m *telemetry.Metrics, now nowFunc) sts.Options {
	c := cfg.STS
	maps := make([]sts.Mapping, 0, len(c.RoleMappings))
	for _, rm := range c.RoleMappings {
		maps = append(maps, sts.Mapping{
			Claim:             rm.Claim,
			RoleARN:           rm.RoleARN,
			Priority:          rm.Priority,
			SessionPolicy:     rm.SessionPolicy,
			SessionPolicyARNs: rm.SessionPolicyARNs,
		})
	}
	return sts.Options{
		Region:           c.Region,
		Endpoint:         c.STSEndpoint,
		RoleClaim:        c.RoleClaim,
		Mappings:         maps,
		DefaultRoleARN:   c.RoleARN,
		SessionNameClaim: c.SessionNameClaim,
		SessionDuration:  c.SessionDuration,
		RefreshMargin:    c.Cache.RefreshMargin,
		MaxEntries:       c.Cache.MaxEntries,
		HTTPClient:       client,
		Logger:           log,
		Now:              now,
		Observer:         stsObserver{m: m, log: log},
	}
}

type nowFunc = func() time.Time

// stsObserver turns broker events into metrics and one log line per real
// STS exchange (the CloudTrail join keys, never a secret).
type stsObserver struct {
	m   *telemetry.Metrics
	log *slog.Logger
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
	if e.Err != nil {
		o.log.Warn("AssumeRoleWithWebIdentity failed", append(attrs, "error", e.Err)...)
		return
	}
	o.log.Info("AssumeRoleWithWebIdentity", attrs...)
}

func (o stsObserver) OnCache(r sts.CacheResult) { o.m.CredentialCache(string(r)) }

func (o stsObserver) OnEntries(n int) { o.m.CredentialEntries(n) }
