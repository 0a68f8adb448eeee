package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names, as the AWS MCP Server names them.
const (
	ToolRunScript               = "aws___run_script"
	ToolGetPresignedURL         = "aws___get_presigned_url"
	ToolGetTasks                = "aws___get_tasks"
	ToolSuggestAWSCommands      = "aws___suggest_aws_commands"
	ToolSearchDocumentation     = "aws___search_documentation"
	ToolReadDocumentation       = "aws___read_documentation"
	ToolRetrieveSkill           = "aws___retrieve_skill"
	ToolListRegions             = "aws___list_regions"
	ToolGetRegionalAvailability = "aws___get_regional_availability"
	// ToolCallAWS is the tool the AWS MCP Server removed on 2026-08-31;
	// the fake offers it only with Options.LegacyCallAWS.
	ToolCallAWS = "aws___call_aws"
)

// DefaultTools are the tools the fake lists without options, in order:
// the AWS MCP Server's catalog since aws___call_aws was removed.
var DefaultTools = []string{
	ToolRunScript, ToolGetPresignedURL, ToolGetTasks, ToolSuggestAWSCommands,
	ToolSearchDocumentation, ToolReadDocumentation, ToolRetrieveSkill, ToolListRegions, ToolGetRegionalAvailability,
}

type callAWSInput struct {
	CLICommand string `json:"cli_command" jsonschema:"The complete AWS CLI command to execute, starting with 'aws'"`
	MaxResults *int   `json:"max_results,omitempty" jsonschema:"Optional limit on the number of items returned"`
}

type searchDocumentationInput struct {
	SearchPhrase string `json:"search_phrase" jsonschema:"The phrase to search the AWS documentation for"`
	Limit        *int   `json:"limit,omitempty" jsonschema:"Maximum number of results (default 5)"`
}

type suggestInput struct {
	Query string `json:"query" jsonschema:"A natural-language description of the task"`
}

type listRegionsInput struct{}

func ptr[T any](v T) *T { return &v }

func (s *Server) addTools(srv *mcp.Server) {
	knowledge := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)}
	mcp.AddTool(srv, &mcp.Tool{
		Name:  ToolRunScript,
		Title: "Run a Python script against AWS APIs",
		Description: "Run Python code in a sandbox with no network access except AWS API calls through " +
			"`await call_boto3(service_name=..., operation_name=..., region_name=None, params=None)`, which " +
			"returns the AWS response as a dict. operation_name is the PascalCase API operation (ListBuckets). " +
			"The code runs as the body of an async function: use await and return the result.",
		Annotations: &mcp.ToolAnnotations{Title: "Run script", ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: false, OpenWorldHint: ptr(true)},
	}, s.runScript)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolGetPresignedURL,
		Title:       "Create a presigned Amazon S3 URL",
		Description: "Create a presigned URL that lets anyone holding it download (get_object) or upload (put_object) one S3 object until it expires, with the caller's permissions.",
		Annotations: &mcp.ToolAnnotations{Title: "Get presigned URL", ReadOnlyHint: true, OpenWorldHint: ptr(true)},
	}, s.getPresignedURL)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolGetTasks,
		Title:       "List long-running tasks",
		Description: "List the caller's long-running script tasks, or get one by task_id.",
		Annotations: &mcp.ToolAnnotations{Title: "Get tasks", ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)},
	}, s.getTasks)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolSuggestAWSCommands,
		Title:       "Suggest AWS API calls",
		Description: "Suggest AWS CLI commands and API operations for a task described in natural language.",
		Annotations: knowledge,
	}, suggestCommands)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolSearchDocumentation,
		Title:       "Search AWS documentation",
		Description: "Search the AWS documentation.",
		Annotations: knowledge,
	}, searchDocumentation)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolReadDocumentation,
		Title:       "Read an AWS documentation page",
		Description: "Fetch an AWS documentation page (docs.aws.amazon.com) as markdown, from start_index for up to max_length characters.",
		Annotations: knowledge,
	}, readDocumentation)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolRetrieveSkill,
		Title:       "Retrieve an AWS skill",
		Description: "Retrieve step-by-step guidance (a skill) for a common AWS task by name.",
		Annotations: knowledge,
	}, retrieveSkill)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolListRegions,
		Title:       "List AWS Regions",
		Description: "List the AWS Regions.",
		Annotations: knowledge,
	}, listRegions)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolGetRegionalAvailability,
		Title:       "Check regional availability",
		Description: "Tell whether AWS products, API operations or CloudFormation resource types are available in a Region.",
		Annotations: knowledge,
	}, regionalAvailability)
	if s.opts.LegacyCallAWS {
		mcp.AddTool(srv, &mcp.Tool{
			Name:        ToolCallAWS,
			Description: "Execute an AWS CLI command with the caller's IAM permissions.",
		}, s.callAWS)
	}
	for _, t := range s.opts.ExtraTools {
		mcp.AddTool(srv, &mcp.Tool{
			Name:        t.Name,
			Description: t.Description,
			Annotations: knowledge,
		}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return textResult(false, t.Name+" ran"), nil, nil
		})
	}
}

