package authn

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mcpguard/mcpguard"
	"github.com/mcpguard/mcpguard/test/fakeidp"
)

func TestAuthenticateValid(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CacheSize = -1 })
	e.waitReady(t)
	for _, alg := range []string{fakeidp.RS256, fakeidp.ES256, fakeidp.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			claims := e.claims("s3-readers", "Everyone")
			claims["custom"] = map[string]any{"n": 7}
			tok := e.mint(t, claims, fakeidp.WithAlg(alg))
			id, err := e.auth(tok)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.Subject != "alice" || id.Issuer != e.idp.URL() || id.Email != "alice@example.com" {
				t.Errorf("identity = %+v", id)
			}
			if !slices.Equal(id.Groups, []string{"s3-readers", "Everyone"}) {
				t.Errorf("groups = %v", id.Groups)
			}
			if string(id.Token) != tok || id.TokenDigest != sha256.Sum256([]byte(tok)) {
				t.Error("token or digest wrong")
			}
			if want := time.Unix(int64(claims["exp"].(int64)), 0); !id.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", id.ExpiresAt, want)
			}
			// Claims are plain JSON types.
			if _, ok := id.Claims["groups"].([]any); !ok {
				t.Errorf("groups claim type %T", id.Claims["groups"])
			}
			if c, ok := id.Claims["custom"].(map[string]any); !ok || c["n"] != float64(7) {
				t.Errorf("custom claim = %#v", id.Claims["custom"])
			}
			if _, ok := id.Claims["exp"].(float64); !ok {
				t.Errorf("exp claim type %T", id.Claims["exp"])
			}
		})
	}
}

func TestAuthenticateHeaderForms(t *testing.T) {
	e := newEnv(t, nil)
	e.waitReady(t)
	tok := e.mint(t, e.claims())
	cases := []struct {
		name   string
		in     Input
		reason string // "" = success
	}{
		{"valid", Input{Authorization: "Bearer " + tok}, ""},
		{"scheme case-insensitive", Input{Authorization: "bEaReR " + tok}, ""},
		{"missing", Input{}, ReasonMissing},
		{"blank", Input{Authorization: "   "}, ReasonMissing},
		{"basic", Input{Authorization: "Basic YWxpY2U6c2VjcmV0"}, ReasonMissing},
		{"token only", Input{Authorization: tok}, ReasonMissing},
		{"bearer without token", Input{Authorization: "Bearer"}, ReasonMalformed},
		{"bearer space", Input{Authorization: "Bearer "}, ReasonMalformed},
		{"two headers", Input{Authorization: "Bearer " + tok, AuthorizationCount: 2}, ReasonMalformed},
		{"two headers joined", Input{Authorization: "Bearer " + tok + ", Bearer " + tok}, ReasonMalformed},
		{"trailing junk", Input{Authorization: "Bearer " + tok + " x"}, ReasonMalformed},
		{"tab", Input{Authorization: "Bearer\t" + tok}, ReasonMissing},
		{"two parts", Input{Authorization: "Bearer abc.def"}, ReasonMalformed},
		{"four parts", Input{Authorization: "Bearer a.b.c.d"}, ReasonMalformed},
		{"garbage jws", Input{Authorization: "Bearer a.b.c"}, ReasonMalformed},
		{"padding", Input{Authorization: "Bearer " + tok + "=="}, ReasonMalformed},
		{"huge", Input{Authorization: "Bearer " + strings.Repeat("a", maxTokenBytes+100)}, ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := e.a.Authenticate(t.Context(), c.in)
			if c.reason == "" {
				if err != nil || id == nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			wantReason(t, err, c.reason)
		})
	}
}

