package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// s3Write is the providers scenario's write: an upload to the reports
// bucket, which no role of the example may make.
var s3Write = ask{"s3 PutObject",
	"return await call_boto3(service_name='s3', operation_name='PutObject', params={'Bucket': 'mcpguard-demo-reports', 'Key': 'report.csv', 'Body': 'q3'})",
	"aws s3 cp report.csv s3://mcpguard-demo-reports/"}

// providersScenario runs the seed's matrix for the users of both identity
// providers of providers.yaml, through aws___run_script and then the
// legacy aws___call_aws. The contractors alice and bob have the same sub
// as the employees alice and bob, and get only contractor rights.
func providersScenario(ctx context.Context, s *stack.Stack, out io.Writer) error {
	fmt.Fprintf(out, "Two identity providers, one gateway (sub collides across them), through aws___run_script\n"+
		"(scripts calling s3 ListBuckets, s3 PutObject and ec2 DescribeInstances):\n\n")
	if err := providersTable(ctx, s, out, fakeaws.ToolRunScript); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe same through the legacy aws___call_aws (%q, %q and %q):\n\n", s3List.command, s3Write.command, ec2Describe.command)
	return providersTable(ctx, s, out, fakeaws.ToolCallAWS)
}

// providersTable prints, for alice and bob at each provider, the outcome
// of the S3 list, the S3 write and the EC2 describe through tool, and the
// IAM roles AWS saw their requests signed with.
func providersTable(ctx context.Context, s *stack.Stack, out io.Writer, tool string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "Provider\tUser (sub)\tCedar principal\tS3 list\tS3 write\tEC2 describe\tIAM role used\t")
	for _, p := range []string{"okta", "contractors"} {
		for _, u := range []stack.User{stack.Alice, stack.Bob} {
			cs, err := connectProvider(ctx, s, p, u)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", p, u.Name, err)
			}
			ls, cp, ec2 := outcome(s3List.call(ctx, cs, tool)), outcome(s3Write.call(ctx, cs, tool)), outcome(ec2Describe.call(ctx, cs, tool))
			cs.Close()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p, u.Name, principalOf(s, p, u), ls, cp, ec2, rolesOfSession(s, sessionOf(s, p, u)))
		}
	}
	return tw.Flush()
}

func connectProvider(ctx context.Context, s *stack.Stack, provider string, u stack.User) (*mcp.ClientSession, error) {
	tok, err := s.ProviderToken(provider, u)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "quickstart-" + provider + "-" + u.Name, Version: "1"}, nil)
	return client.Connect(cctx, &mcp.StreamableClientTransport{
		Endpoint: s.MCPURL(), HTTPClient: stack.HTTPClient(tok), DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
}

// principalOf is the Cedar principal mcpguard builds for u at provider.
func principalOf(s *stack.Stack, provider string, u stack.User) string {
	p, _ := s.Provider(provider)
	if len(p.Tenants) > 0 {
		return fmt.Sprintf("User::%q", provider+"/"+p.Tenants[0][:8]+"…|"+u.Name)
	}
	return fmt.Sprintf("User::%q", provider+"|"+u.Name)
}

// sessionOf is the RoleSessionName of u at provider (its verified email at
// Okta, preferred_username at Entra).
func sessionOf(s *stack.Stack, provider string, u stack.User) string {
	if provider == s.Config.OIDCProviders[0].Name {
		return u.Name + "@example.com"
	}
	return u.Name + "@" + provider + ".example"
}

func rolesOfSession(s *stack.Stack, session string) string {
	seen := map[string]bool{}
	var roles []string
	for _, r := range s.AWS.Requests() {
		if r.SessionName == session && !seen[r.RoleARN] {
			seen[r.RoleARN] = true
			roles = append(roles, r.RoleARN[strings.LastIndex(r.RoleARN, "/")+1:])
		}
	}
	return strings.Join(roles, ", ")
}
