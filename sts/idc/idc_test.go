package idc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/sts"
	"github.com/mcpguard/mcpguard/sts/idc"
	"github.com/mcpguard/mcpguard/test/fakeidp"
	"github.com/mcpguard/mcpguard/test/fakesso"
)

const (
	appARN     = "arn:aws:sso::123456789012:application/ssoins-7223f4a1b2c3d4e5/apl-1a2b3c4d5e6f7a8b"
	gatewayARN = "arn:aws:iam::111122223333:role/mcpguard"
	dev        = "111111111111"
	prod       = "222222222222"
	keyID      = "AKIAGATEWAY000000001"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	idp   *fakeidp.IdP
	sso   *fakesso.Server
	clock *clock
	opts  idc.Options
}

type envOpts struct {
	tokenLifetime time.Duration
	refresh       bool
}

func newEnv(t testing.TB, eo envOpts) *env {
	t.Helper()
	e := &env{clock: &clock{t: time.Now().Truncate(time.Second)}}
	var err error
	if e.idp, err = fakeidp.New(fakeidp.WithClock(e.clock.Now)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.idp.Close() })
	tti := fakesso.TrustedTokenIssuer{IssuerURL: e.idp.URL(), JWKSURL: e.idp.JWKSURL(), ClaimAttributePath: "email", IdentityStoreAttributePath: "emails.value"}
	if e.sso, err = fakesso.New(fakesso.Options{
		Applications: map[string]fakesso.Application{appARN: {
			Issuer: tti, Audiences: []string{"mcpguard"}, Scopes: []string{fakesso.ScopeAccountAccess},
			RefreshTokenGrant: eo.refresh, AssignedGroups: []string{"Everyone"}, AuthorizedCallers: []string{gatewayARN},
		}},
		Users: []fakesso.User{
			{UserName: "alice", Emails: []string{"alice@example.com"}, Groups: []string{"Everyone", "dev-readers"}},
			{UserName: "bob", Emails: []string{"bob@example.com"}, Groups: []string{"Everyone", "prod-admins"}},
		},
		Assignments: []fakesso.Assignment{
			{Group: "dev-readers", AccountID: dev, PermissionSet: "S3ReadOnly"},
			{Group: "prod-admins", AccountID: prod, PermissionSet: "AdministratorAccess"},
			{Group: "prod-admins", AccountID: prod, PermissionSet: "ViewOnly"},
		},
		Callers: func(id string) (fakesso.Caller, bool) {
			return fakesso.Caller{AccessKeyID: keyID, SecretAccessKey: "gateway-secret", PrincipalARN: gatewayARN}, id == keyID
		},
		TokenLifetime: eo.tokenLifetime,
		Now:           e.clock.Now,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sso.Close() })
	one := 1
	e.opts = idc.Options{
		Region: "us-east-1", ApplicationARN: appARN,
		OIDCEndpoint: e.sso.OIDCURL(), PortalEndpoint: e.sso.PortalURL(),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, "gateway-secret", ""),
		Mappings: []idc.Mapping{
			{Group: "dev-readers", Account: dev, PermissionSet: "S3ReadOnly", Priority: &one},
			{Group: "dev-readers", Account: prod, PermissionSet: "ReadOnly"},
			{Group: "prod-admins", Account: prod, PermissionSet: "ViewOnly"},
		},
		MaxAttempts: 1,
		Now:         e.clock.Now,
	}
	return e
}

