package fakesso_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sso"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/aws/smithy-go"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpguard/mcpguard/test/fakeaws"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/fakesso"
)

const (
	appARN     = "arn:aws:sso::123456789012:application/ssoins-7223f4a1b2c3d4e5/apl-1a2b3c4d5e6f7a8b"
	noRefresh  = "arn:aws:sso::123456789012:application/ssoins-7223f4a1b2c3d4e5/apl-0000000000000000"
	gatewayARN = "arn:aws:iam::111122223333:role/mcpguard"
	otherARN   = "arn:aws:iam::111122223333:role/someone-else"
	dev        = "111111111111"
	prod       = "222222222222"
)

type env struct {
	idp    *fakeidp.IdP
	sso    *fakesso.Server
	oidc   *ssooidc.Client
	other  *ssooidc.Client
	bad    *ssooidc.Client
	portal *sso.Client
	clock  *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var callers = map[string]fakesso.Caller{
	"AKIAGATEWAY000000001": {AccessKeyID: "AKIAGATEWAY000000001", SecretAccessKey: "gateway-secret", PrincipalARN: gatewayARN},
	"AKIAOTHER00000000001": {AccessKeyID: "AKIAOTHER00000000001", SecretAccessKey: "other-secret", PrincipalARN: otherARN},
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: &clock{t: time.Now()}}
	var err error
	if e.idp, err = fakeidp.New(fakeidp.WithClock(e.clock.Now)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.idp.Close() })
	tti := fakesso.TrustedTokenIssuer{IssuerURL: e.idp.URL(), JWKSURL: e.idp.JWKSURL(), ClaimAttributePath: "email", IdentityStoreAttributePath: "emails.value"}
	if e.sso, err = fakesso.New(fakesso.Options{
		Applications: map[string]fakesso.Application{
			appARN: {Issuer: tti, Audiences: []string{"mcpguard"}, Scopes: []string{fakesso.ScopeAccountAccess},
				RefreshTokenGrant: true, AssignedGroups: []string{"engineers"}, AuthorizedCallers: []string{gatewayARN}},
			noRefresh: {Issuer: tti, Audiences: []string{"mcpguard"}, AssignedGroups: []string{"engineers"}, AuthorizedCallers: []string{gatewayARN}},
		},
		Users: []fakesso.User{
			{UserName: "alice", Emails: []string{"alice@example.com"}, Groups: []string{"engineers", "dev-readers"}},
			{UserName: "carol", Emails: []string{"carol@example.com"}, Groups: []string{"finance"}},
		},
		Accounts: []fakesso.Account{{ID: dev, Name: "dev", Email: "dev@example.com"}, {ID: prod, Name: "prod", Email: "prod@example.com"}},
		Assignments: []fakesso.Assignment{
			{Group: "dev-readers", AccountID: dev, PermissionSet: "S3ReadOnly"},
			{Group: "dev-readers", AccountID: dev, PermissionSet: "EC2ReadOnly"},
			{Group: "engineers", AccountID: prod, PermissionSet: "ViewOnly"},
		},
		SessionDurations: map[string]time.Duration{"ViewOnly": 2 * time.Hour},
		Callers:          func(id string) (fakesso.Caller, bool) { c, ok := callers[id]; return c, ok },
		RefreshLifetime:  2 * time.Minute,
		Now:              e.clock.Now,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sso.Close() })
	mk := func(id, secret string) *ssooidc.Client {
		return ssooidc.New(ssooidc.Options{
			Region: e.sso.Region(), BaseEndpoint: aws.String(e.sso.OIDCURL()), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		})
	}
	e.oidc = mk("AKIAGATEWAY000000001", "gateway-secret")
	e.other = mk("AKIAOTHER00000000001", "other-secret")
	e.bad = mk("AKIAGATEWAY000000001", "wrong-secret")
	e.portal = sso.New(sso.Options{Region: e.sso.Region(), BaseEndpoint: aws.String(e.sso.PortalURL()), RetryMaxAttempts: 1})
	return e
}

