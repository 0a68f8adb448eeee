package sts

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/fakests"
)

// concurrently calls Credentials n times at once for each identity and
// returns the grants.
func concurrently(t *testing.T, b *Broker, ids []*authn.Identity, n int) [][]*Grant {
	t.Helper()
	out := make([][]*Grant, len(ids))
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(ids)*n)
	for i, id := range ids {
		out[i] = make([]*Grant, n)
		for j := range n {
			wg.Go(func() {
				<-start
				g, err := b.Credentials(context.Background(), id)
				if err != nil {
					errs <- err
					return
				}
				out[i][j] = g
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

func TestConcurrentMissesMakeOneCall(t *testing.T) {
	tests := []struct {
		users, perUser int
	}{
		{1, 1000},
		{10, 100},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d users x %d", tt.users, tt.perUser), func(t *testing.T) {
			e := newEnv(t, nil)
			e.fake.SetLatency(100 * time.Millisecond)
			var ids []*authn.Identity
			for i := range tt.users {
				ids = append(ids, e.user(t, fmt.Sprintf("user%d", i), "s3-readers"))
			}
			grants := concurrently(t, e.broker, ids, tt.perUser)
			if n := len(e.fake.Calls()); n != tt.users {
				t.Fatalf("%d STS calls, want %d", n, tt.users)
			}
			keys := map[string]bool{}
			for i, gs := range grants {
				for _, g := range gs {
					if g.Credentials.AccessKeyID != gs[0].Credentials.AccessKeyID {
						t.Fatalf("user %d got two different credentials", i)
					}
				}
				keys[gs[0].Credentials.AccessKeyID] = true
			}
			if len(keys) != tt.users {
				t.Fatalf("%d distinct credentials for %d users", len(keys), tt.users)
			}
		})
	}
}

// TestCacheKeyFollowsTokenContents: cached credentials are bound to the
// verified token that obtained them. The same token is served from the
// cache; any other token, even one with the same issuer, subject and claims,
// gets its own STS exchange and never another token's credentials.
func TestCacheKeyFollowsTokenContents(t *testing.T) {
	e := newEnv(t, nil)
	exp := e.clk.Now().Add(2 * time.Hour)
	base := `"sub":"alice","email_verified":true,"email":"alice@example.com"`
	tests := []struct {
		name   string
		claims string
	}{
		{"first token", `{` + base + `,"` + groupsClaim + `":"s3-readers:Everyone"}`},
		{"new token, same claims", `{` + base + `,"` + groupsClaim + `":"s3-readers:Everyone","iat":1}`},
		{"group added (same role)", `{` + base + `,"` + groupsClaim + `":"s3-readers:Everyone:Admins"}`},
		{"nested tags added", `{` + base + `,"` + groupsClaim + `":"s3-readers:Everyone:Admins","https://aws.amazon.com/tags":{"principal_tags":{"Team":["a"]}}}`},
		{"nested tag value changed", `{` + base + `,"` + groupsClaim + `":"s3-readers:Everyone:Admins","https://aws.amazon.com/tags":{"principal_tags":{"Team":["b"]}}}`},
		{"same nested tags, new token", `{` + base + `,"` + groupsClaim + `":"s3-readers:Everyone:Admins","https://aws.amazon.com/tags":{"principal_tags":{"Team":["b"]}},"iat":2}`},
		{"other role", `{` + base + `,"` + groupsClaim + `":"ec2-viewers"}`},
		{"other email, same sub", `{"sub":"alice","email_verified":true,"email":"alice2@example.com","` + groupsClaim + `":"ec2-viewers"}`},
		{"other subject", `{"sub":"bob","email_verified":true,"email":"alice2@example.com","` + groupsClaim + `":"ec2-viewers"}`},
	}
	seen := map[string]string{} // access key ID → test that obtained it
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.idp.identity(t, tt.claims, exp)
			g, err := e.broker.Credentials(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(e.fake.Calls()); n != i+1 || g.Cached {
				t.Fatalf("%d STS calls (want %d), cached %v", n, i+1, g.Cached)
			}
			if prev, dup := seen[g.Credentials.AccessKeyID]; dup {
				t.Fatalf("credentials of %q served to another token", prev)
			}
			seen[g.Credentials.AccessKeyID] = tt.name
			again, err := e.broker.Credentials(context.Background(), id)
			if err != nil || !again.Cached || again.Credentials.AccessKeyID != g.Credentials.AccessKeyID {
				t.Fatalf("same token again: %+v, %v", again, err)
			}
		})
	}
}