func TestAuthenticateClaims(t *testing.T) {
	const skew = 60 * time.Second
	e := newEnv(t, func(o *Options) { o.ClockSkew = skew; o.CacheSize = -1 })
	e.waitReady(t)
	now := e.clk.Now().Unix()
	cases := []struct {
		name   string
		mut    func(map[string]any)
		reason string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"expired", func(c map[string]any) { c["exp"] = now - 3600 }, ReasonExpired},
		{"expired within skew", func(c map[string]any) { c["exp"] = now - 59 }, ""},
		{"expired 1s beyond skew", func(c map[string]any) { c["exp"] = now - 61 }, ReasonExpired},
		{"expired exactly at skew", func(c map[string]any) { c["exp"] = now - 60 }, ReasonExpired},
		{"exp zero", func(c map[string]any) { c["exp"] = 0 }, ReasonExpired},
		{"exp missing", func(c map[string]any) { delete(c, "exp") }, ReasonMissingClaim},
		{"exp string", func(c map[string]any) { c["exp"] = "tomorrow" }, ReasonMalformed},
		{"sub missing", func(c map[string]any) { delete(c, "sub") }, ReasonMissingClaim},
		{"not yet valid", func(c map[string]any) { c["nbf"] = now + 120 }, ReasonNotYetValid},
		{"nbf within skew", func(c map[string]any) { c["nbf"] = now + 30 }, ""},
		{"iat in future", func(c map[string]any) { c["iat"] = now + 120 }, ReasonNotYetValid},
		{"iat within skew", func(c map[string]any) { c["iat"] = now + 30 }, ""},
		{"wrong issuer", func(c map[string]any) { c["iss"] = "https://evil.example.com" }, ReasonBadIssuer},
		{"issuer trailing slash", func(c map[string]any) { c["iss"] = e.idp.URL() + "/" }, ReasonBadIssuer},
		{"issuer missing", func(c map[string]any) { delete(c, "iss") }, ReasonBadIssuer},
		{"wrong audience", func(c map[string]any) { c["aud"] = "other" }, ReasonBadAudience},
		{"audience list with ours", func(c map[string]any) { c["aud"] = []string{"other", testAudience} }, ""},
		{"audience missing", func(c map[string]any) { delete(c, "aud") }, ReasonBadAudience},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims := e.claims()
			c.mut(claims)
			_, err := e.auth(e.mint(t, claims))
			if c.reason == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			wantReason(t, err, c.reason)
		})
	}
}

func TestAuthenticateAttacks(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CacheSize = -1 })
	e.waitReady(t)
	attacker, err := fakeidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = attacker.Close() }()
	claims := e.claims()
	victimKid := e.idp.ActiveKid(fakeidp.RS256)

	none, err := e.idp.MintNone(claims)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e.idp.MintHS256WithPublicKey(claims)
	if err != nil {
		t.Fatal(err)
	}
	good := e.mint(t, claims)
	parts := strings.Split(good, ".")
	tamperedClaims := e.claims()
	tamperedClaims["sub"] = "admin"
	tp, _ := json.Marshal(tamperedClaims)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(tp) + "." + parts[2]
	strippedSig := parts[0] + "." + parts[1] + "."
	// A token signed by the attacker, naming the victim's kid and pointing
	// at the attacker's keys every way JOSE allows.
	hostile := func(name string, value any) string {
		tok, err := attacker.Mint(claims, fakeidp.WithKid(victimKid), fakeidp.WithEmbeddedJWK(), fakeidp.WithHeader(name, value))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	esWithRSAKid := e.mint(t, claims, fakeidp.WithAlg(fakeidp.ES256), fakeidp.WithKid(victimKid))

	cases := []struct {
		name, tok, reason string
	}{
		{"alg none", none, ReasonBadAlgorithm},
		{"HS256 keyed with public key", hs, ReasonBadAlgorithm},
		{"tampered payload", tampered, ReasonBadSignature},
		{"signature stripped", strippedSig, ReasonBadSignature},
		{"foreign key, our kid", e.mint(t, claims, fakeidp.WithForeignKey()), ReasonBadSignature},
		{"jwk header", hostile("typ", "JWT"), ReasonBadSignature},
		{"jku header", hostile("jku", attacker.JWKSURL()), ReasonBadSignature},
		{"x5u header", hostile("x5u", attacker.URL()+"/cert.pem"), ReasonBadSignature},
		{"crit header", e.mint(t, claims, fakeidp.WithHeader("crit", []string{"exp"}), fakeidp.WithHeader("exp", 1)), ReasonBadHeader},
		{"b64 header", e.mint(t, claims, fakeidp.WithHeader("b64", true)), ReasonBadHeader},
		{"alg does not fit kid", esWithRSAKid, ReasonBadAlgorithm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.auth(c.tok)
			wantReason(t, err, c.reason)
		})
	}
	if attacker.JWKSFetches() != 0 {
		t.Errorf("attacker's JWKS was fetched %d times", attacker.JWKSFetches())
	}
}

func TestAlgorithmAllowList(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowedAlgorithms = []string{"ES256"} })
	e.waitReady(t)
	_, err := e.auth(e.mint(t, e.claims(), fakeidp.WithAlg(fakeidp.RS256)))
	wantReason(t, err, ReasonBadAlgorithm)
	if _, err := e.auth(e.mint(t, e.claims(), fakeidp.WithAlg(fakeidp.ES256))); err != nil {
		t.Fatalf("ES256: %v", err)
	}
}

func TestTokenWithoutKid(t *testing.T) {
	// With a single key, a kid-less token may use it; with several, no guess.
	one := newEnv(t, nil, fakeidp.WithAlgorithms(fakeidp.ES256))
	one.waitReady(t)
	if _, err := one.auth(one.mint(t, one.claims(), fakeidp.WithoutKid())); err != nil {
		t.Fatalf("single key: %v", err)
	}
	if _, err := one.idp.Rotate(""); err != nil {
		t.Fatal(err)
	}
	if err := one.a.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := one.auth(one.mint(t, one.claims(), fakeidp.WithoutKid()))
	wantReason(t, err, ReasonUnknownKey)
}