func (e *env) assertion(t *testing.T, sub string, mutate func(map[string]any), opts ...fakeidp.MintOption) string {
	t.Helper()
	c := e.idp.Claims(sub, "mcpguard")
	if mutate != nil {
		mutate(c)
	}
	tok, err := e.idp.Mint(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) exchange(t *testing.T, assertion string) *ssooidc.CreateTokenWithIAMOutput {
	t.Helper()
	out, err := e.oidc.CreateTokenWithIAM(t.Context(), &ssooidc.CreateTokenWithIAMInput{
		ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantJWTBearer), Assertion: aws.String(assertion),
		Scope: []string{fakesso.ScopeAccountAccess, "openid"},
	})
	if err != nil {
		t.Fatalf("CreateTokenWithIAM: %v", err)
	}
	return out
}

func TestExchangeAndPortalWithSDK(t *testing.T) {
	e := newEnv(t)
	out := e.exchange(t, e.assertion(t, "alice", nil))
	if aws.ToString(out.AccessToken) == "" || aws.ToString(out.TokenType) != "Bearer" || out.ExpiresIn != 3600 {
		t.Fatalf("token answer: type %q expiresIn %d", aws.ToString(out.TokenType), out.ExpiresIn)
	}
	if aws.ToString(out.RefreshToken) == "" || aws.ToString(out.IdToken) == "" {
		t.Fatal("refresh token or id token missing")
	}
	ic := aws.ToString(out.AwsAdditionalDetails.IdentityContext)
	if u, ok := e.sso.IdentityContext(ic); !ok || u != "alice" {
		t.Fatalf("identity context names %q, %v", u, ok)
	}
	if len(out.Scope) != 2 {
		t.Fatalf("scope = %v", out.Scope)
	}

	tok := out.AccessToken
	var accounts []string
	p := sso.NewListAccountsPaginator(e.portal, &sso.ListAccountsInput{AccessToken: tok, MaxResults: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListAccounts: %v", err)
		}
		pages++
		for _, a := range page.AccountList {
			accounts = append(accounts, aws.ToString(a.AccountId)+"="+aws.ToString(a.AccountName))
		}
	}
	if pages != 2 || len(accounts) != 2 || accounts[0] != dev+"=dev" || accounts[1] != prod+"=prod" {
		t.Fatalf("accounts %v in %d pages", accounts, pages)
	}
	var roles []string
	rp := sso.NewListAccountRolesPaginator(e.portal, &sso.ListAccountRolesInput{AccessToken: tok, AccountId: aws.String(dev), MaxResults: aws.Int32(1)})
	for rp.HasMorePages() {
		page, err := rp.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListAccountRoles: %v", err)
		}
		for _, r := range page.RoleList {
			roles = append(roles, aws.ToString(r.RoleName))
		}
	}
	if len(roles) != 2 || roles[0] != "EC2ReadOnly" || roles[1] != "S3ReadOnly" {
		t.Fatalf("roles = %v", roles)
	}
	before := e.clock.Now()
	cred, err := e.portal.GetRoleCredentials(t.Context(), &sso.GetRoleCredentialsInput{AccessToken: tok, AccountId: aws.String(prod), RoleName: aws.String("ViewOnly")})
	if err != nil {
		t.Fatalf("GetRoleCredentials: %v", err)
	}
	rc := cred.RoleCredentials
	exp := time.UnixMilli(rc.Expiration)
	if d := exp.Sub(before); d < 2*time.Hour-time.Second || d > 2*time.Hour {
		t.Fatalf("expiration %v is %v after issue, want the permission set's 2h", exp, d)
	}
	issued, ok := e.sso.Issued(aws.ToString(rc.AccessKeyId))
	if !ok || issued.SecretAccessKey != aws.ToString(rc.SecretAccessKey) || issued.SessionToken != aws.ToString(rc.SessionToken) ||
		issued.RoleARN != e.sso.RoleARN(prod, "ViewOnly") || issued.SessionName != "alice" {
		t.Fatalf("issued = %+v", issued)
	}
	if n := e.sso.CountCalls("CreateTokenWithIAM"); n != 1 {
		t.Fatalf("CreateTokenWithIAM calls = %d", n)
	}
}

