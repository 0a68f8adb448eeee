// Package script is the static analysis of aws___run_script Python: which
// AWS calls a script makes.
//
// The AWS MCP Server's aws___run_script runs Python in a sandbox whose only
// way to AWS is
//
//	async def call_boto3(*, service_name, operation_name, region_name=None, params=None)
//
// Analyze parses the script with tree-sitter-python (through
// github.com/tree-sitter/go-tree-sitter, cgo) and returns every
// call_boto3(...) call with its literal service, operation, region and
// params. The analysis is Complete only when those calls are every way the
// script could reach call_boto3; otherwise Reasons says why not, and a
// policy must treat the script as unknown. It never returns an error that
// would let a script through.
//
// It must not import extproc, authz or any other mcpguard package: it
// knows Python, not policies.
package script
