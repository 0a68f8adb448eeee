package authz

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/mcp"
)

// examplesDir holds the policies shipped for operators to start from.
const examplesDir = "../examples/policies"

// TestExamplePolicies loads each example file on its own and all of them
// together, and checks decisions for sample identities.
func TestExamplePolicies(t *testing.T) {
	alice := ident("alice", "s3-readers", "Everyone")
	bob := ident("bob", "ec2-viewers", "Everyone")
	dana := ident("dana", "data-analysts")
	eve := ident("eve")
	pat := ident("pat", "platform-team") // s3-readers and ec2-viewers through entities.json

	type c struct {
		name  string
		id    *authn.Identity
		msg   *mcp.Message
		allow bool
		by    string // a policy that must be among the determining ones
	}
	tests := []struct {
		files []string
		cases []c
	}{
		{
			files: []string{"baseline.cedar"},
			cases: []c{
				{"initialize", eve, request("initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}`), true, ""},
				{"initialized", eve, notification("notifications/initialized"), true, ""},
				{"ping", eve, request("ping", ""), true, ""},
				{"tools/list", eve, request("tools/list", ""), true, ""},
				{"prompts/list", eve, request("prompts/list", ""), true, ""},
				{"resources/list", eve, request("resources/list", ""), true, ""},
				{"sampling answer", eve, &mcp.Message{Type: mcp.TypeResponse, ID: []byte(`3`), Result: []byte(`{}`)}, true, ""},
				{"no tool calls by default", eve, awsCall("aws s3 ls"), false, ""},
				{"no prompts/get by default", eve, request("prompts/get", `{"name":"x"}`), false, ""},
			},
		},
		{
			files: []string{"baseline.cedar", "data-analysts.cedar"},
			cases: []c{
				{"analyst lists s3", dana, awsCall("aws s3 ls"), true, ""},
				{"analyst lists a bucket", dana, awsCall("aws s3 ls s3://reports --recursive"), true, ""},
				{"analyst copies", dana, awsCall("aws s3 cp s3://reports/a ."), false, ""},
				{"analyst lsx", dana, awsCall("aws s3 lsx"), false, ""},
				{"analyst chains commands", dana, awsCall("aws s3 ls; aws iam list-users"), false, "baseline-forbid-unparsable-cli"},
				{"analyst substitution", dana, awsCall("aws s3 ls $(aws iam list-users)"), false, "baseline-forbid-unparsable-cli"},
				{"analyst other tool", dana, toolCall("aws___run_script", `{"code":"await call_boto3(service_name='iam', operation_name='ListUsers')"}`), false, ""},
				{"non-analyst", eve, awsCall("aws s3 ls"), false, ""},
			},
		},
		{
			files: []string{"baseline.cedar", "alice-bob.cedar"},
			cases: []c{
				{"alice s3", alice, awsCall("aws s3 ls s3://b --region eu-west-1"), true, ""},
				{"alice s3 cp", alice, awsCall("aws s3 cp s3://b/k ./k"), true, ""},
				{"alice ec2", alice, awsCall("aws ec2 describe-instances"), false, ""},
				{"bob ec2", bob, awsCall("aws ec2 describe-instances --region us-east-1"), true, ""},
				{"bob ec2 run", bob, awsCall("aws ec2 run-instances --image-id ami-1"), false, ""},
				{"bob s3", bob, awsCall("aws s3 ls"), false, ""},
				{"alice pipes", alice, awsCall("aws s3 ls | sh"), false, "baseline-forbid-unparsable-cli"},
				{"alice two invocations", alice, awsCall("aws s3 ls aws iam list-users"), false, "baseline-forbid-unparsable-cli"},
				{"everyone searches docs", eve, toolCall("aws___search_documentation", `{"search_phrase":"s3 lifecycle","limit":5}`), true, ""},
				{"everyone reads docs", eve, toolCall("aws___read_documentation", `{"url":"https://docs.aws.amazon.com/x"}`), true, ""},
				{"alice script lists buckets", alice, runScript(boto3("s3", "ListBuckets")), true, "s3-readers-run-s3-reads"},
				{"alice script lists a bucket's objects", alice, runScript("await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'b'})"), true, "s3-readers-run-s3-reads"},
				{"alice script describes ec2", alice, runScript(boto3("ec2", "DescribeInstances")), false, ""},
				{"alice script mixes s3 and ec2", alice, runScript(boto3("s3", "ListBuckets") + boto3("ec2", "DescribeInstances")), false, ""},
				{"alice script writes s3", alice, runScript(boto3("s3", "PutObject")), false, ""},
				{"alice script makes no call", alice, runScript("return 1"), false, ""},
				{"alice script imports boto3", alice, runScript("import boto3"), false, ""},
				{"bob script describes ec2", bob, runScript(boto3("ec2", "DescribeInstances")), true, "ec2-viewers-run-ec2-reads"},
				{"bob script lists buckets", bob, runScript(boto3("s3", "ListBuckets")), false, ""},
				{"bob script mixes ec2 and s3", bob, runScript(boto3("ec2", "DescribeInstances") + boto3("s3", "ListBuckets")), false, ""},
				{"bob script starts instances", bob, runScript(boto3("ec2", "StartInstances")), false, ""},
				{"eve script lists buckets", eve, runScript(boto3("s3", "ListBuckets")), false, ""},
			},
		},
		{
			files: []string{"baseline.cedar", "alice-bob.cedar", "data-analysts.cedar", "guardrails.cedar"},
			cases: []c{
				{"alice s3 ls", alice, awsCall("aws s3 ls"), true, "s3-readers-use-s3"},
				{"alice s3 rm", alice, awsCall("aws s3 rm s3://b/k"), false, "guardrail-destructive-cli-operations"},
				{"alice s3 rb", alice, awsCall("aws s3 rb s3://b --force"), false, "guardrail-destructive-cli-operations"},
				{"alice s3 sync --delete", alice, awsCall("aws s3 sync . s3://b --delete"), false, "guardrail-destructive-cli-operations"},
				{"alice s3api delete-object", alice, awsCall("aws s3api delete-object --bucket b --key k"), false, "guardrail-destructive-cli-operations"},
				{"alice endpoint-url", alice, awsCall("aws s3 ls --endpoint-url https://attacker.example"), false, "guardrail-cli-endpoint-and-credential-flags"},
				{"alice global endpoint-url", alice, awsCall("aws --endpoint-url=https://attacker.example s3 ls"), false, "guardrail-cli-endpoint-and-credential-flags"},
				{"alice profile", alice, awsCall("aws s3 ls --profile admin"), false, "guardrail-cli-endpoint-and-credential-flags"},
				{"alice no-verify-ssl", alice, awsCall("aws --no-verify-ssl s3 ls"), false, "guardrail-cli-endpoint-and-credential-flags"},
				{"bob terminate", bob, awsCall("aws ec2 terminate-instances --instance-ids i-1"), false, "guardrail-destructive-cli-operations"},
				{"bob describe", bob, awsCall("aws ec2 describe-instances"), true, ""},
				{"destructive tool name", eve, toolCall("delete_everything", `{}`), false, "guardrail-destructive-tool-names"},
				{"analyst ls still fine", dana, awsCall("aws s3 ls"), true, "data-analysts-s3-ls"},
				{"plumbing still fine", eve, request("initialize", `{}`), true, ""},
			},
		},
	}
	for _, tt := range tests {
		var patterns []string
		for _, f := range tt.files {
			patterns = append(patterns, filepath.Join(examplesDir, f))
		}
		a, err := New(t.Context(), Options{
			PolicyFiles:  patterns,
			EntitiesFile: filepath.Join(examplesDir, "entities.json"),
			ServerHost:   testHost,
		})
		if err != nil {
			t.Fatalf("load %v: %v", tt.files, err)
		}
		for _, tc := range tt.cases {
			t.Run(tt.files[len(tt.files)-1]+"/"+tc.name, func(t *testing.T) {
				d := authorize(t, a, tc.id, post(tc.msg))
				if d.Allow != tc.allow {
					t.Fatalf("allow = %v, want %v (%+v)", d.Allow, tc.allow, d)
				}
				if tc.by != "" && !slices.Contains(d.Policies, tc.by) {
					t.Fatalf("determining policies %q do not include %q", d.Policies, tc.by)
				}
				if len(d.Errors) > 0 {
					t.Fatalf("example policies must not error: %+v", d.Errors)
				}
			})
		}
	}

	t.Run("entities.json group hierarchy", func(t *testing.T) {
		a, err := New(t.Context(), Options{
			PolicyFiles:  []string{filepath.Join(examplesDir, "*.cedar")},
			EntitiesFile: filepath.Join(examplesDir, "entities.json"),
			ServerHost:   testHost,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"aws s3 ls", "aws ec2 describe-vpcs"} {
			if d := authorize(t, a, pat, post(awsCall(cmd))); !d.Allow {
				t.Errorf("%s: platform-team denied: %+v", cmd, d)
			}
		}
	})

	t.Run("all examples pass validation without warnings", func(t *testing.T) {
		w, err := Check(Options{
			PolicyFiles:  []string{filepath.Join(examplesDir, "*.cedar")},
			EntitiesFile: filepath.Join(examplesDir, "entities.json"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(w) > 0 {
			t.Fatalf("warnings: %q", w)
		}
	})
}

// TestCredentialGuardrails: the shipped credential guard rails deny every
// credential-minting command on the call_aws path even when a permit
// allows all tool calls, however the command is abbreviated or ordered,
// and let an operator permit them through Group::"aws-credential-minters".
func TestCredentialGuardrails(t *testing.T) {
	dir := writeFiles(t, map[string]string{"permit.cedar": `@id("all-tools") permit(principal, action == Action::"tools/call", resource);`})
	a, err := New(t.Context(), Options{
		PolicyFiles: []string{filepath.Join(dir, "permit.cedar"), filepath.Join(examplesDir, "baseline.cedar"),
			filepath.Join(examplesDir, "guardrails-credentials.cedar")},
		ServerHost: testHost,
	})
	if err != nil {
		t.Fatal(err)
	}
	user := ident("alice", "s3-readers")
	minter := ident("ops", "aws-credential-minters")
	tests := []struct {
		cmd string
		by  string // "" means allowed
	}{
		{"aws sts get-session-token", "guardrail-call-aws-sts-credentials"},
		{"aws sts assume-role --role-arn arn:aws:iam::1:role/x --role-session-name s", "guardrail-call-aws-sts-credentials"},
		{"aws sts assume-role-with-web-identity --role-arn a --role-session-name s --web-identity-token t", "guardrail-call-aws-sts-credentials"},
		{"aws sts assume-role-with-saml --role-arn a --principal-arn p --saml-assertion x", "guardrail-call-aws-sts-credentials"},
		{"aws sts assume-root --target-principal 1 --task-policy-arn arn=x", "guardrail-call-aws-sts-credentials"},
		{"aws sts get-federation-token --name n", "guardrail-call-aws-sts-credentials"},
		{"aws --region us-east-1 sts --output json get-session-token", "guardrail-call-aws-sts-credentials"},
		{"aws iam create-access-key --user-name u", "guardrail-call-aws-iam-credentials"},
		{"aws iam create-login-profile --user-name u --password p", "guardrail-call-aws-iam-credentials"},
		{"aws iam update-login-profile --user-name u --password p", "guardrail-call-aws-iam-credentials"},
		{"aws iam create-service-specific-credential --user-name u --service-name codecommit.amazonaws.com", "guardrail-call-aws-iam-credentials"},
		{"aws ecr get-authorization-token", "guardrail-call-aws-service-tokens"},
		{"aws ecr get-login-password --region eu-west-1", "guardrail-call-aws-service-tokens"},
		{"aws ecr-public get-login-password", "guardrail-call-aws-service-tokens"},
		{"aws codeartifact get-authorization-token --domain d", "guardrail-call-aws-service-tokens"},
		{"aws rds generate-db-auth-token --hostname h --port 5432 --username u", "guardrail-call-aws-service-tokens"},
		{"aws redshift get-cluster-credentials --cluster-identifier c --db-user u", "guardrail-call-aws-service-tokens"},
		{"aws eks get-token --cluster-name c", "guardrail-call-aws-service-tokens"},
		{"aws sso get-role-credentials --role-name r --account-id 1 --access-token t", "guardrail-call-aws-service-tokens"},
		{"aws ec2 get-password-data --instance-id i-1", "guardrail-call-aws-service-tokens"},
		// s3 presign is aws-guardrails.cedar's guardrail-s3-presigning
		// (exempting s3-presigners), tested in aws_examples_test.go.
		{"aws sts get-caller-identity", ""},
		{"aws iam list-access-keys", ""},
		{"aws ecr describe-repositories", ""},
		{"aws s3 ls", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			d := authorize(t, a, user, post(awsCall(tt.cmd)))
			if len(d.Errors) > 0 {
				t.Fatalf("guard rails must not error: %+v", d.Errors)
			}
			if tt.by == "" {
				if !d.Allow {
					t.Fatalf("denied: %+v", d)
				}
				return
			}
			if d.Allow || !slices.Contains(d.Policies, tt.by) {
				t.Fatalf("allow = %v by %v, want denied by %s", d.Allow, d.Policies, tt.by)
			}
			if d := authorize(t, a, minter, post(awsCall(tt.cmd))); !d.Allow {
				t.Fatalf("an aws-credential-minters member is denied: %+v", d)
			}
		})
	}
}
