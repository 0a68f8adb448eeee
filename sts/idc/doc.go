// Package idc is the IAM Identity Center credential source (Pattern 1,
// permission sets across accounts). It exchanges the caller's IdP JWT for
// an Identity Center token with SSO OIDC CreateTokenWithIAM (jwt-bearer
// grant, signed with the gateway's own IAM credentials), checks that the
// (account, permission set) pair a request asks for is both in the
// gateway's allow list (group mappings, like aws_sts_config.role_mappings)
// and among the user's assignments (portal ListAccounts and
// ListAccountRoles, cached with a TTL), and signs with the temporary
// credentials of the permission set's role from GetRoleCredentials.
//
// Identity Center tokens are cached per user (issuer and subject) and
// refreshed ahead of expiry, with the refresh token when the application
// grants one and with a new exchange of the current JWT otherwise; role
// credentials are cached per (user, account, permission set) and never
// used past their own expiry, the Identity Center token's or the JWT's of
// the request. Every first request of a key shares one exchange
// (singleflight).
//
// With identity-bearer roles it implements Pattern 2 (trusted identity
// propagation) instead: STS AssumeRole of the account's role with the
// token's identity context as a ProvidedContext, under a session name
// derived from a hash of the user.
//
// Every failure is a *mcpguard.Error with a Kind (401, 403, 503 with
// Retry-After, 500) and a bounded Reason; the AWS error is only the cause,
// for logs. Tokens and secrets are sts.Secret and print as [REDACTED].
//
// The package must not import extproc, go-control-plane or transport code;
// it depends on mcpguard, authn, sts (Grant, Secret, Unavailable) and
// aws-sdk-go-v2 (service/ssooidc, service/sso, service/sts).
//
// Specs followed: botocore's sso-oidc and sso 2019-06-10 service models
// (CreateTokenWithIAM, ListAccounts, ListAccountRoles, GetRoleCredentials
// and their errors), the STS 2011-06-15 model's AssumeRole with
// ProvidedContexts, and the IAM Identity Center user guide's trusted
// identity propagation and account-access scope for customer managed
// applications.
package idc
