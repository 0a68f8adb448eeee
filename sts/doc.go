// Package sts turns an authenticated identity into short-lived AWS
// credentials: it picks the IAM role for the caller from the configured role
// mappings, derives a RoleSessionName that identifies the user in CloudTrail,
// exchanges the caller's own JWT with STS AssumeRoleWithWebIdentity, and keeps
// the result in a bounded per-user cache that refreshes ahead of expiry so
// that, after the first call, no request waits for STS.
//
// Optionally (SharedCache, shared.go) the cache is layered over an
// encrypted store shared by every replica, reached through the SharedStore
// interface so that this package needs no Redis client.
//
// Every failure is returned as a *mcpguard.Error whose Kind says what the
// client should be told (401, 403, 503 with Retry-After, 500); the raw AWS
// error stays in the cause, for logs only. Secrets (secret access keys,
// session tokens) are of type Secret and print as [REDACTED].
//
// The package must not import extproc, go-control-plane or any transport
// code; besides mcpguard and authn (Identity, GroupsFromClaims) it depends on
// aws-sdk-go-v2 (service/sts, aws/retry, aws/arn) and
// golang.org/x/sync/singleflight only.
//
// Specs followed: the STS API reference for AssumeRoleWithWebIdentity
// (parameter constraints: RoleSessionName 2–64 characters of [\w+=,.@-],
// DurationSeconds 900–43200, Policy at most 2048 characters, at most 10
// PolicyArns; error codes and their HTTP statuses), the IAM ARN format for
// roles and managed policies, and the IAM session-tag claims of OIDC tokens
// (https://aws.amazon.com/tags).
package sts
