package idc

import (
	"container/list"
	"sync"
	"time"
)

// lru is a bounded cache whose entries expire. Entries inside the refresh
// window are still served, and the first reader in the window is told to
// refresh them (once, until the refresh ends).
type lru[K comparable, V any] struct {
	mu     sync.Mutex
	max    int
	margin time.Duration
	ll     *list.List
	items  map[K]*list.Element
	// refreshing holds, per key, the time before which no new refresh may
	// start: far in the future while one runs, a backoff after a failure.
	refreshing map[K]time.Time
}

type lruEntry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

func newLRU[K comparable, V any](max int, margin time.Duration) *lru[K, V] {
	return &lru[K, V]{max: max, margin: margin, ll: list.New(), items: map[K]*list.Element{}, refreshing: map[K]time.Time{}}
}

// get returns the value of k while it has not expired, and whether the
// caller should refresh it in the background.
func (c *lru[K, V]) get(k K, now time.Time) (v V, ok, refresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[k]
	if !found {
		return v, false, false
	}
	e := el.Value.(*lruEntry[K, V])
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return v, false, false
	}
	c.ll.MoveToFront(el)
	if !now.Before(e.expires.Add(-c.margin)) && !now.Before(c.refreshing[k]) {
		c.refreshing[k] = farFuture
		refresh = true
	}
	return e.val, true, refresh
}

// put stores v until expires, evicting the least recently used entry when
// the cache is full.
func (c *lru[K, V]) put(k K, v V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refreshing, k)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.val, e.expires = v, expires
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v, expires: expires})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*lruEntry[K, V]).key)
		delete(c.refreshing, last.Value.(*lruEntry[K, V]).key)
	}
}

// refreshFailed ends a refresh that did not put a new value; readers may
// start another one from retryAt.
func (c *lru[K, V]) refreshFailed(k K, retryAt time.Time) {
	c.mu.Lock()
	c.refreshing[k] = retryAt
	c.mu.Unlock()
}

var farFuture = time.Unix(1<<40, 0)

// drop removes k.
func (c *lru[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.ll.Remove(el)
		delete(c.items, k)
	}
	delete(c.refreshing, k)
}
