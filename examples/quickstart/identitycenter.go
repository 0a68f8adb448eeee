package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/stack"
)

// identityCenterScenario runs Alice and Bob through IAM Identity Center
// permission sets in two accounts (dev and prod), through aws___run_script
// and then the legacy aws___call_aws, and prints which account and
// permission set signed each call.
func identityCenterScenario(ctx context.Context, s *stack.Stack, out io.Writer) error {
	fmt.Fprintf(out, "IAM Identity Center (Pattern 1): mcpguard exchanges each user's JWT with CreateTokenWithIAM,\n"+
		"checks the (account, permission set) against its allow list and the user's assignments,\n"+
		"and signs with GetRoleCredentials. Accounts: dev %s, prod %s.\n\n", stack.DevAccount, stack.ProdAccount)
	fmt.Fprintf(out, "Through aws___run_script (scripts calling s3 ListBuckets and ec2 DescribeInstances):\n\n")
	if err := identityCenterTable(ctx, s, out, fakeaws.ToolRunScript); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe same through the legacy aws___call_aws:\n\n")
	if err := identityCenterTable(ctx, s, out, fakeaws.ToolCallAWS); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nAlice's prod pair is in mcpguard's allow list but not assigned to her in Identity Center;\n"+
		"Bob's prod AdministratorAccess is assigned to him, but mcpguard's allow list does not admit it.\n")
	fmt.Fprintf(out, "Identity Center calls: CreateTokenWithIAM %d, ListAccounts %d, ListAccountRoles %d, GetRoleCredentials %d; STS calls %d\n",
		s.SSO.CountCalls("CreateTokenWithIAM"), s.SSO.CountCalls("ListAccounts"), s.SSO.CountCalls("ListAccountRoles"),
		s.SSO.CountCalls("GetRoleCredentials"), len(s.STS.Calls()))
	return nil
}

// identityCenterTable makes each user's ask for an (account, permission
// set) through tool and prints what happened and who signed it.
func identityCenterTable(ctx context.Context, s *stack.Stack, out io.Writer, tool string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "User\tasks for\tcall\toutcome\tsigned as (account / permission set)\t")
	for _, c := range []struct {
		user    stack.User
		account string
		set     string
		ask     ask
	}{
		{stack.Alice, stack.DevAccount, "S3ReadOnly", s3List},
		{stack.Alice, stack.ProdAccount, "S3ReadOnly", s3List},
		{stack.Bob, stack.DevAccount, "EC2ReadOnly", ec2Describe},
		{stack.Bob, stack.ProdAccount, "AdministratorAccess", ec2Describe},
	} {
		before := len(s.AWS.Requests())
		var res string
		cs, err := connectWithTarget(ctx, s, c.user, c.account, c.set)
		if err != nil {
			res = "Refused by mcpguard: " + refusalReason(err)
		} else {
			res = outcome(c.ask.call(ctx, cs, tool))
			cs.Close()
		}
		fmt.Fprintf(tw, "%s\t%s / %s\t%s\t%s\t%s\t\n", title(c.user.Name), accountName(c.account), c.set, c.ask.name(tool), res, signedAs(s, before))
	}
	return tw.Flush()
}

func connectWithTarget(ctx context.Context, s *stack.Stack, u stack.User, account, set string) (*mcp.ClientSession, error) {
	tok, err := s.Token(u)
	if err != nil {
		return nil, err
	}
	base := stack.HTTPClient(tok)
	client := &http.Client{Timeout: base.Timeout, Transport: headerTransport{next: base.Transport, account: account, set: set}}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return mcp.NewClient(&mcp.Implementation{Name: "quickstart-" + u.Name, Version: "1"}, nil).Connect(cctx, &mcp.StreamableClientTransport{
		Endpoint: s.MCPURL(), HTTPClient: client, DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
}

// headerTransport adds the documented target headers, which mcpguard
// removes before the request leaves Envoy.
type headerTransport struct {
	next         http.RoundTripper
	account, set string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Mcpguard-Aws-Account", h.account)
	r.Header.Set("X-Mcpguard-Permission-Set", h.set)
	return h.next.RoundTrip(r)
}

func refusalReason(err error) string {
	for _, s := range []string{"not assigned", "allow list"} {
		if strings.Contains(err.Error(), s) {
			return s
		}
	}
	return "forbidden"
}

func accountName(id string) string {
	switch id {
	case stack.DevAccount:
		return "dev"
	case stack.ProdAccount:
		return "prod"
	}
	return id
}

// signedAs names the account and permission set of the credentials that
// signed the requests AWS accepted since before.
func signedAs(s *stack.Stack, before int) string {
	reqs := s.AWS.Requests()
	if len(reqs) <= before {
		return "-"
	}
	c, ok := s.SSO.Issued(reqs[len(reqs)-1].AccessKeyID)
	if !ok {
		return "not Identity Center credentials"
	}
	return accountName(c.AccountID) + " / " + c.PermissionSet
}
