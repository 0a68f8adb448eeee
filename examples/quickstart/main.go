// Command quickstart runs the whole mcpguard flow on loopback and shows the
// example company's scenario: Alice (group s3-readers) may list S3 but not EC2, Bob
// (group ec2-viewers) the reverse, and neither holds AWS credentials.
//
// It starts a fake OIDC identity provider, a fake AWS STS, a fake AWS MCP
// Server that verifies SigV4 signatures like AWS, a real mcpguard with
// config.yaml and the policies in ../policies, and an Envoy stand-in in
// front; then it connects as Alice, Bob and Dana with the official MCP Go
// SDK client and prints what happened, through today's aws___run_script and
// through the legacy aws___call_aws. With --serve it keeps running and
// prints tokens and a curl command for trying it by hand.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	configPath := fs.String("config", "examples/quickstart/config.yaml", "mcpguard configuration to run")
	serve := fs.Bool("serve", false, "keep running after the scenario, on the fixed ports of the configuration")
	verbose := fs.Bool("v", false, "print every mcpguard log line")
	stateless := fs.Bool("stateless", false, "run the AWS MCP Server of protocol revision 2026-07-28 (stateless: no initialize, no sessions)")
	identityCenter := fs.Bool("identity-center", false, "sign through IAM Identity Center permission sets (dev and prod accounts) instead of STS")
	providers := fs.Bool("providers", false, "trust two identity providers at once (employees at Okta, contractors at an Entra ID tenant) with providers.yaml")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *providers && *configPath == fs.Lookup("config").DefValue {
		*configPath = "examples/quickstart/providers.yaml"
	}

	logW := io.Discard
	if *verbose {
		logW = os.Stderr
	}
	logger := slog.New(slog.NewJSONHandler(logW, &slog.HandlerOptions{Level: slog.LevelInfo}))
	trail := &followTrail{}

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := stack.Start(startCtx, stack.Options{ConfigPath: *configPath, Ephemeral: !*serve, Logger: logger, AuditWriter: trail, IdentityCenter: *identityCenter, FakeAWSStateless: *stateless})
	if err != nil {
		if !*serve {
			return err
		}
		return fmt.Errorf("%w (are the ports in %s free?)", err, *configPath)
	}
	defer s.Close()

	fmt.Fprintf(out, "mcpguard quickstart — everything on loopback\n")
	fmt.Fprintf(out, "  identity provider  %s\n  AWS STS            %s\n  AWS MCP Server     %s (signs as %s)\n  mcpguard ext_proc  %s   admin %s\n  Envoy stand-in     %s\n\n",
		s.IdP.URL(), s.STS.URL(), s.AWS.URL(), s.Config.Upstream.Host, s.Gateway.GRPCAddr(), s.Gateway.AdminAddr(), s.MCPURL())

	if *identityCenter {
		return identityCenterScenario(ctx, s, out)
	}
	if *providers {
		return providersScenario(ctx, s, out)
	}
	if err := seedMatrix(ctx, s, out); err != nil {
		return err
	}
	if err := analystPolicy(ctx, s, out); err != nil {
		return err
	}
	if err := analystScripts(ctx, s, out); err != nil {
		return err
	}
	records, err := completeTrail(ctx, s, &trail.Buffer)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe audit trail of the run (abridged; the full records are JSON lines with a hash chain;\na forwarded request's status comes from the mcp_response record that completes it):\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  type\toutcome\tuser\ttool / command\tIAM role\taccess key\tstatus\t")
	for _, r := range records {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Type, r.Outcome, r.user(), r.what(), r.role(), r.key(), r.status())
	}
	tw.Flush()
	fmt.Fprintf(out, "\nSTS calls: %d (one per user and role; later calls used cached credentials)\n", len(s.STS.Calls()))

	if !*serve {
		fmt.Fprintf(out, "\nRun `go run ./examples/quickstart --serve` to keep the stack up and try it by hand.\n")
		return nil
	}
	return serveForever(ctx, s, out, trail)
}

// followTrail is the audit trail: kept in memory for the summary and, once
// follow is called (--serve), also copied, record by record, to a writer.
type followTrail struct {
	stack.Buffer
	mu sync.Mutex
	to io.Writer
}

func (f *followTrail) Write(p []byte) (int, error) {
	f.mu.Lock()
	if f.to != nil {
		_, _ = f.to.Write(p)
	}
	f.mu.Unlock()
	return f.Buffer.Write(p)
}

