package sts

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

// Session-name rules of AssumeRoleWithWebIdentity.
const (
	minSessionName = 2
	maxSessionName = 64
	// suffixHex is how many hex digits of SHA-256 of the original value
	// are appended to a name that had to be changed: 48 bits, so distinct
	// users whose names sanitize to the same text still get distinct
	// session names.
	suffixHex = 12
)

// DefaultEmailVerifiedClaim is the OIDC claim (OpenID Connect Core §5.1)
// saying the provider verified the email address.
const DefaultEmailVerifiedClaim = "email_verified"

// sessionName picks the RoleSessionName for id: the configured claim
// (default email), falling back to sub, made valid for STS. The email is
// used only when verifiedClaim (default email_verified) is true: an email
// the user merely typed into a profile must not become the name CloudTrail
// shows for their actions.
func sessionName(id *authn.Identity, claim, verifiedClaim string) (string, error) {
	raw := ""
	if id.Provider != "" {
		// A named provider's own claim mapping chose the value (its
		// session_name and email_verified paths), "" meaning sub.
		claim, raw = "sub", id.SessionName
	}
	switch claim {
	case "", "email":
		if emailVerified(id.Claims, verifiedClaim) {
			raw = id.Email
			if raw == "" {
				raw, _ = id.Claims["email"].(string)
			}
		}
	case "sub":
		if raw == "" {
			raw = id.Subject
		}
	default:
		raw, _ = id.Claims[claim].(string)
	}
	if raw == "" {
		raw = id.Subject
	}
	if raw == "" {
		e := mcpguard.E(mcpguard.KindUnauthenticated, "token has no subject", nil)
		e.Reason = "no_subject"
		return "", e
	}
	return SanitizeSessionName(raw), nil
}

// emailVerified reports whether claims[name] is JSON true, or the string
// "true" that some providers emit instead.
func emailVerified(claims map[string]any, name string) bool {
	if name == "" {
		name = DefaultEmailVerifiedClaim
	}
	switch v := claims[name].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// SanitizeSessionName makes s a valid RoleSessionName (2–64 characters of
// [\w+=,.@-]) that still names the user in CloudTrail. A valid s is kept
// as is. Otherwise every other character becomes '-', the result is cut to
// leave room, and "-" plus a short hash of the original s is appended, so
// two users never share a session name: an unchanged name never ends in
// such a suffix (a valid name that happens to is treated as changed).
func SanitizeSessionName(s string) string {
	if len(s) >= minSessionName && len(s) <= maxSessionName && validSessionChars(s) && !looksSuffixed(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	var b strings.Builder
	b.Grow(maxSessionName)
	limit := maxSessionName - 1 - suffixHex
	for _, r := range s {
		if b.Len() == limit {
			break
		}
		if r < 0x80 && sessionChar(byte(r)) { //nolint:gosec // r < 0x80
			b.WriteByte(byte(r)) //nolint:gosec // r < 0x80
		} else {
			b.WriteByte('-')
		}
	}
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:])[:suffixHex])
	return b.String()
}

func validSessionChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !sessionChar(s[i]) {
			return false
		}
	}
	return true
}

func sessionChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_+=,.@-", c) >= 0
}

// looksSuffixed reports whether s ends like a sanitized name: '-' and
// suffixHex lowercase hex digits.
func looksSuffixed(s string) bool {
	if len(s) < suffixHex+1 || s[len(s)-suffixHex-1] != '-' {
		return false
	}
	for i := len(s) - suffixHex; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
