// Package sigv4 signs the request that leaves Envoy for an AWS service with
// AWS Signature Version 4. It computes the canonical request itself, straight
// from the few values it signs into a pooled buffer (no http.Request, URL or
// header map per request), derives signing keys once per caller, day, region
// and service, and allocates only the strings it returns. aws-sdk-go-v2's
// signer (github.com/aws/aws-sdk-go-v2/aws/signer/v4) is the oracle in the
// tests: every case of AWS's SigV4 test suite, a table of corner cases and a
// differential fuzz target (FuzzSignDifferential) require the same canonical
// request, string to sign and headers from both.
//
// What is signed. No client header is ever signed, so the signed header set
// is minimal and fixed: host (the configured upstream host, never the incoming
// :authority, because the route rewrites the host after ext_proc),
// x-amz-date, x-amz-security-token (when the credentials carry a session
// token), x-amz-content-sha256 (the hex SHA-256 of the exact body Envoy will
// forward; the empty-payload hash for bodyless requests) and content-type
// when the request has one. Headers that Envoy adds or changes after ext_proc
// (x-forwarded-*, x-request-id, x-envoy-*, traceparent, content-length) are
// therefore never covered by the signature and cannot break it.
//
// What is returned. Result.Set holds the headers to set on the outgoing
// request (authorization, x-amz-date, x-amz-security-token,
// x-amz-content-sha256), overwriting the client's own authorization header,
// which carried the user's JWT. Removing the client's own x-amz-* headers
// (a stale x-amz-security-token, say, which the AWS service would read as
// signing input) is not the signer's job: extproc alone strips client
// headers, so there is one owner of that rule.
//
// Path and query. The path is taken as it will leave Envoy (already
// percent-encoded), normalised as the SigV4 specification requires for every
// service except S3 (dot segments removed, empty segments merged, a trailing
// slash kept), and percent-encoded once more byte by byte, as the SDK does
// for a path it is given verbatim; the query is decoded as a form, each name
// and value encoded again and the pairs sorted after encoding, and a query
// that does not parse is refused. S3 is not supported: its single-encoding, unnormalised rules
// differ, and mcpguard signs only for the AWS MCP Server.
//
// Secrets. Header values for authorization and x-amz-security-token, and the
// credentials in a Request, print as [REDACTED] through slog and fmt.
//
// This package imports the standard library, the module root (for the
// shared error type) and aws-sdk-go-v2's credential type only; it must not import extproc or
// go-control-plane. Specification followed: "Signature Version 4 signing
// process" (AWS General Reference), checked against AWS's own SigV4 test
// suite in testdata/.
package sigv4
