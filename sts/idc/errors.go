package idc

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/sts"
)

// How long a client is told to wait after a transient failure.
const (
	retryAfterThrottled   = 2 * time.Second
	retryAfterUnavailable = 5 * time.Second
)

func errorInfo(err error) (code string, status int) {
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	return code, status
}

func kindErr(kind mcpguard.Kind, reason, msg string, err error) *mcpguard.Error {
	return &mcpguard.Error{Kind: kind, Msg: msg, Err: err, Reason: reason}
}

// gatewayCredentials wraps the gateway's own credentials provider so that
// a failure to obtain them is told apart from an unreachable endpoint.
type gatewayCredentials struct{ p aws.CredentialsProvider }

type gatewayCredentialsError struct{ err error }

func (e *gatewayCredentialsError) Error() string { return "gateway credentials: " + e.err.Error() }
func (e *gatewayCredentialsError) Unwrap() error { return e.err }

func (g gatewayCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := g.p.Retrieve(ctx)
	if err != nil {
		return c, &gatewayCredentialsError{err: err}
	}
	return c, nil
}

// classifyToken maps a failed CreateTokenWithIAM call.
func classifyToken(err error) *mcpguard.Error {
	var gce *gatewayCredentialsError
	if errors.As(err, &gce) {
		return sts.Unavailable("idc_gateway_credentials_unavailable",
			"the gateway could not obtain its own AWS credentials for IAM Identity Center; try again later", retryAfterUnavailable, err)
	}
	code, status := errorInfo(err)
	if status == 403 {
		// SigV4 refusals concern the gateway's own IAM credentials.
		if code == "ExpiredTokenException" {
			return sts.Unavailable("idc_gateway_credentials_expired",
				"the gateway's AWS credentials for IAM Identity Center have expired; try again later", retryAfterUnavailable, err)
		}
		return kindErr(mcpguard.KindInternal, "idc_gateway_credentials",
			"IAM Identity Center refused the gateway's AWS credentials", err)
	}
	switch code {
	case "InvalidGrantException":
		return kindErr(mcpguard.KindUnauthenticated, "idc_invalid_grant",
			"IAM Identity Center rejected the identity token; sign in again", err)
	case "ExpiredTokenException":
		return kindErr(mcpguard.KindUnauthenticated, "idc_expired_token",
			"the IAM Identity Center session has expired; sign in again", err)
	case "AccessDeniedException":
		return kindErr(mcpguard.KindForbidden, "idc_access_denied",
			"IAM Identity Center denied access: the user is not assigned to the application, or the gateway may not call CreateTokenWithIAM for it", err)
	case "InvalidClientException":
		return kindErr(mcpguard.KindInternal, "idc_invalid_client",
			"IAM Identity Center does not know identity_center.application_arn", err)
	case "InvalidScopeException":
		return kindErr(mcpguard.KindInternal, "idc_invalid_scope",
			"IAM Identity Center refused identity_center.scopes for the application", err)
	case "UnauthorizedClientException", "UnsupportedGrantTypeException":
		return kindErr(mcpguard.KindInternal, "idc_grant_not_configured",
			"the Identity Center application does not allow the jwt-bearer grant for the gateway", err)
	case "InvalidRequestException", "InvalidRequestRegionException":
		return kindErr(mcpguard.KindInternal, "idc_invalid_request",
			"IAM Identity Center rejected the token request: check identity_center.region and application_arn", err)
	case "SlowDownException", "ThrottlingException", "TooManyRequestsException":
		return sts.Unavailable("idc_throttled", "IAM Identity Center is throttling requests; try again later", retryAfterThrottled, err)
	}
	return transient(err, code, status, "IAM Identity Center")
}

// classifyPortal maps a failed portal call.
func classifyPortal(err error) *mcpguard.Error {
	code, status := errorInfo(err)
	switch code {
	case "UnauthorizedException":
		return kindErr(mcpguard.KindUnauthenticated, "idc_session_revoked",
			"the IAM Identity Center session is no longer valid; sign in again", err)
	case "ResourceNotFoundException":
		return kindErr(mcpguard.KindForbidden, "idc_not_assigned",
			"the requested AWS account and permission set are not assigned to the user in IAM Identity Center", err)
	case "TooManyRequestsException":
		return sts.Unavailable("idc_throttled", "the AWS access portal is throttling requests; try again later", retryAfterThrottled, err)
	case "InvalidRequestException":
		return kindErr(mcpguard.KindInternal, "idc_invalid_request", "the AWS access portal rejected the request", err)
	}
	return transient(err, code, status, "the AWS access portal")
}

func transient(err error, code string, status int, who string) *mcpguard.Error {
	switch {
	case status >= 500:
		return sts.Unavailable("idc_unavailable", who+" is unavailable; try again later", retryAfterUnavailable, err)
	case code != "":
		return kindErr(mcpguard.KindInternal, "idc_error", "unexpected error from "+who, err)
	case errors.Is(err, context.DeadlineExceeded):
		return sts.Unavailable("idc_timeout", who+" did not answer in time; try again later", retryAfterUnavailable, err)
	case errors.Is(err, context.Canceled):
		return sts.Unavailable("canceled", "request canceled while waiting for AWS credentials", retryAfterUnavailable, err)
	}
	var deser *smithy.DeserializationError
	if errors.As(err, &deser) {
		return sts.Unavailable("idc_bad_response", who+" sent a response that could not be read; try again later", retryAfterUnavailable, err)
	}
	return sts.Unavailable("idc_unreachable", who+" is unreachable; try again later", retryAfterUnavailable, err)
}

// Errors of the allow list, decided before any AWS call.
var (
	errNoMapping = kindErr(mcpguard.KindForbidden, "idc_no_mapping",
		"no identity_center mapping admits the user", nil)
	errPairNotAllowed = kindErr(mcpguard.KindForbidden, "idc_pair_not_allowed",
		"the requested AWS account and permission set are not in the gateway's allow list for the user", nil)
	errNotAssigned = kindErr(mcpguard.KindForbidden, "idc_not_assigned",
		"the requested AWS account and permission set are not assigned to the user in IAM Identity Center", nil)
	errIncompletePair = kindErr(mcpguard.KindInvalidRequest, "idc_incomplete_target",
		"name both the AWS account and the permission set, or neither", nil)
	errConflictingPair = kindErr(mcpguard.KindInvalidRequest, "idc_conflicting_target",
		"the request's AWS account or permission set headers disagree with the route's", nil)
	errRepeatedHeader = kindErr(mcpguard.KindInvalidRequest, "idc_repeated_target",
		"x-mcpguard-aws-account and x-mcpguard-permission-set may appear at most once", nil)
)