func TestUnknownKidRefetch(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MinRefetchInterval = time.Minute })
	e.waitReady(t)
	e.clk.Advance(2 * time.Minute)
	before := e.idp.JWKSFetches()
	if _, err := e.idp.Rotate(""); err != nil {
		t.Fatal(err)
	}
	id, err := e.auth(e.mint(t, e.claims()))
	if err != nil {
		t.Fatalf("token of rotated key: %v", err)
	}
	if id.Subject != "alice" {
		t.Errorf("sub %q", id.Subject)
	}
	if got := e.idp.JWKSFetches() - before; got != 1 {
		t.Errorf("refetches = %d, want 1", got)
	}
	// A kid that exists nowhere fails; within MinRefetchInterval it costs
	// the issuer nothing.
	for range 3 {
		_, err = e.auth(e.mint(t, e.claims(), fakeidp.WithKid("no-such-kid")))
		wantReason(t, err, ReasonUnknownKey)
	}
	if got := e.idp.JWKSFetches() - before; got != 1 {
		t.Errorf("fetches after unknown kids = %d, want 1 (rate limited)", got)
	}
	e.clk.Advance(2 * time.Minute)
	_, err = e.auth(e.mint(t, e.claims(), fakeidp.WithKid("no-such-kid")))
	wantReason(t, err, ReasonUnknownKey)
	if got := e.idp.JWKSFetches() - before; got != 2 {
		t.Errorf("fetches after interval = %d, want 2", got)
	}
}

func TestRotationPickedUpInBackground(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.RefreshInterval = 20 * time.Millisecond
		o.MinRefetchInterval = time.Hour // only the background loop may fetch
	})
	e.waitReady(t)
	oldKid := e.idp.ActiveKid("")
	oldTok := e.mint(t, e.claims())
	if _, err := e.auth(oldTok); err != nil {
		t.Fatal(err)
	}
	newKid, err := e.idp.Rotate("")
	if err != nil {
		t.Fatal(err)
	}
	e.idp.Retire(oldKid)
	newTok := e.mint(t, e.claims())
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, errNew := e.auth(newTok)
		_, errOld := e.auth(oldTok)
		if errNew == nil && errOld != nil {
			wantReason(t, errOld, ReasonUnknownKey) // the cached old token is dropped too
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation to %s not picked up: new=%v old=%v", newKid, errNew, errOld)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIdPDownAfterFirstFetch(t *testing.T) {
	var hooks []bool
	var mu sync.Mutex
	e := newEnv(t, func(o *Options) {
		o.CacheSize = -1
		o.MinRefetchInterval = time.Millisecond
		o.OnJWKSRefresh = func(ok bool) { mu.Lock(); hooks = append(hooks, ok); mu.Unlock() }
	})
	e.waitReady(t)
	e.idp.SetDown(true)
	if err := e.a.Refresh(t.Context()); err == nil {
		t.Fatal("refresh against a down issuer succeeded")
	}
	e.clk.Advance(time.Second)
	if _, err := e.auth(e.mint(t, e.claims())); err != nil {
		t.Fatalf("known key while issuer down: %v", err)
	}
	_, err := e.auth(e.mint(t, e.claims(), fakeidp.WithKid("rotated-while-down")))
	wantReason(t, err, ReasonUnknownKey)
	if !e.a.Ready() {
		t.Error("not ready while holding keys")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) < 2 || !hooks[0] || hooks[len(hooks)-1] {
		t.Errorf("refresh hook outcomes = %v, want true first and false last", hooks)
	}
}

func TestIdPDownAtStart(t *testing.T) {
	clk := newClock()
	idp, err := fakeidp.New(fakeidp.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idp.Close() }()
	idp.SetDown(true)
	a, err := New(t.Context(), Options{Issuer: idp.URL(), Audiences: []string{testAudience}, Now: clk.Now})
	if err != nil {
		t.Fatalf("New must not fail while the issuer is down: %v", err)
	}
	defer a.Close()
	tok, _ := idp.Mint(idp.Claims("alice", testAudience))
	in := Input{Authorization: "Bearer " + tok}
	_, err = a.Authenticate(t.Context(), in)
	if mcpguard.KindOf(err) != mcpguard.KindUnavailable || mcpguard.ReasonOf(err) != ReasonJWKSUnavailable {
		t.Fatalf("want unavailable/jwks_unavailable, got %v (%v)", mcpguard.KindOf(err), err)
	}
	if a.Ready() {
		t.Error("ready without keys")
	}
	idp.SetDown(false)
	clk.Advance(DefaultMinRefetchInterval + time.Second)
	if _, err := a.Authenticate(t.Context(), in); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !a.Ready() {
		t.Error("not ready after recovery")
	}
}

