package authz

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpguard/mcpguard/awsapi"
	"github.com/mcpguard/mcpguard/mcp"
	"github.com/mcpguard/mcpguard/script"
)

// permitAll lets every tools/call through, so tests read the context.aws
// each one was decided with.
const permitAll = `@id("all") permit(principal, action, resource);`

func awsAuthorizer(t testing.TB, policies string, mod func(*AWSOptions)) *Authorizer {
	t.Helper()
	return newTestAuthorizer(t, map[string]string{"p.cedar": policies}, func(_ string, o *Options) {
		o.AWS.Region = "us-east-1"
		if mod != nil {
			mod(&o.AWS)
		}
	})
}

func awsOf(t *testing.T, a *Authorizer, req Request) *AWSContext {
	t.Helper()
	d := authorize(t, a, ident("u"), req)
	if len(d.Items) != 1 {
		t.Fatalf("%d items", len(d.Items))
	}
	return d.Items[0].AWS
}

func TestAWSContext(t *testing.T) {
	a := awsAuthorizer(t, permitAll, nil)
	tests := []struct {
		name string
		msg  *mcp.Message
		want *AWSContext // nil: no context.aws
	}{
		{"other tool", toolCall("aws___search_documentation", `{"search_phrase":"s3"}`), nil},
		{"other tool with code", toolCall("python", `{"code":"await call_boto3(service_name='s3', operation_name='ListBuckets')"}`), nil},
		{"script", runScript(boto3("s3", "ListBuckets")), &AWSContext{
			Actions: []string{"s3:ListBuckets"}, Services: []string{"s3"}, Calls: []AWSCall{{"s3", "ListBuckets", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: true}},
		{"script stepfunctions and regions", runScript("await call_boto3(service_name='stepfunctions', operation_name='StartExecution', region_name='eu-west-1', params={'stateMachineArn': 'x'})\n" + boto3("ec2", "DescribeInstances")), &AWSContext{
			Actions: []string{"ec2:DescribeInstances", "states:StartExecution"}, Services: []string{"ec2", "states"},
			Calls:   []AWSCall{{"ec2", "DescribeInstances", "us-east-1"}, {"stepfunctions", "StartExecution", "eu-west-1"}},
			Regions: []string{"eu-west-1", "us-east-1"}, Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: false}},
		{"script unknown op", runScript(boto3("s3", "ListBukets")), &AWSContext{
			Actions: []string{"s3:ListBukets"}, Services: []string{"s3"}, Calls: []AWSCall{{"s3", "ListBukets", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{"s3:ListBukets"}, ReadOnly: false}},
		{"script unknown service", runScript(boto3("s4", "ListBuckets")), &AWSContext{
			Actions: []string{"s4:ListBuckets"}, Services: []string{"s4"}, Calls: []AWSCall{{"s4", "ListBuckets", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{"s4:ListBuckets"}, ReadOnly: false}},
		{"script credential minting is not read-only", runScript(boto3("sts", "GetSessionToken")), &AWSContext{
			Actions: []string{"sts:GetSessionToken"}, Services: []string{"sts"}, Calls: []AWSCall{{"sts", "GetSessionToken", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: false}},
		{"script without calls", runScript("x = 1"), &AWSContext{
			Actions: []string{}, Services: []string{}, Calls: []AWSCall{}, Regions: []string{}, Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: false}},
		{"script exec", runScript("exec('x')"), &AWSContext{
			Actions: []string{}, Services: []string{}, Calls: []AWSCall{}, Regions: []string{}, Complete: false, Reasons: []string{"forbidden_builtin:exec"}, Unknown: []string{}}},
		{"legacy s3 ls", awsCall("aws s3 ls"), &AWSContext{
			Actions: []string{"s3:ListBuckets"}, Services: []string{"s3"}, Calls: []AWSCall{{"s3", "ListBuckets", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: true}},
		{"legacy s3 mv", awsCall("aws s3 mv s3://a/k ./k --region eu-west-1"), &AWSContext{
			Actions: []string{"s3:DeleteObject", "s3:GetObject", "s3:HeadObject"}, Services: []string{"s3"},
			Calls:   []AWSCall{{"s3", "DeleteObject", "eu-west-1"}, {"s3", "GetObject", "eu-west-1"}, {"s3", "HeadObject", "eu-west-1"}},
			Regions: []string{"eu-west-1"}, Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: false}},
		{"legacy stepfunctions", awsCall("aws stepfunctions start-execution --state-machine-arn x"), &AWSContext{
			Actions: []string{"states:StartExecution"}, Services: []string{"states"}, Calls: []AWSCall{{"stepfunctions", "StartExecution", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{}, ReadOnly: false}},
		{"legacy typo", awsCall("aws ec2 describe-instancez"), &AWSContext{
			Actions: []string{"ec2:DescribeInstancez"}, Services: []string{"ec2"}, Calls: []AWSCall{{"ec2", "DescribeInstancez", "us-east-1"}}, Regions: []string{"us-east-1"},
			Complete: true, Reasons: []string{}, Unknown: []string{"ec2:DescribeInstancez"}, ReadOnly: false}},
		{"legacy parse error", awsCall("aws s3 ls; rm -rf /"), incomplete(ReasonCLIParseError)},
		{"legacy unmapped", awsCall("aws ec2 wait instance-running"), incomplete(ReasonCLIUnmapped)},
		{"legacy bad s3 args", awsCall("aws s3 cp onlyone"), incomplete(ReasonCLIInvalid)},
		{"legacy not a string", toolCall(ToolCallAWS, `{"cli_command":["aws","s3","ls"]}`), incomplete(ReasonCLINotString)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsOf(t, a, post(tt.msg))
			if tt.want == nil {
				if got != nil {
					t.Fatalf("context.aws %+v for a tool that does not reach AWS", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no context.aws")
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Errorf("context.aws\n got %s\nwant %s", gj, wj)
			}
		})
	}
}

// TestAWSServices checks context.aws.services: the IAM prefixes of the
// actions, which are not always the boto3 service names.
func TestAWSServices(t *testing.T) {
	a := awsAuthorizer(t, permitAll, nil)
	tests := []struct {
		name string
		msg  *mcp.Message
		want []string
	}{
		{"s3 and ec2", runScript(boto3("s3", "ListBuckets") + boto3("ec2", "DescribeInstances") + boto3("s3", "ListObjectsV2")), []string{"ec2", "s3"}},
		{"no calls", runScript("x = 1"), []string{}},
		{"incomplete", runScript("s = 's3'\nawait call_boto3(service_name=s, operation_name='ListBuckets')"), []string{}},
		{"elbv2 and elb share a prefix", runScript(boto3("elbv2", "DescribeLoadBalancers") + boto3("elb", "DescribeLoadBalancers")), []string{"elasticloadbalancing"}},
		{"stepfunctions", runScript(boto3("stepfunctions", "ListStateMachines")), []string{"states"}},
		{"unknown service as given", runScript(boto3("s4", "ListBuckets")), []string{"s4"}},
		{"a colon in the service is not a prefix of its own", runScript(boto3("s3:x", "ListBuckets")), []string{"s3:x"}},
		{"legacy s3 ls", awsCall("aws s3 ls"), []string{"s3"}},
		{"legacy elbv2", awsCall("aws elbv2 describe-load-balancers"), []string{"elasticloadbalancing"}},
		{"legacy parse error", awsCall("aws s3 ls; rm -rf /"), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsOf(t, a, post(tt.msg))
			if got == nil {
				t.Fatal("no context.aws")
			}
			if got.Services == nil || !slices.Equal(got.Services, tt.want) {
				t.Errorf("services %q, want %q (actions %q)", got.Services, tt.want, got.Actions)
			}
		})
	}
}

// TestAWSServicesInPolicies bounds every call of a script to one service
// and reads only, the way examples/policies/alice-bob.cedar does.
func TestAWSServicesInPolicies(t *testing.T) {
	a := awsAuthorizer(t, `
@id("ec2-only") permit(principal, action, resource) when {
  context has aws && context.aws.read_only && ["ec2"].containsAll(context.aws.services)
};`, nil)
	for _, tt := range []struct {
		code  string
		allow bool
	}{
		{boto3("ec2", "DescribeInstances") + boto3("ec2", "DescribeVpcs"), true},
		{boto3("ec2", "DescribeInstances") + boto3("s3", "ListBuckets"), false},
		{boto3("s3", "ListBuckets"), false},
		{boto3("ec2", "TerminateInstances"), false},
		{"x = 1", false},
		{"s = 'ec2'\nawait call_boto3(service_name=s, operation_name='DescribeInstances')", false},
	} {
		d := authorize(t, a, ident("u"), post(runScript(tt.code)))
		if d.Allow != tt.allow || len(d.Errors) > 0 {
			t.Errorf("%q: allow %v, want %v (%+v, aws %+v)", tt.code, d.Allow, tt.allow, d, d.Items[0].AWS)
		}
	}
}

// TestAWSContextInPolicies checks the Cedar shape of context.aws with
// policies that read every attribute.
func TestAWSContextInPolicies(t *testing.T) {
	a := awsAuthorizer(t, `
@id("regions") permit(principal, action, resource) when {
  context has aws && context.aws.complete && context.aws.regions == ["eu-west-1"] &&
  context.aws.calls.contains({service: "s3", operation: "ListObjectsV2", region: "eu-west-1"}) &&
  context.aws.unknown.isEmpty() && context.aws.reasons.isEmpty() && context.aws.read_only &&
  context.aws.actions.contains("s3:ListObjectsV2") && context.aws.services == ["s3"]
};
@id("incomplete-reason") permit(principal, action, resource) when {
  context has aws && context.aws.reasons.contains("dynamic_region") && !context.aws.complete
};`, nil)
	for _, tt := range []struct {
		code  string
		allow bool
		by    string
	}{
		{"await call_boto3(service_name='s3', operation_name='ListObjectsV2', region_name='eu-west-1', params={'Bucket': 'b'})", true, "regions"},
		{"await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'b'})", false, ""},
		{"r = 'eu-west-1'\nawait call_boto3(service_name='s3', operation_name='ListObjectsV2', region_name=r)", true, "incomplete-reason"},
	} {
		d := authorize(t, a, ident("u"), post(runScript(tt.code)))
		if d.Allow != tt.allow || (tt.by != "" && !slices.Contains(d.Policies, tt.by)) || len(d.Errors) > 0 {
			t.Errorf("%q: %+v (aws %+v)", tt.code, d, d.Items[0].AWS)
		}
	}
}

func TestAWSRegion(t *testing.T) {
	a := awsAuthorizer(t, permitAll, nil)
	req := post(runScript(boto3("s3", "ListBuckets")))
	if got := awsOf(t, a, req).Regions; !slices.Equal(got, []string{"us-east-1"}) {
		t.Errorf("default region: %q", got)
	}
	req.Region = "eu-central-1"
	if got := awsOf(t, a, req).Regions; !slices.Equal(got, []string{"eu-central-1"}) {
		t.Errorf("upstream region: %q", got)
	}
}

func TestAWSConfiguredAnalysis(t *testing.T) {
	rc, err := awsapi.NewReadClass([]string{"List"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	an, err := script.New(script.Limits{MaxBytes: 100, AllowedImports: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	a := awsAuthorizer(t, permitAll, func(o *AWSOptions) { o.ReadClass, o.Script = rc, an })
	if got := awsOf(t, a, post(runScript(boto3("ec2", "DescribeInstances")))); !got.Complete || got.ReadOnly {
		t.Errorf("read class List: DescribeInstances read-only=%v complete=%v", got.ReadOnly, got.Complete)
	}
	if got := awsOf(t, a, post(runScript(boto3("s3", "ListBuckets")+strings.Repeat("#", 100)))); got.Complete || !slices.Contains(got.Reasons, "too_large") {
		t.Errorf("max bytes 100: %+v", got)
	}
	if got := awsOf(t, a, post(runScript("import json\n"+boto3("s3", "ListBuckets")))); got.Complete {
		t.Errorf("no imports allowed: %+v", got)
	}
}

// TestAWSRefused names the action to blame in a denial, and every action
// when no single one is.
func TestAWSRefused(t *testing.T) {
	a := awsAuthorizer(t, `
@id("s3") permit(principal, action, resource) when { context has aws && ["s3:ListBuckets", "s3:ListObjectsV2"].containsAll(context.aws.actions) };
@id("pair") forbid(principal, action, resource) when { context has aws && context.aws.actions.containsAll(["s3:ListBuckets", "s3:ListObjectsV2"]) };`, nil)
	d := authorize(t, a, ident("u"), post(runScript(boto3("s3", "ListBuckets")+boto3("iam", "ListUsers")+boto3("ec2", "DescribeVpcs"))))
	if d.Allow || !slices.Equal(d.Items[0].AWSRefused, []string{"ec2:DescribeVpcs", "iam:ListUsers"}) {
		t.Fatalf("refused %q (%+v)", d.Items[0].AWSRefused, d)
	}
	if !strings.HasSuffix(d.Reason(), `: AWS action(s) "ec2:DescribeVpcs", "iam:ListUsers"`) {
		t.Errorf("reason %q", d.Reason())
	}
	d = authorize(t, a, ident("u"), post(runScript(boto3("s3", "ListBuckets")+boto3("s3", "ListObjectsV2"))))
	if d.Allow || len(d.Items[0].AWSRefused) != 0 || !strings.HasSuffix(d.Reason(), `"s3:ListBuckets", "s3:ListObjectsV2"`) {
		t.Errorf("combination: refused %q, reason %q", d.Items[0].AWSRefused, d.Reason())
	}
	// A client-chosen action name is quoted and bounded in the message.
	long := strings.Repeat("A", 300)
	d = authorize(t, a, ident("u"), post(runScript(boto3("x\"y", long))))
	if r := d.Reason(); len(r) > 400 || !strings.Contains(r, `"x\"y:AAA`) {
		t.Errorf("reason %q", r)
	}
}

func TestAWSOnlyRunScriptPaysForAnalysis(t *testing.T) {
	calls := 0
	a := awsAuthorizer(t, permitAll, func(o *AWSOptions) {
		o.Script = countingAnalyzer{n: &calls, next: mustAnalyzer(t)}
	})
	for _, m := range []*mcp.Message{
		toolCall("aws___search_documentation", `{"search_phrase":"x","code":"await call_boto3()"}`),
		awsCall("aws s3 ls"),
		request("tools/list", ""),
	} {
		authorize(t, a, ident("u"), post(m))
	}
	if calls != 0 {
		t.Fatalf("the analyzer ran %d times for requests that are not run_script", calls)
	}
	authorize(t, a, ident("u"), post(runScript("x = 1")))
	if calls != 1 {
		t.Fatalf("the analyzer ran %d times for one run_script", calls)
	}
}

type countingAnalyzer struct {
	n    *int
	next ScriptAnalyzer
}

func (c countingAnalyzer) Analyze(code string) script.Analysis {
	*c.n++
	return c.next.Analyze(code)
}

func mustAnalyzer(t testing.TB) ScriptAnalyzer {
	t.Helper()
	an, err := script.New(script.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return an
}

// BenchmarkAuthorizeRunScript decides a run_script call with a 2 KB script
// against the example policies, next to a tool call that needs no
// analysis.
func BenchmarkAuthorizeRunScript(b *testing.B) {
	a := awsAuthorizer(b, permitAll, nil)
	var sb strings.Builder
	for sb.Len() < 2000 {
		sb.WriteString("r = await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'reports', 'Prefix': 'daily/'})\n# keys\n")
	}
	for _, bc := range []struct {
		name string
		msg  *mcp.Message
	}{
		{"run_script_2KB", runScript(sb.String())},
		{"other_tool", toolCall("aws___search_documentation", `{"search_phrase":"s3 lifecycle","limit":5}`)},
		{"call_aws", awsCall("aws s3 ls s3://reports --region eu-west-1")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := post(bc.msg)
			id := ident("u")
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if d, err := a.Authorize(ctx, id, req); err != nil || !d.Allow {
					b.Fatal(d, err)
				}
			}
		})
	}
}

// FuzzAWSContextCLI maps arbitrary cli_command strings: never a panic, and
// a complete record always names what it calls, with every call's action
// among the actions.
func FuzzAWSContextCLI(f *testing.F) {
	for _, s := range []string{"aws s3 ls", "aws s3 sync . s3://b --del", "aws --region eu-west-1 ec2 describe-instances",
		"aws s3 cp --sse s3://a/b .", "aws eks get-token", "aws ec2 wait x", "aws s3 rb s3://b --for", "aws s3api list-objects-v2 --bucket b"} {
		f.Add(s)
	}
	a, err := newAWSAnalysis(AWSOptions{Region: "us-east-1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		_, r := a.fromCLI(cmd, "us-east-1")
		if r.Complete && (len(r.Calls) == 0 || len(r.Actions) == 0 || len(r.Reasons) != 0) {
			t.Fatalf("%q: complete record %+v", cmd, r)
		}
		if !r.Complete && (len(r.Reasons) == 0 || r.ReadOnly) {
			t.Fatalf("%q: incomplete record %+v", cmd, r)
		}
		for _, c := range r.Calls {
			act, _ := a.catalog.Action(c.Service, c.Operation)
			if !slices.Contains(r.Actions, act) || c.Region == "" {
				t.Fatalf("%q: call %+v not among actions %q", cmd, c, r.Actions)
			}
		}
		_ = r.record()
	})
}

// TestAWSContextInBatch decides each message of a batch with its own
// context.aws: one forbidden script denies the batch and is named.
func TestAWSContextInBatch(t *testing.T) {
	a := awsAuthorizer(t, `@id("s3") permit(principal, action, resource) when { context has aws && context.aws.complete && ["s3:ListBuckets"].containsAll(context.aws.actions) };`, nil)
	req := post(runScript(boto3("s3", "ListBuckets")), runScript(boto3("iam", "ListUsers")))
	req.Body.Batch = true
	d := authorize(t, a, ident("u"), req)
	if d.Allow || len(d.Items) != 2 || !d.Items[0].Allow || d.Items[1].Allow {
		t.Fatalf("batch decision %+v", d)
	}
	if !slices.Equal(d.Items[0].AWS.Actions, []string{"s3:ListBuckets"}) || !slices.Equal(d.Items[1].AWS.Actions, []string{"iam:ListUsers"}) {
		t.Errorf("per-message actions %q %q", d.Items[0].AWS.Actions, d.Items[1].AWS.Actions)
	}
	if r := d.Reason(); !strings.Contains(r, `"iam:ListUsers" (batch element 1)`) {
		t.Errorf("reason %q", r)
	}
}