func (f *followTrail) follow(w io.Writer) {
	f.mu.Lock()
	f.to = w
	f.mu.Unlock()
}

// The example scenario's calls: one S3 and one EC2 read, as scripts for
// aws___run_script and as commands for the legacy aws___call_aws.
const (
	s3Script  = "return await call_boto3(service_name='s3', operation_name='ListBuckets')"
	ec2Script = "return await call_boto3(service_name='ec2', operation_name='DescribeInstances')"
	s3Cmd     = "aws s3 ls"
	ec2Cmd    = "aws ec2 describe-instances"
)

// An ask is one AWS call of the scenarios, made through either tool.
type ask struct {
	op      string // the operation, as the tables of scripts name it: "s3 ListBuckets"
	script  string // for aws___run_script
	command string // for the legacy aws___call_aws
}

var (
	s3List      = ask{"s3 ListBuckets", s3Script, s3Cmd}
	ec2Describe = ask{"ec2 DescribeInstances", ec2Script, ec2Cmd}
)

// call makes a through tool: fakeaws.ToolRunScript or fakeaws.ToolCallAWS.
func (a ask) call(ctx context.Context, cs *mcp.ClientSession, tool string) (*mcp.CallToolResult, error) {
	if tool == fakeaws.ToolRunScript {
		return runScript(ctx, cs, a.script)
	}
	return callAWS(ctx, cs, a.command)
}

// name is how a table of tool's calls names a.
func (a ask) name(tool string) string {
	if tool == fakeaws.ToolRunScript {
		return a.op
	}
	return a.command
}

// seedMatrix connects as Alice and Bob and tries one S3 and one EC2 call
// each: first through aws___run_script, the AWS MCP Server's only AWS tool
// today, then through the legacy aws___call_aws. "Allowed" means the call
// came back from AWS without an error: mcpguard let it through and the
// fake AWS ran it with the role's permissions.
func seedMatrix(ctx context.Context, s *stack.Stack, out io.Writer) error {
	fmt.Fprintf(out, "The example scenario through aws___run_script, the AWS MCP Server's only AWS tool today\n(scripts calling s3 ListBuckets and ec2 DescribeInstances):\n\n")
	if err := matrix(ctx, s, out, fakeaws.ToolRunScript); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe same through the legacy aws___call_aws (%q and %q):\n\n", s3Cmd, ec2Cmd)
	return matrix(ctx, s, out, fakeaws.ToolCallAWS)
}

// matrix prints, for Alice and Bob, the outcome of the S3 and the EC2 call
// through tool and the IAM roles AWS saw their requests signed with.
func matrix(ctx context.Context, s *stack.Stack, out io.Writer, tool string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "User\tIdP group\tS3 Access\tEC2 Access\tIAM role used\t")
	for _, u := range []stack.User{stack.Alice, stack.Bob} {
		cs, err := connect(ctx, s, u)
		if err != nil {
			return fmt.Errorf("%s: %w", u.Name, err)
		}
		s3 := outcome(s3List.call(ctx, cs, tool))
		ec2 := outcome(ec2Describe.call(ctx, cs, tool))
		cs.Close()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", title(u.Name), u.Groups[0], s3, ec2, rolesUsedBy(s, u.Name))
	}
	return tw.Flush()
}

// analystPolicy shows the argument-level Cedar policy of the example.
func analystPolicy(ctx context.Context, s *stack.Stack, out io.Writer) error {
	cs, err := connect(ctx, s, stack.Dana)
	if err != nil {
		return fmt.Errorf("dana: %w", err)
	}
	defer cs.Close()
	fmt.Fprintf(out, "\nArgument-level policy: Dana (data-analysts) may run only `aws s3 ls`:\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	for _, c := range []string{"aws s3 ls", "aws s3 rm s3://mcpguard-demo-reports/report.csv", "aws s3 ls; aws iam list-users", "aws ec2 describe-instances"} {
		fmt.Fprintf(tw, "  %s\t%s\t\n", c, outcome(callAWS(ctx, cs, c)))
	}
	return tw.Flush()
}

