package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

func runScript(cs *mcp.ClientSession, code string) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: fakeaws.ToolRunScript, Arguments: map[string]any{"code": code}})
}

const listBucketsScript = "r = await call_boto3(service_name='s3', operation_name='ListBuckets')\nreturn r['Buckets'][0]['Name']\n"

// TestDataAnalystRunScript is the analysts' policy against today's AWS MCP
// Server: a script that only lists buckets is signed as the analysts' role,
// reaches the AWS MCP Server and runs; scripts that call more, alias
// call_boto3, do not parse or name the service through a variable are
// refused with 403 and a JSON-RPC error naming the action or the reason,
// and never reach AWS.
func TestDataAnalystRunScript(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, _ := startStack(t, stack.Options{Mutate: func(c *config.Config) { c.Audit.Output = path }})
	cs := connect(t, s, stack.Dana)

	res, err := runScript(cs, listBucketsScript)
	if err != nil || res.IsError {
		t.Fatalf("list buckets: err=%v result=%+v", err, res)
	}
	if got := resultText(res); got != `"mcpguard-demo-artifacts"` {
		t.Errorf("script result %q", got)
	}
	// Listing every bucket's objects in a loop is still only the two
	// permitted operations.
	res, err = runScript(cs, "r = await call_boto3(service_name='s3', operation_name='ListBuckets')\n"+
		"keys = {}\nfor b in r['Buckets']:\n"+
		"    o = await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': b['Name']})\n"+
		"return o['Contents'][0]['Key']\n")
	if err != nil || res.IsError || resultText(res) != `"report.csv"` {
		t.Fatalf("list objects in a loop: err=%v result=%+v", err, res)
	}
	runs := s.AWS.ScriptRuns()
	if len(runs) != 2 || !slices.Equal(runs[0].Calls, []string{"s3:ListBuckets"}) || runs[0].RoleARN != stack.S3Role ||
		!slices.Equal(runs[1].Calls, []string{"s3:ListBuckets", "s3:ListObjectsV2", "s3:ListObjectsV2", "s3:ListObjectsV2"}) {
		t.Fatalf("AWS ran %+v, want the two scripts as %s", runs, stack.S3Role)
	}

	tok, err := s.Token(stack.Dana)
	if err != nil {
		t.Fatal(err)
	}
	denied := []struct {
		name, code, want string
	}{
		{"also lists users", listBucketsScript + "u = await call_boto3(service_name='iam', operation_name='ListUsers')\n", `AWS action(s) \"iam:ListUsers\"`},
		{"aliases call_boto3", "f = call_boto3\nreturn await f(service_name='s3', operation_name='ListBuckets')\n", "call_boto3_as_value"},
		{"syntax error", "r = await call_boto3(service_name='s3', operation_name='ListBuckets'\n", "parse_error"},
		{"service through a variable", "svc = 's3'\nreturn await call_boto3(service_name=svc, operation_name='ListBuckets')\n", "dynamic_service"},
	}
	for i, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.AWS.Requests())
			msg := runScriptForbidden(t, s, tok, 100+i, tt.code)
			if want := strings.ReplaceAll(tt.want, `\"`, `"`); !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
			if n := len(s.AWS.Requests()); n != before {
				t.Errorf("a denied script reached AWS (%d requests, was %d)", n, before)
			}
		})
	}
	// The same denial through the SDK client surfaces as an error.
	if _, err := runScript(cs, denied[0].code); err == nil || !strings.Contains(err.Error(), "iam:ListUsers") {
		t.Errorf("SDK client: err %v", err)
	}
	if n := len(s.AWS.ScriptRuns()); n != 2 {
		t.Errorf("AWS ran %d scripts, want 2", n)
	}

	cs.Close()
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var allowed, refused int
	for _, e := range readAudit(t, raw) {
		if e.MCP == nil || e.MCP.Tool != fakeaws.ToolRunScript {
			continue
		}
		switch e.Type {
		case audit.TypeMCPToolCall:
			allowed++
			if e.AWS == nil || !slices.Contains(e.AWS.Actions, "s3:ListBuckets") || e.AWS.Complete == nil || !*e.AWS.Complete || e.AWS.RoleARN != stack.S3Role {
				t.Errorf("allowed script record aws = %+v", e.AWS)
			}
		case audit.TypeAuthzDenied:
			refused++
			if e.AWS == nil || e.AWS.Complete == nil {
				t.Errorf("denied script record aws = %+v", e.AWS)
			}
		}
	}
	if allowed != 2 || refused != len(denied)+1 {
		t.Errorf("audit: %d allowed and %d refused run_script records, want 2 and %d", allowed, refused, len(denied)+1)
	}
}