// TestCredentialsBoundToToken: user A's cached credentials are never used
// for a request whose verified token is B's, even when B's identity claims
// A's issuer and subject (what a forged jwt_authn payload used to achieve),
// and even when the Identity's TokenDigest was copied from A's.
func TestCredentialsBoundToToken(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.user(t, "alice", "s3-readers")
	ga, err := e.broker.Credentials(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	bob := e.user(t, "bob", "s3-readers")
	posing := *alice
	posing.Token = bob.Token // B's token, A's claims
	posing.TokenDigest = [32]byte{}
	copied := *alice
	copied.Token = bob.Token // B's token behind A's memoised digest
	for _, c := range []struct {
		name string
		id   *authn.Identity
	}{{"bob", bob}, {"bob posing as alice", &posing}, {"bob behind alice's digest", &copied}} {
		g, err := e.broker.Credentials(context.Background(), c.id)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if g.Credentials.AccessKeyID == ga.Credentials.AccessKeyID {
			t.Fatalf("%s was served alice's credentials", c.name)
		}
	}
	for _, c := range e.fake.Calls()[1:] {
		if c.Subject != "bob" {
			t.Fatalf("STS exchanged %q's token for bob's request", c.Subject)
		}
	}
}

func TestRefreshAheadOfExpiry(t *testing.T) {
	e := newEnv(t, nil)
	id := e.user(t, "alice", "s3-readers")
	first, err := e.broker.Credentials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Fresh: served from the cache.
	e.clk.Advance(50 * time.Minute)
	if g, err := e.broker.Credentials(context.Background(), id); err != nil || g.Credentials.AccessKeyID != first.Credentials.AccessKeyID || !g.Cached {
		t.Fatalf("fresh: %+v, %v", g, err)
	}
	if n := len(e.fake.Calls()); n != 1 {
		t.Fatalf("%d STS calls before the refresh window", n)
	}
	// Inside the refresh window (expiry - 5m): old credentials are served at
	// once while one background refresh waits for a slow STS.
	e.clk.Advance(6 * time.Minute)
	e.fake.SetLatency(time.Second)
	start := time.Now()
	grants := concurrently(t, e.broker, []*authn.Identity{id}, 50)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("requests in the refresh window waited %v for STS", d)
	}
	for _, g := range grants[0] {
		if g.Credentials.AccessKeyID != first.Credentials.AccessKeyID || !g.Cached {
			t.Fatalf("refresh window served %+v", g)
		}
	}
	e.broker.wg.Wait()
	if n := len(e.fake.Calls()); n != 2 {
		t.Fatalf("%d STS calls, want exactly one refresh", n)
	}
	g, err := e.broker.Credentials(context.Background(), id)
	if err != nil || g.Credentials.AccessKeyID == first.Credentials.AccessKeyID || !g.Cached {
		t.Fatalf("after refresh: %+v, %v", g, err)
	}
	if e.obs.results[CacheRefresh] != 50 || e.obs.results[CacheMiss] != 1 || len(e.obs.assumes) != 2 || !e.obs.assumes[1].Refresh {
		t.Fatalf("observer: %v, %d assumes", e.obs.results, len(e.obs.assumes))
	}
}

func TestOutageDuringRefresh(t *testing.T) {
	e := newEnv(t, nil)
	id := e.user(t, "alice", "s3-readers")
	first, err := e.broker.Credentials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	e.fake.SetDown(true)
	steps := []struct {
		name    string
		advance time.Duration
		calls   int // total STS calls after the step
		serve   bool
	}{
		{"window: serves old, refresh fails", 56 * time.Minute, 1 + 3, true},
		{"backing off: no new attempt", time.Second, 4, true},
		{"backoff over: retries", 5 * time.Second, 7, true},
		{"second backoff doubled", 6 * time.Second, 7, true},
		{"second backoff over", 5 * time.Second, 10, true},
		{"expired: 503", 4 * time.Minute, 13, false},
	}
	for _, s := range steps {
		e.clk.Advance(s.advance)
		g, err := e.broker.Credentials(context.Background(), id)
		e.broker.wg.Wait()
		if s.serve {
			if err != nil || g.Credentials.AccessKeyID != first.Credentials.AccessKeyID {
				t.Fatalf("%s: %+v, %v", s.name, g, err)
			}
		} else {
			if mcpguard.KindOf(err) != mcpguard.KindCredentialsUnavailable || RetryAfter(err) <= 0 {
				t.Fatalf("%s: %+v, %v; want 503 with Retry-After", s.name, g, err)
			}
			if e.broker.cache.len() != 0 {
				t.Fatalf("%s: expired entry kept", s.name)
			}
		}
		if n := len(e.fake.Calls()); n != s.calls {
			t.Fatalf("%s: %d STS calls, want %d", s.name, n, s.calls)
		}
	}
	// STS is back: the next request gets new credentials.
	e.fake.SetDown(false)
	g, err := e.broker.Credentials(context.Background(), id)
	if err != nil || g.Cached || g.Credentials.AccessKeyID == first.Credentials.AccessKeyID {
		t.Fatalf("recovery: %+v, %v", g, err)
	}
}

