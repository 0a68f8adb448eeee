package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/stack"
)

const providersConfig = "../../examples/quickstart/providers.yaml"

func startProviders(t *testing.T, audit io.Writer) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{
		ConfigPath: providersConfig, Ephemeral: true, AuditWriter: audit,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func connectAt(t *testing.T, s *stack.Stack, provider string, u stack.User) *mcp.ClientSession {
	t.Helper()
	tok, err := s.ProviderToken(provider, u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-" + provider + "-" + u.Name, Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: s.MCPURL(), HTTPClient: stack.HTTPClient(tok), DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("%s/%s: connect: %v", provider, u.Name, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// Scripts of TestTwoProviders beyond the seed's s3ListScript and
// ec2DescribeScript: both S3 list operations, an S3 read outside them
// (alone and after a list), an S3 write, EC2 reads of two operations, an
// EC2 write, and S3 and EC2 in one script.
const (
	s3ObjectsScript = "r = await call_boto3(service_name='s3', operation_name='ListBuckets')\n" +
		"return await call_boto3(service_name='s3', operation_name='ListObjectsV2', params={'Bucket': r['Buckets'][0]['Name']})\n"
	s3GetScript     = "return await call_boto3(service_name='s3', operation_name='GetObject', params={'Bucket': 'mcpguard-demo-reports', 'Key': 'report.csv'})\n"
	s3ListGetScript = "await call_boto3(service_name='s3', operation_name='ListBuckets')\n" + s3GetScript
	s3PutScript     = "return await call_boto3(service_name='s3', operation_name='PutObject', params={'Bucket': 'mcpguard-demo-reports', 'Key': 'report.csv', 'Body': 'q3'})\n"
	ec2ReadScript   = "await call_boto3(service_name='ec2', operation_name='DescribeRegions')\n" + ec2DescribeScript
	ec2StopScript   = "return await call_boto3(service_name='ec2', operation_name='StopInstances', params={'InstanceIds': ['i-0a1b2c3d4e5f60718']})\n"
	mixedScript     = "await call_boto3(service_name='s3', operation_name='ListBuckets')\n" + ec2DescribeScript
)

// script is one aws___run_script call of TestTwoProviders and what comes
// of it.
type script struct {
	code string
	// calls are what AWS runs of an allowed script; nil: mcpguard refuses
	// it, naming refused.
	calls   []string
	refused string
	// policy is the permit that allows it, in the audit record.
	policy string
	// fails is the error AWS ends an allowed script with ("": none).
	fails string
}

// TestTwoProviders runs the seed's Alice/Bob matrix for the employees'
// Okta and the contractors' Entra ID tenant through one gateway, through
// today's aws___run_script and the legacy aws___call_aws. The contractors
// share their subs with the employees, and get only what the contractor
// policies and role mappings grant: their S3 scripts may only list
// (contractors-s3-list-script) where the employees' may read S3
// (s3-readers-run-s3-reads). An allowed script runs at AWS as the role of
// its own provider's mapping under that provider's session name; a denied
// one is refused with 403 naming the action and never reaches AWS; the
// audit trail records each script call with the provider, tenant and sub of
// its caller and the role it was signed as.
func TestTwoProviders(t *testing.T) {
	trail := &stack.Buffer{}
	s := startProviders(t, trail)
	p, _ := s.Provider("contractors")
	tenant := p.Tenants[0]
	const s3, s3Write, ec2 = "aws s3 ls", "aws s3 cp README.md s3://mcpguard-demo-reports/x", "aws ec2 describe-instances"
	var (
		s3List       = []string{"s3:ListBuckets"}
		s3Objects    = []string{"s3:ListBuckets", "s3:ListObjectsV2"}
		ec2Reads     = []string{"ec2:DescribeRegions", "ec2:DescribeInstances"}
		ec2Instances = []string{"ec2:DescribeInstances"}
	)
	cases := []struct {
		provider, tenant string
		user             stack.User
		allowed          map[string]bool
		role, session    string
		scripts          []script
	}{
		{"okta", "", stack.Alice, map[string]bool{s3: true, ec2: false}, stack.S3Role, "alice@example.com", []script{
			{code: s3ListScript, calls: s3List, policy: "s3-readers-run-s3-reads"},
			{code: s3ObjectsScript, calls: s3Objects, policy: "s3-readers-run-s3-reads"},
			// Any S3 read is the employees'; the fake AWS has no
			// behaviour for GetObject, so the script fails there.
			{code: s3GetScript, calls: []string{"s3:GetObject"}, policy: "s3-readers-run-s3-reads", fails: "no behaviour for s3:GetObject"},
			{code: s3PutScript, refused: "s3:PutObject"},
			{code: ec2DescribeScript, refused: "ec2:DescribeInstances"},
			{code: mixedScript, refused: "ec2:DescribeInstances"},
		}},
		{"okta", "", stack.Bob, map[string]bool{s3: false, ec2: true}, stack.EC2Role, "bob@example.com", []script{
			{code: ec2DescribeScript, calls: ec2Instances, policy: "ec2-viewers-run-ec2-reads"},
			{code: ec2ReadScript, calls: ec2Reads, policy: "ec2-viewers-run-ec2-reads"},
			{code: ec2StopScript, refused: "ec2:StopInstances"},
			{code: s3ListScript, refused: "s3:ListBuckets"},
			{code: mixedScript, refused: "s3:ListBuckets"},
		}},
		{"contractors", tenant, stack.Alice, map[string]bool{s3: true, s3Write: false, ec2: false}, stack.S3Role, "alice@contractors.example", []script{
			{code: s3ListScript, calls: s3List, policy: "contractors-s3-list-script"},
			{code: s3ObjectsScript, calls: s3Objects, policy: "contractors-s3-list-script"},
			// A contractor may only list.
			{code: s3GetScript, refused: "s3:GetObject"},
			{code: s3ListGetScript, refused: "s3:GetObject"},
			{code: s3PutScript, refused: "s3:PutObject"},
			{code: ec2DescribeScript, refused: "ec2:DescribeInstances"},
			{code: mixedScript, refused: "ec2:DescribeInstances"},
		}},
		{"contractors", tenant, stack.Bob, map[string]bool{s3: false, ec2: true}, stack.EC2Role, "bob@contractors.example", []script{
			{code: ec2DescribeScript, calls: ec2Instances, policy: "contractors-ec2-read-script"},
			{code: ec2ReadScript, calls: ec2Reads, policy: "contractors-ec2-read-script"},
			{code: ec2StopScript, refused: "ec2:StopInstances"},
			{code: s3ListScript, refused: "s3:ListBuckets"},
			{code: mixedScript, refused: "s3:ListBuckets"},
		}},
	}
	id := 300
	for _, c := range cases {
		t.Run(c.provider+"/"+c.user.Name, func(t *testing.T) {
			cs := connectAt(t, s, c.provider, c.user)
			for cmd, want := range c.allowed {
				res, err := callAWS(cs, cmd)
				if got := !deniedByGateway(res, err); got != want {
					t.Errorf("%s: allowed = %v, want %v (%v)", cmd, got, want, err)
				}
			}
			tok, err := s.ProviderToken(c.provider, c.user)
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range c.scripts {
				runs, requests := len(s.AWS.ScriptRuns()), len(s.AWS.Requests())
				if sc.calls == nil {
					id++
					msg := runScriptForbidden(t, s, tok, id, sc.code)
					if want := `AWS action(s) "` + sc.refused + `"`; !strings.HasSuffix(msg, want) {
						t.Errorf("%q: message %q does not end with %q", sc.code, msg, want)
					}
					if len(s.AWS.Requests()) != requests || len(s.AWS.ScriptRuns()) != runs {
						t.Errorf("%q: a denied script reached AWS", sc.code)
					}
					continue
				}
				res, err := runScript(cs, sc.code)
				if err != nil {
					t.Errorf("%q: want the script run, got %v", sc.code, err)
					continue
				}
				if deniedByGateway(res, err) || res.IsError != (sc.fails != "") {
					t.Errorf("%q: want the script run, got isError=%v %s", sc.code, res.IsError, resultText(res))
					continue
				}
				got := s.AWS.ScriptRuns()[runs:]
				if len(got) != 1 || got[0].Code != sc.code || got[0].RoleARN != c.role || got[0].SessionName != c.session ||
					!slices.Equal(got[0].Calls, sc.calls) || (sc.fails == "") != (got[0].Error == "") || !strings.Contains(got[0].Error, sc.fails) {
					t.Errorf("AWS ran %+v, want one run of %q making %v as %s for %s", got, sc.code, sc.calls, c.role, c.session)
				}
			}
		})
	}
	// Every request that reached AWS was signed with the role of its own
	// provider's mapping, under that provider's session name, and AWS ran
	// the allowed scripts only.
	roles, allowed := map[string]string{}, 0
	for _, c := range cases {
		roles[c.session] = c.role
		for _, sc := range c.scripts {
			if sc.calls != nil {
				allowed++
			}
		}
	}
	signed := map[string]bool{}
	for _, r := range s.AWS.Requests() {
		if r.RoleARN == "" {
			continue
		}
		signed[r.SessionName] = true
		if roles[r.SessionName] != r.RoleARN {
			t.Errorf("a request of session %s was signed as %s, want %q", r.SessionName, r.RoleARN, roles[r.SessionName])
		}
	}
	for session := range roles {
		if !signed[session] {
			t.Errorf("no request of session %s reached AWS", session)
		}
	}
	if n := len(s.AWS.ScriptRuns()); n != allowed {
		t.Errorf("AWS ran %d scripts, want the %d allowed", n, allowed)
	}
	if rej := s.AWS.Rejections(); len(rej) != 0 {
		t.Errorf("the fake AWS rejected %d requests: %+v", len(rej), rej)
	}

	s.Close() // flush the trail
	entries := readAudit(t, []byte(trail.String()))
	// Audit records name the provider, so the two alices are told apart.
	providers := map[string]bool{}
	for _, e := range entries {
		if e.User != nil && e.User.Sub == "alice" {
			providers[e.User.Provider+"/"+e.User.Tenant] = true
		}
	}
	if !providers["okta/"] || !providers["contractors/"+tenant] {
		t.Errorf("audit providers of alice = %v", providers)
	}
	// Each script call has one record: by whom, signed as which role, with
	// the actions found in its code and the permit that allowed it.
	type key struct{ provider, tenant, sub, code string }
	type call struct {
		user   int // of cases
		script script
		n      int // records
	}
	calls := map[key]*call{}
	for i, c := range cases {
		for _, sc := range c.scripts {
			calls[key{c.provider, c.tenant, c.user.Name, sc.code}] = &call{user: i, script: sc}
		}
	}
	for _, e := range entries {
		if e.MCP == nil || e.MCP.Tool != fakeaws.ToolRunScript || (e.Type != audit.TypeMCPToolCall && e.Type != audit.TypeAuthzDenied) {
			continue
		}
		code, _ := e.MCP.Arguments["code"].(string)
		var k key
		if e.User != nil {
			k = key{e.User.Provider, e.User.Tenant, e.User.Sub, code}
		}
		cl := calls[k]
		if cl == nil {
			t.Errorf("%s record of no call of the test: user %+v code %q", e.Type, e.User, code)
			continue
		}
		cl.n++
		c, sc := cases[cl.user], cl.script
		if sc.calls != nil {
			if e.Type != audit.TypeMCPToolCall || e.Outcome != audit.OutcomeForwarded || e.AWS == nil || e.AWS.RoleARN != c.role ||
				e.AWS.RoleSessionName != c.session || !slices.Equal(e.AWS.Actions, sortedSet(sc.calls)) ||
				e.Authz == nil || !slices.Equal(e.Authz.Policies, []string{sc.policy}) {
				t.Errorf("%s/%s: record of %q: %s %s aws=%+v authz=%+v, want forwarded as %s for %s by %s",
					c.provider, c.user.Name, code, e.Type, e.Outcome, e.AWS, e.Authz, c.role, c.session, sc.policy)
			}
		} else if e.Type != audit.TypeAuthzDenied || e.Outcome != audit.OutcomeDenied || e.HTTP == nil || e.HTTP.Status != 403 ||
			e.AWS == nil || !slices.Contains(e.AWS.Actions, sc.refused) {
			t.Errorf("%s/%s: record of %q: %s %s aws=%+v, want denied naming %s", c.provider, c.user.Name, code, e.Type, e.Outcome, e.AWS, sc.refused)
		}
	}
	for k, cl := range calls {
		if cl.n != 1 {
			t.Errorf("%d run_script records of %s/%s for %q, want 1", cl.n, k.provider, k.sub, k.code)
		}
	}
}

// sortedSet is ss sorted without duplicates, as an audit record's actions.
func sortedSet(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// A token of an issuer no provider names is refused before any key is
// fetched; a contractor token signed with the employees' IdP key is refused;
// an Entra groups overage is a 403 that says what to configure.
func TestProvidersRefuseForeignTokens(t *testing.T) {
	s := startProviders(t, io.Discard)
	p, _ := s.Provider("contractors")
	claims := s.Claims(stack.Alice)
	claims["iss"] = strings.ReplaceAll(p.Issuer, "{tenantid}", p.Tenants[0])
	claims["tid"] = p.Tenants[0]
	claims["aud"] = p.Audiences[0]
	forged, err := s.IdP.Mint(claims) // the okta fake's key
	if err != nil {
		t.Fatal(err)
	}
	claims["iss"] = "https://login.microsoftonline.com/" + p.Tenants[0] + "/v2.0"
	unknown, err := s.IdP.Mint(claims)
	if err != nil {
		t.Fatal(err)
	}
	idp := s.ProviderIdP("contractors")
	overage, err := idp.Mint(idp.ProfileClaims(fakeidp.EntraV2, fakeidp.User{Subject: "carol", Tenant: p.Tenants[0], Audience: p.Audiences[0], Overage: true}))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tok    string
		status int
		says   string
	}{
		"signed by the other provider": {forged, http.StatusUnauthorized, ""},
		"unknown issuer":               {unknown, http.StatusUnauthorized, ""},
		"entra groups overage":         {overage, http.StatusForbidden, "group filtering"},
	} {
		tok := c.tok
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.MCPURL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := stack.HTTPClient(tok).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.says) {
				t.Errorf("status %d %s, want %d saying %q", resp.StatusCode, body, c.status, c.says)
			}
		})
	}
}
