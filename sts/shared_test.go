package sts

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpguard/mcpguard/authn"
	"github.com/mcpguard/mcpguard/test/fakests"
	"github.com/mcpguard/mcpguard/test/redistest"
)

// redisStore is the SharedStore package gateway builds, on a test's Redis.
type redisStore struct{ rdb *redis.Client }

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (s redisStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

func (s redisStore) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return s.rdb.Set(ctx, key, val, ttl).Err()
}

func (s redisStore) Lock(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	return s.rdb.SetNX(ctx, key, token, ttl).Result()
}

func (s redisStore) Unlock(ctx context.Context, key, token string) error {
	return unlockScript.Run(ctx, s.rdb, []string{key}, token).Err()
}

var testSharedKey = bytes.Repeat([]byte{7}, SharedKeySize)

// sharedEnv is two brokers (replicas) on one fake STS, one clock and one
// Redis, each with a shared cache under key.
type sharedEnv struct {
	*env
	redis  *redistest.Server
	rdb    *redis.Client
	second *Broker
	opts   Options
}

func newSharedEnv(t *testing.T) *sharedEnv {
	t.Helper()
	srv := redistest.Start(t)
	// As package gateway connects: one try, so an outage costs no retries.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	se := &sharedEnv{redis: srv, rdb: rdb}
	se.env = newEnv(t, func(_ *env, o *Options, _ *fakests.Options) {
		o.Shared = se.shared(t, testSharedKey)
	})
	se.opts = Options{
		Region: "us-east-1", RoleClaim: groupsClaim, DefaultRoleARN: roleDefault,
		Mappings:   []Mapping{{Claim: "s3-readers", RoleARN: roleS3}, {Claim: "ec2-viewers", RoleARN: roleEC2}},
		MaxBackoff: time.Millisecond, Timeout: 5 * time.Second, Now: se.clk.Now, Endpoint: se.fake.URL(),
	}
	se.second = se.replica(t, testSharedKey)
	return se
}

