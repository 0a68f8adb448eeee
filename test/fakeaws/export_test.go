package fakeaws

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// RunScriptForTest runs code in the sandbox as a role with S3 access,
// without a server, for the fuzz target.
func RunScriptForTest(code string) *mcp.CallToolResult {
	s := &Server{opts: Options{Region: DefaultRegion, Permissions: map[string][]string{"arn:aws:iam::123456789012:role/R": {"s3"}}}}
	req := &mcp.CallToolRequest{Extra: &mcp.RequestExtra{Header: map[string][]string{
		headerRoleARN: {"arn:aws:iam::123456789012:role/R"}, headerSessionName: {"fuzz"},
	}}}
	res, _, _ := s.runScript(context.Background(), req, runScriptInput{Code: code})
	return res
}