// ExtraTool is an additional tool the server lists and answers with a fixed
// text, for tests of what a server with service-specific tools shows whom.
type ExtraTool struct {
	Name        string
	Description string
}

func textResult(isError bool, text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: isError, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func jsonResult(v any) *mcp.CallToolResult {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return textResult(true, "internal error: "+err.Error())
	}
	return textResult(false, string(b))
}

// caller is the verified identity behind a tool call.
type caller struct {
	roleARN, sessionName string
}

// assumedRoleARN renders arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION from
// the role ARN arn:aws:iam::ACCOUNT:role/[PATH/]NAME.
func (c caller) assumedRoleARN() string {
	f := strings.SplitN(c.roleARN, ":", 6)
	if len(f) != 6 || !strings.HasPrefix(f[5], "role/") {
		return c.roleARN
	}
	name := f[5][strings.LastIndex(f[5], "/")+1:]
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", f[1], f[4], name, c.sessionName)
}

func (c caller) account() string {
	if f := strings.SplitN(c.roleARN, ":", 6); len(f) == 6 {
		return f[4]
	}
	return "000000000000"
}

func (s *Server) callAWS(_ context.Context, req *mcp.CallToolRequest, in callAWSInput) (*mcp.CallToolResult, any, error) {
	c, ok := verifiedCaller(req)
	if !ok {
		// Unreachable behind the verifier; fail closed if mounted without it.
		return textResult(true, "An error occurred (AccessDenied): no verified caller"), nil, nil
	}
	args := strings.Fields(in.CLICommand)
	if len(args) < 3 || args[0] != "aws" {
		return textResult(true, fmt.Sprintf("Invalid AWS CLI command: %q. Commands must start with 'aws <service> <operation>'.", in.CLICommand)), nil, nil
	}
	cliService, cliOp := args[1], args[2]
	prefix, op := iamAction(cliService, cliOp, args[3:])
	limit := 1000
	if in.MaxResults != nil && *in.MaxResults > 0 {
		limit = *in.MaxResults
	}
	// sts:GetCallerIdentity needs no permission, as in AWS.
	if !(prefix == "sts" && op == "GetCallerIdentity") && !slices.Contains(s.opts.Permissions[c.roleARN], prefix) {
		return textResult(true, fmt.Sprintf("An error occurred (AccessDenied) when calling the %s operation: User: %s is not authorized to perform: %s:%s",
			op, c.assumedRoleARN(), prefix, op)), nil, nil
	}
	switch prefix + ":" + op {
	case "sts:GetCallerIdentity":
		return jsonResult(map[string]string{
			"UserId":  "AROAFAKEAWSEXAMPLE00:" + c.sessionName,
			"Account": c.account(),
			"Arn":     c.assumedRoleARN(),
		}), nil, nil
	case "s3:ListBuckets":
		bs := buckets[:min(limit, len(buckets))]
		if cliService == "s3" {
			var b strings.Builder
			for _, bk := range bs {
				fmt.Fprintf(&b, "%s %s\n", strings.Replace(strings.TrimSuffix(bk.CreationDate, "Z"), "T", " ", 1), bk.Name)
			}
			return textResult(false, b.String()), nil, nil
		}
		return jsonResult(map[string]any{
			"Buckets": bs,
			"Owner":   map[string]string{"DisplayName": "fakeaws", "ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"},
		}), nil, nil
	case "s3:ListObjectsV2":
		target := ""
		for _, a := range args[3:] {
			if strings.HasPrefix(a, "s3://") {
				target = strings.TrimSuffix(strings.TrimPrefix(a, "s3://"), "/")
				break
			}
		}
		bucketName, _, _ := strings.Cut(target, "/")
		if !slices.ContainsFunc(buckets, func(b bucket) bool { return b.Name == bucketName }) {
			return textResult(true, "An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation: The specified bucket does not exist"), nil, nil
		}
		var b strings.Builder
		for _, o := range []struct {
			date string
			size int
			key  string
		}{{"2025-03-03 08:15:00", 1024, "report.csv"}, {"2025-03-04 10:00:00", 20480, "summary.parquet"}}[:min(limit, 2)] {
			fmt.Fprintf(&b, "%s %10d %s\n", o.date, o.size, o.key)
		}
		return textResult(false, b.String()), nil, nil
	case "ec2:DescribeInstances":
		is := instances[:min(limit, len(instances))]
		res := make([]map[string]any, 0, len(is))
		for _, i := range is {
			res = append(res, map[string]any{"ReservationId": "r-" + i.InstanceID[2:], "OwnerId": c.account(), "Instances": []any{i}})
		}
		return jsonResult(map[string]any{"Reservations": res}), nil, nil
	case "ec2:DescribeRegions":
		rs := make([]map[string]string, 0, len(regions))
		for _, r := range regions[:min(limit, len(regions))] {
			rs = append(rs, map[string]string{"RegionName": r.ID, "Endpoint": "ec2." + r.ID + ".amazonaws.com", "OptInStatus": "opt-in-not-required"})
		}
		return jsonResult(map[string]any{"Regions": rs}), nil, nil
	}
	return textResult(true, fmt.Sprintf("fakeaws has no canned output for %q (%s:%s).", in.CLICommand, prefix, op)), nil, nil
}