func TestDiscoveryAndExplicitJWKS(t *testing.T) {
	t.Run("explicit jwks url skips discovery", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.JWKSURL = "" })
		e.waitReady(t)
		if e.idp.DiscoveryFetches() != 1 {
			t.Errorf("discovery fetches = %d", e.idp.DiscoveryFetches())
		}
		var jwksURL string
		e2 := newEnv(t, func(o *Options) { jwksURL = o.Issuer + fakeidp.JWKSPath; o.JWKSURL = jwksURL })
		e2.waitReady(t)
		if e2.idp.DiscoveryFetches() != 0 {
			t.Errorf("discovery used despite JWKSURL")
		}
		if _, err := e2.auth(e2.mint(t, e2.claims())); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("issuer mismatch in discovery", func(t *testing.T) {
		idp, err := fakeidp.New()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = idp.Close() }()
		// The discovery document names idp.URL(), not this issuer string.
		a, err := New(t.Context(), Options{Issuer: idp.URL() + "/", Audiences: []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := a.Refresh(t.Context()); err == nil || !strings.Contains(err.Error(), "names issuer") {
			t.Fatalf("refresh error = %v", err)
		}
		if a.Ready() || idp.JWKSFetches() != 0 {
			t.Errorf("keys of a mismatched issuer were fetched")
		}
	})
}

func TestJWKSContentFiltering(t *testing.T) {
	// An issuer whose JWKS also contains an HMAC secret and an encryption
	// key: neither may ever verify a token.
	idp, err := fakeidp.New(fakeidp.WithAlgorithms(fakeidp.RS256))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idp.Close() }()
	real, err := http.Get(idp.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(real.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	_ = real.Body.Close()
	rsa := doc.Keys[0]
	enc := map[string]any{}
	for k, v := range rsa {
		enc[k] = v
	}
	enc["kid"], enc["use"] = "enc-key", "enc"
	oct := map[string]any{"kty": "oct", "kid": "hmac", "k": base64.RawURLEncoding.EncodeToString([]byte("secret"))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{oct, enc, rsa}})
	}))
	defer srv.Close()
	a, err := New(t.Context(), Options{Issuer: idp.URL(), Audiences: []string{testAudience}, JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(a.keys.Load().all); n != 1 {
		t.Errorf("usable keys = %d, want 1", n)
	}
	claims := idp.Claims("alice", testAudience)
	tok, _ := idp.Mint(claims, fakeidp.WithKid("enc-key"))
	_, err = a.Authenticate(t.Context(), Input{Authorization: "Bearer " + tok})
	wantReason(t, err, ReasonUnknownKey)
}

func TestCache(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ClockSkew = 30 * time.Second })
	e.waitReady(t)
	claims := e.claims()
	claims["exp"] = e.clk.Now().Unix() + 10
	tok := e.mint(t, claims)
	first, err := e.auth(tok)
	if err != nil {
		t.Fatal(err)
	}
	v := e.a.verifications.Load()
	for range 5 {
		id, err := e.auth(tok)
		if err != nil {
			t.Fatal(err)
		}
		if id != first {
			t.Error("cache hit returned a different identity")
		}
	}
	if got := e.a.verifications.Load() - v; got != 0 {
		t.Errorf("cached tokens verified %d more times", got)
	}
	// At exp the cache must not answer, even though the skew still admits
	// the token: it is verified again.
	e.clk.Advance(10 * time.Second)
	if _, err := e.auth(tok); err != nil {
		t.Fatalf("within skew: %v", err)
	}
	if got := e.a.verifications.Load() - v; got != 1 {
		t.Errorf("verifications at exp = %d, want 1 (no cache past exp)", got)
	}
	e.clk.Advance(31 * time.Second)
	_, err = e.auth(tok)
	wantReason(t, err, ReasonExpired)
}

func TestCacheBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CacheSize = 3 })
	e.waitReady(t)
	for i := range 10 {
		c := e.claims()
		c["jti"] = strconv.Itoa(i)
		if _, err := e.auth(e.mint(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.a.cache.len(); n != 3 {
		t.Errorf("cache len = %d, want 3", n)
	}
}

func TestConcurrentAuthenticate(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CacheSize = 4 })
	e.waitReady(t)
	toks := make([]string, 8)
	for i := range toks {
		c := e.claims()
		c["jti"] = strconv.Itoa(i)
		toks[i] = e.mint(t, c, fakeidp.WithAlg([]string{fakeidp.RS256, fakeidp.ES256}[i%2]))
	}
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := e.auth(toks[(g+i)%len(toks)]); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			_ = e.a.Refresh(t.Context())
		}
	})
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d concurrent authentications failed", failures.Load())
	}
}