func TestTokenExpiryCapsCredentials(t *testing.T) {
	e := newEnv(t, nil)
	claims := `{"sub":"alice","` + groupsClaim + `":"s3-readers"}`
	short := e.idp.identity(t, claims, e.clk.Now().Add(30*time.Minute))
	g, err := e.broker.Credentials(context.Background(), short)
	if err != nil {
		t.Fatal(err)
	}
	if !g.NotAfter.Equal(short.ExpiresAt) || !g.Credentials.Expires.After(g.NotAfter) {
		t.Fatalf("NotAfter = %v, token exp %v, credential exp %v", g.NotAfter, short.ExpiresAt, g.Credentials.Expires)
	}
	// Inside the window with the same, nearly expired token: served, and no
	// refresh is started with a token that would not outlive the window.
	e.clk.Advance(27 * time.Minute)
	if g2, err := e.broker.Credentials(context.Background(), short); err != nil || g2.Credentials.AccessKeyID != g.Credentials.AccessKeyID {
		t.Fatalf("window: %+v, %v", g2, err)
	}
	e.broker.wg.Wait()
	if n := len(e.fake.Calls()); n != 1 {
		t.Fatalf("%d STS calls; a short-lived token started a refresh", n)
	}
	// The client's new token never borrows the old token's credentials: it
	// gets its own exchange, bounded by the credentials' own expiry.
	renewed := e.idp.identity(t, claims, e.clk.Now().Add(time.Hour))
	g4, err := e.broker.Credentials(context.Background(), renewed)
	if err != nil || g4.Cached || g4.Credentials.AccessKeyID == g.Credentials.AccessKeyID || !g4.NotAfter.Equal(g4.Credentials.Expires) {
		t.Fatalf("renewed token: %+v, %v", g4, err)
	}
	if n := len(e.fake.Calls()); n != 2 {
		t.Fatalf("%d STS calls, want 2", n)
	}
	// Past the old entry's end without a refresh: the request blocks on STS.
	e.clk.Advance(time.Hour)
	late := e.idp.identity(t, claims, e.clk.Now().Add(time.Hour))
	g5, err := e.broker.Credentials(context.Background(), late)
	if err != nil || g5.Cached || len(e.fake.Calls()) != 3 {
		t.Fatalf("after expiry: %+v, %v, %d calls", g5, err, len(e.fake.Calls()))
	}
}

func TestLRUBound(t *testing.T) {
	e := newEnv(t, func(_ *env, o *Options, _ *fakests.Options) { o.MaxEntries = 3 })
	users := make([]*authn.Identity, 5)
	for i := range users {
		users[i] = e.user(t, fmt.Sprintf("u%d", i), "s3-readers")
	}
	get := func(i int) *Grant {
		t.Helper()
		g, err := e.broker.Credentials(context.Background(), users[i])
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	get(0)
	get(1)
	get(2)
	if !get(0).Cached { // u0 is now the most recently used
		t.Fatal("u0 not cached")
	}
	get(3) // evicts u1, the least recently used
	if n := e.broker.cache.len(); n != 3 || e.obs.entries != 3 {
		t.Fatalf("%d entries (observer %d), want 3", n, e.obs.entries)
	}
	if !get(0).Cached || !get(2).Cached || !get(3).Cached {
		t.Fatal("recently used entry evicted")
	}
	calls := len(e.fake.Calls())
	if get(1).Cached || len(e.fake.Calls()) != calls+1 {
		t.Fatal("evicted entry still served")
	}
	for i := range 5 {
		get(i)
	}
	if n := e.broker.cache.len(); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
}

func TestWaiterCancellation(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.SetLatency(300 * time.Millisecond)
	id := e.user(t, "alice", "s3-readers")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.broker.Credentials(ctx, id); mcpguard.KindOf(err) != mcpguard.KindCredentialsUnavailable {
		t.Fatalf("cancelled waiter: %v", err)
	}
	// The shared exchange went on without the cancelled caller.
	g, err := e.broker.Credentials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Calls()); n != 1 {
		t.Fatalf("%d STS calls, want 1 (grant cached %v)", n, g.Cached)
	}
}
