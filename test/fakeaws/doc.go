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
// Tools mirror the AWS MCP Server's catalog since 2026-08-31 (DefaultTools:
// aws___run_script, aws___get_presigned_url, aws___get_tasks,
// aws___suggest_aws_commands and the knowledge tools), with realistic input
// schemas and annotations, and answer deterministically. The removed
// aws___call_aws is offered only with Options.LegacyCallAWS. Tools that
// reach AWS answer as the verified caller's IAM role (Options.Permissions):
// calls to services the role may not use fail with an AWS-style
// AccessDenied. The role reaches the tool handler in headers the verifier
// sets after verification, after deleting any client-sent copy.
//
// aws___run_script is a sandbox that reaches AWS only through call_boto3.
// It runs a documented subset of Python (see sandbox.go), parsed with
// tree-sitter-python: assignments, literals, subscripts, for loops, print,
// return and `await call_boto3(...)`. The calls it makes are performed
// against the fake's AWS behaviour (s3 ListBuckets and ListObjectsV2, ec2
// DescribeInstances and DescribeRegions, iam ListUsers, sts
// GetCallerIdentity, with boto3's response shapes and botocore's errors).
// Anything else fails the script as the real server reports a failing
// script: a tool result with isError and the exception's text. On success
// structuredContent holds the return value and the API calls made.
//
// This package is test support: it may import the MCP Go SDK and
// aws-sdk-go-v2, and must not import the project's production packages or
// test/fakests (whose adapter supplies Options.Lookup).
package fakeaws
