package mcpguard

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failure by what the client should be told, not by where
// it happened. extproc maps each Kind to exactly one HTTP status and JSON-RPC
// error code.
type Kind int

// The kinds of failure. KindInternal is the zero value so that an error that
// was never classified fails closed as a 500.
const (
	KindInternal Kind = iota
	KindUnauthenticated
	KindForbidden
	KindParseError
	KindInvalidRequest
	KindUnsupportedMediaType
	KindTooLarge
	KindCredentialsUnavailable
	// KindUnavailable is a temporary failure of the gateway itself (the
	// audit trail cannot be written): retry later.
	KindUnavailable
	// KindHeaderMismatch is a mirrored MCP header (Mcp-Method, Mcp-Name,
	// Mcp-Param-*, MCP-Protocol-Version) that is missing, repeated or
	// disagrees with the body: two readers of one request must never
	// disagree.
	KindHeaderMismatch
	// KindUnsupportedVersion is a protocol version the upstream does not
	// speak.
	KindUnsupportedVersion
	// KindSessionNotFound is an Mcp-Session-Id that mcpguard did not issue
	// to this caller; clients treat it as an expired session.
	KindSessionNotFound
	// KindRateLimited is a request over a configured rate or concurrency
	// limit, or over a bound on the caller's use (distinct scope-down
	// action sets): 429 with Retry-After.
	KindRateLimited
)

var kindNames = [...]string{
	KindInternal:               "internal",
	KindUnauthenticated:        "unauthenticated",
	KindForbidden:              "forbidden",
	KindParseError:             "parse_error",
	KindInvalidRequest:         "invalid_request",
	KindUnsupportedMediaType:   "unsupported_media_type",
	KindTooLarge:               "too_large",
	KindCredentialsUnavailable: "credentials_unavailable",
	KindUnavailable:            "unavailable",
	KindHeaderMismatch:         "header_mismatch",
	KindUnsupportedVersion:     "unsupported_protocol_version",
	KindSessionNotFound:        "session_not_found",
	KindRateLimited:            "rate_limited",
}

// String returns the snake_case name used in logs, metrics and audit records.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the one error type that crosses stage boundaries. Msg is safe to
// show to a client: it never contains a token, a secret or an upstream body.
// Err is the cause, for logs only.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
	// Reason is a short, bounded machine-readable detail (for example
	// "expired" or "bad_signature") used as a metric label and in the
	// WWW-Authenticate error_description. Optional.
	Reason string
	// RetryAfter is how long the client should wait before retrying a
	// transient failure (the Retry-After of a 503); zero means the
	// gateway's default. It travels on the error so that the stage that
	// knows the wait (a credential source) and the one that answers the
	// client (extproc) need not know each other.
	RetryAfter time.Duration
}

// Error renders the safe message followed by the cause, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error. cause may be nil.
func E(kind Kind, msg string, cause error) *Error {
	return &Error{Kind: kind, Msg: msg, Err: cause}
}

// Ef builds an *Error with a formatted safe message and no cause.
func Ef(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf reports the Kind of err. Errors that carry no *Error are internal:
// an unclassified failure must never be mistaken for a client mistake.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// SafeMessage returns the client-safe message of err, or a generic one when
// err carries no *Error.
func SafeMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Msg != "" {
		return e.Msg
	}
	return "internal error"
}

// ReasonOf returns the bounded reason of err, or "" when none was set.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// RetryAfterOf returns the first RetryAfter set on an *Error in err's
// chain (an outer *Error that adds context does not hide the wait of the
// one it wraps), or 0 when none is set.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	for errors.As(err, &e) {
		if e.RetryAfter > 0 {
			return e.RetryAfter
		}
		err = e.Err
	}
	return 0
}
