package fakeaws_test

import (
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
)

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// TestSessionPolicyEnforced: call_boto3 checks the IAM action its
// operation needs (not the operation name) against the credentials'
// session policy, with wildcards, Deny and the MCP condition keys, and
// answers with AWS's AccessDenied text.
func TestSessionPolicyEnforced(t *testing.T) {
	const via = `,"Condition":{"Bool":{"aws:ViaAWSMCPService":"true"},"StringEquals":{"aws:CalledViaAWSMCP":"aws-mcp.amazonaws.com"}}`
	const listBuckets = `result = await call_boto3(service_name="s3", operation_name="ListBuckets")
return result["Buckets"]`
	const listUsers = `result = await call_boto3(service_name="iam", operation_name="ListUsers")
return result["Users"]`
	principal := "arn:aws:sts::123456789012:assumed-role/R/fuzz"
	tests := []struct {
		name, policy, code string
		denied             string // "" allowed; else the expected message part
	}{
		{"no session policy", "", listUsers, ""},
		{"operation's IAM action allowed", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListAllMyBuckets"],"Resource":"*"` + via + `}]}`, listBuckets, ""},
		{"operation name is not the action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBuckets"],"Resource":"*"}]}`, listBuckets,
			"User: " + principal + " is not authorized to perform: s3:ListAllMyBuckets because no session policy allows the s3:ListAllMyBuckets action"},
		{"other action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListAllMyBuckets"],"Resource":"*"` + via + `}]}`, listUsers,
			"An error occurred (AccessDenied) when calling the ListUsers operation: User: " + principal + " is not authorized to perform: iam:ListUsers because no session policy allows the iam:ListUsers action"},
		{"star wildcard", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:List*","Resource":"*"}]}`, listUsers, ""},
		{"question mark wildcard", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ListUser?","Resource":"*"}}`, listUsers, ""},
		{"explicit deny wins", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`, listUsers,
			"is not authorized to perform: iam:ListUsers with an explicit deny in a session policy"},
		{"deny all", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`, listBuckets, "explicit deny"},
		{"condition not met", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"StringEquals":{"aws:CalledViaAWSMCP":"other.amazonaws.com"}}}]}`, listUsers, "no session policy allows"},
		{"unknown condition key", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}}]}`, listUsers, "no session policy allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := fakeaws.RunScriptWithPolicyForTest(tt.code, tt.policy)
			text := resultText(res)
			if tt.denied == "" {
				if res.IsError {
					t.Fatalf("denied: %s", text)
				}
				return
			}
			if !res.IsError || !strings.Contains(text, tt.denied) {
				t.Fatalf("got error=%v %q, want %q", res.IsError, text, tt.denied)
			}
		})
	}
}

// FuzzSessionPolicy: any session policy text either fails to parse (and
// the script is refused) or is evaluated without panicking; a deny-all
// policy never allows.
func FuzzSessionPolicy(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":["iam:*"],"Resource":"*","Condition":{"StringLike":{"aws:CalledViaAWSMCP":"aws-*"}}}}`)
	f.Add(`{"Statement":[{"Effect":"Allow","Action":["s3:List?ucket*"],"Resource":["*"],"Condition":{"Bool":{"aws:ViaAWSMCPService":["true"]}}}]}`)
	f.Fuzz(func(t *testing.T, policy string) {
		res := fakeaws.RunScriptWithPolicyForTest("return await call_boto3(service_name='s3', operation_name='ListBuckets')\n", policy)
		if res == nil {
			t.Fatal("no result")
		}
		deny := fakeaws.RunScriptWithPolicyForTest("return await call_boto3(service_name='s3', operation_name='ListBuckets')\n",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)
		if !deny.IsError {
			t.Fatal("deny-all allowed a call")
		}
	})
}