func TestRefreshGrant(t *testing.T) {
	e := newEnv(t)
	first := e.exchange(t, e.assertion(t, "alice", nil))
	out, err := e.oidc.CreateTokenWithIAM(t.Context(), &ssooidc.CreateTokenWithIAMInput{
		ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantRefreshToken), RefreshToken: first.RefreshToken,
	})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if aws.ToString(out.AccessToken) == aws.ToString(first.AccessToken) {
		t.Fatal("refresh returned the same access token")
	}
	if _, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: out.AccessToken}); err != nil {
		t.Fatalf("refreshed token refused: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	_, err = e.oidc.CreateTokenWithIAM(t.Context(), &ssooidc.CreateTokenWithIAMInput{
		ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantRefreshToken), RefreshToken: first.RefreshToken,
	})
	var expired *oidctypes.ExpiredTokenException
	if !errors.As(err, &expired) || aws.ToString(expired.Error_) != "expired_token" {
		t.Fatalf("expired refresh token: %v", err)
	}
}

func TestExchangeErrors(t *testing.T) {
	e := newEnv(t)
	good := e.assertion(t, "alice", nil)
	type input = ssooidc.CreateTokenWithIAMInput
	jwt := func(a string) *input {
		return &input{ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantJWTBearer), Assertion: aws.String(a)}
	}
	tests := []struct {
		name   string
		client func() *ssooidc.Client
		in     *input
		inject string
		status int
		typ    string
		oauth  string
	}{
		{"unknown client", nil, &input{ClientId: aws.String(appARN + "x"), GrantType: aws.String(fakesso.GrantJWTBearer), Assertion: aws.String(good)}, "", 401, "InvalidClientException", "invalid_client"},
		{"caller outside actor policy", func() *ssooidc.Client { return e.other }, jwt(good), "", 400, "AccessDeniedException", "access_denied"},
		{"unassigned user", nil, jwt(e.assertion(t, "carol", nil)), "", 400, "AccessDeniedException", "access_denied"},
		{"unknown user", nil, jwt(e.assertion(t, "mallory", nil)), "", 400, "InvalidGrantException", "invalid_grant"},
		{"foreign key", nil, jwt(e.assertion(t, "alice", nil, fakeidp.WithForeignKey())), "", 400, "InvalidGrantException", "invalid_grant"},
		{"wrong audience", nil, jwt(e.assertion(t, "alice", func(c map[string]any) { c["aud"] = "other" })), "", 400, "InvalidGrantException", "invalid_grant"},
		{"untrusted issuer", nil, jwt(e.assertion(t, "alice", func(c map[string]any) { c["iss"] = "https://evil.example" })), "", 400, "InvalidGrantException", "invalid_grant"},
		{"expired assertion", nil, jwt(e.assertion(t, "alice", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), "", 400, "InvalidGrantException", "invalid_grant"},
		{"missing claim", nil, jwt(e.assertion(t, "alice", func(c map[string]any) { delete(c, "email") })), "", 400, "InvalidGrantException", "invalid_grant"},
		{"not a jwt", nil, jwt("not-a-jwt"), "", 400, "InvalidGrantException", "invalid_grant"},
		{"bad scope", nil, &input{ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantJWTBearer), Assertion: aws.String(good), Scope: []string{"sso:admin"}}, "", 400, "InvalidScopeException", "invalid_scope"},
		{"unsupported grant", nil, &input{ClientId: aws.String(appARN), GrantType: aws.String("password")}, "", 400, "UnsupportedGrantTypeException", "unsupported_grant_type"},
		{"refresh without grant", nil, &input{ClientId: aws.String(noRefresh), GrantType: aws.String(fakesso.GrantRefreshToken), RefreshToken: aws.String("x")}, "", 400, "UnauthorizedClientException", "unauthorized_client"},
		{"unknown refresh token", nil, &input{ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantRefreshToken), RefreshToken: aws.String("aor-nope")}, "", 400, "InvalidGrantException", "invalid_grant"},
		{"injected outage", nil, jwt(good), "InternalServerException", 500, "InternalServerException", "server_error"},
		{"wrong secret", func() *ssooidc.Client { return e.bad }, jwt(good), "", 403, "InvalidSignatureException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.oidc
			if tt.client != nil {
				c = tt.client()
			}
			if tt.inject != "" {
				e.sso.InjectError(1, tt.inject, "injected")
			}
			_, err := c.CreateTokenWithIAM(t.Context(), tt.in)
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.typ {
				t.Fatalf("err = %v, want %s", err, tt.typ)
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
				t.Fatalf("status of %v, want %d", err, tt.status)
			}
			if tt.oauth != "" {
				v := errorField(err)
				if v != tt.oauth {
					t.Fatalf("OAuth error = %q, want %q", v, tt.oauth)
				}
			}
		})
	}
	if n := e.sso.CountCalls("CreateTokenWithIAM"); n != len(tests) {
		t.Fatalf("calls = %d, want %d", n, len(tests))
	}
}

