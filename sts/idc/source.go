package idc

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/sync/singleflight"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/sts"
)

// Defaults of the identity_center section.
const (
	DefaultTokenRefreshMargin      = 5 * time.Minute
	DefaultCredentialRefreshMargin = 5 * time.Minute
	DefaultAssignmentsTTL          = 5 * time.Minute
	DefaultMaxEntries              = 10000
	DefaultTimeout                 = 10 * time.Second
	DefaultMaxAttempts             = 3
	DefaultRefreshBackoff          = 5 * time.Second
	// Source is the value of sts.Grant.Source for grants of this package.
	Source = "identity_center"
)

// DefaultScopes are requested when identity_center.scopes is empty: the
// portal's account access, which Pattern 1 needs.
var DefaultScopes = []string{"sso:account:access"}

const (
	grantJWTBearer    = "urn:ietf:params:oauth:grant-type:jwt-bearer" //nolint:gosec // an OAuth grant type name, not a credential
	grantRefreshToken = "refresh_token"                               //nolint:gosec // an OAuth grant type name, not a credential
	pageSize          = 100
)

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	appARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:sso::[0-9]{12}:application/ssoins-[0-9a-f]{16}/apl-[0-9a-f]{16}$`)
	instARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[0-9a-f]{16}$`)
)

// Options configure a Broker. Zero durations take the defaults.
type Options struct {
	Region         string
	InstanceARN    string
	ApplicationARN string
	// Scopes requested from CreateTokenWithIAM (default DefaultScopes).
	Scopes []string
	// OIDCEndpoint and PortalEndpoint override the regional endpoints
	// oidc.<region>.amazonaws.com and portal.sso.<region>.amazonaws.com.
	OIDCEndpoint, PortalEndpoint string
	// Credentials are the gateway's own IAM credentials, which sign
	// CreateTokenWithIAM. Required.
	Credentials aws.CredentialsProvider
	Mappings    []Mapping
	// TokenRefreshMargin: an Identity Center token this close to expiry is
	// refreshed in the background.
	TokenRefreshMargin time.Duration
	// CredentialRefreshMargin: role credentials this close to expiry are
	// refreshed in the background.
	CredentialRefreshMargin time.Duration
	// AssignmentsTTL is how long a user's portal assignments are trusted.
	AssignmentsTTL time.Duration
	// MaxEntries bounds each cache (tokens, assignments, credentials).
	MaxEntries int
	// Timeout bounds one exchange including retries; MaxAttempts is the
	// SDK's attempts per call.
	Timeout     time.Duration
	MaxAttempts int
	// RefreshBackoff is the wait after a failed background refresh.
	RefreshBackoff time.Duration
	HTTPClient     *http.Client
	Logger         *slog.Logger
	Now            func() time.Time

	// IdentityBearerRoles, by account ID, switch the broker to Pattern 2
	// (trusted identity propagation): instead of the portal, it calls STS
	// AssumeRole of the account's identity-bearer role with the token's
	// identity context, and mappings name accounts only.
	IdentityBearerRoles map[string]string
	// STSEndpoint overrides the regional STS endpoint for Pattern 2.
	STSEndpoint string
}

// userKey identifies a user across tokens: issuer and subject.
type userKey [sha256.Size]byte

type credKey struct {
	user userKey
	pair Pair
}

type acctKey struct {
	user    userKey
	account string
}

// token is a cached Identity Center token.
type token struct {
	access  sts.Secret
	refresh sts.Secret
	// identityContext is awsAdditionalDetails.identityContext, the
	// assertion of Pattern 2.
	identityContext sts.Secret
	expires         time.Time
}

// Broker is the Identity Center credential source. It is safe for
// concurrent use; Close stops background refreshes.
type Broker struct {
	o       Options
	maps    *compiled
	oidc    *ssooidc.Client
	portal  *sso.Client
	log     *slog.Logger
	tokens  *lru[userKey, *token]
	accts   *lru[userKey, []string]
	roles   *lru[acctKey, []string]
	creds   *lru[credKey, *sts.Grant]
	flight  singleflight.Group
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	scopes  []string
	timeout time.Duration
	// tip is the STS client of Pattern 2; nil for permission sets.
	tip *awssts.Client
}