func (e *env) broker(t testing.TB, mutate func(*idc.Options)) *idc.Broker {
	t.Helper()
	o := e.opts
	if mutate != nil {
		mutate(&o)
	}
	b, err := idc.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func (e *env) identity(t testing.TB, user string, groups ...string) *authn.Identity {
	t.Helper()
	c := e.idp.Claims(user, "mcpguard")
	tok, err := e.idp.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return &authn.Identity{Subject: user, Issuer: e.idp.URL(), Email: user + "@example.com", Groups: groups,
		Token: authn.Token(tok), ExpiresAt: time.Unix(c["exp"].(int64), 0)}
}

func pick(t *testing.T, b *idc.Broker, id *authn.Identity, account, set string) context.Context {
	t.Helper()
	r := idc.Requested{}
	if account != "" {
		r.HeaderAccount = []string{account}
	}
	if set != "" {
		r.HeaderPermissionSet = []string{set}
	}
	ctx, _, err := b.Select(t.Context(), id, r)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	return ctx
}

func TestCredentialsForDefaultPairAndCache(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	alice := e.identity(t, "alice", "dev-readers")
	g, err := b.Credentials(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if g.Source != idc.Source || g.AWSAccount != dev || g.PermissionSet != "S3ReadOnly" || g.Cached || g.SessionName != "alice@example.com" {
		t.Fatalf("grant = %+v", g)
	}
	issued, ok := e.sso.Issued(g.Credentials.AccessKeyID)
	if !ok || string(g.Credentials.SecretAccessKey) != issued.SecretAccessKey || !g.Credentials.Expires.Equal(issued.Expiration) {
		t.Fatalf("grant credentials do not match the portal's: %+v", issued)
	}
	calls := len(e.sso.Calls())
	g2, err := b.Credentials(t.Context(), alice)
	if err != nil || !g2.Cached || g2.Credentials.AccessKeyID != g.Credentials.AccessKeyID {
		t.Fatalf("second call: %+v, %v", g2, err)
	}
	if n := len(e.sso.Calls()); n != calls {
		t.Fatalf("cached call reached Identity Center (%d calls, want %d)", n, calls)
	}
	for _, op := range []string{"CreateTokenWithIAM", "ListAccounts", "ListAccountRoles", "GetRoleCredentials"} {
		if n := e.sso.CountCalls(op); n != 1 {
			t.Errorf("%s calls = %d, want 1", op, n)
		}
	}
}

// TestGrantNeverOutlivesToken: the Identity Center token lives 20 minutes,
// the role credentials an hour; the grant ends with the token.
func TestGrantNeverOutlivesToken(t *testing.T) {
	e := newEnv(t, envOpts{tokenLifetime: 20 * time.Minute})
	b := e.broker(t, nil)
	g, err := b.Credentials(t.Context(), e.identity(t, "alice", "dev-readers"))
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(20 * time.Minute); !g.NotAfter.Equal(want) {
		t.Fatalf("NotAfter = %v, want the token's expiry %v", g.NotAfter, want)
	}
	if !g.Credentials.Expires.After(g.NotAfter) {
		t.Fatalf("credentials expire %v, before the token", g.Credentials.Expires)
	}
	// Past the token's expiry nothing cached is used: a new exchange.
	e.clock.Advance(21 * time.Minute)
	g2, err := b.Credentials(t.Context(), e.identity(t, "alice", "dev-readers"))
	if err != nil {
		t.Fatal(err)
	}
	if g2.Cached || g2.Credentials.AccessKeyID == g.Credentials.AccessKeyID || e.sso.CountCalls("CreateTokenWithIAM") != 2 {
		t.Fatalf("expired grant reused: cached=%v, exchanges=%d", g2.Cached, e.sso.CountCalls("CreateTokenWithIAM"))
	}
}

func TestGrantBoundToRequestToken(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	id := e.identity(t, "alice", "dev-readers")
	id.ExpiresAt = e.clock.Now().Add(10 * time.Minute)
	g, err := b.Credentials(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !g.NotAfter.Equal(id.ExpiresAt) {
		t.Fatalf("NotAfter = %v, want the JWT's exp %v", g.NotAfter, id.ExpiresAt)
	}
}

func TestOneExchangeForConcurrentFirstRequests(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	alice := e.identity(t, "alice", "dev-readers")
	const n = 1000
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g, err := b.Credentials(t.Context(), alice)
			errs[i] = err
			if err == nil {
				keys[i] = g.Credentials.AccessKeyID
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("request %d: key %q err %v", i, keys[i], errs[i])
		}
	}
	for _, op := range []string{"CreateTokenWithIAM", "GetRoleCredentials"} {
		if c := e.sso.CountCalls(op); c != 1 {
			t.Errorf("%s calls = %d, want 1", op, c)
		}
	}
}

func TestPairSelection(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	alice := e.identity(t, "alice", "dev-readers")
	tests := []struct {
		name string
		r    idc.Requested
		want idc.Pair
		err  string
	}{
		{"default is the top priority", idc.Requested{}, idc.Pair{Account: dev, PermissionSet: "S3ReadOnly"}, ""},
		{"route pins both", idc.Requested{RouteAccount: []string{prod}, RoutePermissionSet: []string{"ReadOnly"}}, idc.Pair{Account: prod, PermissionSet: "ReadOnly"}, ""},
		{"route pins the account", idc.Requested{RouteAccount: []string{prod}}, idc.Pair{Account: prod, PermissionSet: "ReadOnly"}, ""},
		{"header", idc.Requested{HeaderAccount: []string{dev}, HeaderPermissionSet: []string{"S3ReadOnly"}}, idc.Pair{Account: dev, PermissionSet: "S3ReadOnly"}, ""},
		{"header agrees with route", idc.Requested{RouteAccount: []string{dev}, HeaderAccount: []string{dev}}, idc.Pair{Account: dev, PermissionSet: "S3ReadOnly"}, ""},
		{"header contradicts route", idc.Requested{RouteAccount: []string{dev}, HeaderAccount: []string{prod}}, idc.Pair{}, "idc_conflicting_target"},
		{"repeated header", idc.Requested{HeaderAccount: []string{dev, prod}}, idc.Pair{}, "idc_repeated_target"},
		{"set without account", idc.Requested{HeaderPermissionSet: []string{"S3ReadOnly"}}, idc.Pair{}, "idc_incomplete_target"},
		{"pair outside allow list", idc.Requested{HeaderAccount: []string{prod}, HeaderPermissionSet: []string{"AdministratorAccess"}}, idc.Pair{}, "idc_pair_not_allowed"},
		{"account outside allow list", idc.Requested{RouteAccount: []string{"333333333333"}}, idc.Pair{}, "idc_pair_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p, err := b.Select(t.Context(), alice, tt.r)
			if got := mcpguard.ReasonOf(err); got != tt.err {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.err)
			}
			if p != tt.want {
				t.Fatalf("pair = %+v, want %+v", p, tt.want)
			}
		})
	}
	if _, _, err := b.Select(t.Context(), e.identity(t, "eve", "Everyone"), idc.Requested{}); mcpguard.ReasonOf(err) != "idc_no_mapping" {
		t.Fatalf("unmapped user: %v", err)
	}
	if n := len(e.sso.Calls()); n != 0 {
		t.Fatalf("selection called Identity Center %d times", n)
	}
}

