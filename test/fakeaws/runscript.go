package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"net/http"
)

// MaxScriptBytes bounds run_script's code, as the AWS MCP Server does.
const MaxScriptBytes = 100_000

type runScriptInput struct {
	Code string `json:"code" jsonschema:"Python code to run. Reach AWS with await call_boto3(service_name=..., operation_name=..., region_name=..., params={...}) and return the result."`
}

// ScriptRun is a run_script execution as recorded for tests.
type ScriptRun struct {
	Code    string
	RoleARN string
	// SessionName is the role session name of the credentials that
	// signed the call (the user, for mcpguard).
	SessionName string
	// Calls are the call_boto3 calls the script made, in order, as
	// "service:Operation".
	Calls []string
	Error string // the exception, "" on success
}

// scriptLog records run_script executions for tests.
type scriptLog struct {
	mu   sync.Mutex
	runs []ScriptRun
}

func (l *scriptLog) add(r ScriptRun) {
	l.mu.Lock()
	l.runs = append(l.runs, r)
	l.mu.Unlock()
}

// ScriptRuns returns the run_script executions in order.
func (s *Server) ScriptRuns() []ScriptRun {
	s.scripts.mu.Lock()
	defer s.scripts.mu.Unlock()
	return slices.Clone(s.scripts.runs)
}

func verifiedCaller(req *mcp.CallToolRequest) (caller, bool) {
	if req.Extra == nil || req.Extra.Header.Get(headerRoleARN) == "" {
		return caller{}, false
	}
	return caller{roleARN: req.Extra.Header.Get(headerRoleARN), sessionName: req.Extra.Header.Get(headerSessionName)}, true
}

func (s *Server) runScript(_ context.Context, req *mcp.CallToolRequest, in runScriptInput) (*mcp.CallToolResult, any, error) {
	c, ok := verifiedCaller(req)
	if !ok {
		// Unreachable behind the verifier; fail closed if mounted without it.
		return textResult(true, "An error occurred (AccessDenied): no verified caller"), nil, nil
	}
	if len(in.Code) > MaxScriptBytes {
		return textResult(true, fmt.Sprintf("Script rejected: code is %d bytes, the limit is %d.", len(in.Code), MaxScriptBytes)), nil, nil
	}
	b := &boto3Invoker{s: s, c: c, region: s.opts.Region, request: newRequestID}
	if cred, ok := s.opts.Lookup(req.Extra.Header.Get(headerAccessKeyID)); ok {
		p, err := parseSessionPolicy(cred.SessionPolicy)
		if err != nil {
			return textResult(true, "An error occurred (AccessDenied): the session policy cannot be read"), nil, nil
		}
		b.policy = p
	} else {
		return textResult(true, "An error occurred (InvalidClientTokenId): The security token included in the request is invalid."), nil, nil
	}
	ip := &interp{invoke: b.invoke}
	ret, perr := ip.run(in.Code)
	run := ScriptRun{Code: in.Code, RoleARN: c.roleARN, SessionName: c.sessionName}
	calls := make([]any, len(ip.calls))
	for i, cl := range ip.calls {
		run.Calls = append(run.Calls, cl.Service+":"+cl.Operation)
		region := cl.Region
		if region == "" {
			region = s.opts.Region
		}
		m := map[string]any{"service_name": cl.Service, "operation_name": cl.Operation, "region_name": region, "status": cl.Status}
		if cl.Error != "" {
			m["error"] = cl.Error
		}
		calls[i] = m
	}
	if perr != nil {
		run.Error = perr.Error()
		s.scripts.add(run)
		text := perr.traceback()
		if out := ip.out.String(); out != "" {
			text = "stdout:\n" + out + "\n" + text
		}
		res := textResult(true, text)
		res.StructuredContent = map[string]any{"error": perr.Error(), "stdout": ip.out.String(), "api_calls": calls}
		return res, nil, nil
	}
	s.scripts.add(run)
	body, err := json.MarshalIndent(ret, "", "  ")
	if err != nil {
		return textResult(true, "Script execution failed.\nTypeError: the return value is not JSON serializable"), nil, nil
	}
	text := string(body)
	if out := ip.out.String(); out != "" {
		text = "stdout:\n" + out + "\nresult:\n" + text
	}
	res := textResult(false, text)
	res.StructuredContent = map[string]any{"result": ret, "stdout": ip.out.String(), "api_calls": calls}
	return res, nil, nil
}

