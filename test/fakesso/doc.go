// Package fakesso is IAM Identity Center on loopback, as far as a gateway
// that exchanges IdP tokens for Identity Center sessions sees it: the SSO
// OIDC CreateTokenWithIAM operation and the portal API (ListAccounts,
// ListAccountRoles, GetRoleCredentials), so tests drive the real
// aws-sdk-go-v2 ssooidc and sso clients against it.
//
// SSO OIDC follows botocore's sso-oidc 2019-06-10 model and the SDK's
// request and response snapshots: restJson1, POST /token?aws_iam=t, a
// SigV4 signature for the signing name sso-oauth that the fake verifies
// against the caller credentials it is given (and an actor policy naming
// which IAM principals may call it), grant types jwt-bearer and
// refresh_token, and OAuth-style error bodies {"error",
// "error_description"} with the X-Amzn-ErrorType header and the statuses of
// the model (InvalidClientException 401, InternalServerException 500, the
// rest 400). The JWT assertion is verified against a trusted token issuer:
// its JWKS (the fake IdP's), issuer, the audiences the application's
// jwt-bearer grant authorizes, and a claim mapping (for example the claim
// email to the identity store attribute emails.value) that finds the user.
//
// The portal follows botocore's sso 2019-06-10 model: no SigV4, the access
// token in x-amz-sso_bearer_token, next_token/max_result paging,
// expiration in epoch milliseconds, and UnauthorizedException 401,
// ResourceNotFoundException 404, TooManyRequestsException 429 and
// InvalidRequestException 400 with {"message"} bodies. Issued role
// credentials can be looked up with Issued, so the fake AWS MCP server
// verifies requests signed with them.
//
// It is test infrastructure: production code must not import it, and of
// mcpguard it imports only test/sigv4check.
package fakesso
