package sts

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"golang.org/x/sync/singleflight"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
)

// Defaults of aws_sts_config and its cache section.
const (
	DefaultSessionDuration = time.Hour
	DefaultRefreshMargin   = 5 * time.Minute
	DefaultMaxEntries      = 10000
	DefaultTimeout         = 10 * time.Second
	DefaultMaxAttempts     = 3
	DefaultMaxBackoff      = 2 * time.Second
	DefaultRefreshBackoff  = 5 * time.Second
	maxRefreshBackoff      = time.Minute
)

// retryCodes are the STS error codes the SDK retries before the broker
// sees the error. The SDK's defaults contain Throttling but not
// IDPCommunicationError, which STS documents as transient.
var retryCodes = map[string]struct{}{
	"IDPCommunicationError": {},
	"Throttling":            {},
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// Options configure a Broker. Zero values take the documented defaults.
type Options struct {
	// Region selects the regional STS endpoint sts.<region>.amazonaws.com.
	Region string
	// Endpoint overrides the STS endpoint (VPC endpoints, tests).
	Endpoint string
	// RoleClaim names the claim whose groups select the role; empty means
	// the identity's Groups. See authn.GroupsFromClaims for the accepted shapes.
	RoleClaim string
	// Mappings are aws_sts_config.role_mappings in file order.
	Mappings []Mapping
	// DefaultRoleARN is assumed when no mapping matches; empty means 403.
	DefaultRoleARN string
	// ProviderRoles replace Mappings and DefaultRoleARN for the users of
	// the named identity provider (authn.Identity.Provider); their
	// mappings match the identity's mapped groups and roles.
	ProviderRoles map[string]ProviderRoles
	// SessionNameClaim names the claim used as RoleSessionName (default
	// email, falling back to sub).
	SessionNameClaim string
	// EmailVerifiedClaim names the boolean claim that must be true for the
	// email to become the session name (default email_verified); without
	// it sub is used.
	EmailVerifiedClaim string
	// SessionDuration is DurationSeconds (default 1h, 15m–12h).
	SessionDuration time.Duration
	// RefreshMargin: credentials are refreshed in the background once they
	// are this close to expiry (default 5m).
	RefreshMargin time.Duration
	// MaxEntries bounds the credential cache (default 10 000, LRU).
	MaxEntries int
	// Timeout bounds one exchange including the SDK's retries (default 10s).
	Timeout time.Duration
	// MaxAttempts is the SDK's attempts per exchange (default 3).
	MaxAttempts int
	// MaxBackoff caps the SDK's delay between attempts (default 2s).
	MaxBackoff time.Duration
	// RefreshBackoff is the wait after a failed background refresh; it
	// doubles with each failure up to a minute (default 5s).
	RefreshBackoff time.Duration
	// HTTPClient carries the STS calls; nil uses the SDK's client.
	HTTPClient *http.Client
	// Logger receives STS failures and background refresh outcomes.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Observer receives audit and metric events; nil ignores them.
	Observer Observer
	// ScopeDown is the default scope-down mode of mappings that set none
	// (default ScopeMapping). See ScopeRequest.
	ScopeDown ScopeMode
	// ScopeConditions are the conditions of every per-request session
	// policy; nil means DefaultScopeConditions, empty means none.
	ScopeConditions []Condition
	// MaxActionSets bounds the distinct action sets per user under
	// ScopeRequest (default DefaultMaxActionSets).
	MaxActionSets int
	// Shared, when set, is the cache shared by every replica under the
	// local one (shared.go); nil keeps credentials per replica.
	Shared *SharedCache
}

// Observer receives what audit and metrics need from the broker. Methods
// are called synchronously and must be quick.
type Observer interface {
	// OnAssume reports every AssumeRoleWithWebIdentity exchange.
	OnAssume(AssumeEvent)
	// OnCache reports how each Credentials call was served.
	OnCache(CacheResult)
	// OnEntries reports the number of cache entries after it changed.
	OnEntries(n int)
}

// AssumeEvent describes one STS exchange. Err, when set, is the
// *mcpguard.Error returned to the caller; its cause holds the AWS error and
// is for logs only.
type AssumeEvent struct {
	RoleARN        string
	SessionName    string
	Subject        string
	Issuer         string
	STSRequestID   string
	AccessKeyID    string
	AssumedRoleARN string
	Expiration     time.Time
	// Duration is how long the exchange took, retries included.
	Duration time.Duration
	Err      error
	// Refresh is true for background refreshes.
	Refresh bool
}

// Broker selects roles and issues cached STS credentials. It is safe for
// concurrent use; Close stops background refreshes.
type Broker struct {
	roles          *roleTable
	providerRoles  map[string]*roleTable
	client         *sts.Client
	sessionClaim   string
	verifiedClaim  string
	duration       int32
	margin         time.Duration
	timeout        time.Duration
	refreshBackoff time.Duration
	log            *slog.Logger
	now            func() time.Time
	obs            Observer
	cache          *cache
	resolved       resolver
	flight         singleflight.Group
	sets           *setLimiter
	shared         *SharedCache

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
}

// New validates opts (region, endpoint, every role ARN, durations) and
// builds a Broker. All problems are reported together.
func New(opts Options) (*Broker, error) {
	o := opts
	var errs []error
	if !regionRE.MatchString(o.Region) {
		errs = append(errs, fmt.Errorf("region %q is not an AWS region name", o.Region))
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("sts_endpoint %q is not an http(s) URL", o.Endpoint))
		}
	}
	if o.SessionDuration == 0 {
		o.SessionDuration = DefaultSessionDuration
	}
	if o.SessionDuration < minDuration*time.Second || o.SessionDuration > maxDuration*time.Second || o.SessionDuration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("session_duration %v must be whole seconds between 15m and 12h", o.SessionDuration))
	}
	if o.RefreshMargin == 0 {
		o.RefreshMargin = DefaultRefreshMargin
	}
	if o.RefreshMargin < 0 || o.RefreshMargin >= o.SessionDuration {
		errs = append(errs, fmt.Errorf("refresh_margin %v must be positive and shorter than session_duration", o.RefreshMargin))
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("cache max_entries %d is negative", o.MaxEntries))
	}
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.MaxBackoff = orDefault(o.MaxBackoff, DefaultMaxBackoff)
	o.RefreshBackoff = orDefault(o.RefreshBackoff, DefaultRefreshBackoff)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Timeout < 0 || o.MaxBackoff < 0 || o.RefreshBackoff < 0 || o.MaxAttempts < 0 {
		errs = append(errs, errors.New("timeouts, backoffs and attempts must not be negative"))
	}
	roles, err := compileRoles(o.RoleClaim, o.Mappings, o.DefaultRoleARN)
	if err != nil {
		errs = append(errs, err)
	} else if len(roles.byGroup) == 0 && roles.def == nil && len(o.ProviderRoles) == 0 {
		errs = append(errs, errors.New("neither role_mappings nor role_arn is configured"))
	}
	providerRoles, err := compileProviderRoles(o.ProviderRoles)
	if err != nil {
		errs = append(errs, err)
	}
	if roles != nil {
		if err := roles.compileScopes(o.ScopeDown, o.ScopeConditions); err != nil {
			errs = append(errs, err)
		}
	}
	// A provider's own mappings scope down exactly as the global ones.
	for _, name := range slices.Sorted(maps.Keys(providerRoles)) {
		if err := providerRoles[name].compileScopes(o.ScopeDown, o.ScopeConditions); err != nil {
			errs = append(errs, fmt.Errorf("oidc_providers %q: %w", name, err))
		}
	}
	if o.MaxActionSets == 0 {
		o.MaxActionSets = DefaultMaxActionSets
	}
	if o.MaxActionSets < 0 {
		errs = append(errs, fmt.Errorf("max_action_sets %d is negative", o.MaxActionSets))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("aws_sts_config: %w", errors.Join(errs...))
	}

	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	stsOpts := sts.Options{
		Region:      o.Region,
		Credentials: aws.AnonymousCredentials{},
		AppID:       "mcpguard",
		Retryer:     newRetryer(o.MaxAttempts, o.MaxBackoff),
	}
	if o.Endpoint != "" {
		stsOpts.BaseEndpoint = aws.String(o.Endpoint)
	}
	if o.HTTPClient != nil {
		stsOpts.HTTPClient = o.HTTPClient
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Broker{
		roles:          roles,
		providerRoles:  providerRoles,
		client:         sts.New(stsOpts),
		sessionClaim:   o.SessionNameClaim,
		verifiedClaim:  o.EmailVerifiedClaim,
		duration:       int32(o.SessionDuration / time.Second), //nolint:gosec // checked above: 900–43200 seconds
		margin:         o.RefreshMargin,
		timeout:        o.Timeout,
		refreshBackoff: o.RefreshBackoff,
		log:            o.Logger,
		now:            o.Now,
		obs:            o.Observer,
		cache:          newCache(o.MaxEntries, o.RefreshMargin),
		sets:           newSetLimiter(o.MaxActionSets, o.SessionDuration),
		shared:         o.Shared,
		ctx:            ctx,
		cancel:         cancel,
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// newRetryer is the SDK's standard retryer with IDPCommunicationError and
// Throttling guaranteed retryable, at most attempts tries, and delays capped
// at maxBackoff (throttling errors otherwise start at one second).
func newRetryer(attempts int, maxBackoff time.Duration) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = attempts
		so.MaxBackoff = maxBackoff
		so.Retryables = append(so.Retryables, retry.RetryableErrorCode{Codes: retryCodes})
	})
}

