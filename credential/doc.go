// Package credential holds the AWS credentials a credential source grants
// for one request: the temporary keys to sign with (their secrets redacted
// from logs and fmt) and the facts the audit record ties to CloudTrail. It
// is neutral ground between the sources that issue grants (package sts and
// sts/idc) and the request path that signs with them (package extproc), so
// the request path does not depend on how credentials are obtained.
package credential
