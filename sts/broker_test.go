package sts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/fakests"
)

func TestNewRejectsConfiguration(t *testing.T) {
	good := Options{Region: "us-east-1", DefaultRoleARN: roleDefault}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"region", func(o *Options) { o.Region = "" }, "region"},
		{"region shape", func(o *Options) { o.Region = "US_EAST" }, "region"},
		{"endpoint", func(o *Options) { o.Endpoint = "sts.local" }, "sts_endpoint"},
		{"duration short", func(o *Options) { o.SessionDuration = 14 * time.Minute }, "session_duration"},
		{"duration long", func(o *Options) { o.SessionDuration = 13 * time.Hour }, "session_duration"},
		{"duration fraction", func(o *Options) { o.SessionDuration = time.Hour + time.Millisecond }, "session_duration"},
		{"margin", func(o *Options) { o.RefreshMargin = 2 * time.Hour }, "refresh_margin"},
		{"no roles", func(o *Options) { o.DefaultRoleARN = "" }, "neither role_mappings nor role_arn"},
		{"bad default", func(o *Options) { o.DefaultRoleARN = "arn:aws:iam::ACCOUNT:role/DefaultMCPRole" }, "role_arn"},
		{"bad mapping", func(o *Options) { o.Mappings = []Mapping{{Claim: "g", RoleARN: "arn:aws:iam::1:role/x"}} }, "role_mappings[0]"},
		{"negative entries", func(o *Options) { o.MaxEntries = -1 }, "max_entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mutate(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want error containing %q", err, tt.want)
			}
		})
	}
	b, err := New(good)
	if err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	b.Close()
}

func TestRetryerRetriesTransientSTSCodes(t *testing.T) {
	r := newRetryer(3, time.Millisecond)
	for _, code := range []string{"Throttling", "IDPCommunicationError", "ThrottlingException", "RequestLimitExceeded"} {
		if !r.IsErrorRetryable(&smithy.GenericAPIError{Code: code}) {
			t.Errorf("%s is not retried", code)
		}
	}
	for _, code := range []string{"InvalidIdentityToken", "AccessDenied", "ExpiredTokenException", "MalformedPolicyDocument"} {
		if r.IsErrorRetryable(&smithy.GenericAPIError{Code: code}) {
			t.Errorf("%s is retried", code)
		}
	}
}

