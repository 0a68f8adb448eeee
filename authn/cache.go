package authn

import (
	"container/list"
	"sync"
	"time"
)

// tokenCache remembers verified tokens so that a client sending the same
// token on every request pays for signature verification once. It is a
// mutex-guarded LRU: small, bounded, and never serves an entry at or after
// the token's exp (no skew extension), nor once the key that verified it
// has left the key set.
//
// Entries are found by the token itself, compared whole: only the very
// token that was verified hits, and a hit costs a map lookup rather than
// a SHA-256 of the token (most of a cached request's authentication). The
// key is the cached Identity's own Token, so it adds no memory.
type tokenCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type cacheEntry struct {
	token string // the verified token, id.Token
	id    *Identity
	src   *Authenticator // the provider whose key verified the token
	kid   string
	thumb string
}

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the cached identity of token if it is still usable at now
// with the current key set of the provider that verified it.
func (c *tokenCache) get(token string, now time.Time) *Identity {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[token]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if ks := e.src.keys.Load(); !now.Before(e.id.ExpiresAt) || ks == nil || !ks.has(e.kid, e.thumb) {
		c.ll.Remove(el)
		delete(c.items, token)
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
	token := string(id.Token)
	if el, ok := c.items[token]; ok {
		el.Value = &cacheEntry{token: token, id: id, src: src, kid: kid, thumb: thumb}
		c.ll.MoveToFront(el)
		return
	}
	c.items[token] = c.ll.PushFront(&cacheEntry{token: token, id: id, src: src, kid: kid, thumb: thumb})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).token)
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