func TestEnvoyMetadataMode(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TokenSource = SourceEnvoyMetadata })
	e.waitReady(t) // metadata mode verifies tokens too, so it needs the keys
	claims := e.claims("g1")
	tok := e.mint(t, claims)
	// Envoy passes the verified payload through a protobuf Struct: numbers
	// arrive as float64.
	asStruct := func(c map[string]any) map[string]any {
		b, _ := json.Marshal(c)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	md := func(c map[string]any) map[string]any { return map[string]any{DefaultMetadataKey: asStruct(c)} }
	other := e.claims()
	other["sub"] = "bob"
	expired := e.claims()
	expired["exp"] = e.clk.Now().Unix() - 10
	wrongAud := e.claims()
	wrongAud["aud"] = "elsewhere"
	wrongExp := e.claims()
	wrongExp["exp"] = claims["exp"].(int64) + 1
	otherAud := e.claims("g1")
	otherAud["aud"] = []string{testAudience, "elsewhere"}
	otherIss := e.claims("g1")
	otherIss["iss"] = "https://other.example.com"
	// A peer that forges the metadata and signs a matching token with a key
	// the issuer never published: the forgery the metadata used to hide.
	forged := e.mint(t, claims, fakeidp.WithForeignKey())
	forgedNoKid := e.mint(t, claims, fakeidp.WithForeignKey(), fakeidp.WithKid("attacker"))
	unsigned, err := e.idp.MintNone(claims)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		in     Input
		reason string
	}{
		{"ok", Input{Authorization: "Bearer " + tok, Metadata: md(claims)}, ""},
		{"metadata absent", Input{Authorization: "Bearer " + tok}, ReasonMetadataMissing},
		{"metadata key absent", Input{Authorization: "Bearer " + tok, Metadata: map[string]any{"other": asStruct(claims)}}, ReasonMetadataMissing},
		{"metadata not an object", Input{Authorization: "Bearer " + tok, Metadata: map[string]any{DefaultMetadataKey: "x"}}, ReasonMetadataMissing},
		{"token absent", Input{Metadata: md(claims)}, ReasonMissing},
		{"sub mismatch", Input{Authorization: "Bearer " + tok, Metadata: md(other)}, ReasonMetadataMismatch},
		{"exp mismatch", Input{Authorization: "Bearer " + tok, Metadata: md(wrongExp)}, ReasonMetadataMismatch},
		{"expired", Input{Authorization: "Bearer " + e.mint(t, expired), Metadata: md(expired)}, ReasonExpired},
		{"wrong audience", Input{Authorization: "Bearer " + e.mint(t, wrongAud), Metadata: md(wrongAud)}, ReasonBadAudience},
		{"header token garbage", Input{Authorization: "Bearer a.b.c", Metadata: md(claims)}, ReasonMalformed},
		{"aud mismatch", Input{Authorization: "Bearer " + tok, Metadata: md(otherAud)}, ReasonMetadataMismatch},
		{"iss mismatch", Input{Authorization: "Bearer " + tok, Metadata: md(otherIss)}, ReasonMetadataMismatch},
		{"forged token, matching metadata", Input{Authorization: "Bearer " + forged, Metadata: md(claims)}, ReasonBadSignature},
		{"forged token, unknown kid", Input{Authorization: "Bearer " + forgedNoKid, Metadata: md(claims)}, ReasonUnknownKey},
		{"unsigned token, matching metadata", Input{Authorization: "Bearer " + unsigned, Metadata: md(claims)}, ReasonBadAlgorithm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := e.a.Authenticate(t.Context(), c.in)
			if c.reason != "" {
				wantReason(t, err, c.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "alice" || string(id.Token) != tok || !slices.Equal(id.Groups, []string{"g1"}) {
				t.Errorf("identity = %+v", id)
			}
		})
	}
	// A cached verification does not skip the agreement check.
	if _, err := e.a.Authenticate(t.Context(), Input{Authorization: "Bearer " + tok, Metadata: md(claims)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.a.Authenticate(t.Context(), Input{Authorization: "Bearer " + tok, Metadata: md(other)})
	wantReason(t, err, ReasonMetadataMismatch)
}

func TestAudiences(t *testing.T) {
	cases := []struct {
		in   any
		want []string
		ok   bool
	}{
		{"a", []string{"a"}, true},
		{[]any{"b", "a", "b"}, []string{"a", "b"}, true},
		{[]any{}, nil, false},
		{[]any{"a", 1.0}, nil, false},
		{nil, nil, false},
		{1.0, nil, false},
	}
	for _, c := range cases {
		got, ok := audiences(c.in)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("audiences(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	base := func() Options {
		return Options{Issuer: "https://idp.example.com", Audiences: []string{"a"}}
	}
	cases := []struct {
		name string
		mut  func(*Options)
		ok   bool
	}{
		{"base", func(*Options) {}, true},
		{"loopback http", func(o *Options) { o.Issuer = "http://127.0.0.1:9000" }, true},
		{"localhost http", func(o *Options) { o.Issuer = "http://localhost:9000/realms/x" }, true},
		{"no issuer", func(o *Options) { o.Issuer = "" }, false},
		{"http issuer", func(o *Options) { o.Issuer = "http://idp.example.com" }, false},
		{"relative issuer", func(o *Options) { o.Issuer = "idp.example.com" }, false},
		{"issuer query", func(o *Options) { o.Issuer = "https://idp.example.com?x=1" }, false},
		{"issuer fragment", func(o *Options) { o.Issuer = "https://idp.example.com#x" }, false},
		{"no audience", func(o *Options) { o.Audiences = nil }, false},
		{"empty audience", func(o *Options) { o.Audiences = []string{""} }, false},
		{"bad jwks url", func(o *Options) { o.JWKSURL = "ftp://x" }, false},
		{"HS256 allowed", func(o *Options) { o.AllowedAlgorithms = []string{"HS256"} }, false},
		{"none allowed", func(o *Options) { o.AllowedAlgorithms = []string{"none"} }, false},
		{"ES256 only", func(o *Options) { o.AllowedAlgorithms = []string{"ES256"} }, true},
		{"negative skew", func(o *Options) { o.ClockSkew = -time.Second }, false},
		{"huge skew", func(o *Options) { o.ClockSkew = time.Hour }, false},
		{"bad source", func(o *Options) { o.TokenSource = "cookie" }, false},
		{"metadata source", func(o *Options) { o.TokenSource = SourceEnvoyMetadata }, true},
		{"bad resource", func(o *Options) { o.Resource = "mcp.example.com/mcp" }, false},
		{"negative refresh", func(o *Options) { o.RefreshInterval = -1 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.mut(&o)
			a, err := New(t.Context(), o)
			if (err == nil) != c.ok {
				t.Fatalf("New err = %v, want ok=%v", err, c.ok)
			}
			if a != nil {
				a.Close()
			}
		})
	}
}

func TestCloseStopsBackgroundWork(t *testing.T) {
	// Every fetch runs in a goroutine that Close waits for, and no fetch
	// can start once Close has begun. The hook records any fetch that
	// ends after Close returned; the structural checks below prove none
	// can, without waiting to see "nothing happen".
	var closed, late atomic.Bool
	var fetches atomic.Int64
	e := newEnv(t, func(o *Options) {
		o.RefreshInterval = time.Millisecond
		o.OnJWKSRefresh = func(bool) {
			fetches.Add(1)
			if closed.Load() {
				late.Store(true)
			}
		}
	})
	e.waitReady(t)
	// Let the refresh loop run several rounds so a fetch is likely in
	// flight when Close is called.
	for fetches.Load() < 3 {
		runtime.Gosched()
	}
	e.a.Close()
	closed.Store(true)
	if c := e.a.startFetch(false); c != nil {
		t.Error("a fetch started after Close")
	}
	if c := e.a.startFetch(true); c != nil {
		t.Error("an on-demand fetch started after Close")
	}
	e.a.mu.Lock()
	inflight := e.a.inflight
	e.a.mu.Unlock()
	if inflight != nil {
		t.Error("Close returned with a fetch in flight")
	}
	if err := e.a.Refresh(t.Context()); err == nil {
		t.Error("Refresh after Close succeeded")
	}
	if late.Load() {
		t.Error("a fetch ended after Close returned")
	}
}

// TestNoTokenInErrorsOrLogs drives every failure path with a real token
// and checks that neither errors, safe messages, challenges nor log lines
// contain it or its signature.
func TestNoTokenInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	e := newEnv(t, func(o *Options) {
		o.CacheSize = -1
		o.MinRefetchInterval = time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.waitReady(t)
	claims := e.claims()
	claims["exp"] = e.clk.Now().Unix() - 3600
	toks := []string{
		e.mint(t, claims),
		e.mint(t, e.claims(), fakeidp.WithKid("unknown")),
		e.mint(t, e.claims(), fakeidp.WithForeignKey()),
	}
	e.idp.SetDown(true)
	for _, tok := range toks {
		e.clk.Advance(time.Second)
		_, err := e.auth(tok)
		if err == nil {
			t.Fatal("want failure")
		}
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		mu.Lock()
		l := logs.String()
		mu.Unlock()
		for _, s := range []string{err.Error(), mcpguard.SafeMessage(err), e.a.Challenge(err), l} {
			if strings.Contains(s, tok) || strings.Contains(s, sig) {
				t.Errorf("token leaked into %q", s)
			}
		}
	}
	id := newEnvValid(t)
	for _, s := range []string{slogText(id), fmtText(id)} {
		if strings.Contains(s, string(id.Token)) {
			t.Errorf("identity output leaks token: %s", s)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newEnvValid(t *testing.T) *Identity {
	t.Helper()
	e := newEnv(t, nil)
	e.waitReady(t)
	id, err := e.auth(e.mint(t, e.claims()))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func slogText(id *Identity) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "identity", id, "token", id.Token)
	return b.String()
}

func fmtText(id *Identity) string {
	var b bytes.Buffer
	b.WriteString(id.Token.String())
	b.WriteString(id.Token.GoString())
	return b.String()
}

func TestRedirectToPlainHTTPRefused(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://keys.example.invalid/jwks", http.StatusFound)
	}))
	defer srv.Close()
	a, err := New(t.Context(), Options{Issuer: "https://idp.example.com", Audiences: []string{"a"}, JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.Refresh(t.Context())
	if err == nil || !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("refresh err = %v", err)
	}
	if a.Ready() {
		t.Error("ready after refused redirect")
	}
}

// TestIdentityClaimsClosed: sub, iss and the configured required claims
// are non-empty strings of bounded size, and a group claim that cannot be
// read whole is refused, behind a valid signature and in both modes.
func TestIdentityClaimsClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.RequiredClaims = []string{"email"}
		o.ExtraGroupClaims = []string{"roles"}
	})
	e.waitReady(t)
	tooMany := make([]any, MaxGroups+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("g%d", i)
	}
	tests := []struct {
		name   string
		mut    func(c map[string]any)
		reason string
	}{
		{"valid", func(c map[string]any) {}, ""},
		{"empty sub", func(c map[string]any) { c["sub"] = "" }, ReasonInvalidClaim},
		{"huge sub", func(c map[string]any) { c["sub"] = strings.Repeat("a", MaxClaimBytes+1) }, ReasonInvalidClaim},
		{"sub at the bound", func(c map[string]any) { c["sub"] = strings.Repeat("a", MaxClaimBytes) }, ""},
		{"required claim absent", func(c map[string]any) { delete(c, "email") }, ReasonInvalidClaim},
		{"required claim empty", func(c map[string]any) { c["email"] = "" }, ReasonInvalidClaim},
		{"required claim not a string", func(c map[string]any) { c["email"] = []any{"a@example.com"} }, ReasonInvalidClaim},
		{"groups over the limit", func(c map[string]any) { c["groups"] = tooMany }, ReasonBadGroups},
		{"groups with a number", func(c map[string]any) { c["groups"] = []any{"a", 1} }, ReasonBadGroups},
		{"groups an object", func(c map[string]any) { c["groups"] = map[string]any{"a": true} }, ReasonBadGroups},
		{"extra group claim over the limit", func(c map[string]any) { c["roles"] = tooMany }, ReasonBadGroups},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.claims("s3-readers")
			c["email"] = "alice@example.com"
			tt.mut(c)
			id, err := e.auth(e.mint(t, c))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Subject == "" || id.Issuer == "" {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			wantReason(t, err, tt.reason)
		})
	}
}