// analystScripts shows the same policy against today's AWS MCP Server,
// whose only AWS tool is aws___run_script: mcpguard reads the AWS calls in
// the code before it signs anything.
func analystScripts(ctx context.Context, s *stack.Stack, out io.Writer) error {
	cs, err := connect(ctx, s, stack.Dana)
	if err != nil {
		return fmt.Errorf("dana: %w", err)
	}
	defer cs.Close()
	fmt.Fprintf(out, "\nThrough aws___run_script: Dana's scripts may call only s3:ListBuckets and s3:ListObjectsV2:\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	for _, sc := range []struct{ what, code string }{
		{"ListBuckets", "return await call_boto3(service_name='s3', operation_name='ListBuckets')"},
		{"ListBuckets, then iam ListUsers", "await call_boto3(service_name='s3', operation_name='ListBuckets')\n" +
			"return await call_boto3(service_name='iam', operation_name='ListUsers')"},
		{"call_boto3 under another name", "f = call_boto3\nreturn await f(service_name='iam', operation_name='ListUsers')"},
		{"service_name from a variable", "svc = 'iam'\nreturn await call_boto3(service_name=svc, operation_name='ListUsers')"},
	} {
		fmt.Fprintf(tw, "  %s\t%s\t\n", sc.what, scriptOutcome(runScript(ctx, cs, sc.code)))
	}
	return tw.Flush()
}

// scriptOutcome is outcome with the reason mcpguard gave for a denial.
func scriptOutcome(res *mcp.CallToolResult, err error) string {
	o := outcome(res, err)
	if o != "Denied" {
		return o
	}
	msg := err.Error()
	if i := strings.Index(msg, "is not permitted: "); i >= 0 {
		msg = msg[i+len("is not permitted: "):]
		// The SDK appends the transport's own words to the server's message.
		if j := strings.Index(msg, ": rejected by transport"); j >= 0 {
			msg = msg[:j]
		}
		return "Denied: " + msg
	}
	return o
}