// iamAction maps an AWS CLI service and operation to the IAM service prefix
// and API operation name the call needs.
func iamAction(service, op string, rest []string) (prefix, action string) {
	switch service {
	case "s3":
		hasTarget := len(rest) > 0 && strings.HasPrefix(rest[0], "s3://")
		switch op {
		case "ls":
			if hasTarget {
				return "s3", "ListObjectsV2"
			}
			return "s3", "ListBuckets"
		case "cp":
			return "s3", "PutObject"
		case "mv", "rm":
			return "s3", "DeleteObject"
		case "mb":
			return "s3", "CreateBucket"
		case "rb":
			return "s3", "DeleteBucket"
		case "sync":
			return "s3", "ListObjectsV2"
		}
		return "s3", pascal(op)
	case "s3api":
		return "s3", pascal(op)
	}
	return service, pascal(op)
}

// pascal turns a CLI operation (describe-instances) into its API name
// (DescribeInstances).
func pascal(op string) string {
	var b strings.Builder
	for _, part := range strings.Split(op, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

type bucket struct {
	Name         string `json:"Name"`
	CreationDate string `json:"CreationDate"`
}

var buckets = []bucket{
	{"mcpguard-demo-artifacts", "2025-01-10T09:00:00Z"},
	{"mcpguard-demo-logs", "2025-02-14T16:30:00Z"},
	{"mcpguard-demo-reports", "2025-03-03T08:15:00Z"},
}

type instance struct {
	InstanceID       string              `json:"InstanceId"`
	InstanceType     string              `json:"InstanceType"`
	State            map[string]any      `json:"State"`
	PrivateIPAddress string              `json:"PrivateIpAddress"`
	LaunchTime       string              `json:"LaunchTime"`
	Placement        map[string]string   `json:"Placement"`
	Tags             []map[string]string `json:"Tags"`
}

var instances = []instance{
	{"i-0a1b2c3d4e5f60718", "t3.micro", map[string]any{"Code": 16, "Name": "running"}, "10.0.1.15", "2025-06-01T10:00:00Z",
		map[string]string{"AvailabilityZone": "us-east-1a"}, []map[string]string{{"Key": "Name", "Value": "web-1"}}},
	{"i-0f9e8d7c6b5a40312", "m5.large", map[string]any{"Code": 80, "Name": "stopped"}, "10.0.2.27", "2025-05-20T14:45:00Z",
		map[string]string{"AvailabilityZone": "us-east-1b"}, []map[string]string{{"Key": "Name", "Value": "batch-1"}}},
}

type region struct {
	ID   string `json:"region_id"`
	Name string `json:"region_long_name"`
}

var regions = []region{
	{"ap-northeast-1", "Asia Pacific (Tokyo)"},
	{"ap-southeast-1", "Asia Pacific (Singapore)"},
	{"ap-southeast-2", "Asia Pacific (Sydney)"},
	{"eu-central-1", "Europe (Frankfurt)"},
	{"eu-west-1", "Europe (Ireland)"},
	{"eu-west-2", "Europe (London)"},
	{"us-east-1", "US East (N. Virginia)"},
	{"us-east-2", "US East (Ohio)"},
	{"us-west-2", "US West (Oregon)"},
}

func listRegions(context.Context, *mcp.CallToolRequest, listRegionsInput) (*mcp.CallToolResult, any, error) {
	return jsonResult(regions), nil, nil
}

type doc struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Context string `json:"context"`
}

var docs = []doc{
	{"Listing Amazon S3 buckets", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/list-buckets.html",
		"To list all buckets in your account use the ListBuckets API or aws s3 ls."},
	{"Describe your Amazon EC2 instances", "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/describe-instances.html",
		"Use DescribeInstances or aws ec2 describe-instances to view the instances in a Region."},
	{"Temporary security credentials in IAM", "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp.html",
		"AWS STS issues temporary credentials with AssumeRoleWithWebIdentity for federated users."},
	{"Signing AWS API requests with Signature Version 4", "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html",
		"Signature Version 4 signs requests with your credentials and a credential scope of date, Region and service."},
	{"AWS Regions and endpoints", "https://docs.aws.amazon.com/general/latest/gr/rande.html",
		"Each AWS Region is a separate geographic area with its own service endpoints."},
	{"Blocking public access to your Amazon S3 storage", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html",
		"S3 Block Public Access settings override bucket policies and ACLs that allow public access."},
}

type docHit struct {
	RankOrder int `json:"rank_order"`
	doc
}

func searchDocumentation(_ context.Context, _ *mcp.CallToolRequest, in searchDocumentationInput) (*mcp.CallToolResult, any, error) {
	limit := 5
	if in.Limit != nil && *in.Limit > 0 {
		limit = *in.Limit
	}
	words := strings.Fields(strings.ToLower(in.SearchPhrase))
	type scored struct {
		i, score int
	}
	var hits []scored
	for i, d := range docs {
		text := strings.ToLower(d.Title + " " + d.Context)
		n := 0
		for _, w := range words {
			if strings.Contains(text, w) {
				n++
			}
		}
		if n > 0 {
			hits = append(hits, scored{i, n})
		}
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	out := make([]docHit, 0, limit)
	for k, h := range hits {
		if k == limit {
			break
		}
		out = append(out, docHit{RankOrder: k + 1, doc: docs[h.i]})
	}
	return jsonResult(out), nil, nil
}

type suggestion struct {
	Command     string  `json:"command"`
	Confidence  float64 `json:"confidence"`
	Description string  `json:"description"`
}

var suggestions = []struct {
	keywords []string
	suggestion
}{
	{[]string{"bucket", "s3"}, suggestion{"aws s3 ls", 0.92, "List the S3 buckets in the account."}},
	{[]string{"bucket", "s3"}, suggestion{"aws s3api list-buckets", 0.88, "List the S3 buckets with creation dates as JSON."}},
	{[]string{"instance", "ec2", "server", "vm"}, suggestion{"aws ec2 describe-instances", 0.9, "Describe the EC2 instances in the Region."}},
	{[]string{"region"}, suggestion{"aws ec2 describe-regions", 0.85, "List the Regions enabled for the account."}},
	{[]string{"who", "identity", "account", "role"}, suggestion{"aws sts get-caller-identity", 0.8, "Show the identity the call runs as."}},
}

func suggestCommands(_ context.Context, _ *mcp.CallToolRequest, in suggestInput) (*mcp.CallToolResult, any, error) {
	q := strings.ToLower(in.Query)
	out := []suggestion{}
	for _, s := range suggestions {
		for _, k := range s.keywords {
			if strings.Contains(q, k) {
				out = append(out, s.suggestion)
				break
			}
		}
	}
	return jsonResult(map[string]any{"suggestions": out}), nil, nil
}
