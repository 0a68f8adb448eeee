package credential

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Secret is a credential that must never reach a log line, an audit record
// or an error message: it prints as [REDACTED] through slog and fmt. Use
// string(s) where the raw value is genuinely needed (signing).
type Secret string

// LogValue keeps the secret out of structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// String keeps the secret out of fmt's %v and %s.
func (Secret) String() string { return "[REDACTED]" }

// GoString keeps the secret out of fmt's %#v.
func (Secret) GoString() string { return "[REDACTED]" }

// Credentials are temporary AWS credentials issued by STS for one user and
// one role. The access key ID is not secret (CloudTrail records it, and the
// audit log uses it to join gateway events to AWS events).
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey Secret
	SessionToken    Secret
	// Expires is the expiration STS reported.
	Expires time.Time
}

// AWS converts the credentials to the form aws-sdk-go-v2's SigV4 signer
// takes, so the signer never sees a type of this package.
func (c Credentials) AWS() aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: string(c.SecretAccessKey),
		SessionToken:    string(c.SessionToken),
		Source:          "mcpguard/sts",
		CanExpire:       true,
		Expires:         c.Expires,
	}
}

// LogValue lists only what may be logged: the access key ID and expiry.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expires", c.Expires),
	)
}

// Grant is the outcome of a credential source (sts.Broker, sts/idc): the credentials to sign with
// and the facts the audit log needs to tie this request to CloudTrail. A
// Grant may be shared between requests; callers must not modify it.
type Grant struct {
	// RoleARN is the IAM role that was assumed.
	RoleARN string
	// SessionName is the RoleSessionName, which CloudTrail shows in
	// assumed-role/<role>/<session>.
	SessionName string
	// AssumedRoleARN is STS's AssumedRoleUser.Arn.
	AssumedRoleARN string
	// Credentials are the temporary credentials.
	Credentials Credentials
	// STSRequestID is the RequestId of the AssumeRoleWithWebIdentity call
	// that issued the credentials (CloudTrail's requestID).
	STSRequestID string
	// NotAfter is when mcpguard stops using these credentials: the earlier
	// of their expiry and the expiry of the token they were obtained with.
	NotAfter time.Time
	// Cached reports that the credentials came from the cache rather than
	// from an STS call made for this request.
	Cached bool
	// Source names the credential source that issued the grant: "" for
	// STS AssumeRoleWithWebIdentity, "identity_center" for IAM Identity
	// Center permission sets (package sts/idc), so the audit record says
	// which path signed the request.
	Source string
	// AWSAccount and PermissionSet are the account and permission set of
	// an Identity Center grant.
	AWSAccount, PermissionSet string
	// Scope is set for a per-request session (scope_down: request). It is
	// shared and immutable; a pointer keeps Grant comparable and small.
	Scope *GrantScope
}

// GrantScope describes the session policy of a per-request session.
type GrantScope struct {
	// Actions are the IAM actions the session policy allows (empty: none).
	Actions []string
	// PolicyDigest is hex SHA-256 of the policy's exact text, which joins
	// the audit record to CloudTrail's requestParameters.policy of the
	// AssumeRoleWithWebIdentity event.
	PolicyDigest string
}

// LogValue keeps secrets out of logs while keeping the audit facts.
func (g *Grant) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("role_arn", g.RoleARN),
		slog.String("session_name", g.SessionName),
		slog.String("access_key_id", g.Credentials.AccessKeyID),
		slog.String("sts_request_id", g.STSRequestID),
		slog.Time("expires", g.Credentials.Expires),
		slog.Bool("cached", g.Cached),
	)
}