// Close stops background refreshes and waits for those in flight.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// SelectRole returns the mapping that decides the caller's role: the
// matching mapping with the lowest priority number (unnumbered ones last,
// in file order), else the default role (Claim ""), else a forbidden
// error. The returned slices are shared and must not be modified.
func (b *Broker) SelectRole(id *authn.Identity) (Mapping, error) {
	r, err := b.table(id).selectRole(id)
	if err != nil {
		return Mapping{}, err
	}
	return r.Mapping, nil
}

// SessionName returns the RoleSessionName the broker uses for id.
func (b *Broker) SessionName(id *authn.Identity) (string, error) {
	return sessionName(id, b.sessionClaim, b.verifiedClaim)
}

// Credentials returns AWS credentials for the authenticated caller: from
// the cache when the caller already has fresh ones, else from one STS
// exchange shared by every concurrent request of the same user and role.
// Credentials inside the refresh window are served while one background
// refresh, made with this request's token, replaces them.
//
// Errors are *mcpguard.Error: KindForbidden (no role, trust policy),
// KindUnauthenticated (token refused by STS), KindCredentialsUnavailable
// (throttling, outage; RetryAfter gives the wait), KindInternal
// (configuration rejected by STS).
func (b *Broker) Credentials(ctx context.Context, id *authn.Identity) (*Grant, error) {
	if id == nil || id.Token == "" {
		return nil, mcpguard.E(mcpguard.KindUnauthenticated, "authentication required", nil)
	}
	now := b.now()
	if id.ExpiresAt.IsZero() || !now.Before(id.ExpiresAt) {
		e := mcpguard.E(mcpguard.KindUnauthenticated, "token expired", nil)
		e.Reason = "expired"
		return nil, e
	}
	rs, err := b.resolve(id)
	if err != nil {
		return nil, err
	}
	r, name, key := rs.role, rs.name, rs.key
	// A token may start a refresh only if it outlives the refresh window;
	// otherwise the new entry would expire with it at once.
	canRefresh := id.ExpiresAt.Sub(now) > b.margin
	g, res, startRefresh := b.cache.get(key, now, canRefresh)
	b.obs.OnCache(res)
	if startRefresh {
		b.refreshInBackground(key, id, r, name, nil)
	}
	if g != nil {
		return g, nil
	}
	return b.fetch(ctx, key, id, r, name, nil)
}