// errorField reads the OAuth error member of the SDK's typed exceptions.
func errorField(err error) string {
	var (
		a *oidctypes.AccessDeniedException
		b *oidctypes.InvalidClientException
		c *oidctypes.InvalidGrantException
		d *oidctypes.InvalidScopeException
		f *oidctypes.UnsupportedGrantTypeException
		g *oidctypes.UnauthorizedClientException
		h *oidctypes.InternalServerException
	)
	switch {
	case errors.As(err, &a):
		return aws.ToString(a.Error_)
	case errors.As(err, &b):
		return aws.ToString(b.Error_)
	case errors.As(err, &c):
		return aws.ToString(c.Error_)
	case errors.As(err, &d):
		return aws.ToString(d.Error_)
	case errors.As(err, &f):
		return aws.ToString(f.Error_)
	case errors.As(err, &g):
		return aws.ToString(g.Error_)
	case errors.As(err, &h):
		return aws.ToString(h.Error_)
	}
	return ""
}

func TestPortalErrors(t *testing.T) {
	e := newEnv(t)
	tok := e.exchange(t, e.assertion(t, "alice", nil)).AccessToken
	noScope, err := e.oidc.CreateTokenWithIAM(t.Context(), &ssooidc.CreateTokenWithIAMInput{
		ClientId: aws.String(appARN), GrantType: aws.String(fakesso.GrantJWTBearer), Assertion: aws.String(e.assertion(t, "alice", nil)),
		Scope: []string{"openid"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		unauthorized *ssotypes.UnauthorizedException
		notFound     *ssotypes.ResourceNotFoundException
		tooMany      *ssotypes.TooManyRequestsException
		invalid      *ssotypes.InvalidRequestException
	)
	tests := []struct {
		name     string
		throttle bool
		call     func() error
		target   any
	}{
		{"unknown token", false, func() error {
			_, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: aws.String("aoa-forged")})
			return err
		}, &unauthorized},
		{"token without account scope", false, func() error {
			_, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: noScope.AccessToken})
			return err
		}, &unauthorized},
		{"unassigned pair", false, func() error {
			_, err := e.portal.GetRoleCredentials(t.Context(), &sso.GetRoleCredentialsInput{AccessToken: tok, AccountId: aws.String(prod), RoleName: aws.String("S3ReadOnly")})
			return err
		}, &notFound},
		{"unassigned account", false, func() error {
			_, err := e.portal.ListAccountRoles(t.Context(), &sso.ListAccountRolesInput{AccessToken: tok, AccountId: aws.String("333333333333")})
			return err
		}, &notFound},
		{"throttled", true, func() error {
			_, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok})
			return err
		}, &tooMany},
		{"page size", false, func() error {
			_, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok, MaxResults: aws.Int32(101)})
			return err
		}, &invalid},
		{"next token of another listing", false, func() error {
			page, err := e.portal.ListAccountRoles(t.Context(), &sso.ListAccountRolesInput{AccessToken: tok, AccountId: aws.String(dev), MaxResults: aws.Int32(1)})
			if err != nil {
				return err
			}
			_, err = e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok, NextToken: page.NextToken})
			return err
		}, &invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.throttle {
				e.sso.SetThrottle(1)
			}
			if err := tt.call(); !errors.As(err, tt.target) {
				t.Fatalf("err = %v, want %T", err, tt.target)
			}
		})
	}
	e.clock.Advance(time.Hour)
	if _, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok}); !errors.As(err, &unauthorized) {
		t.Fatalf("expired token: %v", err)
	}
	e.clock.Advance(-time.Hour)
	e.sso.RevokeSessions("alice")
	if _, err := e.portal.ListAccounts(t.Context(), &sso.ListAccountsInput{AccessToken: tok}); !errors.As(err, &unauthorized) {
		t.Fatalf("revoked token: %v", err)
	}
}

