package authn

import (
	"crypto/sha256"
	"log/slog"
	"time"
)

// Token is a raw bearer token (a compact JWT). It is needed verbatim for STS
// AssumeRoleWithWebIdentity, and must never reach a log line or an audit
// record: it prints as [REDACTED] through slog, fmt's %v and %s.
type Token string

// LogValue keeps the token out of structured logs.
func (Token) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// String keeps the token out of fmt output. Use string(t) where the raw value
// is genuinely needed (the STS call).
func (Token) String() string { return "[REDACTED]" }

// GoString keeps the token out of %#v output.
func (Token) GoString() string { return "[REDACTED]" }

// Identity is an authenticated caller: the verified claims of their token and
// the token itself, which STS needs. It is immutable once built and may be
// shared between goroutines.
type Identity struct {
	// Subject is the token's sub claim.
	Subject string
	// Issuer is the token's iss claim.
	Issuer string
	// Provider is the name of the identity provider that issued the token
	// (oidc_providers[].name), or "" for the single oidc_config issuer.
	Provider string
	// Tenant is the tenant id of an issuer template's iss, else "".
	Tenant string
	// UserKey identifies the user across providers: sub for the single
	// oidc_config issuer, "<provider>|<sub>" (or
	// "<provider>/<tenant>|<sub>") otherwise. It is the Cedar principal id
	// and the key of everything kept per user, so one provider's sub never
	// stands for another provider's user.
	UserKey string
	// Roles are a named provider's application roles (ClaimMapping.Roles),
	// prefixed like Groups; nil otherwise.
	Roles []string
	// Scopes are a named provider's granted scopes; nil otherwise (then
	// readers take the scope or scp claim).
	Scopes []string
	// SessionName is the value a named provider's mapping chose as
	// RoleSessionName before sanitizing, "" meaning sub.
	SessionName string
	// Email is the email claim when present, else "".
	Email string
	// Groups are the caller's IdP groups from the configured group claim,
	// in claim order, without duplicates; for a named provider, mapped
	// through its group-name table and prefixed.
	Groups []string
	// Claims holds every claim of the token as decoded JSON (string,
	// float64 or json.Number, bool, []any, map[string]any, nil).
	Claims map[string]any
	// ExpiresAt is the token's exp; nothing derived from this identity
	// (cached credentials included) may be used after it.
	ExpiresAt time.Time
	// Token is the raw bearer token.
	Token Token
	// TokenDigest is SHA-256 of the raw token, for cache keys.
	TokenDigest [sha256.Size]byte
}
