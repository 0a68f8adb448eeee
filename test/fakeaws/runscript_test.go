package fakeaws_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
)

// TestDefaultCatalog checks today's tool list: names, required inputs and
// annotations, and that aws___call_aws is only a legacy option.
func TestDefaultCatalog(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		s := newServerWith(t, fakeaws.Options{LegacyCallAWS: legacy})
		cs := connect(t, s, transportFor(alice))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		res, err := cs.ListTools(ctx, nil)
		cancel()
		cs.Close()
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]*mcp.Tool{}
		var names []string
		for _, tl := range res.Tools {
			byName[tl.Name] = tl
			names = append(names, tl.Name)
		}
		want := slices.Clone(fakeaws.DefaultTools)
		if legacy {
			want = append(want, fakeaws.ToolCallAWS)
		}
		slices.Sort(want)
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Fatalf("legacy=%v: tools %q, want %q", legacy, names, want)
		}
		required := map[string][]string{
			fakeaws.ToolRunScript:               {"code"},
			fakeaws.ToolGetPresignedURL:         {"bucket_name", "object_key"},
			fakeaws.ToolSearchDocumentation:     {"search_phrase"},
			fakeaws.ToolReadDocumentation:       {"url"},
			fakeaws.ToolRetrieveSkill:           {"skill_name"},
			fakeaws.ToolSuggestAWSCommands:      {"query"},
			fakeaws.ToolGetRegionalAvailability: {"region", "resource_type"},
		}
		for name, req := range required {
			raw, _ := json.Marshal(byName[name].InputSchema)
			var schema struct {
				Required []string `json:"required"`
			}
			_ = json.Unmarshal(raw, &schema)
			slices.Sort(schema.Required)
			slices.Sort(req)
			if !slices.Equal(schema.Required, req) {
				t.Errorf("%s requires %q, want %q", name, schema.Required, req)
			}
		}
		rs := byName[fakeaws.ToolRunScript].Annotations
		if rs == nil || rs.ReadOnlyHint || rs.DestructiveHint == nil || !*rs.DestructiveHint {
			t.Errorf("run_script annotations %+v: want not read-only, destructive", rs)
		}
		for _, n := range []string{fakeaws.ToolSearchDocumentation, fakeaws.ToolListRegions, fakeaws.ToolGetTasks} {
			if a := byName[n].Annotations; a == nil || !a.ReadOnlyHint {
				t.Errorf("%s is not annotated read-only", n)
			}
		}
	}
}