// With the single oidc_config issuer an Entra groups overage is the same
// 403 groups_overage as with oidc_providers, never a 401 or "no groups":
// a real Entra v2 overage token, _claim_names on the group claim or on an
// extra group claim, and hasgroups. A token without groups (and no
// overage marker) still passes.
func TestSingleIssuerGroupsOverage(t *testing.T) {
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	e := newEnv(t, func(o *Options) { o.ExtraGroupClaims = []string{"roles"} })
	e.waitReady(t)
	entra := func(over bool) map[string]any {
		c := e.idp.ProfileClaims(fakeidp.EntraV2, fakeidp.User{Subject: "carol", Tenant: tenant, Audience: testAudience, Overage: over})
		c["iss"] = e.idp.URL()
		return c
	}
	tests := []struct {
		name   string
		claims map[string]any
		over   bool
	}{
		{"entra v2 overage token", entra(true), true},
		{"entra v2 token with its groups", entra(false), false},
		{"overage of the group claim", func() map[string]any {
			c := e.claims()
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}
			return c
		}(), true},
		{"overage of an extra group claim", func() map[string]any {
			c := e.claims("s3-readers")
			c["_claim_names"] = map[string]any{"roles": "src1"}
			return c
		}(), true},
		{"hasgroups", func() map[string]any {
			c := e.claims()
			c["hasgroups"] = true
			return c
		}(), true},
		{"no groups at all", e.claims(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.auth(e.mint(t, tt.claims))
			if !tt.over {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var me *mcpguard.Error
			if !errors.As(err, &me) || me.Kind != mcpguard.KindForbidden || me.Reason != ReasonGroupsOverage {
				t.Fatalf("err = %v, want forbidden %s", err, ReasonGroupsOverage)
			}
			if !strings.Contains(me.Msg, "group filtering") || !strings.Contains(me.Msg, "app roles") {
				t.Errorf("message %q does not tell the operator what to do", me.Msg)
			}
		})
	}
}

