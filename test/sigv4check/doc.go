// Package sigv4check verifies AWS Signature Version 4 on requests that
// reach the AWS fakes (SSO OIDC, STS AssumeRole) the way AWS does: it
// recomputes the signature with aws-sdk-go-v2's signer over the headers
// the client says it signed, checks the credential scope, the clock skew
// (5 minutes), the session token and x-amz-content-sha256, and refuses
// with AWS's error codes.
//
// It is test infrastructure: production code must not import it.
package sigv4check
