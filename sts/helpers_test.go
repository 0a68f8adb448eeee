package sts

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/fakests"
)

const (
	testIssuer   = "https://idp.example.com"
	testAudience = "aws-mcp"
	roleS3       = "arn:aws:iam::123456789012:role/S3ReadOnlyMCPRole"
	roleEC2      = "arn:aws:iam::123456789012:role/EC2ViewOnlyMCPRole"
	roleDefault  = "arn:aws:iam::123456789012:role/DefaultMCPRole"
	roleNoTags   = "arn:aws:iam::123456789012:role/NoTagSessionRole"
	groupsClaim  = "https://aws.amazon.com/tags/principal_tags/Groups"
)

// clock is a settable clock shared by the broker and the fake STS.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// testKey is generated once: RSA key generation is slow on a shared machine.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// idp signs tokens like the fake IdP does.
type idp struct {
	priv jwk.Key
	set  jwk.Set
}

func newIDP(t testing.TB) *idp {
	t.Helper()
	priv, err := jwk.FromRaw(testKey())
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.Set(jwk.KeyIDKey, "k1")
	_ = priv.Set(jwk.AlgorithmKey, jwa.RS256)
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	return &idp{priv: priv, set: set}
}

// identity mints a signed token with claims (JSON) plus iss, aud, exp,
// and returns the authenticated identity authn would build from it.
func (p *idp) identity(t testing.TB, claimsJSON string, exp time.Time) *authn.Identity {
	t.Helper()
	claims := map[string]any{}
	if err := json.Unmarshal([]byte(claimsJSON), &claims); err != nil {
		t.Fatal(err)
	}
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := claims["iss"]; !ok {
		_ = tok.Set(jwt.IssuerKey, testIssuer)
		claims["iss"] = testIssuer
	}
	_ = tok.Set(jwt.AudienceKey, testAudience)
	_ = tok.Set(jwt.ExpirationKey, exp)
	claims["aud"] = testAudience
	claims["exp"] = float64(exp.Unix())
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, p.priv))
	if err != nil {
		t.Fatal(err)
	}
	id := &authn.Identity{
		Issuer:      claims["iss"].(string),
		Claims:      claims,
		ExpiresAt:   exp.Truncate(time.Second),
		Token:       authn.Token(signed),
		TokenDigest: sha256.Sum256(signed),
	}
	id.Subject, _ = claims["sub"].(string)
	id.Email, _ = claims["email"].(string)
	return id
}

// recObserver records broker events.
type recObserver struct {
	mu      sync.Mutex
	assumes []AssumeEvent
	results map[CacheResult]int
	entries int
}

func (o *recObserver) OnAssume(e AssumeEvent) {
	o.mu.Lock()
	o.assumes = append(o.assumes, e)
	o.mu.Unlock()
}
func (o *recObserver) OnCache(r CacheResult) {
	o.mu.Lock()
	if o.results == nil {
		o.results = map[CacheResult]int{}
	}
	o.results[r]++
	o.mu.Unlock()
}
func (o *recObserver) OnEntries(n int) { o.mu.Lock(); o.entries = n; o.mu.Unlock() }

type env struct {
	clk    *clock
	idp    *idp
	fake   *fakests.Server
	broker *Broker
	obs    *recObserver
}

// newEnv starts a fake STS and a broker wired to it. mutate may change
// either configuration before use.
func newEnv(t testing.TB, mutate func(*env, *Options, *fakests.Options)) *env {
	t.Helper()
	e := &env{clk: newClock(), idp: newIDP(t), obs: &recObserver{}}
	fo := fakests.Options{
		Keys: func(context.Context) (jwk.Set, error) { return e.idp.set, nil },
		Roles: map[string]fakests.Role{
			roleS3:      {TrustedIssuer: testIssuer, Audiences: []string{testAudience}, AllowTagSession: true},
			roleEC2:     {TrustedIssuer: testIssuer, Audiences: []string{testAudience}, AllowTagSession: true},
			roleDefault: {TrustedIssuer: testIssuer, Audiences: []string{testAudience}, AllowTagSession: true},
			roleNoTags:  {TrustedIssuer: testIssuer, Audiences: []string{testAudience}},
		},
		Now: e.clk.Now,
	}
	bo := Options{
		Region:    "us-east-1",
		RoleClaim: groupsClaim,
		Mappings: []Mapping{
			{Claim: "s3-readers", RoleARN: roleS3},
			{Claim: "ec2-viewers", RoleARN: roleEC2},
		},
		DefaultRoleARN: roleDefault,
		MaxBackoff:     time.Millisecond,
		Timeout:        5 * time.Second,
		Now:            e.clk.Now,
		Observer:       e.obs,
	}
	if mutate != nil {
		mutate(e, &bo, &fo)
	}
	fake, err := fakests.New(fo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	e.fake = fake
	if bo.Endpoint == "" {
		bo.Endpoint = fake.URL()
	}
	b, err := New(bo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e.broker = b
	return e
}

// user returns an identity of the seed's shape: flattened Groups tag.
func (e *env) user(t testing.TB, sub, groups string) *authn.Identity {
	t.Helper()
	return e.idp.identity(t, `{"sub":"`+sub+`","email_verified":true,"email":"`+sub+`@example.com","`+groupsClaim+`":"`+groups+`"}`,
		e.clk.Now().Add(2*time.Hour))
}

func ptr[T any](v T) *T { return &v }