func connect(ctx context.Context, s *stack.Stack, u stack.User) (*mcp.ClientSession, error) {
	tok, err := s.LoginToken(u)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "quickstart-" + u.Name, Version: "1"}, nil)
	return client.Connect(cctx, &mcp.StreamableClientTransport{
		Endpoint: s.MCPURL(), HTTPClient: stack.HTTPClient(tok), DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
}

func runScript(ctx context.Context, cs *mcp.ClientSession, code string) (*mcp.CallToolResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return cs.CallTool(cctx, &mcp.CallToolParams{Name: fakeaws.ToolRunScript, Arguments: map[string]any{"code": code}})
}

func callAWS(ctx context.Context, cs *mcp.ClientSession, command string) (*mcp.CallToolResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return cs.CallTool(cctx, &mcp.CallToolParams{Name: fakeaws.ToolCallAWS, Arguments: map[string]any{"cli_command": command}})
}

// outcome names what happened to a call: refused by mcpguard's policy,
// refused by AWS IAM, or allowed.
func outcome(res *mcp.CallToolResult, err error) string {
	switch {
	case err != nil && strings.Contains(err.Error(), "Forbidden"):
		return "Denied"
	case err != nil:
		return "Error: " + err.Error()
	case res.IsError:
		return "Denied by AWS"
	}
	return "Allowed"
}

// rolesUsedBy lists the IAM roles AWS saw a user's requests signed with.
func rolesUsedBy(s *stack.Stack, name string) string {
	seen := map[string]bool{}
	var roles []string
	for _, r := range s.AWS.Requests() {
		if strings.HasPrefix(r.SessionName, name) && !seen[r.RoleARN] {
			seen[r.RoleARN] = true
			roles = append(roles, r.RoleARN[strings.LastIndex(r.RoleARN, "/")+1:])
		}
	}
	return strings.Join(roles, ", ")
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func serveForever(ctx context.Context, s *stack.Stack, out io.Writer, trail *followTrail) error {
	fmt.Fprintf(out, "\nThe stack keeps running. Tokens (valid one hour):\n")
	for _, u := range []stack.User{stack.Alice, stack.Bob, stack.Dana} {
		tok, err := s.LoginToken(u)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  export %s_TOKEN=%s\n", strings.ToUpper(u.Name), tok)
	}
	fmt.Fprintf(out, `
Try it with curl (the README walks through a whole session):
  curl -si %[1]s \
    -H "Authorization: Bearer $ALICE_TOKEN" \
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

Or log in from an MCP client: a client without a token gets a 401 that points it
(protected resource metadata) to the identity provider at %[2]s, which registers
the client and shows a login page where you pick Alice, Bob or Dana.
  Claude Code:    claude mcp add --transport http mcpguard %[1]s
                  then run /mcp in Claude Code, pick mcpguard and choose Authenticate.
  MCP Inspector:  npx @modelcontextprotocol/inspector
                  Transport "Streamable HTTP", URL %[1]s, then Connect
                  (or Open Auth Settings, Quick OAuth Flow).
  Inspector CLI:  npx @modelcontextprotocol/inspector --cli %[1]s --transport http \
                    --header "Authorization: Bearer $ALICE_TOKEN" --method tools/list

  Metrics: curl -s http://%[3]s/metrics | grep ^mcpguard_

mcpguard's audit records of what you do follow below, one JSON line each.
Press Ctrl-C to stop.

`, s.MCPURL(), s.IdP.URL(), s.Gateway.AdminAddr())
	trail.follow(out)
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping")
	return nil
}

// auditLine is the part of an audit record the summary shows.
type auditLine struct {
	Type       string `json:"type"`
	Outcome    string `json:"outcome"`
	Seq        uint64 `json:"seq"`
	RequestSeq uint64 `json:"request_seq"`
	User       *struct {
		Sub string `json:"sub"`
	} `json:"user"`
	MCP *struct {
		Method    string         `json:"method"`
		Tool      string         `json:"tool"`
		Arguments map[string]any `json:"arguments"`
	} `json:"mcp"`
	AWS *struct {
		RoleARN     string   `json:"role_arn"`
		AccessKeyID string   `json:"access_key_id"`
		Actions     []string `json:"actions"`
	} `json:"aws"`
	HTTP *struct {
		Status int `json:"status"`
	} `json:"http"`
}

func (r auditLine) user() string {
	if r.User == nil {
		return "-"
	}
	return r.User.Sub
}

func (r auditLine) what() string {
	switch {
	case r.MCP == nil:
		return "-"
	case r.MCP.Tool != "":
		if c, ok := r.MCP.Arguments["cli_command"].(string); ok {
			return c
		}
		if r.AWS != nil && len(r.AWS.Actions) > 0 {
			return r.MCP.Tool + " " + strings.Join(r.AWS.Actions, ",")
		}
		return r.MCP.Tool
	case r.MCP.Method != "":
		return r.MCP.Method
	}
	return "-"
}

func (r auditLine) role() string {
	if r.AWS == nil || r.AWS.RoleARN == "" {
		return "-"
	}
	return r.AWS.RoleARN[strings.LastIndex(r.AWS.RoleARN, "/")+1:]
}

func (r auditLine) key() string {
	if r.AWS == nil || r.AWS.AccessKeyID == "" {
		return "-"
	}
	return r.AWS.AccessKeyID
}

func (r auditLine) status() string {
	if r.HTTP == nil || r.HTTP.Status == 0 {
		return "-"
	}
	return fmt.Sprint(r.HTTP.Status)
}

// auditRecords parses the trail, skipping the server lifecycle records and
// folding each mcp_response into the request it completes (its status).
// It reports whether the trail is complete: one record for every request
// the Envoy stand-in answered, and a response for every forwarded one.
func auditRecords(trail *stack.Buffer, answered int) ([]auditLine, bool) {
	var out []auditLine
	bySeq := map[uint64]int{}
	requests, open := 0, 0
	for _, line := range strings.Split(trail.String(), "\n") {
		var r auditLine
		if json.Unmarshal([]byte(line), &r) != nil || r.Type == "" {
			continue
		}
		switch r.Type {
		case "server_start", "server_stop", "config_loaded":
			continue
		case "mcp_response":
			if i, ok := bySeq[r.RequestSeq]; ok {
				out[i].HTTP = r.HTTP
				open--
			}
			continue
		case "sts_assume_role", "sts_failure", "credentials_refresh":
		default:
			requests++
			if r.Outcome == "forwarded" {
				bySeq[r.Seq] = len(out)
				open++
			}
		}
		out = append(out, r)
	}
	return out, requests >= answered && open == 0
}

// completeTrail waits until the audit trail holds every record of the run:
// mcpguard writes a denial's record and a forwarded request's mcp_response
// as its ext_proc stream ends, just after the client has its answer.
func completeTrail(ctx context.Context, s *stack.Stack, trail *stack.Buffer) ([]auditLine, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if records, ok := auditRecords(trail, len(s.Exchanges())); ok {
			return records, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the audit trail is incomplete: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
