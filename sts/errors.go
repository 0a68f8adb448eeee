package sts

import (
	"context"
	"errors"
	"fmt"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mcpguard/mcpguard"
)

// How long a client is told to wait after a transient STS failure.
const (
	retryAfterThrottled   = 2 * time.Second
	retryAfterUnavailable = 5 * time.Second
)

// throttleCodes are the STS error codes that mean "slow down". Throttling
// is the one STS sends; the others are the SDK's throttle codes that an
// intermediary may produce.
var throttleCodes = map[string]struct{}{
	"Throttling":                {},
	"ThrottlingException":       {},
	"RequestThrottled":          {},
	"RequestThrottledException": {},
	"TooManyRequestsException":  {},
	"RequestLimitExceeded":      {},
}

// RetryAfter returns how long the client should wait before retrying a
// request that failed with err (the value of the Retry-After header of a
// 503), or 0 when err is not a transient credentials failure. It is
// mcpguard.RetryAfterOf, kept so callers of this package need not know
// where the hint travels.
func RetryAfter(err error) time.Duration {
	return mcpguard.RetryAfterOf(err)
}

// awsErrorInfo is what the log may say about an AWS failure.
type awsErrorInfo struct {
	code      string
	status    int
	requestID string
}

func inspect(err error) awsErrorInfo {
	var info awsErrorInfo
	var api smithy.APIError
	if errors.As(err, &api) {
		info.code = api.ErrorCode()
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		info.status = resp.HTTPStatusCode()
	}
	var awsResp *awshttp.ResponseError
	if errors.As(err, &awsResp) {
		info.requestID = awsResp.ServiceRequestID()
	}
	return info
}

// classify turns an error of the STS call (after the SDK's retries) into
// the *mcpguard.Error that says what it means for the client. The AWS
// error is kept as the cause for the log; the message is safe to show.
func classify(err error) *mcpguard.Error {
	info := inspect(err)
	mk := func(kind mcpguard.Kind, reason, msg string) *mcpguard.Error {
		return &mcpguard.Error{Kind: kind, Msg: msg, Err: err, Reason: reason}
	}
	unavailable := func(reason, msg string, after time.Duration) *mcpguard.Error {
		return &mcpguard.Error{
			Kind:       mcpguard.KindCredentialsUnavailable,
			Msg:        msg,
			Err:        err,
			Reason:     reason,
			RetryAfter: after,
		}
	}
	switch info.code {
	case "InvalidIdentityToken":
		return mk(mcpguard.KindUnauthenticated, "sts_invalid_token",
			"AWS STS rejected the identity token; sign in again")
	case "ExpiredTokenException":
		return mk(mcpguard.KindUnauthenticated, "sts_expired_token",
			"AWS STS considers the identity token expired; sign in again")
	case "AccessDenied":
		return mk(mcpguard.KindForbidden, "sts_access_denied",
			"AWS STS denied AssumeRoleWithWebIdentity: the role's trust policy does not admit this identity "+
				"(check the issuer, audience and conditions, and that it allows sts:TagSession when the token carries session tags)")
	case "IDPRejectedClaim":
		return mk(mcpguard.KindForbidden, "sts_idp_rejected_claim",
			"AWS STS rejected a claim of the identity token: check the role's trust policy conditions and sts:TagSession")
	case "RegionDisabledException":
		return mk(mcpguard.KindForbidden, "sts_region_disabled",
			"AWS STS is not activated for this account in the configured region; activate it or set aws_sts_config.region")
	case "MalformedPolicyDocument":
		return mk(mcpguard.KindInternal, "sts_malformed_policy",
			"AWS STS rejected the session policy of the selected role mapping: fix its session_policy")
	case "PackedPolicyTooLarge":
		return mk(mcpguard.KindInternal, "sts_policy_too_large",
			"session policies and session tags exceed AWS STS's packed size limit: shorten session_policy / session_policy_arns or the token's session tags")
	case "ValidationError":
		return mk(mcpguard.KindInternal, "sts_validation",
			"AWS STS rejected the request parameters: check session_duration against the role's maximum session duration")
	case "IDPCommunicationError":
		return unavailable("sts_idp_unreachable",
			"AWS STS could not reach the identity provider; try again later", retryAfterUnavailable)
	}
	if _, ok := throttleCodes[info.code]; ok {
		return unavailable("sts_throttled", "AWS STS is throttling requests; try again later", retryAfterThrottled)
	}
	if info.status >= 500 {
		return unavailable("sts_unavailable", "AWS STS is unavailable; try again later", retryAfterUnavailable)
	}
	if info.code != "" {
		return mk(mcpguard.KindInternal, "sts_error", "unexpected AWS STS error")
	}
	var deser *smithy.DeserializationError
	if errors.As(err, &deser) {
		return unavailable("sts_bad_response", "AWS STS sent a response that could not be read; try again later", retryAfterUnavailable)
	}
	var params *smithy.InvalidParamsError
	if errors.As(err, &params) {
		return mk(mcpguard.KindInternal, "sts_invalid_params", "invalid AWS STS request")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable("sts_timeout", "AWS STS did not answer in time; try again later", retryAfterUnavailable)
	}
	if errors.Is(err, context.Canceled) {
		return unavailable("canceled", "request canceled while waiting for AWS credentials", retryAfterUnavailable)
	}
	// Connection refused or reset, DNS, TLS, timeouts: STS is unreachable.
	return unavailable("sts_unreachable", "AWS STS is unreachable; try again later", retryAfterUnavailable)
}

// errNoCredentials is returned when STS answers without credentials.
var errNoCredentials = errors.New("assume role with web identity: response has no credentials")

func internalError(reason string, err error) *mcpguard.Error {
	return &mcpguard.Error{Kind: mcpguard.KindInternal, Msg: "internal error while obtaining AWS credentials", Err: fmt.Errorf("%s: %w", reason, err), Reason: reason}
}