// TestAllowListBeforeAssignments: Bob's portal lists prod
// AdministratorAccess, but the gateway allows him only ViewOnly.
func TestAllowListBeforeAssignments(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	bob := e.identity(t, "bob", "prod-admins")
	// A context forged without Select still cannot reach the pair.
	ctx := context.Background()
	if _, _, err := b.Select(ctx, bob, idc.Requested{HeaderAccount: []string{prod}, HeaderPermissionSet: []string{"AdministratorAccess"}}); mcpguard.KindOf(err) != mcpguard.KindForbidden {
		t.Fatalf("select: %v", err)
	}
	g, err := b.Credentials(pick(t, b, bob, prod, "ViewOnly"), bob)
	if err != nil || g.PermissionSet != "ViewOnly" {
		t.Fatalf("ViewOnly: %+v %v", g, err)
	}
	if n := e.sso.CountCalls("GetRoleCredentials"); n != 1 {
		t.Fatalf("GetRoleCredentials calls = %d", n)
	}
}

func TestAllowedButNotAssigned(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	alice := e.identity(t, "alice", "dev-readers")
	_, err := b.Credentials(pick(t, b, alice, prod, "ReadOnly"), alice)
	if mcpguard.KindOf(err) != mcpguard.KindForbidden || mcpguard.ReasonOf(err) != "idc_not_assigned" {
		t.Fatalf("err = %v", err)
	}
	if n := e.sso.CountCalls("GetRoleCredentials"); n != 0 {
		t.Fatalf("GetRoleCredentials called %d times for an unassigned pair", n)
	}
	// The assignments stay cached for the TTL, then are listed again.
	_, _ = b.Credentials(pick(t, b, alice, prod, "ReadOnly"), alice)
	if n := e.sso.CountCalls("ListAccounts"); n != 1 {
		t.Fatalf("ListAccounts calls = %d, want 1 within the TTL", n)
	}
	e.clock.Advance(idc.DefaultAssignmentsTTL)
	_, _ = b.Credentials(pick(t, b, alice, prod, "ReadOnly"), alice)
	if n := e.sso.CountCalls("ListAccounts"); n != 2 {
		t.Fatalf("ListAccounts calls = %d, want 2 after the TTL", n)
	}
}