func (se *sharedEnv) shared(t *testing.T, key []byte) *SharedCache {
	t.Helper()
	s, err := NewSharedCache(SharedCacheOptions{Store: redisStore{se.rdb}, Key: key, Prefix: "mcpguard:"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replica is one more broker on the same STS and Redis.
func (se *sharedEnv) replica(t *testing.T, key []byte) *Broker {
	t.Helper()
	o := se.opts
	o.Shared = se.shared(t, key)
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func (se *sharedEnv) calls() int { return len(se.fake.Calls()) }

func (se *sharedEnv) entries(t *testing.T) []string {
	t.Helper()
	keys, err := se.rdb.Keys(t.Context(), "mcpguard:sts:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func mustCreds(t *testing.T, b *Broker, id *authn.Identity) *Grant {
	t.Helper()
	g, err := b.Credentials(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSharedCacheHitAcrossReplicas(t *testing.T) {
	se := newSharedEnv(t)
	alice := se.user(t, "alice", "s3-readers")
	g1 := mustCreds(t, se.broker, alice)
	if se.calls() != 1 || g1.Cached {
		t.Fatalf("first replica: %d STS calls, cached %v", se.calls(), g1.Cached)
	}
	g2 := mustCreds(t, se.second, alice)
	if se.calls() != 1 {
		t.Fatalf("second replica called STS: %d calls", se.calls())
	}
	if !g2.Cached || g2.Credentials != g1.Credentials || g2.RoleARN != roleS3 || g2.SessionName != g1.SessionName ||
		g2.STSRequestID != g1.STSRequestID || !g2.NotAfter.Equal(g1.NotAfter) || g2.AssumedRoleARN != g1.AssumedRoleARN {
		t.Fatalf("shared grant %+v differs from %+v", g2, g1)
	}
	// The value in Redis holds neither secret in any form.
	keys := se.entries(t)
	if len(keys) != 1 {
		t.Fatalf("entries %v", keys)
	}
	v, _ := se.rdb.Get(t.Context(), keys[0]).Bytes()
	for _, s := range []string{string(g1.Credentials.SecretAccessKey), string(g1.Credentials.SessionToken), g1.Credentials.AccessKeyID} {
		if bytes.Contains(v, []byte(s)) {
			t.Fatal("plaintext credential in Redis")
		}
	}
	if ttl := se.rdb.PTTL(t.Context(), keys[0]).Val(); ttl <= 0 || ttl > time.Hour-DefaultSharedTTLMargin {
		t.Fatalf("entry TTL %v", ttl)
	}
	// A hit of the local cache from then on.
	if g := mustCreds(t, se.second, alice); !g.Cached || se.calls() != 1 {
		t.Fatal("local cache not filled from the shared one")
	}
}

func TestSharedCacheMissPerUserAndToken(t *testing.T) {
	se := newSharedEnv(t)
	mustCreds(t, se.broker, se.user(t, "alice", "s3-readers"))
	// Another user, and the same user with another token, miss.
	bob := mustCreds(t, se.second, se.user(t, "bob", "s3-readers"))
	se.clk.Advance(time.Second)
	alice2 := mustCreds(t, se.second, se.user(t, "alice", "s3-readers"))
	if se.calls() != 3 || bob.Cached || alice2.Cached {
		t.Fatalf("%d STS calls, want 3", se.calls())
	}
	if n := len(se.entries(t)); n != 3 {
		t.Fatalf("%d entries", n)
	}
}

func TestSharedCacheLockContention(t *testing.T) {
	se := newSharedEnv(t)
	se.fake.SetLatency(100 * time.Millisecond)
	alice := se.user(t, "alice", "s3-readers")
	var wg sync.WaitGroup
	grants := make([]*Grant, 4)
	errs := make([]error, 4)
	for i := range grants {
		b := se.broker
		if i%2 == 1 {
			b = se.second
		}
		wg.Go(func() { grants[i], errs[i] = b.Credentials(t.Context(), alice) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if grants[i].Credentials.AccessKeyID != grants[0].Credentials.AccessKeyID {
			t.Fatal("replicas hold different credentials")
		}
	}
	if se.calls() != 1 {
		t.Fatalf("%d STS calls for two cold replicas, want 1", se.calls())
	}
	if n, _ := se.rdb.Exists(t.Context(), se.entries(t)[0]+":lock").Result(); n != 0 {
		t.Fatal("lock left behind")
	}
}

func TestSharedCacheWrongKey(t *testing.T) {
	se := newSharedEnv(t)
	alice := se.user(t, "alice", "s3-readers")
	g1 := mustCreds(t, se.broker, alice)
	other := se.replica(t, bytes.Repeat([]byte{8}, SharedKeySize))
	g2 := mustCreds(t, other, alice)
	if se.calls() != 2 || g2.Cached || g2.Credentials.AccessKeyID == g1.Credentials.AccessKeyID {
		t.Fatalf("a replica with another key adopted the entry (%d calls)", se.calls())
	}
}

func TestSharedCacheTamperedAndMoved(t *testing.T) {
	se := newSharedEnv(t)
	ctx := t.Context()
	alice, bob := se.user(t, "alice", "s3-readers"), se.user(t, "bob", "s3-readers")
	ga := mustCreds(t, se.broker, alice)
	keyA := se.entries(t)[0]
	val, _ := se.rdb.Get(ctx, keyA).Bytes()

	// Moved: alice's ciphertext under bob's name does not open for bob.
	gb := mustCreds(t, se.broker, bob)
	var keyB string
	for _, k := range se.entries(t) {
		if k != keyA {
			keyB = k
		}
	}
	se.rdb.Set(ctx, keyB, val, time.Hour)
	third := se.replica(t, testSharedKey)
	if g := mustCreds(t, third, bob); g.Credentials.AccessKeyID == ga.Credentials.AccessKeyID || g.Credentials.AccessKeyID == gb.Credentials.AccessKeyID {
		t.Fatal("bob was served a moved entry")
	}
	if se.calls() != 3 {
		t.Fatalf("%d calls, want 3", se.calls())
	}

	// Tampered: every byte flipped in turn is refused; the entry is
	// overwritten by the replica that calls STS.
	for _, i := range []int{0, 1, 12, 13, len(val) / 2, len(val) - 1} {
		bad := bytes.Clone(val)
		bad[i] ^= 0x01
		se.rdb.Set(ctx, keyA, bad, time.Hour)
		before := se.calls()
		r := se.replica(t, testSharedKey)
		g := mustCreds(t, r, alice)
		if g.Cached || se.calls() != before+1 {
			t.Fatalf("byte %d: tampered entry adopted", i)
		}
		// Overwritten: a further replica adopts the new credentials.
		if g2 := mustCreds(t, se.replica(t, testSharedKey), alice); !g2.Cached || g2.Credentials != g.Credentials || se.calls() != before+1 {
			t.Fatalf("byte %d: entry not overwritten", i)
		}
	}
	// Garbage of every short length is ignored too.
	for _, n := range []int{0, 1, 13, 28, 40} {
		se.rdb.Set(ctx, keyA, bytes.Repeat([]byte{1}, n), time.Hour)
		before := se.calls()
		if g := mustCreds(t, se.replica(t, testSharedKey), alice); g.Cached || se.calls() != before+1 {
			t.Fatalf("garbage of %d bytes adopted", n)
		}
	}
}

func TestSharedCacheExpiry(t *testing.T) {
	se := newSharedEnv(t)
	alice := se.user(t, "alice", "s3-readers")
	g1 := mustCreds(t, se.broker, alice)
	// Just before the TTL margin the entry is still adopted ...
	se.clk.Advance(g1.NotAfter.Sub(se.clk.Now()) - DefaultSharedTTLMargin - time.Second)
	if g := mustCreds(t, se.replica(t, testSharedKey), alice); !g.Cached || se.calls() != 1 {
		t.Fatal("entry not adopted before its margin")
	}
	// ... within it, never.
	se.clk.Advance(2 * time.Second)
	if g := mustCreds(t, se.replica(t, testSharedKey), alice); g.Cached || se.calls() != 2 {
		t.Fatal("entry adopted within its TTL margin")
	}
}

func TestSharedCacheRefreshAhead(t *testing.T) {
	se := newSharedEnv(t)
	alice := se.user(t, "alice", "s3-readers")
	g1 := mustCreds(t, se.broker, alice)
	entry := se.entries(t)[0]
	old, _ := se.rdb.Get(t.Context(), entry).Bytes()
	// Into the refresh window: the first replica serves its entry and
	// refreshes once, through the shared cache.
	se.clk.Advance(g1.NotAfter.Sub(se.clk.Now()) - DefaultRefreshMargin + time.Second)
	if g := mustCreds(t, se.broker, alice); g.Credentials != g1.Credentials {
		t.Fatal("refresh window did not serve the cached credentials")
	}
	// The refresh ends by rewriting the entry.
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if v, _ := se.rdb.Get(t.Context(), entry).Bytes(); !bytes.Equal(v, old) {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal("refresh never wrote the shared entry")
		case <-time.After(wait):
		}
	}
	if se.calls() != 2 {
		t.Fatalf("%d STS calls, want 2", se.calls())
	}
	// The second replica adopts the refreshed credentials, not the old ones.
	g := mustCreds(t, se.second, alice)
	if !g.Cached || g.Credentials.AccessKeyID == g1.Credentials.AccessKeyID || se.calls() != 2 {
		t.Fatalf("second replica did not adopt the refreshed credentials: cached %v, %d calls, same key %v", g.Cached, se.calls(), g.Credentials.AccessKeyID == g1.Credentials.AccessKeyID)
	}
}

func TestSharedCacheRedisDown(t *testing.T) {
	se := newSharedEnv(t)
	se.redis.Stop()
	alice := se.user(t, "alice", "s3-readers")
	g1 := mustCreds(t, se.broker, alice)
	g2 := mustCreds(t, se.second, alice)
	if se.calls() != 2 || g1.Cached || g2.Cached {
		t.Fatalf("%d calls with Redis down, want 2 (one per replica)", se.calls())
	}
	// The local cache still works.
	if g := mustCreds(t, se.broker, alice); !g.Cached || se.calls() != 2 {
		t.Fatal("local cache unused")
	}
}

func TestSharedCacheScoped(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	mk := func(e *env, o *Options, _ *fakests.Options) {
		o.ScopeDown = ScopeRequest
		s, err := NewSharedCache(SharedCacheOptions{Store: redisStore{rdb}, Key: testSharedKey})
		if err != nil {
			t.Fatal(err)
		}
		o.Shared = s
	}
	e := newEnv(t, mk)
	id := e.user(t, "alice", "s3-readers")
	g1, err := e.broker.ScopedCredentials(t.Context(), id, Scope{Actions: []string{"s3:GetObject"}})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Region: "us-east-1", RoleClaim: groupsClaim, Mappings: []Mapping{{Claim: "s3-readers", RoleARN: roleS3}},
		Endpoint: e.fake.URL(), Now: e.clk.Now, ScopeDown: ScopeRequest}
	mk(nil, &o, nil)
	b2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	g2, err := b2.ScopedCredentials(t.Context(), id, Scope{Actions: []string{"s3:GetObject"}})
	if err != nil {
		t.Fatal(err)
	}
	if !g2.Cached || g2.Credentials != g1.Credentials || g2.Scope == nil || g2.Scope.PolicyDigest != g1.Scope.PolicyDigest {
		t.Fatal("scoped session not shared")
	}
	// Another action set is another entry.
	g3, err := b2.ScopedCredentials(t.Context(), id, Scope{Actions: []string{"s3:PutObject"}})
	if err != nil {
		t.Fatal(err)
	}
	if g3.Cached || g3.Credentials.AccessKeyID == g1.Credentials.AccessKeyID || len(e.fake.Calls()) != 2 {
		t.Fatal("another action set reused the first set's session")
	}
}

func TestNewSharedCacheRefusesShortKey(t *testing.T) {
	if _, err := NewSharedCache(SharedCacheOptions{Store: redisStore{}, Key: make([]byte, 31)}); err == nil {
		t.Fatal("31-byte key accepted")
	}
	if _, err := NewSharedCache(SharedCacheOptions{Key: testSharedKey}); err == nil {
		t.Fatal("no store accepted")
	}
}

// BenchmarkSharedCacheHit measures a local miss served by the shared
// cache: a Redis GET on loopback, AES-GCM open and the local insert.
func BenchmarkSharedCacheHit(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	s, err := NewSharedCache(SharedCacheOptions{Store: redisStore{rdb}, Key: testSharedKey})
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, func(_ *env, o *Options, _ *fakests.Options) { o.Shared = s; o.MaxEntries = 1 })
	ids := []*authn.Identity{e.user(b, "alice", "s3-readers"), e.user(b, "bob", "s3-readers")}
	ctx := context.Background()
	for _, id := range ids {
		if _, err := e.broker.Credentials(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	calls := len(e.fake.Calls())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// With one local entry, alternating users always miss locally.
		g, err := e.broker.Credentials(ctx, ids[i%2])
		if err != nil || !g.Cached {
			b.Fatal(err)
		}
		i++
	}
	if len(e.fake.Calls()) != calls {
		b.Fatal("STS called during the benchmark")
	}
}

func TestRestoreSharedRefusesOtherLayouts(t *testing.T) {
	g := &Grant{RoleARN: roleS3, SessionName: "alice@example.com", STSRequestID: "0b0b0b0b-0000-4000-8000-000000000000",
		Credentials: Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "c2VjcmV0", SessionToken: "dG9rZW4=", Expires: time.Unix(1e9, 0).UTC()},
		NotAfter:    time.Unix(1e9, 0).UTC()}
	blob := compact(g).blob
	if got, ok := restoreShared(roleS3, blob); !ok || got.Credentials != g.Credentials || got.SessionName != g.SessionName {
		t.Fatal("a valid blob was refused")
	}
	for n := range len(blob) {
		if _, ok := restoreShared(roleS3, blob[:n]); ok {
			t.Fatalf("a blob cut to %d bytes was accepted", n)
		}
	}
	if _, ok := restoreShared(roleS3, blob+"x"); ok {
		t.Fatal("a blob with a trailing byte was accepted")
	}
}

// A lock whose holder died (never wrote, never released) delays a cold
// replica by at most the lock TTL, then it calls STS itself.
func TestSharedCacheStaleLock(t *testing.T) {
	se := newSharedEnv(t)
	alice := se.user(t, "alice", "s3-readers")
	s, err := NewSharedCache(SharedCacheOptions{Store: redisStore{se.rdb}, Key: testSharedKey, Prefix: "mcpguard:", LockTTL: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := se.broker.resolve(alice)
	if err != nil {
		t.Fatal(err)
	}
	// A dead replica's lock, for far longer than the waiter's lock TTL.
	if err := se.rdb.Set(t.Context(), s.name(rs.key)+":lock", "dead-replica", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	o := se.opts
	o.Shared = s
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	g := mustCreds(t, b, alice)
	if g.Cached || se.calls() != 1 {
		t.Fatalf("%d STS calls, want 1", se.calls())
	}
	// It waited out the lock (the entry it would have written under the
	// lock is absent) ...
	if keys := se.entries(t); len(keys) != 1 || keys[0] != s.name(rs.key)+":lock" {
		t.Fatalf("keys %v: the waiter did not wait for the dead replica's lock", keys)
	}
	// ... and did not release it.
	if v, _ := se.rdb.Get(t.Context(), s.name(rs.key)+":lock").Result(); v != "dead-replica" {
		t.Fatalf("lock now %q", v)
	}
}