// TestRunScript runs scripts as alice (S3 only) and bob (EC2 only) and
// checks what the sandbox answers: the result and the API calls on success,
// the Python exception otherwise.
func TestRunScript(t *testing.T) {
	s := newServerWith(t, fakeaws.Options{})
	clients := map[string]*mcp.ClientSession{
		"alice": connect(t, s, transportFor(alice)),
		"bob":   connect(t, s, transportFor(bob)),
	}
	for _, cs := range clients {
		defer cs.Close()
	}
	tests := []struct {
		name, who, code string
		isErr           bool
		want            string   // in the text
		calls           []string // "service:Operation" recorded
	}{
		{"list buckets", "alice", "r = await call_boto3(service_name='s3', operation_name='ListBuckets')\nreturn [b['Name'] for b in r['Buckets']]", true,
			"NotImplementedError: the fakeaws sandbox does not run list comprehension", []string{"s3:ListBuckets"}},
		{"list buckets plain", "alice", "# list\nr = await call_boto3(service_name=\"s3\", operation_name=\"ListBuckets\")\nreturn r['Buckets'][0]['Name']", false,
			`"mcpguard-demo-artifacts"`, []string{"s3:ListBuckets"}},
		{"list objects", "alice", "r = await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'mcpguard-demo-reports', 'Prefix': 'rep'})\nreturn {'n': r['KeyCount'], 'first': r['Contents'][-1]['Key']}", false,
			`"first": "report.csv"`, []string{"s3:ListObjectsV2"}},
		{"no such bucket", "alice", "await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': 'nope'})", true,
			"botocore.exceptions.ClientError: An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation", []string{"s3:ListObjectsV2"}},
		{"missing param", "alice", "await call_boto3(service_name='s3', operation_name='ListObjectsV2')", true,
			`ParamValidationError: Parameter validation failed:` + "\n" + `Missing required parameter in input: "Bucket"`, []string{"s3:ListObjectsV2"}},
		{"unknown param", "alice", "await call_boto3(service_name='s3', operation_name='ListBuckets', params={'Bukket': 1})", true,
			`Unknown parameter in input: "Bukket"`, []string{"s3:ListBuckets"}},
		{"denied", "alice", "u = await call_boto3(service_name='iam', operation_name='ListUsers')\nreturn u", true,
			"An error occurred (AccessDenied) when calling the ListUsers operation: User: arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/alice@example.com is not authorized to perform: iam:ListUsers", []string{"iam:ListUsers"}},
		{"bob ec2", "bob", "r = await call_boto3(service_name='ec2', operation_name='DescribeInstances', region_name='us-east-1')\nreturn r['Reservations'][0]['Instances'][0]['InstanceId']", false,
			`"i-0a1b2c3d4e5f60718"`, []string{"ec2:DescribeInstances"}},
		{"bob ec2 other region", "bob", "r = await call_boto3(service_name='ec2', operation_name='DescribeInstances', region_name='eu-west-1')\nreturn r['Reservations']", false,
			"[]", []string{"ec2:DescribeInstances"}},
		{"bob s3 denied", "bob", "await call_boto3(service_name='s3', operation_name='ListBuckets')", true, "is not authorized to perform: s3:ListBuckets", []string{"s3:ListBuckets"}},
		{"caller identity", "bob", "return await call_boto3(service_name='sts', operation_name='GetCallerIdentity')", false,
			`"Arn": "arn:aws:sts::123456789012:assumed-role/EC2ViewOnlyMCPRole/bob@example.com"`, []string{"sts:GetCallerIdentity"}},
		{"print", "alice", "print('hello', 1, None)\nreturn True", false, "stdout:\nhello 1 None\n", nil},
		{"syntax error", "alice", "r = await call_boto3(service_name='s3',\nreturn r", true, "SyntaxError: invalid syntax", nil},
		{"name error", "alice", "return missing", true, `NameError: name "missing" is not defined`, nil},
		{"alias", "alice", "f = call_boto3\nawait f(service_name='s3', operation_name='ListBuckets')", true, "NotImplementedError: the fakeaws sandbox does not run call_boto3 used as a value", nil},
		{"import", "alice", "import os\nreturn 1", true, "NotImplementedError: the fakeaws sandbox does not run import statement", nil},
		{"eval", "alice", "eval('1')", true, "does not run calls of eval", nil},
		{"positional", "alice", "await call_boto3('s3', 'ListBuckets')", true, "TypeError: call_boto3() takes 0 positional arguments", nil},
		{"missing kw", "alice", "await call_boto3(service_name='s3')", true, "missing 1 required keyword-only argument: 'operation_name'", nil},
		{"no await", "alice", "call_boto3(service_name='s3', operation_name='ListBuckets')", true, "write await call_boto3", nil},
		{"unknown service", "alice", "await call_boto3(service_name='s4', operation_name='ListBuckets')", true, "UnknownServiceError: Unknown service: 's4'", []string{"s4:ListBuckets"}},
		{"unknown region", "alice", "await call_boto3(service_name='s3', operation_name='ListBuckets', region_name='mars-1')", true, "EndpointConnectionError", []string{"s3:ListBuckets"}},
		{"no behaviour", "alice", "await call_boto3(service_name='s3', operation_name='GetObject', params={'Bucket': 'b', 'Key': 'k'})", true, "NotImplementedError: fakeaws has no behaviour for s3:GetObject", []string{"s3:GetObject"}},
		{"f-string", "alice", "x = 's3'\nawait call_boto3(service_name=f'{x}', operation_name='ListBuckets')", true, "f-strings", nil},
		{"loop", "alice", "r = await call_boto3(service_name='s3', operation_name='ListBuckets')\nn = []\nfor b in r['Buckets']:\n    if_ = b['Name']\n    o = await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': b['Name']})\n    continue\nreturn o['Name']", false,
			`"mcpguard-demo-reports"`, []string{"s3:ListBuckets", "s3:ListObjectsV2", "s3:ListObjectsV2", "s3:ListObjectsV2"}},
		{"loop break", "alice", "for k in {'b': 1, 'a': 2}:\n    x = k\n    break\nreturn x", false, `"a"`, nil},
		{"loop over buckets", "alice", "for b in ['mcpguard-demo-reports', 'mcpguard-demo-logs']:\n    o = await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': b})\nreturn o['Name']", false,
			`"mcpguard-demo-logs"`, []string{"s3:ListObjectsV2", "s3:ListObjectsV2"}},
		{"break outside loop", "alice", "break", true, "SyntaxError: 'break' outside loop", nil},
		{"iterate a number", "alice", "for x in 1:\n    pass", true, "TypeError: 'int' object is not iterable", nil},
		{"escapes", "alice", `return "a\tb\u00e9" 'c'`, false, `"a\tbéc"`, nil},
		{"two calls", "alice", "a = await call_boto3(service_name='s3', operation_name='ListBuckets')\nb = await call_boto3(service_name='sts', operation_name='GetCallerIdentity')\nreturn {'buckets': len}", true,
			`NameError: name "len" is not defined`, []string{"s3:ListBuckets", "sts:GetCallerIdentity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.ScriptRuns())
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			res, err := clients[tt.who].CallTool(ctx, &mcp.CallToolParams{Name: fakeaws.ToolRunScript, Arguments: map[string]any{"code": tt.code}})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if res.IsError != tt.isErr || !strings.Contains(text, tt.want) {
				t.Fatalf("isError=%v text:\n%s\nwant isError=%v containing %q", res.IsError, text, tt.isErr, tt.want)
			}
			runs := s.ScriptRuns()
			if len(runs) != before+1 {
				t.Fatalf("%d runs recorded, want %d", len(runs), before+1)
			}
			if got := runs[len(runs)-1].Calls; !slices.Equal(got, tt.calls) {
				t.Errorf("calls %q, want %q", got, tt.calls)
			}
			if got := runs[len(runs)-1].SessionName; got != tt.who+"@example.com" {
				t.Errorf("run recorded for session %q, want %s@example.com", got, tt.who)
			}
			sc, _ := res.StructuredContent.(map[string]any)
			apiCalls, _ := sc["api_calls"].([]any)
			if sc == nil || len(apiCalls) != len(tt.calls) {
				t.Errorf("structuredContent %v: want %d api_calls", res.StructuredContent, len(tt.calls))
			}
			if !tt.isErr {
				if _, ok := sc["result"]; !ok {
					t.Errorf("structuredContent %v has no result", sc)
				}
			}
		})
	}
}