func TestCredentialsSuccess(t *testing.T) {
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}`
	e := newEnv(t, func(_ *env, o *Options, _ *fakests.Options) {
		o.Mappings[0].SessionPolicy = "{\n \"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:List*\", \"Resource\": \"*\"}]}"
		o.Mappings[0].SessionPolicyARNs = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}
		o.SessionDuration = 30 * time.Minute
	})
	id := e.user(t, "alice", "s3-readers:Everyone")
	g, err := e.broker.Credentials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d STS calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Action != "AssumeRoleWithWebIdentity" || c.Version != "2011-06-15" || c.RoleARN != roleS3 ||
		c.RoleSessionName != "alice@example.com" || c.DurationSeconds != 1800 || c.Policy != policy ||
		len(c.PolicyARNs) != 1 || c.PolicyARNs[0] != "arn:aws:iam::aws:policy/ReadOnlyAccess" || c.Subject != "alice" {
		t.Fatalf("STS call = %+v", c)
	}
	issued, ok := e.fake.Issued(g.Credentials.AccessKeyID)
	if !ok {
		t.Fatalf("access key %s was not issued by STS", g.Credentials.AccessKeyID)
	}
	if g.RoleARN != roleS3 || g.SessionName != "alice@example.com" || g.Cached ||
		g.STSRequestID != c.RequestID || g.STSRequestID != issued.RequestID ||
		string(g.Credentials.SecretAccessKey) != issued.SecretAccessKey ||
		string(g.Credentials.SessionToken) != issued.SessionToken ||
		!g.Credentials.Expires.Equal(issued.Expiration) ||
		g.AssumedRoleARN != "arn:aws:sts::123456789012:assumed-role/S3ReadOnlyMCPRole/alice@example.com" ||
		!strings.HasPrefix(g.Credentials.AccessKeyID, "ASIA") {
		t.Fatalf("grant = %+v, issued = %+v", g, issued)
	}
	if !g.NotAfter.Equal(e.clk.Now().Add(30 * time.Minute)) {
		t.Fatalf("NotAfter = %v", g.NotAfter)
	}
	ac := g.Credentials.AWS()
	if ac.AccessKeyID != issued.AccessKeyID || ac.SecretAccessKey != issued.SecretAccessKey ||
		ac.SessionToken != issued.SessionToken || !ac.CanExpire || !ac.Expires.Equal(issued.Expiration) {
		t.Fatalf("AWS() = %+v", ac)
	}
	if len(e.obs.assumes) != 1 || e.obs.assumes[0].STSRequestID != c.RequestID ||
		e.obs.assumes[0].AccessKeyID != g.Credentials.AccessKeyID || e.obs.assumes[0].Err != nil {
		t.Fatalf("observer = %+v", e.obs.assumes)
	}
}

// TestErrorMapping drives every STS error code through the fake STS and
// the real SDK client and checks what the client is told.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *env, fo *fakests.Options, o *Options)
		before     func(e *env)
		claims     string // extra claims, JSON members
		role       string // group to select
		kind       mcpguard.Kind
		reason     string
		msg        string // substring of the safe message
		retryAfter bool
		calls      int // STS calls made, retries included
	}{
		{name: "InvalidIdentityToken (audience)", setup: func(_ *env, fo *fakests.Options, _ *Options) {
			for k, r := range fo.Roles {
				r.Audiences = []string{"other"}
				fo.Roles[k] = r
			}
		}, kind: mcpguard.KindUnauthenticated, reason: "sts_invalid_token", msg: "sign in again", calls: 1},
		{name: "ExpiredTokenException", setup: func(e *env, fo *fakests.Options, _ *Options) {
			fo.Now = func() time.Time { return e.clk.Now().Add(3 * time.Hour) }
		}, kind: mcpguard.KindUnauthenticated, reason: "sts_expired_token", calls: 1},
		{name: "AccessDenied (tags without sts:TagSession)", role: "notags", claims: `"https://aws.amazon.com/tags":{"principal_tags":{"Team":["x"]}}`,
			kind: mcpguard.KindForbidden, reason: "sts_access_denied", msg: "sts:TagSession", calls: 1},
		{name: "AccessDenied (untrusted role)", setup: func(_ *env, fo *fakests.Options, _ *Options) {
			delete(fo.Roles, roleS3)
		}, kind: mcpguard.KindForbidden, reason: "sts_access_denied", msg: "trust policy", calls: 1},
		{name: "IDPRejectedClaim", before: func(e *env) {
			e.fake.InjectError(1, http.StatusForbidden, "IDPRejectedClaim", "claim rejected")
		}, kind: mcpguard.KindForbidden, reason: "sts_idp_rejected_claim", msg: "trust policy", calls: 1},
		{name: "RegionDisabledException", before: func(e *env) {
			e.fake.InjectError(1, http.StatusForbidden, "RegionDisabledException", "STS is not activated in this region for account:123456789012.")
		}, kind: mcpguard.KindForbidden, reason: "sts_region_disabled", calls: 1},
		{name: "Throttling (after retries)", before: func(e *env) { e.fake.SetThrottle(100) },
			kind: mcpguard.KindCredentialsUnavailable, reason: "sts_throttled", retryAfter: true, calls: 3},
		{name: "IDPCommunicationError (after retries)", setup: func(_ *env, fo *fakests.Options, _ *Options) {
			fo.Keys = func(context.Context) (jwk.Set, error) { return nil, errors.New("jwks down") }
		}, kind: mcpguard.KindCredentialsUnavailable, reason: "sts_idp_unreachable", retryAfter: true, calls: 3},
		{name: "network error", before: func(e *env) { e.fake.SetDown(true) },
			kind: mcpguard.KindCredentialsUnavailable, reason: "sts_unreachable", retryAfter: true, calls: 3},
		{name: "500 InternalFailure", before: func(e *env) {
			e.fake.InjectError(3, http.StatusInternalServerError, "InternalFailure", "internal")
		}, kind: mcpguard.KindCredentialsUnavailable, reason: "sts_unavailable", retryAfter: true, calls: 3},
		{name: "503 ServiceUnavailable", before: func(e *env) {
			e.fake.InjectError(3, http.StatusServiceUnavailable, "ServiceUnavailable", "unavailable")
		}, kind: mcpguard.KindCredentialsUnavailable, reason: "sts_unavailable", retryAfter: true, calls: 3},
		{name: "malformed response", before: func(e *env) { e.fake.SetGarbage(true) },
			kind: mcpguard.KindCredentialsUnavailable, reason: "sts_bad_response", retryAfter: true, calls: 1},
		{name: "MalformedPolicyDocument", setup: func(_ *env, _ *fakests.Options, o *Options) {
			o.Mappings[0].SessionPolicy = `{"Version":"2012-10-17","Statement":[{"Action":"s3:*"}]}`
		}, kind: mcpguard.KindInternal, reason: "sts_malformed_policy", msg: "session_policy", calls: 1},
		{name: "PackedPolicyTooLarge", setup: func(_ *env, fo *fakests.Options, o *Options) {
			fo.PackedPolicyLimit = 40
			o.Mappings[0].SessionPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
		}, kind: mcpguard.KindInternal, reason: "sts_policy_too_large", msg: "session_policy", calls: 1},
		{name: "ValidationError (duration above role maximum)", setup: func(_ *env, _ *fakests.Options, o *Options) {
			o.SessionDuration = 2 * time.Hour
			o.RefreshMargin = time.Minute
		}, kind: mcpguard.KindInternal, reason: "sts_validation", msg: "session_duration", calls: 1},
		{name: "unknown error code", before: func(e *env) {
			e.fake.InjectError(1, http.StatusBadRequest, "SomethingNew", "new")
		}, kind: mcpguard.KindInternal, reason: "sts_error", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := newEnv(t, func(e *env, o *Options, fo *fakests.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				o.Mappings = append(o.Mappings, Mapping{Claim: "notags", RoleARN: roleNoTags})
				if tt.setup != nil {
					tt.setup(e, fo, o)
				}
			})
			if tt.before != nil {
				tt.before(e)
			}
			group := tt.role
			if group == "" {
				group = "s3-readers"
			}
			extra := ""
			if tt.claims != "" {
				extra = "," + tt.claims
			}
			id := e.idp.identity(t, `{"sub":"alice","email_verified":true,"email":"alice@example.com","`+groupsClaim+`":"`+group+`"`+extra+`}`,
				e.clk.Now().Add(2*time.Hour))
			g, err := e.broker.Credentials(context.Background(), id)
			if err == nil {
				t.Fatalf("Credentials = %+v, want error", g)
			}
			var me *mcpguard.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not *mcpguard.Error", err)
			}
			if me.Kind != tt.kind || me.Reason != tt.reason || !strings.Contains(me.Msg, tt.msg) {
				t.Fatalf("error = kind %v reason %q msg %q; want %v %q containing %q (cause: %v)", me.Kind, me.Reason, me.Msg, tt.kind, tt.reason, tt.msg, me.Err)
			}
			if ra := RetryAfter(err); (ra > 0) != tt.retryAfter {
				t.Fatalf("RetryAfter = %v, want set: %v", ra, tt.retryAfter)
			}
			if n := len(e.fake.Calls()); n != tt.calls {
				t.Fatalf("%d STS calls, want %d", n, tt.calls)
			}
			// The client message never carries the AWS error or the token.
			for _, leak := range []string{string(id.Token), "Not authorized", "Incorrect token audience", "Rate exceeded", "RequestID", "operation error"} {
				if strings.Contains(me.Msg, leak) {
					t.Fatalf("client message %q leaks %q", me.Msg, leak)
				}
			}
			if !strings.Contains(logs.String(), "sts exchange failed") {
				t.Fatalf("failure not logged: %s", logs.String())
			}
			if strings.Contains(logs.String(), string(id.Token)) {
				t.Fatal("token reached the log")
			}
			if e.broker.cache.len() != 0 {
				t.Fatal("a failure was cached")
			}
		})
	}
}

func TestCredentialsRetriesThenSucceeds(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.SetThrottle(2)
	g, err := e.broker.Credentials(context.Background(), e.user(t, "alice", "s3-readers"))
	if err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls()
	if len(calls) != 3 || calls[0].ErrorCode != "Throttling" || calls[2].AccessKeyID != g.Credentials.AccessKeyID {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestCredentialsRejectsBeforeSTS(t *testing.T) {
	e := newEnv(t, func(_ *env, o *Options, _ *fakests.Options) { o.DefaultRoleARN = "" })
	expired := e.user(t, "alice", "s3-readers")
	expired.ExpiresAt = e.clk.Now()
	tests := []struct {
		name string
		id   *authn.Identity
		kind mcpguard.Kind
	}{
		{"nil identity", nil, mcpguard.KindUnauthenticated},
		{"no token", &authn.Identity{Subject: "x", ExpiresAt: e.clk.Now().Add(time.Hour)}, mcpguard.KindUnauthenticated},
		{"expired token", expired, mcpguard.KindUnauthenticated},
		{"no role", e.user(t, "bob", "Everyone"), mcpguard.KindForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.broker.Credentials(context.Background(), tt.id)
			if mcpguard.KindOf(err) != tt.kind {
				t.Fatalf("Credentials = %v, want %v", err, tt.kind)
			}
		})
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Fatalf("%d STS calls, want 0", n)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(_ *env, o *Options, _ *fakests.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	id := e.user(t, "alice", "s3-readers")
	g, err := e.broker.Credentials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("grant", "grant", g, "creds", g.Credentials, "secret", g.Credentials.SecretAccessKey, "token", g.Credentials.SessionToken)
	out := logs.String() + fmt.Sprintf("%v %+v %#v %s", *g, *g, *g, g.Credentials.SessionToken)
	for _, secret := range []string{string(g.Credentials.SecretAccessKey), string(g.Credentials.SessionToken), string(id.Token)} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret leaked into %s", out)
		}
	}
	if !strings.Contains(logs.String(), g.Credentials.AccessKeyID) || !strings.Contains(logs.String(), "[REDACTED]") {
		t.Fatalf("log lacks the access key ID or the redaction marker: %s", logs.String())
	}
}

// redirect sends every request to the fake STS and records where the SDK
// meant to send it.
type redirect struct {
	to    string
	mu    sync.Mutex
	hosts []string
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	u, _ := url.Parse(r.to)
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = u.Scheme, u.Host, ""
	return http.DefaultTransport.RoundTrip(req)
}

func TestRegionalEndpoint(t *testing.T) {
	tests := []struct {
		region, endpoint, want string
	}{
		{"eu-central-1", "", "https://sts.eu-central-1.amazonaws.com"},
		{"us-east-1", "", "https://sts.us-east-1.amazonaws.com"},
		{"us-east-1", "https://vpce-0abc-sts.us-east-1.vpce.amazonaws.com", "https://vpce-0abc-sts.us-east-1.vpce.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.region+tt.endpoint, func(t *testing.T) {
			rt := &redirect{}
			e := newEnv(t, func(_ *env, o *Options, _ *fakests.Options) {
				o.Region, o.Endpoint = tt.region, tt.endpoint
				o.HTTPClient = &http.Client{Transport: rt}
			})
			// newEnv points an empty endpoint at the fake; undo that for
			// the region-only cases by rebuilding the broker.
			if tt.endpoint == "" {
				e.broker.Close()
				b, err := New(Options{Region: tt.region, DefaultRoleARN: roleDefault, Now: e.clk.Now, HTTPClient: &http.Client{Transport: rt}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(b.Close)
				e.broker = b
			}
			rt.to = e.fake.URL()
			if _, err := e.broker.Credentials(context.Background(), e.user(t, "alice", "x")); err != nil {
				t.Fatal(err)
			}
			if len(rt.hosts) != 1 || rt.hosts[0] != tt.want {
				t.Fatalf("STS called at %v, want %s", rt.hosts, tt.want)
			}
		})
	}
}
