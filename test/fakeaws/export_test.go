package fakeaws

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// RunScriptForTest runs code in the sandbox as a role with S3 access,
// without a server, for the fuzz target.
func RunScriptForTest(code string) *mcp.CallToolResult {
	return RunScriptWithPolicyForTest(code, "")
}

// RunScriptWithPolicyForTest runs code as a session whose credentials carry
// the inline session policy policy ("" none).
func RunScriptWithPolicyForTest(code, policy string) *mcp.CallToolResult {
	s := &Server{opts: Options{Region: DefaultRegion,
		Permissions: map[string][]string{"arn:aws:iam::123456789012:role/R": {"s3", "iam", "ec2"}},
		Lookup: func(akid string) (Credential, bool) {
			return Credential{AccessKeyID: akid, SessionPolicy: policy}, akid == "ASIAFUZZ"
		}}}
	req := &mcp.CallToolRequest{Extra: &mcp.RequestExtra{Header: map[string][]string{
		headerRoleARN: {"arn:aws:iam::123456789012:role/R"}, headerSessionName: {"fuzz"}, headerAccessKeyID: {"ASIAFUZZ"},
	}}}
	res, _, _ := s.runScript(context.Background(), req, runScriptInput{Code: code})
	return res
}