type presignInput struct {
	BucketName string `json:"bucket_name" jsonschema:"The S3 bucket"`
	ObjectKey  string `json:"object_key" jsonschema:"The object key"`
	Operation  string `json:"operation,omitempty" jsonschema:"get_object (default) or put_object"`
	ExpiresIn  *int   `json:"expires_in,omitempty" jsonschema:"Seconds until the URL expires, 1 to 604800 (default 3600)"`
	RegionName string `json:"region_name,omitempty" jsonschema:"The bucket's Region (default the server's)"`
}

// getPresignedURL signs an S3 URL with the verified caller's credentials,
// as boto3's generate_presigned_url does.
func (s *Server) getPresignedURL(ctx context.Context, req *mcp.CallToolRequest, in presignInput) (*mcp.CallToolResult, any, error) {
	c, ok := verifiedCaller(req)
	if !ok {
		return textResult(true, "An error occurred (AccessDenied): no verified caller"), nil, nil
	}
	op := in.Operation
	if op == "" {
		op = "get_object"
	}
	method := map[string]string{"get_object": http.MethodGet, "put_object": http.MethodPut}[op]
	if method == "" {
		return textResult(true, fmt.Sprintf("Invalid operation %q: must be get_object or put_object.", op)), nil, nil
	}
	expires := 3600
	if in.ExpiresIn != nil {
		expires = *in.ExpiresIn
	}
	if expires < 1 || expires > 604800 || in.BucketName == "" || in.ObjectKey == "" {
		return textResult(true, "bucket_name and object_key are required and expires_in must be between 1 and 604800 seconds."), nil, nil
	}
	if !slices.Contains(s.opts.Permissions[c.roleARN], "s3") {
		apiOp := map[string]string{"get_object": "GetObject", "put_object": "PutObject"}[op]
		return textResult(true, fmt.Sprintf("An error occurred (AccessDenied) when calling the %s operation: User: %s is not authorized to perform: s3:%s", apiOp, c.assumedRoleARN(), apiOp)), nil, nil
	}
	cred, ok := s.opts.Lookup(req.Extra.Header.Get(headerAccessKeyID))
	if !ok {
		return textResult(true, "An error occurred (InvalidClientTokenId): The security token included in the request is invalid."), nil, nil
	}
	region := in.RegionName
	if region == "" {
		region = s.opts.Region
	}
	u := &url.URL{Scheme: "https", Host: in.BucketName + ".s3." + region + ".amazonaws.com", Path: "/" + in.ObjectKey}
	q := url.Values{"X-Amz-Expires": {strconv.Itoa(expires)}}
	u.RawQuery = q.Encode()
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return textResult(true, "Invalid bucket_name or object_key."), nil, nil
	}
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{
		AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: cred.SessionToken,
	}, hr, "UNSIGNED-PAYLOAD", "s3", region, s.opts.Clock().UTC())
	if err != nil {
		return textResult(true, "Could not sign the URL."), nil, nil
	}
	res := jsonResult(map[string]any{"url": signed, "expires_at": s.opts.Clock().UTC().Add(time.Duration(expires) * time.Second).Format(time.RFC3339), "method": method})
	return res, nil, nil
}

type getTasksInput struct {
	TaskID string `json:"task_id,omitempty" jsonschema:"A task id to get; omit to list the caller's tasks"`
}

// getTasks answers from the caller's script runs: the fake runs scripts
// synchronously, so every task is already complete.
func (s *Server) getTasks(_ context.Context, req *mcp.CallToolRequest, in getTasksInput) (*mcp.CallToolResult, any, error) {
	c, ok := verifiedCaller(req)
	if !ok {
		return textResult(true, "An error occurred (AccessDenied): no verified caller"), nil, nil
	}
	tasks := []map[string]any{}
	for i, r := range s.ScriptRuns() {
		if r.RoleARN != c.roleARN {
			continue
		}
		status := "COMPLETED"
		if r.Error != "" {
			status = "FAILED"
		}
		tasks = append(tasks, map[string]any{"task_id": fmt.Sprintf("task-%04d", i+1), "tool": ToolRunScript, "status": status})
	}
	if in.TaskID != "" {
		for _, t := range tasks {
			if t["task_id"] == in.TaskID {
				return jsonResult(t), nil, nil
			}
		}
		return textResult(true, fmt.Sprintf("Task %q not found.", in.TaskID)), nil, nil
	}
	return jsonResult(map[string]any{"tasks": tasks}), nil, nil
}