// New validates opts and builds a Broker; every problem is reported.
func New(opts Options) (*Broker, error) {
	o := opts
	var errs []error
	if !regionRE.MatchString(o.Region) {
		errs = append(errs, fmt.Errorf("region %q is not an AWS region name", o.Region))
	}
	if o.InstanceARN != "" && !instARNRE.MatchString(o.InstanceARN) {
		errs = append(errs, fmt.Errorf("instance_arn %q is not an Identity Center instance ARN", o.InstanceARN))
	}
	if !appARNRE.MatchString(o.ApplicationARN) {
		errs = append(errs, fmt.Errorf("application_arn %q is not an Identity Center application ARN", o.ApplicationARN))
	}
	for name, e := range map[string]string{"oidc_endpoint": o.OIDCEndpoint, "portal_endpoint": o.PortalEndpoint} {
		if e == "" {
			continue
		}
		if u, err := url.Parse(e); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q is not an http(s) URL", name, e))
		}
	}
	if o.Credentials == nil {
		errs = append(errs, errors.New("the gateway's own AWS credentials are required to call CreateTokenWithIAM"))
	}
	tip := len(o.IdentityBearerRoles) > 0
	maps, err := compileMappings(o.Mappings, tip)
	if err != nil {
		errs = append(errs, err)
	}
	if tip {
		errs = append(errs, checkBearerRoles(o.IdentityBearerRoles, maps)...)
	} else {
		if len(o.Scopes) == 0 {
			o.Scopes = DefaultScopes
		}
		if !slices.Contains(o.Scopes, "sso:account:access") {
			errs = append(errs, errors.New("scopes must include sso:account:access, which the portal requires"))
		}
	}
	o.TokenRefreshMargin = orDefault(o.TokenRefreshMargin, DefaultTokenRefreshMargin)
	o.CredentialRefreshMargin = orDefault(o.CredentialRefreshMargin, DefaultCredentialRefreshMargin)
	o.AssignmentsTTL = orDefault(o.AssignmentsTTL, DefaultAssignmentsTTL)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.RefreshBackoff = orDefault(o.RefreshBackoff, DefaultRefreshBackoff)
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.TokenRefreshMargin < 0 || o.CredentialRefreshMargin < 0 || o.AssignmentsTTL < 0 || o.Timeout < 0 ||
		o.RefreshBackoff < 0 || o.MaxEntries < 0 || o.MaxAttempts < 0 {
		errs = append(errs, errors.New("durations, max_entries and attempts must not be negative"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("identity_center: %w", errors.Join(errs...))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	retryer := func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = o.MaxAttempts; so.MaxBackoff = 2 * time.Second })
	}
	o.Credentials = gatewayCredentials{p: o.Credentials}
	oo := ssooidc.Options{Region: o.Region, Credentials: o.Credentials, AppID: "mcpguard", Retryer: retryer()}
	po := sso.Options{Region: o.Region, AppID: "mcpguard", Retryer: retryer()}
	if o.OIDCEndpoint != "" {
		oo.BaseEndpoint = aws.String(o.OIDCEndpoint)
	}
	if o.PortalEndpoint != "" {
		po.BaseEndpoint = aws.String(o.PortalEndpoint)
	}
	if o.HTTPClient != nil {
		oo.HTTPClient, po.HTTPClient = o.HTTPClient, o.HTTPClient
	}
	var tipClient *awssts.Client
	if tip {
		so := awssts.Options{Region: o.Region, Credentials: o.Credentials, AppID: "mcpguard", Retryer: retryer()}
		if o.STSEndpoint != "" {
			so.BaseEndpoint = aws.String(o.STSEndpoint)
		}
		if o.HTTPClient != nil {
			so.HTTPClient = o.HTTPClient
		}
		tipClient = awssts.New(so)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Broker{
		tip: tipClient,
		o:   o, maps: maps, oidc: ssooidc.New(oo), portal: sso.New(po), log: o.Logger,
		tokens: newLRU[userKey, *token](o.MaxEntries, o.TokenRefreshMargin),
		accts:  newLRU[userKey, []string](o.MaxEntries, 0),
		roles:  newLRU[acctKey, []string](o.MaxEntries, 0),
		creds:  newLRU[credKey, *sts.Grant](o.MaxEntries, o.CredentialRefreshMargin),
		ctx:    ctx, cancel: cancel, scopes: o.Scopes, timeout: o.Timeout,
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Close stops background refreshes and waits for those in flight.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// Handles reports whether an identity_center mapping admits the identity;
// other users are left to STS direct.
func (b *Broker) Handles(id *authn.Identity) bool { return id != nil && b.maps.handles(id) }

// Select decides the request's pair against the allow list, before any
// AWS call, and returns a context that carries it to Credentials.
func (b *Broker) Select(ctx context.Context, id *authn.Identity, r Requested) (context.Context, Pair, error) {
	p, err := b.maps.choose(id, r)
	if err != nil {
		return ctx, Pair{}, err
	}
	return b.maps.withTarget(ctx, p), p, nil
}

func keyOf(id *authn.Identity) userKey {
	var stack [256]byte
	buf := binary.AppendUvarint(stack[:0], uint64(len(id.Issuer)))
	buf = append(buf, id.Issuer...)
	buf = binary.AppendUvarint(buf, uint64(len(id.Subject)))
	buf = append(buf, id.Subject...)
	return sha256.Sum256(buf)
}

// Credentials returns the role credentials of the request's pair (from
// Select's context, else the user's default pair), after checking it
// against the allow list and the user's Identity Center assignments.
func (b *Broker) Credentials(ctx context.Context, id *authn.Identity) (*sts.Grant, error) {
	if id == nil || id.Token == "" {
		return nil, mcpguard.E(mcpguard.KindUnauthenticated, "authentication required", nil)
	}
	now := b.o.Now()
	if id.ExpiresAt.IsZero() || !now.Before(id.ExpiresAt) {
		e := mcpguard.E(mcpguard.KindUnauthenticated, "token expired", nil)
		e.Reason = "expired"
		return nil, e
	}
	p, ok := targetFrom(ctx)
	if !ok {
		var err error
		if p, err = b.maps.choose(id, Requested{}); err != nil {
			return nil, err
		}
	}
	// The allow list is checked again here: Credentials must never sign
	// for a pair the current token's groups do not admit.
	if !b.maps.allowed(id, p) {
		return nil, errPairNotAllowed
	}
	k := credKey{user: keyOf(id), pair: p}
	if g, ok, refresh := b.creds.get(k, now); ok {
		if refresh {
			b.background(func(ctx context.Context) error {
				_, err := b.fetchCreds(ctx, k, id)
				return err
			}, func() { b.creds.refreshFailed(k, b.o.Now().Add(b.o.RefreshBackoff)) })
		}
		return bound(g, id), nil
	}
	base := context.WithoutCancel(ctx)
	ch := b.flight.DoChan(fmt.Sprintf("creds:%x:%s:%s", k.user, p.Account, p.PermissionSet), func() (any, error) {
		return b.fetchCreds(base, k, id)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		g := *res.Val.(*sts.Grant)
		g.Cached = false
		return bound(&g, id), nil
	case <-ctx.Done():
		return nil, sts.Unavailable("canceled", "request canceled while waiting for AWS credentials", retryAfterUnavailable, ctx.Err())
	}
}

// bound limits a cached grant to the request's token.
func bound(g *sts.Grant, id *authn.Identity) *sts.Grant {
	if !id.ExpiresAt.Before(g.NotAfter) {
		return g
	}
	c := *g
	c.NotAfter = id.ExpiresAt
	return &c
}

func (b *Broker) background(run func(context.Context) error, failed func()) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		failed()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		if err := run(b.ctx); err != nil {
			failed()
		}
	}()
}

// fetchCreds checks the assignment and calls GetRoleCredentials, once
// with a fresh token if the portal no longer accepts the cached one.
func (b *Broker) fetchCreds(ctx context.Context, k credKey, id *authn.Identity) (*sts.Grant, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var g *sts.Grant
	err := b.withToken(ctx, k.user, id, func(tok *token) error {
		if b.tip != nil {
			var err error
			g, err = b.assumeWithContext(ctx, k, tok)
			return err
		}
		if err := b.checkAssigned(ctx, k, tok); err != nil {
			return err
		}
		out, err := b.portal.GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{
			AccessToken: aws.String(string(tok.access)), AccountId: aws.String(k.pair.Account), RoleName: aws.String(k.pair.PermissionSet),
		})
		if err != nil {
			return err
		}
		rc := out.RoleCredentials
		if rc == nil || rc.AccessKeyId == nil || rc.SecretAccessKey == nil || rc.SessionToken == nil || rc.Expiration == 0 {
			return mcpguard.E(mcpguard.KindInternal, "internal error while obtaining AWS credentials", errors.New("get role credentials: response has no credentials"))
		}
		reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		exp := time.UnixMilli(rc.Expiration)
		g = &sts.Grant{
			SessionName: sessionName(id),
			Credentials: sts.Credentials{
				AccessKeyID: *rc.AccessKeyId, SecretAccessKey: sts.Secret(*rc.SecretAccessKey),
				SessionToken: sts.Secret(*rc.SessionToken), Expires: exp,
			},
			STSRequestID: reqID,
			NotAfter:     minTime(exp, tok.expires),
			Source:       Source,
			AWSAccount:   k.pair.Account, PermissionSet: k.pair.PermissionSet,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !b.o.Now().Before(g.NotAfter) {
		return nil, sts.Unavailable("idc_expired_credentials", "IAM Identity Center issued credentials that are already expired; try again later",
			retryAfterUnavailable, errors.New("role credentials expired on arrival"))
	}
	cached := *g
	cached.Cached = true
	b.creds.put(k, &cached, g.NotAfter)
	// One line per real issuance with the CloudTrail join keys (never a
	// secret): the access key and the issuing call's request ID.
	b.log.LogAttrs(ctx, slog.LevelInfo, "identity center credentials", slog.String("source", g.Source),
		slog.String("sub", id.Subject), slog.String("account", k.pair.Account), slog.String("permission_set", k.pair.PermissionSet),
		slog.String("role_arn", g.RoleARN), slog.String("request_id", g.STSRequestID), slog.Any("credentials", g.Credentials))
	return g, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sessionName is what CloudTrail shows as the role session: Identity
// Center names it after the user; the grant reports the IdP's email, else
// subject, for the audit record.
func sessionName(id *authn.Identity) string {
	if id.Email != "" {
		return id.Email
	}
	return id.Subject
}

// withToken runs f with the user's Identity Center token; when the portal
// answers 401 to a cached token, the token is dropped and f runs once more
// with a new one.
func (b *Broker) withToken(ctx context.Context, uk userKey, id *authn.Identity, f func(*token) error) error {
	for attempt := 0; ; attempt++ {
		tok, cached, err := b.token(ctx, uk, id)
		if err != nil {
			return err
		}
		err = f(tok)
		if err == nil {
			return nil
		}
		var me *mcpguard.Error
		if errors.As(err, &me) {
			return err
		}
		mErr := classifyPortal(err)
		if mErr.Reason == "idc_session_revoked" && cached && attempt == 0 {
			b.tokens.drop(uk)
			b.accts.drop(uk)
			continue
		}
		b.log.LogAttrs(ctx, slog.LevelWarn, "identity center portal call failed", slog.String("reason", mErr.Reason),
			slog.String("kind", mErr.Kind.String()), slog.String("error", err.Error()))
		return mErr
	}
}

// token returns the user's Identity Center token from the cache, or from
// one exchange shared by every concurrent request of the user.
func (b *Broker) token(ctx context.Context, uk userKey, id *authn.Identity) (*token, bool, error) {
	now := b.o.Now()
	if t, ok, refresh := b.tokens.get(uk, now); ok {
		if !refresh {
			return t, true, nil
		}
		// Credentials are being fetched anyway: renew the token first,
		// or they would be bound to a token about to expire. On failure
		// the still valid token serves, and a later fetch tries again.
		ch := b.flight.DoChan(fmt.Sprintf("token:%x", uk), func() (any, error) {
			return b.exchange(context.WithoutCancel(ctx), uk, id, t)
		})
		select {
		case res := <-ch:
			if res.Err != nil {
				b.tokens.refreshFailed(uk, b.o.Now().Add(b.o.RefreshBackoff))
				return t, true, nil
			}
			return res.Val.(*token), false, nil
		case <-ctx.Done():
			return t, true, nil
		}
	}
	ch := b.flight.DoChan(fmt.Sprintf("token:%x", uk), func() (any, error) {
		return b.exchange(context.WithoutCancel(ctx), uk, id, nil)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, false, res.Err
		}
		return res.Val.(*token), false, nil
	case <-ctx.Done():
		return nil, false, sts.Unavailable("canceled", "request canceled while waiting for AWS credentials", retryAfterUnavailable, ctx.Err())
	}
}

// exchange gets a new token: with prev's refresh token when there is one,
// falling back to (or else using) the jwt-bearer grant with id's JWT.
func (b *Broker) exchange(ctx context.Context, uk userKey, id *authn.Identity, prev *token) (*token, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if prev != nil && prev.refresh != "" {
		t, err := b.createToken(ctx, &ssooidc.CreateTokenWithIAMInput{
			ClientId: aws.String(b.o.ApplicationARN), GrantType: aws.String(grantRefreshToken),
			RefreshToken: aws.String(string(prev.refresh)),
		})
		if err == nil {
			if t.refresh == "" {
				t.refresh = prev.refresh
			}
			b.tokens.put(uk, t, t.expires)
			return t, nil
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, "identity center refresh token refused; exchanging the identity token again",
			slog.String("reason", mcpguard.ReasonOf(err)))
	}
	if !b.o.Now().Before(id.ExpiresAt) {
		return nil, mcpguard.E(mcpguard.KindUnauthenticated, "token expired", nil)
	}
	t, err := b.createToken(ctx, &ssooidc.CreateTokenWithIAMInput{
		ClientId: aws.String(b.o.ApplicationARN), GrantType: aws.String(grantJWTBearer),
		Assertion: aws.String(string(id.Token)), Scope: b.scopes,
	})
	if err != nil {
		return nil, err
	}
	b.tokens.put(uk, t, t.expires)
	return t, nil
}

func (b *Broker) createToken(ctx context.Context, in *ssooidc.CreateTokenWithIAMInput) (*token, error) {
	start := b.o.Now()
	out, err := b.oidc.CreateTokenWithIAM(ctx, in)
	if err != nil {
		mErr := classifyToken(err)
		b.log.LogAttrs(ctx, slog.LevelWarn, "identity center token exchange failed", slog.String("grant_type", aws.ToString(in.GrantType)),
			slog.String("reason", mErr.Reason), slog.String("kind", mErr.Kind.String()), slog.String("error", err.Error()))
		return nil, mErr
	}
	if aws.ToString(out.AccessToken) == "" || out.ExpiresIn <= 0 {
		return nil, mcpguard.E(mcpguard.KindInternal, "internal error while obtaining AWS credentials", errors.New("create token with iam: response has no access token"))
	}
	if b.tip == nil && len(out.Scope) > 0 && !slices.Contains(out.Scope, "sso:account:access") {
		return nil, kindErr(mcpguard.KindInternal, "idc_invalid_scope", "IAM Identity Center did not grant sso:account:access to the application", nil)
	}
	t := &token{
		access: sts.Secret(aws.ToString(out.AccessToken)), refresh: sts.Secret(aws.ToString(out.RefreshToken)),
		expires: start.Add(time.Duration(out.ExpiresIn) * time.Second),
	}
	if d := out.AwsAdditionalDetails; d != nil {
		t.identityContext = sts.Secret(aws.ToString(d.IdentityContext))
	}
	return t, nil
}

// checkAssigned verifies the pair against the user's portal assignments:
// the account from ListAccounts, the permission set from ListAccountRoles,
// each cached for AssignmentsTTL.
func (b *Broker) checkAssigned(ctx context.Context, k credKey, tok *token) error {
	now := b.o.Now()
	accounts, ok, _ := b.accts.get(k.user, now)
	if !ok {
		var err error
		if accounts, err = b.listAccounts(ctx, tok); err != nil {
			return err
		}
		b.accts.put(k.user, accounts, now.Add(b.o.AssignmentsTTL))
	}
	if !slices.Contains(accounts, k.pair.Account) {
		return errNotAssigned
	}
	ak := acctKey{user: k.user, account: k.pair.Account}
	roles, ok, _ := b.roles.get(ak, now)
	if !ok {
		var err error
		if roles, err = b.listRoles(ctx, tok, k.pair.Account); err != nil {
			return err
		}
		b.roles.put(ak, roles, now.Add(b.o.AssignmentsTTL))
	}
	if !slices.Contains(roles, k.pair.PermissionSet) {
		return errNotAssigned
	}
	return nil
}

func (b *Broker) listAccounts(ctx context.Context, tok *token) ([]string, error) {
	var out []string
	p := sso.NewListAccountsPaginator(b.portal, &sso.ListAccountsInput{AccessToken: aws.String(string(tok.access)), MaxResults: aws.Int32(pageSize)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range page.AccountList {
			out = append(out, aws.ToString(a.AccountId))
		}
	}
	return out, nil
}

func (b *Broker) listRoles(ctx context.Context, tok *token, account string) ([]string, error) {
	var out []string
	p := sso.NewListAccountRolesPaginator(b.portal, &sso.ListAccountRolesInput{
		AccessToken: aws.String(string(tok.access)), AccountId: aws.String(account), MaxResults: aws.Int32(pageSize),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			var me *mcpguard.Error
			if errors.As(classifyPortal(err), &me) && me.Reason == "idc_not_assigned" {
				return nil, nil
			}
			return nil, err
		}
		for _, r := range page.RoleList {
			out = append(out, aws.ToString(r.RoleName))
		}
	}
	return out, nil
}
