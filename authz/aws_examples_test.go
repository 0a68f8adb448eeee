package authz

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

func runScript(code string) *mcp.Message {
	return toolCall(ToolRunScript, `{"code":`+mustJSON(code)+`}`)
}

func boto3(service, op string) string {
	return "await call_boto3(service_name='" + service + "', operation_name='" + op + "')\n"
}

// TestExampleScriptPolicies decides run_script and legacy calls against
// every example file together: the analysts' S3 listing, the read-only
// group, Alice's S3 and Bob's EC2 reads, the baseline's incompleteness
// forbid and the AWS guard rails.
func TestExampleScriptPolicies(t *testing.T) {
	a, err := New(t.Context(), Options{
		PolicyFiles:  []string{filepath.Join(examplesDir, "*.cedar")},
		EntitiesFile: filepath.Join(examplesDir, "entities.json"),
		ServerHost:   testHost,
		AWS:          AWSOptions{Region: "us-east-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dana := ident("dana", "data-analysts")
	rita := ident("rita", "aws-readers")
	presigner := ident("paula", "aws-readers", "s3-presigners")
	eve := ident("eve")
	alice := ident("alice", "s3-readers")
	bob := ident("bob", "ec2-viewers")
	listBuckets := boto3("s3", "ListBuckets")
	tests := []struct {
		name   string
		id     *authn.Identity
		msg    *mcp.Message
		allow  bool
		by     string // a determining policy
		reason string // in the denial message
	}{
		{"analyst lists buckets", dana, runScript(listBuckets), true, "data-analysts-s3-list-script", ""},
		{"analyst lists a bucket in a loop", dana, runScript("for b in ['a', 'b']:\n    await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': b})\n"), true, "data-analysts-s3-list-script", ""},
		{"analyst also lists users", dana, runScript(listBuckets + boto3("iam", "ListUsers")), false, "", `AWS action(s) "iam:ListUsers"`},
		{"analyst aliases call_boto3", dana, runScript("f = call_boto3\nawait f(service_name='s3', operation_name='ListBuckets')"), false, "baseline-forbid-incomplete-script", "cannot be determined"},
		{"analyst syntax error", dana, runScript("await call_boto3(service_name='s3',"), false, "baseline-forbid-incomplete-script", `"parse_error"`},
		{"analyst service through a variable", dana, runScript("s = 's3'\nawait call_boto3(service_name=s, operation_name='ListBuckets')"), false, "baseline-forbid-incomplete-script", `"dynamic_service"`},
		{"analyst eval", dana, runScript("eval(\"call_boto3(service_name='iam', operation_name='ListUsers')\")"), false, "baseline-forbid-incomplete-script", "cannot be determined"},
		{"analyst code not a string", dana, toolCall(ToolRunScript, `{"code":42}`), false, "baseline-forbid-incomplete-script", `"code_not_string"`},
		{"analyst no code", dana, toolCall(ToolRunScript, `{}`), false, "baseline-forbid-incomplete-script", `"code_missing"`},
		{"analyst legacy ls still fine", dana, awsCall("aws s3 ls"), true, "data-analysts-s3-ls", ""},
		{"reader describes", rita, runScript(boto3("ec2", "DescribeInstances") + listBuckets), true, "aws-readers-read-only", ""},
		{"reader legacy describe", rita, awsCall("aws ec2 describe-instances --region eu-west-1"), true, "aws-readers-read-only", ""},
		{"reader puts", rita, runScript(boto3("s3", "PutObject")), false, "", `AWS action(s) "s3:PutObject"`},
		{"reader legacy cp up", rita, awsCall("aws s3 cp ./a s3://b/a"), false, "", "s3:PutObject"},
		{"reader session token", rita, runScript(boto3("sts", "GetSessionToken")), false, "guardrail-aws-credential-minting", "sts:GetSessionToken"},
		{"reader ecr token", rita, runScript(boto3("ecr", "GetAuthorizationToken")), false, "guardrail-aws-credential-minting", ""},
		{"reader eks get-token", rita, awsCall("aws eks get-token --cluster-name prod"), false, "guardrail-aws-credential-minting", "eks:GetToken"},
		{"reader ecr login", rita, awsCall("aws ecr get-login-password"), false, "guardrail-aws-credential-minting", ""},
		{"reader assumes a role", rita, runScript(boto3("sts", "AssumeRole")), false, "guardrail-aws-credential-minting", ""},
		{"reader access key", rita, runScript(boto3("iam", "CreateAccessKey")), false, "guardrail-aws-credential-minting", ""},
		{"reader presign helper", rita, runScript(boto3("s3", "GeneratePresignedUrl")), false, "guardrail-aws-unknown-operations", ""},
		{"reader typo", rita, runScript(boto3("s3", "ListBukets")), false, "guardrail-aws-unknown-operations", ""},
		{"reader presigned url tool", rita, toolCall("aws___get_presigned_url", `{"bucket_name":"b","object_key":"k"}`), false, "guardrail-s3-presigning", ""},
		{"reader s3 presign", rita, awsCall("aws s3 presign s3://b/k"), false, "guardrail-s3-presigning", ""},
		{"presigner s3 presign", presigner, awsCall("aws s3 presign s3://b/k"), true, "aws-readers-read-only", ""},
		{"alice lists buckets", alice, runScript(listBuckets), true, "s3-readers-run-s3-reads", ""},
		{"alice describes instances", alice, runScript(boto3("ec2", "DescribeInstances")), false, "", `AWS action(s) "ec2:DescribeInstances"`},
		{"alice mixes s3 and ec2", alice, runScript(listBuckets + boto3("ec2", "DescribeInstances")), false, "", `AWS action(s) "ec2:DescribeInstances"`},
		{"alice puts an object", alice, runScript(boto3("s3", "PutObject")), false, "", `AWS action(s) "s3:PutObject"`},
		{"alice service through a variable", alice, runScript("s = 's3'\nawait call_boto3(service_name=s, operation_name='ListBuckets')"), false, "baseline-forbid-incomplete-script", `"dynamic_service"`},
		{"bob describes instances", bob, runScript(boto3("ec2", "DescribeInstances")), true, "ec2-viewers-run-ec2-reads", ""},
		{"bob lists buckets", bob, runScript(listBuckets), false, "", `AWS action(s) "s3:ListBuckets"`},
		{"bob mixes ec2 and s3", bob, runScript(boto3("ec2", "DescribeInstances") + listBuckets), false, "", `AWS action(s) "s3:ListBuckets"`},
		{"bob starts instances", bob, runScript(boto3("ec2", "StartInstances")), false, "", `AWS action(s) "ec2:StartInstances"`},
		{"nobody else scripts", eve, runScript(listBuckets), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authorize(t, a, tt.id, post(tt.msg))
			if d.Allow != tt.allow {
				t.Fatalf("allow = %v, want %v (%+v, aws %+v)", d.Allow, tt.allow, d, d.Items[0].AWS)
			}
			if tt.by != "" && !slices.Contains(d.Policies, tt.by) {
				t.Fatalf("determining policies %q do not include %q", d.Policies, tt.by)
			}
			if len(d.Errors) > 0 {
				t.Fatalf("example policies must not error: %+v", d.Errors)
			}
			if !strings.Contains(d.Reason(), tt.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason(), tt.reason)
			}
		})
	}
}
