package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/audit"
	"github.com/mcpguard/mcpguard/config"
	"github.com/mcpguard/mcpguard/test/fakesso"
	"github.com/mcpguard/mcpguard/test/stack"
)

// targetClient sends the bearer token and the Identity Center target
// headers, as an MCP client configured for one account would.
func targetClient(token, account, set string) *http.Client {
	base := stack.HTTPClient(token)
	return &http.Client{Timeout: base.Timeout, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		if account != "" {
			r.Header.Set("X-Mcpguard-Aws-Account", account)
		}
		if set != "" {
			r.Header.Set("X-Mcpguard-Permission-Set", set)
		}
		return base.Transport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func connectTo(t *testing.T, endpoint string, client *http.Client) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-idc", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: endpoint, HTTPClient: client, DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// denial decodes a gateway refusal's JSON-RPC error.
func denial(t *testing.T, r httpResult) (code int, kind string) {
	t.Helper()
	var body struct {
		Error struct {
			Code int `json:"code"`
			Data struct {
				Kind string `json:"kind"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("refusal body %q: %v", r.body, err)
	}
	return body.Error.Code, body.Error.Data.Kind
}

func startIDCStack(t *testing.T, mutate func(*config.Config)) (*stack.Stack, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	s, _ := startStack(t, stack.Options{IdentityCenter: true, Mutate: func(c *config.Config) {
		c.Audit.Output = path
		if mutate != nil {
			mutate(c)
		}
	}})
	return s, path
}

// TestIdentityCenterAliceReachesDevNotProd: Alice signs with the dev
// account's S3ReadOnly permission set; prod is in the gateway's allow list
// but not assigned to her in Identity Center, so it is refused, whether a
// header or the route asks for it.
func TestIdentityCenterAliceReachesDevNotProd(t *testing.T) {
	s, auditPath := startIDCStack(t, nil)
	tok, err := s.Token(stack.Alice)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := connectTo(t, s.MCPURL(), targetClient(tok, stack.DevAccount, "S3ReadOnly"))
	if err != nil {
		t.Fatalf("connect to dev: %v", err)
	}
	if res, err := callAWS(cs, "aws s3 ls"); err != nil || res.IsError {
		t.Fatalf("aws s3 ls in dev: %v %+v", err, res)
	}
	wantRole := s.SSO.RoleARN(stack.DevAccount, "S3ReadOnly")
	reqs := s.AWS.Requests()
	if len(reqs) == 0 {
		t.Fatal("nothing reached the AWS MCP Server")
	}
	for _, r := range reqs {
		if r.RoleARN != wantRole || r.SessionName != "alice" {
			t.Fatalf("signed as %s/%s, want %s/alice", r.RoleARN, r.SessionName, wantRole)
		}
		for name := range r.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-mcpguard-") {
				t.Fatalf("target header %s reached the upstream", name)
			}
		}
	}
	if n := s.SSO.CountCalls("CreateTokenWithIAM"); n != 1 {
		t.Fatalf("CreateTokenWithIAM calls = %d, want 1 for the whole session", n)
	}
	if n := len(s.STS.Calls()); n != 0 {
		t.Fatalf("STS direct was called %d times for an Identity Center user", n)
	}

	// prod by header: allowed by the gateway, not assigned to Alice.
	r := postJSON(t, s, tok, initializeBody, "x-mcpguard-aws-account", stack.ProdAccount)
	if code, kind := denial(t, r); r.status != 403 || code != -32003 || kind != "forbidden" {
		t.Fatalf("prod by header: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.body, "not assigned") {
		t.Fatalf("prod refusal does not say why: %s", r.body)
	}
	// prod by route: one Envoy route per account.
	u, _ := url.Parse(s.AWS.URL())
	front, err := s.AddRoute(stack.Route{
		GRPCInitialMetadata: map[string]string{"x-mcpguard-aws-account": stack.ProdAccount},
		Upstream:            u.Scheme + "://" + u.Host, HostRewrite: s.Config.Upstream.Host,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connectTo(t, front.URL()+"/mcp", stack.HTTPClient(tok)); err == nil {
		t.Fatal("Alice connected through the prod route")
	}
	// A client header cannot override the route's account.
	if _, err := connectTo(t, front.URL()+"/mcp", targetClient(tok, stack.DevAccount, "")); err == nil {
		t.Fatal("a dev header overrode the prod route")
	}
	if n := s.SSO.CountCalls("GetRoleCredentials"); n != 1 {
		t.Fatalf("GetRoleCredentials calls = %d, want only dev's", n)
	}

	cs.Close()
	s.Close()
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var signed, refused int
	for _, e := range readAudit(t, raw) {
		if !strings.HasPrefix(string(e.Type), "mcp_") {
			continue
		}
		// A signed request's own record is written before it is
		// forwarded (outcome forwarded); its mcp_response follows.
		if e.AWS != nil && e.Outcome == audit.OutcomeForwarded {
			signed++
			if e.AWS.CredentialSource != "identity_center" || e.AWS.AWSAccount != stack.DevAccount || e.AWS.PermissionSet != "S3ReadOnly" {
				t.Errorf("audit AWS = %+v", e.AWS)
			}
		}
		if e.Outcome == audit.OutcomeDenied {
			refused++
		}
	}
	if signed == 0 || refused == 0 {
		t.Fatalf("audit: %d signed, %d refused records", signed, refused)
	}
}

// TestIdentityCenterBobOutsideAllowList: the portal lists prod
// AdministratorAccess for Bob, but the gateway allows him only dev's
// EC2ReadOnly and ViewOnly; policies see the pair in context.
func TestIdentityCenterBobOutsideAllowList(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "identity-center.cedar")
	if err := os.WriteFile(policy, []byte(`@id("no-tools-as-viewonly")
forbid (principal, action == Action::"tools/call", resource)
when { context has permission_set && context.permission_set == "ViewOnly" && context has aws_account && context.aws_account == "`+stack.DevAccount+`" };
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := startIDCStack(t, func(c *config.Config) { c.Authz.PolicyFiles = append(c.Authz.PolicyFiles, policy) })
	if !slices.ContainsFunc(stack.IdentityCenterAssignments, func(a fakesso.Assignment) bool {
		return a.AccountID == stack.ProdAccount && a.PermissionSet == "AdministratorAccess"
	}) {
		t.Fatal("fixture: the portal must list prod AdministratorAccess for Bob")
	}
	tok, err := s.Token(stack.Bob)
	if err != nil {
		t.Fatal(err)
	}
	r := postJSON(t, s, tok, initializeBody, "x-mcpguard-aws-account", stack.ProdAccount, "x-mcpguard-permission-set", "AdministratorAccess")
	if code, kind := denial(t, r); r.status != 403 || code != -32003 || kind != "forbidden" || !strings.Contains(r.body, "allow list") {
		t.Fatalf("prod AdministratorAccess: %d %s", r.status, r.body)
	}
	if n := len(s.SSO.Calls()); n != 0 {
		t.Fatalf("the allow list refusal called Identity Center %d times", n)
	}

	cs, err := connectTo(t, s.MCPURL(), stack.HTTPClient(tok))
	if err != nil {
		t.Fatalf("Bob's default pair: %v", err)
	}
	if res, err := callAWS(cs, "aws ec2 describe-instances"); err != nil || res.IsError {
		t.Fatalf("describe-instances as EC2ReadOnly: %v %+v", err, res)
	}
	reqs := s.AWS.Requests()
	if got := reqs[len(reqs)-1].RoleARN; got != s.SSO.RoleARN(stack.DevAccount, "EC2ReadOnly") {
		t.Fatalf("signed as %s", got)
	}

	// ViewOnly is allowed and assigned, but a policy on
	// context.permission_set forbids tool calls with it.
	vo, err := connectTo(t, s.MCPURL(), targetClient(tok, stack.DevAccount, "ViewOnly"))
	if err != nil {
		t.Fatalf("connect as ViewOnly: %v", err)
	}
	if _, err := callAWS(vo, "aws ec2 describe-instances"); err == nil {
		t.Fatal("policy on context.permission_set did not apply")
	}
}

// TestIdentityCenterFallbackToSTS: a user no identity_center mapping
// admits goes through STS direct; with fallback deny, nowhere.
func TestIdentityCenterFallbackToSTS(t *testing.T) {
	s, _ := startIDCStack(t, func(c *config.Config) {
		c.IdentityCenter.Mappings = c.IdentityCenter.Mappings[:2] // s3-readers only
	})
	tok, _ := s.Token(stack.Bob)
	cs, err := connectTo(t, s.MCPURL(), stack.HTTPClient(tok))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := callAWS(cs, "aws ec2 describe-instances"); err != nil || res.IsError {
		t.Fatalf("Bob through STS: %v %+v", err, res)
	}
	if len(s.STS.Calls()) != 1 || s.SSO.CountCalls("CreateTokenWithIAM") != 0 {
		t.Fatalf("STS calls %d, Identity Center exchanges %d", len(s.STS.Calls()), s.SSO.CountCalls("CreateTokenWithIAM"))
	}
	// An STS user cannot name an account: STS direct cannot honour it.
	if r := postJSON(t, s, tok, initializeBody, "x-mcpguard-aws-account", stack.DevAccount); r.status != 403 {
		t.Fatalf("STS user naming an account: %d %s", r.status, r.body)
	}

	d, _ := startIDCStack(t, func(c *config.Config) {
		c.IdentityCenter.Mappings = c.IdentityCenter.Mappings[:2]
		c.IdentityCenter.Fallback = "deny"
	})
	tok, _ = d.Token(stack.Bob)
	if r := postJSON(t, d, tok, initializeBody); r.status != 403 || len(d.STS.Calls()) != 0 {
		t.Fatalf("fallback deny: %d %s, STS calls %d", r.status, r.body, len(d.STS.Calls()))
	}
}

// TestIdentityCenterErrorMapping: each Identity Center failure reaches
// the client as the project's error kind: status, JSON-RPC code,
// Retry-After, and the audit outcome.
func TestIdentityCenterErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		fault      func(s *stack.Stack)
		status     int
		code       int
		retryAfter string
		outcome    audit.Outcome
	}{
		{"invalid grant", func(s *stack.Stack) { s.SSO.InjectError(1, "InvalidGrantException", "x") }, 401, -32001, "", audit.OutcomeDenied},
		{"expired token", func(s *stack.Stack) { s.SSO.InjectError(1, "ExpiredTokenException", "x") }, 401, -32001, "", audit.OutcomeDenied},
		{"access denied", func(s *stack.Stack) { s.SSO.InjectError(1, "AccessDeniedException", "x") }, 403, -32003, "", audit.OutcomeDenied},
		{"invalid client", func(s *stack.Stack) { s.SSO.InjectError(1, "InvalidClientException", "x") }, 500, -32603, "", audit.OutcomeError},
		{"invalid scope", func(s *stack.Stack) { s.SSO.InjectError(1, "InvalidScopeException", "x") }, 500, -32603, "", audit.OutcomeError},
		{"slow down", func(s *stack.Stack) { s.SSO.InjectError(1, "SlowDownException", "x") }, 503, -32005, "2", audit.OutcomeError},
		// The SDK retries a 500 three times before giving up.
		{"internal server", func(s *stack.Stack) { s.SSO.InjectError(3, "InternalServerException", "x") }, 503, -32005, "5", audit.OutcomeError},
		{"portal throttled", func(s *stack.Stack) { s.SSO.SetThrottle(3) }, 503, -32005, "2", audit.OutcomeError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, auditPath := startIDCStack(t, nil)
			tt.fault(s)
			tok, _ := s.Token(stack.Alice)
			r := postJSON(t, s, tok, initializeBody)
			code, _ := denial(t, r)
			if r.status != tt.status || code != tt.code || r.header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("got %d %d Retry-After %q (%s), want %d %d %q", r.status, code, r.header.Get("Retry-After"), r.body, tt.status, tt.code, tt.retryAfter)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			s.Close()
			raw, err := os.ReadFile(auditPath)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range readAudit(t, raw) {
				switch e.Type {
				case audit.TypeMCPInitialize, audit.TypeAuthnFailure, audit.TypeAuthzDenied:
				default:
					continue
				}
				{
					found = true
					if e.Outcome != tt.outcome {
						t.Fatalf("audit outcome = %s, want %s", e.Outcome, tt.outcome)
					}
				}
			}
			if !found {
				t.Fatal("no audit record of the refused request")
			}
		})
	}
}

// TestIdentityCenterNoSecrets: no JWT, Identity Center access or refresh
// token, identity context, secret key or session token reaches the logs
// (debug level) or the audit trail.
func TestIdentityCenterNoSecrets(t *testing.T) {
	trail := &stack.Buffer{}
	s, logs := startStack(t, stack.Options{IdentityCenter: true, AuditWriter: trail})
	var secrets []string
	for _, c := range []struct {
		u            stack.User
		account, set string
	}{{stack.Alice, stack.DevAccount, "S3ReadOnly"}, {stack.Alice, stack.ProdAccount, "S3ReadOnly"}, {stack.Bob, "", ""}} {
		tok, _ := s.Token(c.u)
		secrets = append(secrets, tok, strings.Split(tok, ".")[2])
		if cs, err := connectTo(t, s.MCPURL(), targetClient(tok, c.account, c.set)); err == nil {
			// Outcomes do not matter here: the test looks for secrets in the output.
			_, _ = callAWS(cs, "aws s3 ls")
			_, _ = callAWS(cs, "aws ec2 describe-instances")
			cs.Close()
		}
	}
	s.SSO.InjectError(1, "InvalidGrantException", "x")
	tok, _ := s.Token(stack.Dana)
	postJSON(t, s, tok, initializeBody)
	secrets = append(secrets, s.SSO.Secrets()...)
	for _, r := range s.AWS.Requests() {
		if _, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok {
			secrets = append(secrets, sig)
		}
	}
	if len(secrets) < 12 {
		t.Fatalf("only %d secrets collected; the scenario did not run", len(secrets))
	}
	for name, text := range map[string]string{"logs": logs.String(), "audit": trail.String()} {
		if !strings.Contains(text, "identity_center") {
			t.Errorf("%s never mention identity_center; the scenario did not run through it", name)
		}
		for _, sec := range secrets {
			if sec != "" && strings.Contains(text, sec) {
				t.Errorf("%s contain a secret (%d chars, starts %.6s)", name, len(sec), sec)
			}
		}
	}
}

// TestIdentityCenterTrustedIdentityPropagation: Pattern 2 signs Alice's
// requests with an identity-enhanced session of dev's identity-bearer
// role whose context the fake STS checked against the fake Identity
// Center; prod's role lacks sts:SetContext, so prod is refused.
func TestIdentityCenterTrustedIdentityPropagation(t *testing.T) {
	s, auditPath := startIDCStack(t, stack.IdentityCenterTIP)
	tok, _ := s.Token(stack.Alice)
	cs, err := connectTo(t, s.MCPURL(), stack.HTTPClient(tok))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if res, err := callAWS(cs, "aws s3 ls"); err != nil || res.IsError {
		t.Fatalf("aws s3 ls: %v %+v", err, res)
	}
	calls := s.STS.Calls()
	if len(calls) != 1 || calls[0].Action != "AssumeRole" || calls[0].RoleARN != stack.DevBearerRole ||
		calls[0].ContextUser != "alice" || calls[0].Caller != stack.GatewayRoleARN || strings.Contains(calls[0].RoleSessionName, "alice") {
		t.Fatalf("STS calls = %+v", calls)
	}
	for _, r := range s.AWS.Requests() {
		if c, ok := s.STS.Issued(r.AccessKeyID); !ok || c.ContextUser != "alice" || r.RoleARN != stack.DevBearerRole {
			t.Fatalf("request signed by %s (%+v), not an identity-enhanced session", r.RoleARN, c)
		}
	}
	if n := s.SSO.CountCalls("GetRoleCredentials"); n != 0 {
		t.Fatalf("Pattern 2 used the portal %d times", n)
	}
	r := postJSON(t, s, tok, initializeBody, "x-mcpguard-aws-account", stack.ProdAccount)
	if r.status != 403 || !strings.Contains(r.body, "sts:SetContext") {
		t.Fatalf("prod without sts:SetContext: %d %s", r.status, r.body)
	}
	cs.Close()
	s.Close()
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	signed := 0
	for _, e := range readAudit(t, raw) {
		if strings.HasPrefix(string(e.Type), "mcp_") && e.AWS != nil && e.Outcome == audit.OutcomeForwarded {
			signed++
			if e.AWS.CredentialSource != "identity_center_tip" || e.AWS.AWSAccount != stack.DevAccount || e.AWS.RoleARN != stack.DevBearerRole {
				t.Errorf("audit AWS = %+v", e.AWS)
			}
		}
	}
	if signed == 0 {
		t.Fatal("no signed request in the audit trail")
	}
}
