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
	// Email is the email claim when present, else "".
	Email string
	// Groups are the caller's IdP groups from the configured group claim,
	// in claim order, without duplicates.
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