func TestRefreshAheadWithRefreshToken(t *testing.T) {
	e := newEnv(t, envOpts{refresh: true, tokenLifetime: 20 * time.Minute})
	b := e.broker(t, nil)
	alice := e.identity(t, "alice", "dev-readers")
	if _, err := b.Credentials(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	// Inside both refresh windows: the cached grant is served, and one
	// background refresh replaces token and credentials.
	e.clock.Advance(16 * time.Minute)
	g, err := b.Credentials(t.Context(), alice)
	if err != nil || !g.Cached {
		t.Fatalf("in the refresh window: %+v %v", g, err)
	}
	waitFor(t, func() bool { return e.sso.CountCalls("GetRoleCredentials") == 2 })
	var grants []string
	for _, c := range e.sso.Calls() {
		if c.Operation == "CreateTokenWithIAM" {
			grants = append(grants, c.GrantType)
		}
	}
	if len(grants) != 2 || grants[1] != fakesso.GrantRefreshToken {
		t.Fatalf("token grants = %v, want jwt-bearer then refresh_token", grants)
	}
	// The new credentials are bound to the new token, so later requests
	// are served from the cache without another refresh.
	waitFor(t, func() bool {
		g, err := b.Credentials(t.Context(), alice)
		return err == nil && g.NotAfter.After(e.clock.Now().Add(10*time.Minute))
	})
	for range 5 {
		if _, err := b.Credentials(t.Context(), alice); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sso.CountCalls("GetRoleCredentials"); n != 2 {
		t.Fatalf("GetRoleCredentials calls = %d after the refresh, want 2", n)
	}
}

func TestRevokedSessionIsExchangedAgain(t *testing.T) {
	e := newEnv(t, envOpts{})
	b := e.broker(t, nil)
	alice := e.identity(t, "alice", "dev-readers")
	if _, err := b.Credentials(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	e.sso.RevokeSessions("alice")
	if _, err := b.Credentials(pick(t, b, alice, dev, "S3ReadOnly"), alice); err != nil {
		t.Fatalf("cached pair: %v", err)
	}
	// Once the assignments must be listed again, the portal refuses the
	// dead token: it is replaced by one new exchange.
	e.clock.Advance(idc.DefaultAssignmentsTTL)
	_, err := b.Credentials(pick(t, b, alice, prod, "ReadOnly"), alice)
	if mcpguard.ReasonOf(err) != "idc_not_assigned" || e.sso.CountCalls("CreateTokenWithIAM") != 2 {
		t.Fatalf("after revocation: %v, exchanges %d", err, e.sso.CountCalls("CreateTokenWithIAM"))
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *env, o *idc.Options)
		kind       mcpguard.Kind
		reason     string
		retryAfter time.Duration
	}{
		{"application unknown", func(e *env, o *idc.Options) {
			o.ApplicationARN = "arn:aws:sso::123456789012:application/ssoins-7223f4a1b2c3d4e5/apl-ffffffffffffffff"
		}, mcpguard.KindInternal, "idc_invalid_client", 0},
		{"gateway not in actor policy", func(e *env, o *idc.Options) {
			o.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000001", "x", ""))
		}, mcpguard.KindInternal, "idc_gateway_credentials", 0},
		{"scope refused", func(e *env, o *idc.Options) { o.Scopes = []string{"sso:account:access", "sso:admin"} }, mcpguard.KindInternal, "idc_invalid_scope", 0},
		{"invalid grant", func(e *env, o *idc.Options) { e.sso.InjectError(1, "InvalidGrantException", "x") }, mcpguard.KindUnauthenticated, "idc_invalid_grant", 0},
		{"expired token", func(e *env, o *idc.Options) { e.sso.InjectError(1, "ExpiredTokenException", "x") }, mcpguard.KindUnauthenticated, "idc_expired_token", 0},
		{"access denied", func(e *env, o *idc.Options) { e.sso.InjectError(1, "AccessDeniedException", "x") }, mcpguard.KindForbidden, "idc_access_denied", 0},
		{"unauthorized client", func(e *env, o *idc.Options) { e.sso.InjectError(1, "UnauthorizedClientException", "x") }, mcpguard.KindInternal, "idc_grant_not_configured", 0},
		{"slow down", func(e *env, o *idc.Options) { e.sso.InjectError(1, "SlowDownException", "x") }, mcpguard.KindCredentialsUnavailable, "idc_throttled", 2 * time.Second},
		{"internal server", func(e *env, o *idc.Options) { e.sso.InjectError(1, "InternalServerException", "x") }, mcpguard.KindCredentialsUnavailable, "idc_unavailable", 5 * time.Second},
		{"portal throttled", func(e *env, o *idc.Options) { e.sso.SetThrottle(1) }, mcpguard.KindCredentialsUnavailable, "idc_throttled", 2 * time.Second},
		{"oidc unreachable", func(e *env, o *idc.Options) { o.OIDCEndpoint = "http://127.0.0.1:1" }, mcpguard.KindCredentialsUnavailable, "idc_unreachable", 5 * time.Second},
		{"no gateway credentials", func(e *env, o *idc.Options) {
			o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("no EC2 IMDS role found")
			})
		}, mcpguard.KindCredentialsUnavailable, "idc_gateway_credentials_unavailable", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			o := e.opts
			tt.setup(e, &o)
			b, err := idc.New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_, err = b.Credentials(t.Context(), e.identity(t, "alice", "dev-readers"))
			var me *mcpguard.Error
			if !errors.As(err, &me) || me.Kind != tt.kind || me.Reason != tt.reason {
				t.Fatalf("err = %v (kind %v reason %q), want %v %q", err, mcpguard.KindOf(err), mcpguard.ReasonOf(err), tt.kind, tt.reason)
			}
			if got := sts.RetryAfter(err); got != tt.retryAfter {
				t.Fatalf("RetryAfter = %v, want %v", got, tt.retryAfter)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, envOpts{})
	bad := e.opts
	bad.Region, bad.ApplicationARN, bad.Credentials, bad.Mappings, bad.Scopes = "moon", "arn:nope", nil, nil, []string{"openid"}
	_, err := idc.New(bad)
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"region", "application_arn", "credentials", "mappings", "scopes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// waitFor polls a condition on the fakes' counters (never a fixed sleep
// before an assertion) for at most ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