func TestPresignedURL(t *testing.T) {
	s := newServerWith(t, fakeaws.Options{})
	a, b := connect(t, s, transportFor(alice)), connect(t, s, transportFor(bob))
	defer a.Close()
	defer b.Close()
	out, isErr := callText(t, a, fakeaws.ToolGetPresignedURL, map[string]any{"bucket_name": "mcpguard-demo-reports", "object_key": "report.csv", "expires_in": 60})
	if isErr {
		t.Fatalf("alice: %s", out)
	}
	var r struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "mcpguard-demo-reports.s3.us-east-1.amazonaws.com" || q.Get("X-Amz-Expires") != "60" || q.Get("X-Amz-Signature") == "" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), alice.AccessKeyID+"/") || q.Get("X-Amz-Security-Token") != alice.SessionToken {
		t.Errorf("presigned URL %s is not an S3 SigV4 URL for alice", r.URL)
	}
	if out, isErr := callText(t, b, fakeaws.ToolGetPresignedURL, map[string]any{"bucket_name": "x", "object_key": "k"}); !isErr || !strings.Contains(out, "not authorized to perform: s3:GetObject") {
		t.Errorf("bob: isError=%v %s", isErr, out)
	}
	if out, isErr := callText(t, a, fakeaws.ToolGetPresignedURL, map[string]any{"bucket_name": "x", "object_key": "k", "operation": "delete_object"}); !isErr || !strings.Contains(out, "Invalid operation") {
		t.Errorf("delete_object: isError=%v %s", isErr, out)
	}
}

// FuzzSandbox runs arbitrary code through the sandbox's interpreter via the
// tool: it must answer, never panic or hang.
func FuzzSandbox(f *testing.F) {
	for _, s := range []string{"return 1", "x = [1, {'a': -2.5}]\nreturn x[1]['a']", "await call_boto3(service_name='s3', operation_name='ListBuckets')", "r'\\n' 'a'", "print(1)\n", "def f(): pass"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		res := fakeaws.RunScriptForTest(code)
		if res == nil || len(res.Content) == 0 {
			t.Fatalf("no result for %q", code)
		}
	})
}
