// Package fakests is an AWS STS Query-API server on loopback that answers
// AssumeRoleWithWebIdentity the way AWS does, so that tests exercise the
// real aws-sdk-go-v2 client end to end: form POST
// Action=AssumeRoleWithWebIdentity&Version=2011-06-15, XML responses shaped
// like AWS's (RequestId, AssumedRoleUser, SubjectFromWebIdentityToken,
// Provider, Audience), and AWS's XML error documents with AWS's codes,
// HTTP statuses and ValidationError wording.
//
// It verifies the web identity token against the fake IdP's JWKS (jwx),
// checks the role's trust conditions (issuer, audience, and, as AWS does,
// refuses session tags unless the role allows sts:TagSession), enforces the
// RoleSessionName and DurationSeconds rules, issues unique ASIA… access keys
// that the fake AWS MCP server can look up with Issued to verify SigV4
// signatures, records every call, and injects throttling, latency, outages,
// malformed responses and arbitrary AWS errors.
//
// It is test infrastructure: it must not be imported by production code,
// and it imports nothing of mcpguard.
package fakests