// TestRoleCredentialsSignForFakeAWS proves that credentials from the
// portal are accepted by the fake AWS MCP server, and refused once expired.
func TestRoleCredentialsSignForFakeAWS(t *testing.T) {
	e := newEnv(t)
	tok := e.exchange(t, e.assertion(t, "alice", nil)).AccessToken
	out, err := e.portal.GetRoleCredentials(t.Context(), &sso.GetRoleCredentialsInput{AccessToken: tok, AccountId: aws.String(dev), RoleName: aws.String("S3ReadOnly")})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(id string) (fakeaws.Credential, bool) {
		c, ok := e.sso.Issued(id)
		return fakeaws.Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			RoleARN: c.RoleARN, SessionName: c.SessionName, Expiration: c.Expiration}, ok
	}
	upstream, err := fakeaws.New(fakeaws.Options{LegacyCallAWS: true, Lookup: lookup, Clock: e.clock.Now, Permissions: map[string][]string{e.sso.RoleARN(dev, "S3ReadOnly"): {"s3"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upstream.Close() })
	rc := out.RoleCredentials
	creds := aws.Credentials{AccessKeyID: aws.ToString(rc.AccessKeyId), SecretAccessKey: aws.ToString(rc.SecretAccessKey), SessionToken: aws.ToString(rc.SessionToken)}
	client := mcp.NewClient(&mcp.Implementation{Name: "fakesso-test", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint: upstream.URL(), HTTPClient: &http.Client{Transport: &signer{creds: creds, now: e.clock.Now}}, MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect with portal credentials: %v", err)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "aws___call_aws", Arguments: map[string]any{"cli_command": "aws sts get-caller-identity"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !bytes.Contains([]byte(text), []byte("assumed-role/AWSReservedSSO_S3ReadOnly_")) || !bytes.Contains([]byte(text), []byte("/alice")) {
		t.Fatalf("caller identity = %s", text)
	}
	_ = cs.Close()
	e.clock.Advance(time.Hour)
	if _, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint: upstream.URL(), HTTPClient: &http.Client{Transport: &signer{creds: creds, now: e.clock.Now}}, MaxRetries: -1,
	}, nil); err == nil {
		t.Fatal("expired portal credentials accepted")
	}
}

// signer signs requests with the SDK's SigV4 signer for aws-mcp.
type signer struct {
	creds aws.Credentials
	now   func() time.Time
}

func (s *signer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(r.Context(), s.creds, out, hex.EncodeToString(sum[:]), "aws-mcp", "us-east-1", s.now()); err != nil {
		return nil, err
	}
	return http.DefaultTransport.RoundTrip(out)
}