// fetch waits for the one STS exchange of key, starting it if needed.
func (b *Broker) fetch(ctx context.Context, key cacheKey, id *authn.Identity, r *role, name string, sc *scopedSession) (*Grant, error) {
	// The exchange is shared by every waiter: it must not die with the
	// first caller's context.
	base := context.WithoutCancel(ctx)
	ch := b.flight.DoChan(string(key[:]), func() (any, error) {
		return b.obtain(base, key, id, r, name, sc, false)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			b.obs.OnEntries(b.cache.dropExpired(key, b.now()))
			return nil, res.Err
		}
		return res.Val.(*Grant), nil
	case <-ctx.Done():
		return nil, classify(ctx.Err())
	}
}

func (b *Broker) refreshInBackground(key cacheKey, id *authn.Identity, r *role, name string, sc *scopedSession) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.cache.refreshFailed(key, b.now(), b.refreshBackoff, maxRefreshBackoff)
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		_, err, _ := b.flight.Do(string(key[:]), func() (any, error) {
			return b.obtain(b.ctx, key, id, r, name, sc, true)
		})
		if err != nil {
			b.cache.refreshFailed(key, b.now(), b.refreshBackoff, maxRefreshBackoff)
		}
	}()
}

// exchange makes one AssumeRoleWithWebIdentity call and caches its result.
// sc, when set, is the per-request session policy that replaces the
// mapping's.
func (b *Broker) exchange(ctx context.Context, key cacheKey, id *authn.Identity, r *role, name string, sc *scopedSession, refresh bool) (*Grant, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(r.RoleARN),
		RoleSessionName:  aws.String(name),
		WebIdentityToken: aws.String(string(id.Token)),
		DurationSeconds:  aws.Int32(b.duration),
	}
	if r.SessionPolicy != "" {
		in.Policy = aws.String(r.SessionPolicy)
	}
	for _, p := range r.SessionPolicyARNs {
		in.PolicyArns = append(in.PolicyArns, types.PolicyDescriptorType{Arn: aws.String(p)})
	}
	if sc != nil {
		// compileScoper refused session_policy_arns for this role.
		in.Policy, in.PolicyArns = aws.String(sc.policy), nil
	}
	start := time.Now()
	out, err := b.client.AssumeRoleWithWebIdentity(ctx, in)
	ev := AssumeEvent{
		RoleARN: r.RoleARN, SessionName: name, Subject: id.Subject, Issuer: id.Issuer,
		Duration: time.Since(start), Refresh: refresh,
	}
	if err != nil {
		mErr := classify(err)
		info := inspect(err)
		if sc != nil {
			mErr = classifyScoped(mErr, info.code, sc)
		}
		ev.STSRequestID, ev.Err = info.requestID, mErr
		b.obs.OnAssume(ev)
		b.log.LogAttrs(ctx, slog.LevelWarn, "sts exchange failed",
			slog.String("role_arn", r.RoleARN), slog.String("session_name", name),
			slog.String("aws_error_code", info.code), slog.Int("http_status", info.status),
			slog.String("sts_request_id", info.requestID), slog.String("kind", mErr.Kind.String()),
			slog.Bool("refresh", refresh), slog.String("error", err.Error()))
		return nil, mErr
	}
	requestID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	ev.STSRequestID = requestID
	if out.Credentials == nil || out.Credentials.AccessKeyId == nil || out.Credentials.SecretAccessKey == nil ||
		out.Credentials.SessionToken == nil || out.Credentials.Expiration == nil {
		mErr := internalError("sts_no_credentials", errNoCredentials)
		ev.Err = mErr
		b.obs.OnAssume(ev)
		b.log.LogAttrs(ctx, slog.LevelError, "sts exchange returned no credentials",
			slog.String("role_arn", r.RoleARN), slog.String("sts_request_id", requestID))
		return nil, mErr
	}
	g := &Grant{
		RoleARN:     r.RoleARN,
		SessionName: name,
		Credentials: Credentials{
			AccessKeyID:     *out.Credentials.AccessKeyId,
			SecretAccessKey: Secret(*out.Credentials.SecretAccessKey),
			SessionToken:    Secret(*out.Credentials.SessionToken),
			Expires:         *out.Credentials.Expiration,
		},
		STSRequestID: requestID,
	}
	if sc != nil {
		g.Scope = &GrantScope{Actions: sc.actions, PolicyDigest: sc.digest}
	}
	if out.AssumedRoleUser != nil {
		g.AssumedRoleARN = aws.ToString(out.AssumedRoleUser.Arn)
	}
	// Never use the credentials beyond the token they were obtained with.
	g.NotAfter = g.Credentials.Expires
	if id.ExpiresAt.Before(g.NotAfter) {
		g.NotAfter = id.ExpiresAt
	}
	ev.AccessKeyID, ev.AssumedRoleARN, ev.Expiration = g.Credentials.AccessKeyID, g.AssumedRoleARN, g.Credentials.Expires
	b.obs.OnAssume(ev)
	b.log.LogAttrs(ctx, slog.LevelDebug, "sts exchange", slog.Any("grant", g), slog.Bool("refresh", refresh))
	cached := *g
	cached.Cached = true
	b.obs.OnEntries(b.cache.put(key, &cached))
	return g, nil
}

