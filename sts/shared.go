package sts

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mcpguard/mcpguard/authn"
)

// SharedStore is the key-value store under a SharedCache: the Redis the
// rate limits use, adapted by package gateway, so this package needs no
// Redis client. Every method must respect ctx.
type SharedStore interface {
	// Get returns the value of key, or nil and no error when it is absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores val under key for ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Lock sets key to token for ttl only if key is absent (SET NX PX) and
	// reports whether it did.
	Lock(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// Unlock deletes key only if it still holds token.
	Unlock(ctx context.Context, key, token string) error
}

// Defaults of aws_sts_config.shared_cache.
const (
	// DefaultSharedTTLMargin: a shared entry leaves the store this long
	// before its credentials stop being usable, so no replica adopts
	// credentials about to expire.
	DefaultSharedTTLMargin = time.Minute
	// SharedKeySize is the minimum size of the shared cache's key.
	SharedKeySize   = 32
	sharedPoll      = 20 * time.Millisecond
	sharedVersion   = 1
	sharedNonceSize = 12
)

// SharedCacheOptions configure a SharedCache.
type SharedCacheOptions struct {
	// Store holds the encrypted entries and the locks.
	Store SharedStore
	// Key is the secret (at least SharedKeySize bytes) from which the
	// encryption key and the entry-name key are derived. It must be the
	// same on every replica.
	Key []byte
	// Prefix starts every store key (e.g. "mcpguard:").
	Prefix string
	// TTLMargin is DefaultSharedTTLMargin when zero.
	TTLMargin time.Duration
	// LockTTL bounds how long one replica holds the lock of an entry
	// while it calls STS; default the broker's Timeout.
	LockTTL time.Duration
	// Logger receives store failures (never a value).
	Logger *slog.Logger
}

// SharedCache is a credential cache shared by every replica, layered under
// each broker's local cache: local, then shared, then STS, writing both.
// Entries are AES-256-GCM ciphertexts of the compact grant. An entry's
// store key is HMAC-SHA256 of the broker's cache key (which digests the
// verified token, role, session name, session tags and, under scope_down
// request, the policy) under a key derived from Key, and that store key is
// the ciphertext's additional data: a replica only finds credentials by
// holding the very token they were issued for, and a ciphertext copied to
// another entry does not open. The store never sees a secret key, a
// session token or the user's token digest.
//
// The store is an optimisation, never an authority: any store error, an
// entry that does not decrypt or a lock that is not released in time
// falls back to calling STS, so a Redis outage costs STS calls, not
// requests, and never grants anything a direct STS call would not.
type SharedCache struct {
	store     SharedStore
	aead      cipher.AEAD
	nameKey   []byte
	prefix    string
	ttlMargin time.Duration
	lockTTL   time.Duration
	log       *slog.Logger
}

// NewSharedCache derives the keys and validates opts.
func NewSharedCache(o SharedCacheOptions) (*SharedCache, error) {
	if o.Store == nil {
		return nil, errors.New("shared cache: no store")
	}
	if len(o.Key) < SharedKeySize {
		return nil, fmt.Errorf("shared cache: key has %d bytes, at least %d are required", len(o.Key), SharedKeySize)
	}
	if o.TTLMargin < 0 || o.LockTTL < 0 {
		return nil, errors.New("shared cache: ttl_margin and lock TTL must not be negative")
	}
	block, err := aes.NewCipher(derive(o.Key, "mcpguard sts shared cache encryption v1"))
	if err != nil {
		return nil, fmt.Errorf("shared cache: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("shared cache: %w", err)
	}
	if o.TTLMargin == 0 {
		o.TTLMargin = DefaultSharedTTLMargin
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &SharedCache{
		store: o.Store, aead: aead, nameKey: derive(o.Key, "mcpguard sts shared cache entry name v1"),
		prefix: o.Prefix, ttlMargin: o.TTLMargin, lockTTL: o.LockTTL, log: o.Logger,
	}, nil
}

// derive is HMAC-SHA256(key, label): independent keys from one secret.
func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// name is the store key of an entry.
func (s *SharedCache) name(key cacheKey) string {
	m := hmac.New(sha256.New, s.nameKey)
	m.Write(key[:])
	return s.prefix + "sts:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// seal encrypts g for the entry name.
func (s *SharedCache) seal(name string, g *Grant) []byte {
	cg := compact(g)
	out := make([]byte, 1+sharedNonceSize, 1+sharedNonceSize+1+len(cg.blob)+s.aead.Overhead())
	out[0] = sharedVersion
	_, _ = rand.Read(out[1 : 1+sharedNonceSize]) // crypto/rand.Read never fails
	return s.aead.Seal(out, out[1:1+sharedNonceSize], []byte(cg.blob), []byte(name))
}

// open decrypts an entry of name for role r; false when it does not open
// or is not a grant of r and name.
func (s *SharedCache) open(name string, val []byte, r *role, session string) (*Grant, bool) {
	if len(val) < 1+sharedNonceSize+s.aead.Overhead() || val[0] != sharedVersion {
		return nil, false
	}
	pt, err := s.aead.Open(nil, val[1:1+sharedNonceSize], val[1+sharedNonceSize:], []byte(name))
	if err != nil || len(pt) < blobHead {
		return nil, false
	}
	g, ok := restoreShared(r.RoleARN, string(pt))
	if !ok || g.SessionName != session {
		return nil, false
	}
	return g, true
}

// restoreShared restores a blob written by a replica holding the key. Only
// such a replica can write one, but it may run another version whose
// compact layout differs: a blob that does not restore, or does not
// compact back to itself, is refused rather than trusted.
func restoreShared(roleARN, blob string) (g *Grant, ok bool) {
	defer func() {
		if recover() != nil {
			g, ok = nil, false
		}
	}()
	g = compactGrant{roleARN: roleARN, blob: blob}.grant()
	if !compactable(g) || compact(g).blob != blob {
		return nil, false
	}
	return g, true
}

// lookup returns the usable entry of key at now: nil when absent, expired
// (within the TTL margin), undecryptable, or when the store fails.
func (s *SharedCache) lookup(ctx context.Context, name string, now time.Time, r *role, session string, fresh time.Duration) (*Grant, error) {
	val, err := s.store.Get(ctx, name)
	if err != nil || val == nil {
		return nil, err
	}
	g, ok := s.open(name, val, r, session)
	if !ok {
		s.log.LogAttrs(ctx, slog.LevelWarn, "shared credential cache: ignoring an entry that does not decrypt; it will be overwritten")
		return nil, nil
	}
	if !now.Before(g.NotAfter.Add(-max(s.ttlMargin, fresh))) {
		return nil, nil
	}
	return g, nil
}

// store writes g under name until its TTL margin.
func (s *SharedCache) put(ctx context.Context, name string, g *Grant, now time.Time) {
	ttl := g.NotAfter.Sub(now) - s.ttlMargin
	if ttl < time.Millisecond || !compactable(g) {
		return
	}
	if err := s.store.Set(ctx, name, s.seal(name, g), ttl); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "shared credential cache: write failed", slog.String("error", err.Error()))
	}
}

// obtain is exchange through the shared cache: adopt a usable shared
// entry, else take the entry's lock and call STS once for every replica
// (re-checking the entry under the lock), else, while another replica
// holds the lock, wait for its entry. refresh asks for an entry that is
// not yet inside the refresh window (a background refresh must not adopt
// the credentials it replaces). Store failures fall back to exchange.
func (b *Broker) obtain(ctx context.Context, key cacheKey, id *authn.Identity, r *role, name string, sc *scopedSession, refresh bool) (*Grant, error) {
	// A request that missed the local cache just before another flight of
	// the key filled it starts a flight of its own: serve what that one
	// cached instead of calling again.
	if !refresh {
		if g, res, _ := b.cache.get(key, b.now(), false); g != nil && res == CacheHit {
			if sc != nil {
				g.Scope = &GrantScope{Actions: sc.actions, PolicyDigest: sc.digest}
			}
			return g, nil
		}
	}
	s := b.shared
	if s == nil {
		return b.exchange(ctx, key, id, r, name, sc, refresh)
	}
	entry := s.name(key)
	fresh := time.Duration(0)
	if refresh {
		fresh = b.margin
	}
	lockTTL := s.lockTTL
	if lockTTL == 0 {
		lockTTL = b.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, lockTTL+b.timeout)
	defer cancel()
	var token string
	deadline := time.Now().Add(lockTTL)
	for {
		g, err := s.lookup(ctx, entry, b.now(), r, name, fresh)
		if err != nil {
			return b.sharedFallback(ctx, err, key, id, r, name, sc, refresh)
		}
		if g != nil {
			return b.adopt(key, g, sc), nil
		}
		if token == "" {
			token = base64.RawURLEncoding.EncodeToString(randomBytes(16))
		}
		ok, err := s.store.Lock(ctx, entry+":lock", token, lockTTL)
		if err != nil {
			return b.sharedFallback(ctx, err, key, id, r, name, sc, refresh)
		}
		if ok {
			return b.exchangeLocked(ctx, entry, token, key, id, r, name, sc, refresh, fresh)
		}
		if time.Now().After(deadline) {
			// The holder neither wrote nor released in time.
			return b.exchange(ctx, key, id, r, name, sc, refresh)
		}
		select {
		case <-ctx.Done():
			return b.exchange(context.WithoutCancel(ctx), key, id, r, name, sc, refresh)
		case <-time.After(sharedPoll):
		}
	}
}

// exchangeLocked calls STS under the entry's lock, after checking once
// more that no other replica wrote the entry meanwhile, and shares the
// result.
func (b *Broker) exchangeLocked(ctx context.Context, entry, token string, key cacheKey, id *authn.Identity, r *role, name string, sc *scopedSession, refresh bool, fresh time.Duration) (*Grant, error) {
	s := b.shared
	defer func() {
		if err := s.store.Unlock(context.WithoutCancel(ctx), entry+":lock", token); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "shared credential cache: unlock failed", slog.String("error", err.Error()))
		}
	}()
	if g, err := s.lookup(ctx, entry, b.now(), r, name, fresh); err == nil && g != nil {
		return b.adopt(key, g, sc), nil
	}
	g, err := b.exchange(ctx, key, id, r, name, sc, refresh)
	if err != nil {
		return nil, err
	}
	// Shared even when the caller is gone or the broker is closing.
	s.put(context.WithoutCancel(ctx), entry, g, b.now())
	return g, nil
}

func (b *Broker) sharedFallback(ctx context.Context, err error, key cacheKey, id *authn.Identity, r *role, name string, sc *scopedSession, refresh bool) (*Grant, error) {
	b.shared.log.LogAttrs(ctx, slog.LevelWarn, "shared credential cache unavailable; calling STS directly", slog.String("error", err.Error()))
	return b.exchange(context.WithoutCancel(ctx), key, id, r, name, sc, refresh)
}

// adopt caches a grant another replica obtained and returns it as cached.
func (b *Broker) adopt(key cacheKey, g *Grant, sc *scopedSession) *Grant {
	g.Cached = true
	if sc != nil {
		g.Scope = &GrantScope{Actions: sc.actions, PolicyDigest: sc.digest}
	}
	b.obs.OnEntries(b.cache.put(key, g))
	return g
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