// The brief's calls as today's AWS MCP Server takes them.
const (
	s3ListScript      = "return await call_boto3(service_name='s3', operation_name='ListBuckets')\n"
	ec2DescribeScript = "return await call_boto3(service_name='ec2', operation_name='DescribeInstances')\n"
)

// TestSeedMatrixRunScript is the brief's table through aws___run_script:
// Alice (s3-readers) may run a script that lists S3 but not one that
// describes EC2, Bob (ec2-viewers) the reverse, and neither one that mixes
// the two. An allowed script is signed as the user's role, passes the
// fake's SigV4 verification, and its call_boto3 runs with that role's
// permissions and returns AWS's answer; a denied one gets 403 and the
// JSON-RPC forbidden error naming the refused action, and nothing reaches
// AWS.
func TestSeedMatrixRunScript(t *testing.T) {
	s, _ := startStack(t, stack.Options{})
	mixed := s3ListScript[len("return "):] + ec2DescribeScript
	tests := []struct {
		name    string
		user    stack.User
		code    string
		role    string // "": denied by mcpguard
		call    string // the call AWS ran, or the action the denial names
		content string // in an allowed script's result
	}{
		{"alice lists buckets", stack.Alice, s3ListScript, stack.S3Role, "s3:ListBuckets", "mcpguard-demo-reports"},
		{"alice describes instances", stack.Alice, ec2DescribeScript, "", "ec2:DescribeInstances", ""},
		{"alice mixes s3 and ec2", stack.Alice, mixed, "", "ec2:DescribeInstances", ""},
		{"bob describes instances", stack.Bob, ec2DescribeScript, stack.EC2Role, "ec2:DescribeInstances", "i-0a1b2c3d4e5f60718"},
		{"bob lists buckets", stack.Bob, s3ListScript, "", "s3:ListBuckets", ""},
		{"bob mixes s3 and ec2", stack.Bob, mixed, "", "s3:ListBuckets", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, requests := len(s.AWS.ScriptRuns()), len(s.AWS.Requests())
			if tt.role != "" {
				cs := connect(t, s, tt.user)
				res, err := runScript(cs, tt.code)
				if err != nil || res.IsError {
					t.Fatalf("want the script run, got err=%v result=%+v", err, res)
				}
				if !strings.Contains(resultText(res), tt.content) {
					t.Errorf("result %q lacks %q", resultText(res), tt.content)
				}
				got := s.AWS.ScriptRuns()[runs:]
				if len(got) != 1 || got[0].RoleARN != tt.role || got[0].Error != "" || !slices.Equal(got[0].Calls, []string{tt.call}) {
					t.Fatalf("AWS ran %+v, want one run of %s as %s without error", got, tt.call, tt.role)
				}
				// Requests holds only requests whose signature the fake
				// verified with the credentials STS issued.
				signed := false
				for _, r := range s.AWS.Requests()[requests:] {
					if strings.Contains(string(r.Body), `"tools/call"`) && r.RoleARN == tt.role && strings.HasPrefix(r.SessionName, tt.user.Name) {
						signed = true
					}
				}
				if !signed {
					t.Errorf("no verified tools/call signed as %s for %s", tt.role, tt.user.Name)
				}
				return
			}
			tok, err := s.Token(tt.user)
			if err != nil {
				t.Fatal(err)
			}
			msg := runScriptForbidden(t, s, tok, 200+i, tt.code)
			if want := `AWS action(s) "` + tt.call + `"`; !strings.HasSuffix(msg, want) {
				t.Errorf("message %q does not end with %q", msg, want)
			}
			if len(s.AWS.Requests()) != requests || len(s.AWS.ScriptRuns()) != runs {
				t.Error("a denied script reached AWS")
			}
		})
	}
	if rej := s.AWS.Rejections(); len(rej) != 0 {
		t.Errorf("the fake AWS rejected %d requests: %+v", len(rej), rej)
	}
}

// runScriptForbidden posts an aws___run_script call of code with JSON-RPC
// id and requires mcpguard's refusal: 403 with the JSON-RPC forbidden error
// (-32003) of that request. It returns the error's message.
func runScriptForbidden(t *testing.T, s *stack.Stack, tok string, id int, code string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": fakeaws.ToolRunScript, "arguments": map[string]any{"code": code}}})
	r := postJSON(t, s, tok, string(body))
	if r.status != 403 {
		t.Fatalf("status %d, want 403: %s", r.status, r.body)
	}
	var e struct {
		ID    int `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code != -32003 || e.ID != id {
		t.Fatalf("body %s is not the JSON-RPC forbidden error of request %d", r.body, id)
	}
	return e.Error.Message
}
