// Package fakeaws is a stand-in for the AWS MCP Server, for tests and the
// local quickstart. It speaks MCP over streamable HTTP through the official
// MCP Go SDK (SSE or JSON responses, Mcp-Session-Id sessions, the GET stream
// and DELETE of a session), and in front of it verifies AWS Signature
// Version 4 on every request the way an AWS service does, rejecting anything
// unsigned, mis-signed, mis-scoped, stale, or signed with unknown, expired or
// mismatched credentials with a 403 and an AWS-style JSON error.
//
// The verifier recomputes each signature with aws-sdk-go-v2's v4 signer over
// exactly the headers the request's Authorization names, the host the
// request arrived with and the SHA-256 of the exact body received. It does
// not use the project's sigv4 package, so that a construction mistake there
// cannot hide itself here. It is stricter than AWS in one way: a session
// token must be signed.
//
// Tools mirror the AWS MCP Server's names and inputs (aws___call_aws,
// aws___search_documentation, aws___suggest_aws_commands,
// aws___list_regions) and answer deterministically. aws___call_aws answers as
// the verified caller's IAM role: commands for services the role may not use
// fail with an AWS-style AccessDenied tool error. The role reaches the tool
// handler in headers the verifier sets after verification, after deleting
// any client-sent copy.
//
// This package is test support: it may import the MCP Go SDK and
// aws-sdk-go-v2, and must not import the project's production packages or
// test/fakests (whose adapter supplies Options.Lookup).
package fakeaws