type readDocumentationInput struct {
	URL        string `json:"url" jsonschema:"URL of a page on docs.aws.amazon.com"`
	MaxLength  *int   `json:"max_length,omitempty" jsonschema:"Maximum number of characters to return (default 5000)"`
	StartIndex *int   `json:"start_index,omitempty" jsonschema:"Character offset to start from (default 0)"`
}

func readDocumentation(_ context.Context, _ *mcp.CallToolRequest, in readDocumentationInput) (*mcp.CallToolResult, any, error) {
	u, err := url.Parse(in.URL)
	if err != nil || u.Scheme != "https" || u.Host != "docs.aws.amazon.com" {
		return textResult(true, "Invalid URL: must be an https URL on docs.aws.amazon.com."), nil, nil
	}
	for _, d := range docs {
		if d.URL != in.URL {
			continue
		}
		page := "# " + d.Title + "\n\n" + d.Context + "\n"
		start, max := 0, 5000
		if in.StartIndex != nil {
			start = min(max0(*in.StartIndex), len(page))
		}
		if in.MaxLength != nil && *in.MaxLength > 0 {
			max = *in.MaxLength
		}
		return textResult(false, page[start:min(len(page), start+max)]), nil, nil
	}
	return textResult(true, "Failed to fetch "+in.URL+": status code 404"), nil, nil
}

func max0(n int) int { return max(n, 0) }

type retrieveSkillInput struct {
	SkillName string `json:"skill_name" jsonschema:"The skill to retrieve, e.g. list-s3-buckets"`
}

var skills = map[string]string{
	"list-s3-buckets": "1. Call `await call_boto3(service_name=\"s3\", operation_name=\"ListBuckets\")`.\n2. Return `resp[\"Buckets\"]`.",
	"describe-ec2-instances": "1. Call `await call_boto3(service_name=\"ec2\", operation_name=\"DescribeInstances\", region_name=\"us-east-1\")`.\n" +
		"2. Read `Reservations[].Instances[]`.",
}

func retrieveSkill(_ context.Context, _ *mcp.CallToolRequest, in retrieveSkillInput) (*mcp.CallToolResult, any, error) {
	s, ok := skills[in.SkillName]
	if !ok {
		names := make([]string, 0, len(skills))
		for n := range skills {
			names = append(names, n)
		}
		slices.Sort(names)
		return textResult(true, fmt.Sprintf("Unknown skill %q. Available skills: %s.", in.SkillName, strings.Join(names, ", "))), nil, nil
	}
	return textResult(false, s), nil, nil
}

type regionalAvailabilityInput struct {
	Region       string   `json:"region" jsonschema:"The Region, e.g. eu-central-1"`
	ResourceType string   `json:"resource_type" jsonschema:"product, api or cfn"`
	Filters      []string `json:"filters,omitempty" jsonschema:"Names to check, e.g. [\"Amazon S3\"] or [\"s3:ListBuckets\"]"`
}

func regionalAvailability(_ context.Context, _ *mcp.CallToolRequest, in regionalAvailabilityInput) (*mcp.CallToolResult, any, error) {
	if !slices.ContainsFunc(regions, func(r region) bool { return r.ID == in.Region }) {
		return textResult(true, fmt.Sprintf("Unknown Region %q.", in.Region)), nil, nil
	}
	switch in.ResourceType {
	case "product", "api", "cfn":
	default:
		return textResult(true, fmt.Sprintf("Invalid resource_type %q: must be product, api or cfn.", in.ResourceType)), nil, nil
	}
	out := map[string]string{}
	for _, f := range in.Filters {
		out[f] = "isAvailableIn"
	}
	return jsonResult(map[string]any{"region": in.Region, "resource_type": in.ResourceType, "availability": out}), nil, nil
}
