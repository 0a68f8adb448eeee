package authz

import (
	"crypto/sha256"
	"sync"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/mcpguard/mcpguard/authn"
)

// maxCachedPrincipals bounds the principal cache. A client sends the same
// token on every request until it expires, so a few thousand entries cover
// the users active at once; when the cache is full it starts over, which
// costs each active user one rebuild.
const maxCachedPrincipals = 4096

// principalCache remembers the principal entity built for each token, so
// converting the claims to Cedar values (the largest part of a decision's
// allocations) happens once per token rather than once per request. It
// belongs to one snapshot, because the entities file is merged into the
// principal; a reload starts a new, empty cache. The entities it holds are
// immutable and shared by concurrent decisions.
type principalCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]types.Entity
}

func newPrincipalCache() *principalCache {
	return &principalCache{m: make(map[[sha256.Size]byte]types.Entity)}
}

// principal returns the principal entity of id with groups, merged with
// the snapshot's entities file. The cache key is the token digest: the
// same token always carries the same claims, and groups are derived from
// them by configuration that does not change while the snapshot lives.
// An identity without a digest is never cached.
func (s *snapshot) principal(id *authn.Identity, groups []string) types.Entity {
	if e, ok := s.cachedPrincipal(id); ok {
		return e
	}
	e := mergeBase(s.entities, principalEntity(id, groups))
	c := s.principals
	if c == nil || id.TokenDigest == ([sha256.Size]byte{}) {
		return e
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedPrincipals {
		clear(c.m)
	}
	c.m[id.TokenDigest] = e
	c.mu.Unlock()
	return e
}

// cachedPrincipal is the principal entity built before for id's token.
// A token's claims do not change, so its groups are read again only when
// it is not cached.
func (s *snapshot) cachedPrincipal(id *authn.Identity) (types.Entity, bool) {
	c := s.principals
	if c == nil || id.TokenDigest == ([sha256.Size]byte{}) {
		return types.Entity{}, false
	}
	c.mu.RLock()
	e, ok := c.m[id.TokenDigest]
	c.mu.RUnlock()
	return e, ok
}
