package authn

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers verified tokens by digest so that a client sending
// the same token on every request pays for signature verification once.
// It is a mutex-guarded LRU: small, bounded, and never serves an entry at
// or after the token's exp (no skew extension), nor once the key that
// verified it has left the key set.
type tokenCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used
	items map[[sha256.Size]byte]*list.Element
}

type cacheEntry struct {
	digest [sha256.Size]byte
	id     *Identity
	src    *Authenticator // the provider whose key verified the token
	kid    string
	thumb  string
}

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, ll: list.New(), items: map[[sha256.Size]byte]*list.Element{}}
}

// get returns the cached identity for digest if it is still usable at now
// with the current key set of the provider that verified it.
func (c *tokenCache) get(digest [sha256.Size]byte, now time.Time) *Identity {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[digest]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if ks := e.src.keys.Load(); !now.Before(e.id.ExpiresAt) || ks == nil || !ks.has(e.kid, e.thumb) {
		c.ll.Remove(el)
		delete(c.items, digest)
		return nil
	}
	c.ll.MoveToFront(el)
	return e.id
}

func (c *tokenCache) put(id *Identity, src *Authenticator, kid, thumb string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id.TokenDigest]; ok {
		el.Value = &cacheEntry{digest: id.TokenDigest, id: id, src: src, kid: kid, thumb: thumb}
		c.ll.MoveToFront(el)
		return
	}
	c.items[id.TokenDigest] = c.ll.PushFront(&cacheEntry{digest: id.TokenDigest, id: id, src: src, kid: kid, thumb: thumb})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).digest)
	}
}

func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
