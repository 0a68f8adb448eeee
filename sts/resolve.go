package sts

import (
	"crypto/sha256"
	"sync"

	"github.com/mcpguard/mcpguard/authn"
)

// maxResolved bounds the resolution memo. When it is full it starts over,
// which costs each active token one recomputation.
const maxResolved = 4096

// resolution is what a token decides before the cache is consulted: the
// role, the session name and the cache key.
type resolution struct {
	role *role
	name string
	key  cacheKey
	// token is the token the resolution was computed for; a memo hit must
	// carry the very same token, so an Identity whose TokenDigest does not
	// match its Token can never pick up another token's cache key.
	token authn.Token
}

// resolver remembers each token's resolution by token digest. The role,
// the session name and the key are functions of the token's claims and of
// configuration fixed for the Broker's life, and a client sends the same
// token on every request, so hashing its claims once per token instead of
// once per request takes the key out of the hot path. Failures are not
// remembered.
type resolver struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]resolution
}

// resolve returns id's role, session name and cache key.
func (b *Broker) resolve(id *authn.Identity) (resolution, error) {
	memo := id.TokenDigest != ([sha256.Size]byte{})
	if memo {
		b.resolved.mu.RLock()
		r, ok := b.resolved.m[id.TokenDigest]
		b.resolved.mu.RUnlock()
		if ok && r.token == id.Token {
			return r, nil
		}
	}
	r, err := b.table(id).selectRole(id)
	if err != nil {
		return resolution{}, err
	}
	name, err := sessionName(id, b.sessionClaim, b.verifiedClaim)
	if err != nil {
		return resolution{}, err
	}
	key, err := b.key(id, r, name)
	if err != nil {
		return resolution{}, internalError("cache_key", err)
	}
	res := resolution{role: r, name: name, key: key, token: id.Token}
	if memo {
		b.resolved.mu.Lock()
		if b.resolved.m == nil || len(b.resolved.m) >= maxResolved {
			b.resolved.m = make(map[[sha256.Size]byte]resolution)
		}
		b.resolved.m[id.TokenDigest] = res
		b.resolved.mu.Unlock()
	}
	return res, nil
}