// key digests everything that must match for credentials to be reused:
// issuer, subject, a digest of the verified token itself, role, session
// name, session policies, every claim in the https://aws.amazon.com/
// namespace (session tags, nested or flattened, transitive tag keys,
// source identity) and the role claim. Cached credentials are thereby bound
// to the token that obtained them: a request is only ever signed with
// credentials STS issued for the very token it carries, so a token that
// merely claims another user's issuer and subject (or a new token of the
// same user) never reuses them. The digest is computed from the token here,
// not taken from Identity.TokenDigest, so the binding holds even for an
// Identity built elsewhere.
func (b *Broker) key(id *authn.Identity, r *role, name string) (cacheKey, error) {
	var stack [512]byte
	buf := stack[:0]
	buf = appendField(buf, id.Issuer)
	buf = appendField(buf, id.Subject)
	tokenDigest := sha256.Sum256([]byte(id.Token))
	buf = append(buf, tokenDigest[:]...)
	buf = appendField(buf, r.RoleARN)
	buf = appendField(buf, name)
	buf = append(buf, r.policyDigest[:]...)

	var names [4]string
	awsClaims := names[:0]
	for k := range id.Claims {
		if strings.HasPrefix(k, awsClaimsPrefix) {
			awsClaims = append(awsClaims, k)
		}
	}
	slices.Sort(awsClaims)
	var err error
	for _, k := range awsClaims {
		buf = appendField(buf, k)
		if buf, err = appendValue(buf, id.Claims[k]); err != nil {
			return cacheKey{}, err
		}
	}
	buf = append(buf, 0xff)
	switch t := b.table(id); {
	case t.claim == "":
		for _, g := range id.Groups {
			buf = appendField(buf, g)
		}
		for _, g := range id.Roles {
			buf = appendField(buf, g)
		}
	case !strings.HasPrefix(t.claim, awsClaimsPrefix):
		if buf, err = appendValue(buf, id.Claims[t.claim]); err != nil {
			return cacheKey{}, err
		}
	}
	return sha256.Sum256(buf), nil
}

// appendField appends s with its length so that fields cannot run together.
func appendField(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendValue appends a claim value: strings directly, anything else as
// JSON, whose object keys encoding/json sorts.
func appendValue(buf []byte, v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return appendField(append(buf, 's'), s), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode claim: %w", err)
	}
	return appendField(append(buf, 'j'), string(j)), nil
}

type nopObserver struct{}

func (nopObserver) OnAssume(AssumeEvent) {}
func (nopObserver) OnCache(CacheResult)  {}
func (nopObserver) OnEntries(int)        {}
