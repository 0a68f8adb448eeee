package sts

import (
	"time"

	"github.com/mcpguard/mcpguard"
)

// Unavailable builds the KindCredentialsUnavailable error of a transient
// failure of another credential source (IAM Identity Center), carrying the
// wait that RetryAfter reports, so extproc sends the same Retry-After for
// every source.
func Unavailable(reason, msg string, after time.Duration, cause error) *mcpguard.Error {
	return &mcpguard.Error{
		Kind:       mcpguard.KindCredentialsUnavailable,
		Msg:        msg,
		Err:        cause,
		Reason:     reason,
		RetryAfter: after,
	}
}