// TestCacheExactToken: the verified-token cache answers only the very
// token it verified. A token differing in its signature, its payload or
// its length is verified anew (and refused when its signature is wrong),
// and the cached identity keeps a copy of the token of its own rather
// than the caller's buffer.
func TestCacheExactToken(t *testing.T) {
	e := newEnv(t, nil)
	e.waitReady(t)
	tok := e.mint(t, e.claims())
	buf := []byte("Bearer " + tok)
	// The input aliases buf, as a request's header values share one buffer.
	first, err := e.a.Authenticate(t.Context(), Input{Authorization: unsafe.String(&buf[0], len(buf))})
	if err != nil {
		t.Fatal(err)
	}
	// A character inside the signature: the last one may carry only
	// padding bits, which base64url decoders ignore.
	mid := len(tok) - 10
	flip := byte('A')
	if tok[mid] == 'A' {
		flip = 'B'
	}
	changed := tok[:mid] + string(flip) + tok[mid+1:]
	head, rest, _ := strings.Cut(tok, ".")
	tests := []struct {
		name     string
		token    string
		verified bool // verified again rather than served from the cache
		reason   string
	}{
		{"same token", tok, false, ""},
		{"same token, another string", strings.Clone(tok), false, ""},
		{"signature changed", changed, true, ReasonBadSignature},
		{"signature truncated", tok[:len(tok)-8], true, ReasonBadSignature},
		{"header changed", head + "x." + rest, true, ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := e.a.verifications.Load()
			id, err := e.auth(tt.token)
			if tt.reason != "" {
				wantReason(t, err, tt.reason)
			} else if err != nil || id != first {
				t.Fatalf("Authenticate = %v, %v; want the cached identity", id, err)
			}
			if got := e.a.verifications.Load() - v; (got != 0) != tt.verified {
				t.Errorf("verifications = %d, verified again = %v", got, tt.verified)
			}
		})
	}
	// A cache hit skips compactJWS: whatever the cache holds passed it.
	for k := range e.a.cache.items {
		if err := compactJWS(k); err != nil {
			t.Errorf("the cache holds a token compactJWS refuses: %v", err)
		}
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if string(first.Token) != tok {
		t.Error("the cached identity's token changed with the caller's buffer")
	}
}

// TestBearerTokenParts: bearerToken is bearerField then compactJWS, each
// refusing what it refused as one function.
func TestBearerTokenParts(t *testing.T) {
	tests := []struct {
		name      string
		in        Input
		field     string // bearerField's reason, "" when it accepts
		jws       string // compactJWS's reason for the field's token
		wantToken string
	}{
		{"valid", Input{Authorization: "Bearer a.b.c"}, "", "", "a.b.c"},
		{"scheme case", Input{Authorization: "bEARER  a.b.c", AuthorizationCount: 1}, "", "", "a.b.c"},
		{"missing", Input{}, ReasonMissing, "", ""},
		{"two lines", Input{Authorization: "Bearer a.b.c", AuthorizationCount: 2}, ReasonMalformed, "", ""},
		{"comma", Input{Authorization: "Bearer a.b.c, Bearer d.e.f"}, ReasonMalformed, "", ""},
		{"basic", Input{Authorization: "Basic YTpi"}, ReasonMissing, "", ""},
		{"no token", Input{Authorization: "Bearer "}, ReasonMalformed, "", ""},
		{"bad byte", Input{Authorization: "Bearer a.b+.c"}, "", ReasonMalformed, "a.b+.c"},
		{"one dot", Input{Authorization: "Bearer a.bc"}, "", ReasonMalformed, "a.bc"},
		{"three dots", Input{Authorization: "Bearer a.b.c.d"}, "", ReasonMalformed, "a.b.c.d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := bearerField(tt.in)
			if tt.field != "" {
				wantReason(t, err, tt.field)
				return
			}
			if err != nil || tok != tt.wantToken {
				t.Fatalf("bearerField = %q, %v; want %q", tok, err, tt.wantToken)
			}
			jerr := compactJWS(tok)
			if tt.jws != "" {
				wantReason(t, jerr, tt.jws)
			} else if jerr != nil {
				t.Fatalf("compactJWS: %v", jerr)
			}
			whole, werr := bearerToken(tt.in)
			if (werr == nil) != (jerr == nil) || (werr == nil && whole != tok) {
				t.Errorf("bearerToken = %q, %v; parts say %q, %v", whole, werr, tok, jerr)
			}
		})
	}
}
